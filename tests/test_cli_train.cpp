// `linicl train` end to end: refusals, bit-exact resume and threads, divergence, config files.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>

#include "linicl/io/h5.hpp"
#include "linicl/io/run_file.hpp"
#include "support.hpp"

using namespace linicl;
using namespace linicl::testing;

namespace {

const std::string kSmall =
    " -d 3 -n 6 -L 2 --batch 64 --steps 40 --eval-every 10 --eval-batch 128 --checkpoint-every 10";

void require_same_run(const RunRecord& a, const RunRecord& b) {
  CHECK(a.state.step == b.state.step);
  CHECK(a.state.theta == b.state.theta);  // bitwise
  CHECK(a.state.optimizer.first == b.state.optimizer.first);
  CHECK(a.state.optimizer.second == b.state.optimizer.second);
  CHECK(a.state.optimizer.steps == b.state.optimizer.steps);
  CHECK(a.state.curves.train_step == b.state.curves.train_step);
  CHECK(a.state.curves.train_loss == b.state.curves.train_loss);
  CHECK(a.state.curves.grad_norm == b.state.curves.grad_norm);
  CHECK(a.state.curves.lr == b.state.curves.lr);
  CHECK(a.state.curves.train_capped == b.state.curves.train_capped);
  CHECK(a.state.curves.eval_step == b.state.curves.eval_step);
  CHECK(a.state.curves.eval_loss == b.state.curves.eval_loss);
}

}  // namespace

TEST_CASE("bad input is refused with the option's name, and nothing is changed") {
  TempDir dir;
  REQUIRE(run_linicl(dir.path(), "train" + kSmall + " -o existing.h5").exit_code == 0);
  std::ofstream(dir.file("text.h5")) << "not hdf5\n";
  std::ofstream(dir.file("unknown.ini")) << "dim = 3\nbogus = 1\n";
  std::ofstream(dir.file("twice.ini")) << "lr = 0.1\n\nlr = 0.2\n";
  std::ofstream(dir.file("threads.ini")) << "threads = 2\n";
  const auto before = snapshot(dir.path());

  // Exit 1: a value out of range or a file that cannot be used; 2: a config file's syntax.
  const std::tuple<std::string, int, std::string> cases[] = {
      {"-d 0", 1, "--dim"},
      {"--dim -3", 1, "--dim"},
      {"-n 0", 1, "--context"},
      {"--param sparse", 1, "--param"},
      {"--optimizer lbfgs", 1, "--optimizer"},
      {"--lr -0.1", 1, "--lr"},
      {"--cov kappa --kappa 0.5", 1, "--kappa"},
      {"--init missing.h5", 1, "--init"},
      {"--init text.h5", 1, "--init"},
      {"--resume missing.h5", 1, "--resume"},
      {"--resume text.h5", 1, "--resume"},
      {"--cov file --cov-file missing.h5", 1, "--cov-file"},
      {"--cov file --cov-file text.h5", 1, "--cov-file"},
      {"-o existing.h5", 1, "--out"},
      {"--config unknown.ini", 2, "bogus"},
      {"--x-dist student-t --dof 2", 1, "--dof"},
      {"--noise -1", 1, "--noise"},
      {"--loss-cap -1", 1, "--loss-cap"},
      {"--resume existing.h5 --lr 0.1", 1, "--lr"},
      {"--resume existing.h5 --steps 80 --stop-at 30", 1, "--stop-at"},
      {"--threads -1", 1, "--threads"},
      {"--seed -1", 1, "--seed"},
      {"--cov kappa --kappa 1e13", 1, "--kappa"},
      {"--batch 2000000000", 1, "--batch"},
      {"--config twice.ini", 2, "already set on line 1"},
      {"--config threads.ini", 2, "give --threads on the command line"},
      {"-o .", 1, "--out"},
  };
  for (const auto& [args, exit_code, expected] : cases) {
    const CommandResult result = run_linicl(dir.path(), "train " + args);
    INFO("linicl train " << args << "\n" << result.output);
    CHECK(result.exit_code == exit_code);
    CHECK_THAT(result.output, Catch::Contains(expected));
    CHECK_THAT(result.output, Catch::Contains("error"));
  }
  CHECK(snapshot(dir.path()) == before);
  CHECK(!std::filesystem::exists(dir.file("runs")));
}

TEST_CASE("results are bit-identical for 1 and 2 threads") {
  TempDir dir;
  REQUIRE(run_linicl(dir.path(), "train" + kSmall + " -o one.h5", "OMP_NUM_THREADS=1").exit_code ==
          0);
  REQUIRE(run_linicl(dir.path(), "train" + kSmall + " -o two.h5 --threads 2").exit_code == 0);
  require_same_run(load_run(dir.file("one.h5")), load_run(dir.file("two.h5")));
}

