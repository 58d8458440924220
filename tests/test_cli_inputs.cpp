// Absurd and malformed inputs: one line `linicl: error: ...`, exit 1 for a value out of range and 2
// for syntax, before any work, and nothing created or changed on disk. Also the resource
// estimate behind the refusals of sizes that cannot fit or finish (resources.hpp).
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "linicl/io/resources.hpp"
#include "support.hpp"

using namespace linicl;
using namespace linicl::testing;

namespace {

struct Refusal {
  std::string args;
  int exit_code;
  std::string expected;  // a substring of the message
  std::string env = "";  // environment assignments
};

// Every path under `dir`, folders included, with the bytes of the files.
std::map<std::string, std::string> everything(const std::string& dir) {
  std::map<std::string, std::string> entries;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    entries[entry.path().string()] =
        entry.is_regular_file() ? read_bytes(entry.path().string()) : "(not a file)";
  }
  return entries;
}

// Runs every row in `dir` and checks its exit code, its one line and that nothing changed.
void require_refusals(const std::string& dir, const std::vector<Refusal>& rows) {
  const auto before = everything(dir);
  for (const Refusal& row : rows) {
    const CommandResult result = run_linicl(dir, row.args, row.env);
    INFO(row.env << " linicl " << row.args << "\n" << result.output);
    CHECK(result.exit_code == row.exit_code);
    CHECK_THAT(result.output, Catch::StartsWith("linicl: error: ") &&
                                  Catch::Contains(row.expected) && Catch::EndsWith("\n"));
    CHECK(std::count(result.output.begin(), result.output.end(), '\n') == 1);
    CHECK(everything(dir) == before);
  }
}

// The message check_resources gives for `estimate` under `limits` ("" when it passes).
std::string refusal(const ResourceEstimate& estimate, const ResourceLimits& limits) {
  try {
    check_resources(estimate, limits);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("train refuses sizes that cannot fit or finish, naming the options", "[inputs][cli]") {
  TempDir dir;
  require_refusals(
      dir.path(),
      {
          {"train -n 2000000000", 1, "--context 2000000000"},
          {"train -d 20000", 1, "--dim 20000"},
          {"train -L 1000000000", 1, "--layers 1000000000"},
          {"train --heads 100000000", 1, "--heads 100000000"},
          {"train --steps 1000000000000000000", 1, "--steps 1e+18 needs about"},
          {"train --steps 1e18", 1, "--steps 1e+18 needs about"},
          {"train -d 50 -n 1 --batch 100000 --steps 1000000", 1,
           "--steps 1000000 with --batch 100000 needs about"},
          {"train -d 50 -n 1 --batch 100000 --steps 1000000", 1, "floating-point operations"},
          {"train -L 10000", 1, "--closing-prompts 1000 with --layers 10000"},
          {"train --track-every 1 --track-batches 100000 -d 20", 1, "--track-batches 100000"},
      });
}

TEST_CASE("train refuses values out of range with exit 1 and malformed ones with exit 2",
          "[inputs][cli]") {
  TempDir dir;
  require_refusals(
      dir.path(),
      {
          {"train --seed 18446744073709551616", 1,
           "--seed must be in [0, 18446744073709551615] (got 18446744073709551616)"},
          {"train --seed -1", 1, "--seed must be in [0, 18446744073709551615] (got -1)"},
          {"train --context 3000000000", 1, "--context must be in"},
          {"train --context 1e5000", 1, "--context must be in"},
          {"train --steps 2e3 --batch 64.0 --eval-batch 1e2 --layers 0", 1, "--layers"},
          {"train --threads 10000", 1, "--threads must be in [0, "},
          {"train --threads -1", 1, "--threads must be in [0, "},
          {"train", 1, "OMP_NUM_THREADS must be in [0, ", "OMP_NUM_THREADS=10000"},
          {"train --closing-prompts 2000000", 1, "--closing-prompts must be in [0, 1000000]"},
          {"train --lr inf", 1, "--lr must be a finite number"},
          {"train --lr nan", 1, "--lr must be a finite number"},
          {"train --lr 1e999", 1, "--lr must be a finite number"},
          {"train --noise=-inf", 1, "--noise must be a finite number"},
          {"train --cov spectrum -d 2 --spectrum 1,inf", 1, "--spectrum must be a finite number"},
          {"train --cov kappa --kappa nan", 1, "--kappa"},
          {"train --stop-at -1", 1, "--stop-at"},
          {"train --lr ''", 2, "--lr: expected a number (got '')"},
          {"train --lr abc", 2, "--lr: expected a number (got 'abc')"},
          {"train --batch 2.5", 2, "--batch: expected a whole number (got '2.5')"},
          {"train --batch 0x10", 2, "(got '0x10')"},
          {"train --rotate=2", 2, "--rotate: expected true, false, 1, 0, on or off (got '2')"},
          {"train --bogus 1", 2, "--bogus"},
          {"train --steps", 2, "--steps"},
      });
}

TEST_CASE("config files must be small regular files of name = value lines", "[inputs][cli]") {
  TempDir dir;
  std::filesystem::create_directory(dir.file("folder"));
  REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0600) == 0);
  std::ofstream(dir.file("huge.ini")) << std::string((1 << 20) + 1, '#');
  std::ofstream(dir.file("rotate.ini")) << "rotate = 2\n";
  std::ofstream(dir.file("yes.ini")) << "steps = 5\nno-rotate = yes\n";
  std::ofstream(dir.file("section.ini")) << "[train]\nsteps = 5\n[analyze]\nprompts = 10\n";
  std::ofstream(dir.file("line.ini")) << "# fine\nsteps 5\n";
  std::ofstream(dir.file("name.ini")) << " = 5\n";
  std::ofstream(dir.file("empty.ini")) << "lr =\n";
  std::ofstream(dir.file("seed.ini")) << "seed = 18446744073709551616\n";
  std::ofstream(dir.file("lr.ini")) << "lr = inf\n";
  std::ofstream(dir.file("steps.ini")) << "steps = 1e18\n";
  require_refusals(
      dir.path(),
      {
          {"train --config folder", 1, "--config: 'folder' is not a regular file"},
          {"train --config fifo", 1, "--config: 'fifo' is not a regular file"},
          {"train --config /dev/zero", 1, "--config: '/dev/zero' is not a regular file"},
          {"train --config missing.ini", 1, "--config: 'missing.ini' does not exist"},
          {"train --config huge.ini", 1, "larger than 1 MiB"},
          {"train --config seed.ini", 1, "seed.ini:1: --seed must be in"},
          {"train --config lr.ini", 1, "lr.ini:1: --lr must be a finite number"},
          {"train --config steps.ini", 1, "--steps 1e+18 needs about"},
          {"train --config rotate.ini", 2, "rotate.ini:1: --rotate: expected true, false"},
          {"train --config yes.ini", 2, "yes.ini:2: no-rotate: expected true, false"},
          {"train --config section.ini", 2, "section.ini:3: section '[analyze]'"},
          {"train --config line.ini", 2, "line.ini:2: expected 'name = value' (got 'steps 5')"},
          {"train --config name.ini", 2, "name.ini:1: expected 'name = value'"},
          {"train --config empty.ini", 2, "empty.ini:1: --lr: expected a number (got '')"},
      });
}

