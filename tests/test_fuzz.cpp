// Corrupted and inconsistent files through every reader: a seeded corpus of bit flips,
// truncations and structural edits (missing, extra, reshaped and retyped objects) of valid run,
// covariance and config files. Each must give a clear error or the right answer, and never a
// signal, a hang or (under the sanitizers) a memory error.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "linicl/io/h5.hpp"
#include "linicl/io/run_file.hpp"
#include "linicl/train/problem.hpp"
#include "support.hpp"

using namespace linicl;
using namespace linicl::testing;

namespace {

namespace fs = std::filesystem;

std::string bytes_of(const std::string& path) {
  return read_bytes(path);
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string flip_bits(std::string bytes, int flips, std::mt19937_64& rng) {
  for (int i = 0; i < flips; ++i) {
    const std::size_t bit = rng() % (bytes.size() * 8);
    bytes[bit / 8] = static_cast<char>(bytes[bit / 8] ^ (1 << (bit % 8)));
  }
  return bytes;
}

// The outcome of a reader on a mutated file.
enum class Outcome { kError, kSameAsOriginal, kDifferent };

// Reads a run, classifying the result against the original.
Outcome read_run(const std::string& path, const RunRecord& original) {
  try {
    const RunRecord run = load_run(path);
    const Curves& a = run.state.curves;
    const Curves& b = original.state.curves;
    const bool same = run.state.theta == original.state.theta && run.sigma == original.sigma &&
                      run.sigma_w == original.sigma_w && a.train_loss == b.train_loss &&
                      a.eval_loss == b.eval_loss && run.status == original.status &&
                      run.config.lr == original.config.lr &&
                      run.state.optimizer.second == original.state.optimizer.second;
    return same ? Outcome::kSameAsOriginal : Outcome::kDifferent;
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).size() > 0);
    return Outcome::kError;
  }
}

// Structural edits of a run file, each applied to a fresh copy through the HDF5 API.
std::vector<std::function<void(const h5::File&)>> structural_edits() {
  std::vector<std::function<void(const h5::File&)>> edits;
  for (const char* object :
       {"/weights/P", "/weights/Q", "/checkpoint/theta", "/config", "/train/step", "/train/loss",
        "/eval/loss", "/eval/step", "/data/Sigma", "/data/Sigma_w", "/checkpoint/optimizer_first",
        "/checkpoint/optimizer_second", "/checkpoint", "/train"}) {
    edits.push_back([object](const h5::File& f) { f.remove(object); });
  }
  for (const char* matrix : {"/weights/P", "/checkpoint/theta", "/data/Sigma",
                             "/checkpoint/optimizer_first", "/train/loss", "/eval/step"}) {
    edits.push_back(
        [matrix](const h5::File& f) { f.write_matrix(matrix, Eigen::MatrixXd::Ones(3, 1)); });
    edits.push_back([matrix](const h5::File& f) { f.write_matrix(matrix, Eigen::MatrixXd(0, 0)); });
    edits.push_back([matrix](const h5::File& f) {
      f.write_array(matrix, {1, 1, 1, 1, 1}, {std::nan("")});
    });
  }
  for (const char* attribute : {"dim", "layers", "heads", "context", "batch", "eval-every", "lr",
                                "rotate", "param", "cov", "seed", "steps"}) {
    edits.push_back([attribute](const h5::File& f) { f.group("config").set_attr(attribute, "x"); });
    edits.push_back([attribute](const h5::File& f) {
      f.group("config").set_attr(attribute, std::int64_t{-1});
    });
    edits.push_back([attribute](const h5::File& f) {
      f.group("config").set_attr(attribute, std::int64_t{2147483647});
    });
    edits.push_back([attribute](const h5::File& f) { f.group("config").set_attr(attribute, 0.0); });
  }
  edits.push_back([](const h5::File& f) { f.group("checkpoint").set_attr("step", "seven"); });
  edits.push_back(
      [](const h5::File& f) { f.group("checkpoint").set_attr("step", std::int64_t{-3}); });
  edits.push_back([](const h5::File& f) { f.set_attr("status", std::int64_t{1}); });
  edits.push_back([](const h5::File& f) { f.set_attr("format", "linicl-run-2"); });
  edits.push_back([](const h5::File& f) { f.create_group("extra/group"); });
  edits.push_back([](const h5::File& f) { f.group("config").set_attr("unknown-option", 1.0); });
  return edits;
}

}  // namespace