TEST_CASE("a resumed run ends bit-identical to an uninterrupted one") {
  TempDir dir;
  for (const std::string extra : {"", " --resample-every 7 --schedule step --decay-every 15",
                                  " --optimizer sgd --nesterov --warmup 5"}) {
    INFO("options:" << extra);
    REQUIRE(run_linicl(dir.path(), "train" + kSmall + extra + " -o whole.h5 --force").exit_code ==
            0);
    REQUIRE(run_linicl(dir.path(), "train" + kSmall + extra + " --stop-at 17 -o part.h5 --force")
                .exit_code == 0);
    const RunRecord part = load_run(dir.file("part.h5"));
    CHECK(part.status == "stopped");
    CHECK(part.state.step == 17);
    REQUIRE(run_linicl(dir.path(), "train --resume part.h5").exit_code == 0);
    const RunRecord resumed = load_run(dir.file("part.h5"));
    CHECK(resumed.status == "completed");
    require_same_run(resumed, load_run(dir.file("whole.h5")));
  }
}

TEST_CASE("resuming with more steps extends a constant-schedule run exactly") {
  TempDir dir;
  const std::string base = kSmall + " --schedule constant";
  REQUIRE(run_linicl(dir.path(), "train" + base + " -o short.h5").exit_code == 0);
  REQUIRE(run_linicl(dir.path(), "train --resume short.h5 --steps 55 -o longer.h5").exit_code == 0);
  REQUIRE(run_linicl(dir.path(), "train" + base + " --steps 55 -o long.h5").exit_code == 0);
  require_same_run(load_run(dir.file("longer.h5")), load_run(dir.file("long.h5")));
  CHECK(load_run(dir.file("short.h5")).state.step == 40);  // the source run is untouched
}

TEST_CASE("a diverging run stops with its last good state and a reason") {
  TempDir dir;
  const CommandResult result = run_linicl(
      dir.path(),
      "train" + kSmall + " --optimizer sgd --momentum 0 --lr 1e4 --clip 0 --warmup 0 -o d.h5");
  INFO(result.output);
  CHECK(result.exit_code == 3);
  CHECK_THAT(result.output, Catch::Contains("diverged"));
  const RunRecord run = load_run(dir.file("d.h5"));
  CHECK(run.status == "diverged");
  CHECK_THAT(run.reason, Catch::Contains("non-finite"));
  CHECK(run.state.theta.allFinite());
  CHECK(run.state.step < 40);
  for (double loss : run.state.curves.train_loss) CHECK(std::isfinite(loss));
  CHECK(static_cast<std::int64_t>(run.state.curves.train_step.size()) == run.state.step);
  const CommandResult again = run_linicl(dir.path(), "train --resume d.h5");
  CHECK(again.exit_code != 0);
  CHECK_THAT(again.output, Catch::Contains("--init"));
}

TEST_CASE("a config file sets options, the command line overrides it, and both are recorded") {
  TempDir dir;
  std::ofstream(dir.file("run.ini")) << "# a small run\ndim = 2\ncontext = 4\nlayers = 1\n"
                                        "param = pgd\nsteps = 5\nbatch = 32\nrotate = true\n"
                                        "cov = spectrum\nspectrum = 3, 1\n";
  REQUIRE(run_linicl(dir.path(), "train --config run.ini --steps 6 -o c.h5").exit_code == 0);
  const RunRecord run = load_run(dir.file("c.h5"));
  CHECK(run.config.dim == 2);
  CHECK(run.config.param == Param::kPgd);
  CHECK(run.config.rotate);
  CHECK(run.config.steps == 6);
  CHECK(run.config.spectrum == std::vector<double>{3.0, 1.0});
  CHECK(run.sigma.trace() == Approx(2.0));
  CHECK(run.sigma.selfadjointView<Eigen::Lower>().eigenvalues().maxCoeff() == Approx(1.5));
  CHECK_THAT(run.command, Catch::Contains("--config run.ini --steps 6"));
}

TEST_CASE("config files understand no-name flags, boolean spellings and a [train] header") {
  TempDir dir;
  std::ofstream(dir.file("flags.ini")) << "[train]\ncov = kappa\nrotate = on\nno-normalize = 1\n";
  std::ofstream(dir.file("off.ini")) << "no-rotate = true\n";
  REQUIRE(run_linicl(dir.path(), "train" + kSmall + " --config flags.ini -o a.h5").exit_code == 0);
  REQUIRE(run_linicl(dir.path(), "train" + kSmall + " --config off.ini -o b.h5").exit_code == 0);
  CHECK(load_run(dir.file("a.h5")).config.rotate);
  CHECK_FALSE(load_run(dir.file("a.h5")).config.normalize);
  CHECK_FALSE(load_run(dir.file("b.h5")).config.rotate);
}