TEST_CASE("analyze, landscape and resume refuse absurd sizes and non-finite values",
          "[inputs][cli]") {
  TempDir dir;
  REQUIRE(run_linicl(dir.path(),
                     "train -d 2 -n 1000 -L 1 --steps 2 --batch 32 --eval-batch 32 "
                     "--closing-prompts 0 -o run.h5")
              .exit_code == 0);
  require_refusals(
      dir.path(),
      {
          {"analyze run.h5 --prompts 100000000 --max-steps 100000", 1,
           "--prompts 100000000 with --max-steps 100000 needs about"},
          {"analyze run.h5 --ridge-lambda -1", 1, "--ridge-lambda must be > 0 (got -1)"},
          {"analyze run.h5 --ridge-lambda inf", 1, "--ridge-lambda must be a finite number"},
          {"analyze run.h5 --fit-tolerance nan", 1, "--fit-tolerance must be a finite number"},
          {"analyze run.h5 --fit-tolerance 1", 1, "--fit-tolerance must be in (0, 1)"},
          {"analyze run.h5 --threads 100000", 1, "--threads must be in [0, "},
          {"analyze run.h5 --prompts ''", 2, "--prompts: expected a whole number (got '')"},
          {"landscape run.h5 slice --range 0 inf", 1, "--range must be a finite number"},
          {"landscape run.h5 slice --range nan 1", 1, "--range must be a finite number"},
          {"landscape run.h5 slice --dims 3", 1, "--dims must be 1 or 2 (got 3)"},
          {"landscape run.h5 slice --points 5000", 1, "--points must be in [0, 1001]"},
          {"landscape run.h5 slice --dims 2 --points 1001 --pool 10000000", 1,
           "--points with --dims (1002001 points) and --pool 10000000 needs about"},
          {"landscape run.h5 curvature --seed 18446744073709551616", 1, "--seed must be in"},
          {"landscape run.h5 curvature --pool 1e9", 1, "--pool must be in [32, 100000000]"},
          {"landscape run.h5 curvature --lanczos-wanted 2000000000", 1,
           "--lanczos-wanted must be in [1, 1000000]"},
          {"train --resume run.h5 --steps 1000000000000000000", 1, "--steps 1e+18 needs about"},
      });
}