TEST_CASE("corrupted run files give an error or the right answer, never a crash", "[fuzz]") {
  TempDir dir;
  const CommandResult made =
      run_linicl(dir.path(),
                 "train -d 2 -n 4 -L 2 --batch 16 --eval-batch 16 --steps 4 --eval-every 2 "
                 "--checkpoint-every 2 --closing-prompts 0 -o base.h5");
  REQUIRE(made.exit_code == 0);
  REQUIRE(run_linicl(dir.path(), "analyze base.h5 --prompts 64 --calibration 64").exit_code == 0);
  const std::string base = dir.file("base.h5");
  const RunRecord original = load_run(base);
  const std::string good = bytes_of(base);
  const std::string path = dir.file("mutant.h5");
  std::mt19937_64 rng(20261208);

  int errors = 0, same = 0;
  SECTION("bit flips are detected wherever they change what a reader uses") {
    for (int trial = 0; trial < 1500; ++trial) {
      write_bytes(path, flip_bits(good, 1 + trial % 4, rng));
      const Outcome outcome = read_run(path, original);
      INFO("trial " << trial);
      CHECK(outcome != Outcome::kDifferent);
      (outcome == Outcome::kError ? errors : same) += 1;
    }
    WARN(errors << " flipped files refused, " << same << " read back unchanged");
  }
  SECTION("every truncation is refused") {
    for (std::size_t length = 0; length < good.size(); length += 1 + rng() % 97) {
      write_bytes(path, good.substr(0, length));
      INFO("length " << length);
      CHECK(read_run(path, original) == Outcome::kError);
    }
  }
  SECTION("structural edits give an error or a run that passes every check") {
    for (const auto& edit : structural_edits()) {
      write_bytes(path, good);
      edit(h5::File::open(path, h5::File::Mode::kReadWrite));
      read_run(path, original);  // an exception is fine; a crash fails the whole test binary
    }
  }
}

TEST_CASE("corrupted files through the commands that read them: errors, never signals", "[fuzz]") {
  TempDir dir;
  REQUIRE(run_linicl(dir.path(),
                     "train -d 2 -n 4 -L 1 --batch 16 --eval-batch 16 --steps 4 "
                     "--eval-every 2 --checkpoint-every 2 --closing-prompts 0 -o base.h5")
              .exit_code == 0);
  {
    const h5::File cov = h5::File::create(dir.file("cov.h5"));
    cov.write_matrix("Sigma", Eigen::Matrix2d{{2.0, 0.5}, {0.5, 1.0}});
  }
  const std::string run = bytes_of(dir.file("base.h5"));
  const std::string cov = bytes_of(dir.file("cov.h5"));
  const std::string config =
      "dim = 2\ncontext = 4\nlayers = 1\nbatch = 8\neval-batch = 8\n"
      "steps = 2\nrotate = true\n";
  std::mt19937_64 rng(7);
  const std::vector<std::string> commands = {
      "inspect m.h5",
      "analyze m.h5 --prompts 32 --calibration 32",
      "landscape curvature m.h5 --pool 32",
      "train --init m.h5 -d 2 -n 4 -L 1 --batch 8 --eval-batch 8 --steps 2 --closing-prompts 0 "
      "-o out.h5 --force",
      "train --resume m.h5 --steps 6 --closing-prompts 0",
  };
  int refused = 0, trials = 0;
  for (int trial = 0; trial < 25; ++trial) {
    const std::string mutant =
        trial % 5 == 4 ? run.substr(0, rng() % run.size()) : flip_bits(run, 1 + trial % 3, rng);
    for (const std::string& command : commands) {
      write_bytes(dir.file("m.h5"), mutant);
      const CommandResult result = run_linicl(dir.path(), command, "timeout 60");
      INFO(command << " on mutant " << trial << ":\n" << result.output);
      CHECK((result.exit_code == 0 || result.exit_code == 1));
      refused += result.exit_code == 1;
      ++trials;
    }
  }
  for (int trial = 0; trial < 20; ++trial) {
    write_bytes(dir.file("c.h5"), trial % 4 == 3 ? cov.substr(0, rng() % cov.size())
                                                 : flip_bits(cov, 1 + trial % 2, rng));
    const CommandResult result =
        run_linicl(dir.path(),
                   "train -d 2 -n 4 -L 1 --cov file --cov-file c.h5 --batch 8 "
                   "--eval-batch 8 --steps 2 --closing-prompts 0 -o o.h5 --force");
    INFO("covariance mutant " << trial << ":\n" << result.output);
    CHECK((result.exit_code == 0 || result.exit_code == 1));
  }
  for (int trial = 0; trial < 20; ++trial) {
    write_bytes(dir.file("c.ini"), flip_bits(config, 1 + trial % 3, rng));
    const CommandResult result =
        run_linicl(dir.path(), "train --config c.ini --closing-prompts 0 -o o.h5 --force");
    INFO("config mutant " << trial << ":\n" << result.output);
    CHECK((result.exit_code == 0 || result.exit_code == 1 || result.exit_code == 2));
  }
  WARN(refused << " of " << trials << " commands on mutated run files refused them");
}