TEST_CASE("a resumed run keeps the covariance it was trained on") {
  TempDir dir;
  std::filesystem::create_directory(dir.file("sub"));
  {
    const h5::File f = h5::File::create(dir.file("cov.h5"));
    f.write_matrix("Sigma", Eigen::Vector3d(3.0, 1.0, 0.5).asDiagonal().toDenseMatrix());
  }
  REQUIRE(run_linicl(dir.path(),
                     "train" + kSmall + " --cov file --cov-file cov.h5 --stop-at 20 -o r.h5")
              .exit_code == 0);
  const Eigen::MatrixXd sigma = load_run(dir.file("r.h5")).sigma;
  std::filesystem::remove(dir.file("cov.h5"));  // gone, and resumed from another folder
  const CommandResult resumed = run_linicl(dir.file("sub"), "train --resume ../r.h5");
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  const RunRecord run = load_run(dir.file("r.h5"));
  CHECK(run.status == "completed");
  CHECK(run.sigma == sigma);
}

TEST_CASE("forcing replaces a run, and init starts from another run's weights") {
  TempDir dir;
  REQUIRE(run_linicl(dir.path(), "train" + kSmall + " -o a.h5").exit_code == 0);
  REQUIRE(run_linicl(dir.path(), "train" + kSmall + " --seed 3 -o a.h5 --force").exit_code == 0);
  CHECK(load_run(dir.file("a.h5")).config.seed == 3);
  REQUIRE(run_linicl(dir.path(), "train" + kSmall + " --steps 1 --init a.h5 -o b.h5").exit_code ==
          0);
  const RunRecord a = load_run(dir.file("a.h5")), b = load_run(dir.file("b.h5"));
  // b starts from a's final weights: the same evaluation set scores them identically.
  CHECK(b.state.curves.eval_loss.front() == a.state.curves.eval_loss.back());
  CHECK(b.state.curves.eval_loss.front() != b.state.curves.eval_loss.back());
  const CommandResult wrong = run_linicl(dir.path(), "train -d 4 --init a.h5 -o c.h5");
  CHECK(wrong.exit_code != 0);
  CHECK_THAT(wrong.output, Catch::Contains("--init"));
}

TEST_CASE("inspect prints the config, curves, blocks and the preconditioner") {
  TempDir dir;
  REQUIRE(run_linicl(dir.path(), "train -d 2 -n 5 -L 1 --param pgd --steps 3 --batch 16 -o p.h5")
              .exit_code == 0);
  const CommandResult result = run_linicl(dir.path(), "inspect p.h5");
  INFO(result.output);
  CHECK(result.exit_code == 0);
  for (const char* part : {"param", "pgd", "train loss", "P_xx", "Q_yy",
                           "effective preconditioner Gamma", "Gamma*", "relative distance"}) {
    CHECK_THAT(result.output, Catch::Contains(part));
  }
  std::ofstream(dir.file("plain.txt")) << "x";
  const CommandResult bad = run_linicl(dir.path(), "inspect plain.txt");
  CHECK(bad.exit_code != 0);
  CHECK_THAT(bad.output, Catch::Contains("not an HDF5 file"));
}

TEST_CASE("train closes with what the model learned and warns of an infinite population loss") {
  TempDir dir;
  const std::string bin = "cd '" + dir.path() + "' && '" LINICL_BINARY "' train" + kSmall;
  const CommandResult learned = run_command(bin + " -o a.h5 --closing-prompts 200");
  INFO(learned.output);
  REQUIRE(learned.exit_code == 0);
  CHECK_THAT(learned.output, Catch::Contains("What it learned, on 200 fresh prompts") &&
                                 Catch::Contains("GD++ (fitted)") &&
                                 Catch::Contains("(median prompt"));
  CHECK_THAT(learned.output, !Catch::Contains("infinite"));
  const CommandResult t = run_command(bin + " -o t.h5 --closing-prompts 0 --x-dist student-t");
  INFO(t.output);
  REQUIRE(t.exit_code == 0);
  CHECK_THAT(t.output, Catch::Contains("warning: the population loss is infinite") &&
                           Catch::Contains("degree 16"));
  CHECK_THAT(t.output, !Catch::Contains("What it learned"));
}