TEST_CASE("the per-prompt cost is the flop count of docs/math.md §13", "[inputs][resources]") {
  // d = 5, n = 20, L = 1: G_0 840 flops and the top layer 504.
  CHECK(prompt_cost(5, 20, 1, 1).gradient == 1344.0);
  // d = 50, n = 400, L = 1: 4.4 GFLOP a step of 4,000 prompts (README, Performance).
  CHECK(prompt_cost(50, 400, 1, 1).gradient * 4000 == Approx(4.4e9).epsilon(0.01));
  // L = 3 counts the m³ terms of §13 (0.0504 GFLOP a step of 4,000 with the O(m²) ones).
  CHECK(prompt_cost(5, 20, 3, 1).gradient * 4000 == Approx(0.0504e9).epsilon(0.07));
  CHECK(prompt_cost(5, 20, 3, 1).forward < prompt_cost(5, 20, 3, 1).gradient);
}

TEST_CASE("the default run's estimate is small and scales with its options",
          "[inputs][resources]") {
  const TrainConfig config;
  const ResourceEstimate e = estimate_training(config, 0, config.steps, 2, 1000);
  CHECK(e.bytes() > 1e5);
  CHECK(e.bytes() < 1e8);
  CHECK(e.flops() > 1e10);  // 3,000 steps of 1,000 prompts of about 15,000 flops
  CHECK(e.flops() < 1e12);
  CHECK(refusal(e, machine_limits()).empty());

  TrainConfig longer = config;
  longer.steps *= 10;
  CHECK(estimate_training(longer, 0, longer.steps, 2, 0).flops() ==
        Approx(10 * estimate_training(config, 0, config.steps, 2, 0).flops()).epsilon(0.05));
  // A resumed run does only the steps it has left.
  CHECK(estimate_training(longer, 29000, longer.steps, 2, 0).flops() <
        estimate_training(config, 0, config.steps, 2, 0).flops());
  TrainConfig wide = config;
  wide.context = 2000000000;
  CHECK(estimate_training(wide, 0, wide.steps, 2, 0).bytes() > 1e12);
  CHECK(estimate_training(wide, 0, wide.steps, 4, 0).bytes() >
        1.9 * estimate_training(wide, 0, wide.steps, 2, 0).bytes());
}

TEST_CASE("check_resources names the largest part, its options and the limit",
          "[inputs][resources]") {
  ResourceEstimate e;
  e.parts.push_back({"small", "--a 1", 1e3, 1e3});
  e.parts.push_back({"each thread's prompt buffers", "--context 7 on 2 threads", 2.3e12, 10.0});
  e.parts.push_back({"training", "--steps 9", 0.0, 3e24});
  CHECK(refusal(e, {1e13, 1e25}).empty());
  CHECK(refusal(e, {2.4e12, 1e25}).empty());
  CHECK(refusal(e, {2.2e12, 1e25}) ==
        "--context 7 on 2 threads needs about 2.3 TB for each thread's prompt buffers; this "
        "machine has 2.2 TB available");
  CHECK_THAT(refusal(e, {1e13, kMaxFlops}),
             Catch::StartsWith("--steps 9 needs about 3e+24 floating-point operations for "
                               "training; linicl refuses more than 1e+17"));
  // Parts that fit alone but not together: the largest is named, with the total.
  ResourceEstimate halves;
  halves.parts = {{"one half", "--x 1", 6e9, 0.0}, {"other half", "--y 1", 5e9, 0.0}};
  CHECK_THAT(refusal(halves, {1e10, kMaxFlops}),
             Catch::StartsWith("--x 1 needs about 6.0 GB for one half (11 GB in all)"));
  CHECK(available_memory() > 1e6);
  CHECK(std::isfinite(available_memory()));
}

TEST_CASE("analysis and landscape estimates grow with their options", "[inputs][resources]") {
  const TrainConfig config;
  AnalysisOptions analysis;
  const double base = estimate_analysis(config, analysis, 2).bytes();
  analysis.prompts = 100000000;
  analysis.max_steps = 100000;
  CHECK(estimate_analysis(config, analysis, 2).bytes() > 1e6 * base);
  LandscapeOptions landscape;
  const double slice = estimate_landscape(config, landscape, "slice", 21, 2).flops();
  CHECK(estimate_landscape(config, landscape, "slice", 21 * 21, 2).flops() > 15 * slice);
  CHECK(estimate_landscape(config, landscape, "curvature", 0, 2).flops() > slice);
  CHECK(refusal(estimate_landscape(config, landscape, "critical", 0, 2), machine_limits()).empty());
}
