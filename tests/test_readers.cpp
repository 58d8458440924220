// Every reader checks what it reads before using it (§10): a damaged or hand-edited file is
// one clear line naming the file and the object, never a crash, a signal or a silently
// different run. Each test damages a copy of a valid run through the HDF5 API.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>

#include "linicl/io/covariance_file.hpp"
#include "linicl/io/h5.hpp"
#include "linicl/io/run_file.hpp"
#include "run_fixture.hpp"
#include "support.hpp"

using namespace linicl;
using namespace linicl::testing;
using Catch::Contains;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// `run` saved as `name` in `dir`, then changed by `edit` through the HDF5 API.
std::string damaged(const TempDir& dir, const std::function<void(const h5::File&)>& edit,
                    const RunRecord& run = small_run(), const std::string& name = "r.h5") {
  const std::string path = dir.file(name);
  save_run(path, run);
  edit(h5::File::open(path, h5::File::Mode::kReadWrite));
  return path;
}

// What load_run says about `path` ("" when it reads the file).
std::string load_error(const std::string& path) {
  try {
    load_run(path);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// load_run refuses `path` with one line that names the file, then says `message`.
void require_refused(const std::string& path, const std::string& message) {
  const std::string error = load_error(path);
  INFO(error);
  CHECK_THAT(error, Contains("run file '" + path + "': " + message));
  CHECK(error.find('\n') == std::string::npos);
}

void set_config(const h5::File& file, const char* name, std::int64_t value) {
  file.group("config").set_attr(name, value);
}

// A run with two rows of /track.
RunRecord tracked_run() {
  RunRecord run = small_run();
  TrackSeries& t = run.state.curves.track;
  t.step = {0, 2};
  t.sharpness = t.median = t.robust_condition = t.directional_smoothness = {1.0, kNaN};
  t.grad_norm = t.noise_mean = t.tail_index = {0.5, kNaN};
  t.negative = {0, -1};
  t.noise_norms = {Eigen::VectorXd::Ones(4), Eigen::VectorXd::Ones(4)};
  return run;
}

}  // namespace

TEST_CASE("readers: /weights/P and /weights/Q must have the config's shape, also for --init",
          "[readers]") {
  TempDir dir;
  const std::vector<double> three_layers(3 * 2 * 3 * 3, 0.0);
  const std::string p = damaged(dir, [&](const h5::File& f) {
    f.write_array("/weights/P", {3, 2, 3, 3}, three_layers);
  });
  const std::string shape =
      "/weights/P must be of shape [2, 2, 3, 3] ([layers, heads, dim + 1, "
      "dim + 1] of /config) (got [3, 2, 3, 3])";
  require_refused(p, shape);
  // --init reads only the weights: the same checks, before any value is copied.
  CHECK_THROWS_WITH(read_weights(open_run(p)), Contains("run file '" + p + "': " + shape));

  const std::vector<double> one_layer(2 * 3 * 3, 0.0);
  const std::string q = damaged(
      dir,
      [&](const h5::File& f) {
        f.write_array("/weights/Q", {1, 2, 3, 3}, one_layer);
      },
      small_run(), "q.h5");
  require_refused(q, "/weights/Q must be of shape [2, 2, 3, 3]");
  CHECK_THROWS_WITH(read_weights(open_run(q)), Contains(q) && Contains("/weights/Q"));

  const std::string flat = damaged(
      dir, [](const h5::File& f) { f.write_matrix("/weights/P", Eigen::MatrixXd::Zero(3, 3)); },
      small_run(), "flat.h5");
  require_refused(flat,
                  "/weights/P must be of shape [2, 2, 3, 3] ([layers, heads, dim + 1, "
                  "dim + 1] of /config) (got [3, 3])");
}

TEST_CASE("readers: the weights must be finite and the expansion of the checkpoint's theta",
          "[readers]") {
  TempDir dir;
  RunRecord pgd = small_run();
  pgd.config.param = Param::kPgd;
  pgd.state.theta.conservativeResize(pgd.config.parametrization().size());
  pgd.state.optimizer.first.conservativeResize(pgd.state.theta.size());
  pgd.state.optimizer.second.conservativeResize(pgd.state.theta.size());
  REQUIRE(load_error(damaged(
                         dir, [](const h5::File&) {}, pgd))
              .empty());

  // An entry outside the pgd pattern P = [[0, 0], [0, 1]] of layer 1, head 1.
  const std::string outside = damaged(
      dir,
      [](const h5::File& f) {
        std::vector<std::size_t> dims;
        std::vector<double> p = f.read_array("/weights/P", dims);
        p[3 * 9] = 0.5;  // layer 1, head 1, entry (0, 0)
        f.write_array("/weights/P", dims, p);
      },
      pgd);
  require_refused(outside,
                  "/weights/P must be the expansion of /checkpoint/theta under param = pgd (got "
                  "other values at layer 1, head 1)");

  const std::string nan = damaged(dir, [](const h5::File& f) {
    std::vector<std::size_t> dims;
    std::vector<double> q = f.read_array("/weights/Q", dims);
    q[5] = kNaN;
    f.write_array("/weights/Q", dims, q);
  });
  require_refused(nan, "/weights/Q must be finite (got a NaN or infinite entry)");
}

TEST_CASE("readers: theta must be a finite column of the config's parameter count", "[readers]") {
  TempDir dir;
  const std::string short_theta = damaged(dir, [](const h5::File& f) {
    f.write_matrix("/checkpoint/theta", Eigen::MatrixXd::Ones(3, 1));
  });
  require_refused(short_theta,
                  "/checkpoint/theta must be of length 72 (the parameter count of "
                  "param = full at the /config sizes) (got 3)");
  const std::string rank3 = damaged(dir, [](const h5::File& f) {
    f.write_array("/checkpoint/theta", {72, 1, 1}, std::vector<double>(72, 0.0));
  });
  require_refused(rank3, "/checkpoint/theta must be a column vector ([n, 1]) (got [72, 1, 1])");
  const std::string nan = damaged(dir, [](const h5::File& f) {
    Eigen::MatrixXd theta = f.read_matrix("/checkpoint/theta");
    theta(4, 0) = -std::numeric_limits<double>::infinity();
    f.write_matrix("/checkpoint/theta", theta);
  });
  require_refused(nan, "/checkpoint/theta must be finite");
}

TEST_CASE("readers: series that share a step series must have its length", "[readers]") {
  TempDir dir;
  const std::string no_steps = damaged(
      dir, [](const h5::File& f) { f.write_series("/train/step", std::vector<std::int64_t>{}); });
  require_refused(no_steps, "/train/loss must be as long as /train/step (0 rows) (got 3 rows)");

  const std::string capped = damaged(
      dir, [](const h5::File& f) { f.write_series("/train/capped", std::vector<double>{0.0}); });
  require_refused(capped, "/train/capped must be as long as /train/step (3 rows) (got 1 rows)");

  const std::string median = damaged(dir, [](const h5::File& f) {
    f.write_series("/eval/loss_median", std::vector<double>{1.0, 2.0});
  });
  require_refused(median, "/eval/loss_median must be as long as /eval/step (1 rows) (got 2 rows)");

  const std::string order = damaged(dir, [](const h5::File& f) {
    f.write_series("/train/step", std::vector<std::int64_t>{0, 2, 1});
  });
  require_refused(order,
                  "/train/step must be increasing steps in [0, 7] (the checkpoint's step) "
                  "(got 1 in row 2)");

  const std::string floats = damaged(
      dir, [](const h5::File& f) { f.write_series("/eval/step", std::vector<double>{0.0}); });
  require_refused(floats, "HDF5: dataset '/eval/step'");
  CHECK_THAT(load_error(floats), Contains("is not an integer"));

  const std::string track = damaged(
      dir, [](const h5::File& f) { f.write_series("/track/sharpness", std::vector<double>{1.0}); },
      tracked_run());
  require_refused(track, "/track/sharpness must be as long as /track/step (2 rows) (got 1 rows)");
  const std::string norms = damaged(
      dir,
      [](const h5::File& f) { f.write_matrix("/track/noise_norms", Eigen::MatrixXd::Ones(3, 4)); },
      tracked_run());
  require_refused(norms,
                  "/track/noise_norms must be of shape [2, batches] (one row per "
                  "/track/step) (got [3, 4])");
}

TEST_CASE("readers: NaN losses (diverged runs), NaN track rows and older files still read",
          "[readers]") {
  TempDir dir;
  RunRecord diverged = tracked_run();
  diverged.status = "diverged";
  diverged.state.curves.eval_loss = {kNaN};
  diverged.state.curves.train_loss = {3.0, kNaN, kNaN};
  const std::string path = damaged(
      dir, [](const h5::File& f) { f.remove("/train/capped"); }, diverged);
  const RunRecord back = load_run(path);
  CHECK(std::isnan(back.state.curves.eval_loss[0]));
  CHECK(back.state.curves.track.step.size() == 2);
  REQUIRE(back.state.curves.train_capped.size() == 3);  // an older file: NaN rows
  CHECK(std::isnan(back.state.curves.train_capped[2]));
}

TEST_CASE("readers: inspect refuses a run with an empty /train/step instead of crashing",
          "[readers][cli]") {
  TempDir dir;
  damaged(dir,
          [](const h5::File& f) { f.write_series("/train/step", std::vector<std::int64_t>{}); });
  const CommandResult r = run_linicl(dir.path(), "inspect r.h5");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output ==
        "linicl: error: run file 'r.h5': /train/loss must be as long as /train/step (0 rows) (got "
        "3 rows)\n");
}

TEST_CASE("readers: /config goes through TrainConfig::check, named as an attribute of the file",
          "[readers]") {
  TempDir dir;
  const std::string eval_every =
      damaged(dir, [](const h5::File& f) { set_config(f, "eval-every", 0); });
  CHECK(load_error(eval_every) ==
        "run file '" + eval_every + "': /config attribute 'eval-every' must be >= 1 (got 0)");
  // The same rule on the command line names the option.
  TrainConfig config;
  config.eval_every = 0;
  CHECK_THROWS_WITH(config.check(), "--eval-every must be >= 1 (got 0)");

  const std::pair<std::function<void(const h5::File&)>, std::string> cases[] = {
      {[](const h5::File& f) { set_config(f, "batch", -1); },
       "/config attribute 'batch' must be in [1, 100000000] (got -1)"},
      {[](const h5::File& f) { f.group("config").set_attr("lr", -1.0); },
       "/config attribute 'lr' must be > 0 (got -1)"},
      {[](const h5::File& f) { set_config(f, "rotate", 2); },
       "/config attribute 'rotate' must be 0 or 1 (got 2)"},
      {[](const h5::File& f) { set_config(f, "dim", std::int64_t{1} << 40); },
       "/config attribute 'dim' must be in [-2147483648, 2147483647] (got 1099511627776)"},
      {[](const h5::File& f) { f.group("config").set_attr("optimizer", "adamx"); },
       "/config attribute 'optimizer' must be one of adam|adamw|sgd (got 'adamx')"},
      {[](const h5::File& f) { f.group("config").set_attr("x-dist", "cauchy"); },
       "/config attribute 'x-dist' must be one of gaussian|uniform|student-t|sphere|gamma"},
      {[](const h5::File& f) { f.group("config").set_attr("cov", "file"); },
       "/config attribute 'cov-file' must be given exactly when /config attribute 'cov' is file"},
      {[](const h5::File& f) { f.group("config").set_attr("spectrum", "1,x"); },
       "/config attribute 'spectrum' must be a comma-separated list of numbers (got '1,x')"},
      {[](const h5::File& f) { f.group("config").set_attr("warm-up", 3.0); },
       "/config attribute 'warm-up' is no option of this linicl"},
      {[](const h5::File& f) { f.group("config").set_attr("dim", "two"); },
       "HDF5: attribute 'dim' of '/config'"},
      {[](const h5::File& f) { f.group("config").set_attr("rotate", 1.0); },
       "HDF5: attribute 'rotate' of '/config'"},
  };
  for (const auto& [edit, message] : cases) {
    const std::string path = damaged(dir, edit);
    require_refused(path, message);
  }
}

TEST_CASE("readers: resume, analyze and landscape refuse a damaged config with exit 1",
          "[readers][cli]") {
  TempDir dir;
  damaged(dir, [](const h5::File& f) { set_config(f, "eval-every", 0); });
  const CommandResult resume = run_linicl(dir.path(), "train --resume r.h5 --closing-prompts 0");
  INFO(resume.output);
  CHECK(resume.exit_code == 1);
  CHECK_THAT(resume.output,
             Contains("run file 'r.h5': /config attribute 'eval-every' must be >= 1 (got 0)"));

  // A context no machine can hold is a valid config; the commands refuse the work, no abort.
  damaged(dir, [](const h5::File& f) { set_config(f, "context", 2147483647); });
  for (const char* command :
       {"train --resume r.h5 --closing-prompts 0", "analyze r.h5", "landscape r.h5 curvature"}) {
    const CommandResult r = run_linicl(dir.path(), command);
    INFO(command << "\n" << r.output);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::StartsWith("linicl: error: "));
  }
}

TEST_CASE("readers: the optimizer state must have theta's length and the counters their range",
          "[readers]") {
  TempDir dir;
  const std::string first = damaged(dir, [](const h5::File& f) {
    f.write_matrix("/checkpoint/optimizer_first", Eigen::MatrixXd::Zero(5, 1));
  });
  require_refused(first,
                  "/checkpoint/optimizer_first must be of length 72 (that of "
                  "/checkpoint/theta) (got 5)");
  const std::string second = damaged(dir, [](const h5::File& f) {
    f.write_matrix("/checkpoint/optimizer_second", Eigen::VectorXd());
  });
  require_refused(second,
                  "/checkpoint/optimizer_second must be of length 72 (that of "
                  "/checkpoint/theta) (got 0)");
  const std::string negative = damaged(dir, [](const h5::File& f) {
    f.write_matrix("/checkpoint/optimizer_second", -Eigen::MatrixXd::Ones(72, 1));
  });
  require_refused(negative, "/checkpoint/optimizer_second must be >= 0");

  const std::pair<std::int64_t, std::string> steps[] = {
      {-3, "/checkpoint attribute 'step' must be in [0, 3000] (steps of /config) (got -3)"},
      {3001, "/checkpoint attribute 'step' must be in [0, 3000]"},
  };
  for (const auto& [step, message] : steps) {
    require_refused(
        damaged(dir,
                [step = step](const h5::File& f) { f.group("checkpoint").set_attr("step", step); }),
        message);
  }
  require_refused(damaged(dir,
                          [](const h5::File& f) {
                            f.group("checkpoint").set_attr("optimizer_steps", std::int64_t{8});
                          }),
                  "/checkpoint attribute 'optimizer_steps' must be in [0, 7]");

  // Before the first update the optimizer has no memory, and SGD never keeps a second moment.
  RunRecord fresh = small_run();
  fresh.state.step = 0;
  fresh.state.optimizer = OptimizerState();
  fresh.state.curves = Curves();
  CHECK(load_error(damaged(
                       dir, [](const h5::File&) {}, fresh))
            .empty());
  RunRecord sgd = small_run();
  sgd.config.optimizer = OptimizerKind::kSgd;
  sgd.state.optimizer.second = Eigen::VectorXd();
  CHECK(load_error(damaged(
                       dir, [](const h5::File&) {}, sgd))
            .empty());
}

TEST_CASE("readers: Sigma and Sigma_w must be d x d, finite, symmetric and positive definite",
          "[readers]") {
  TempDir dir;
  Eigen::MatrixXd asymmetric = Eigen::MatrixXd::Identity(2, 2), nan = asymmetric;
  asymmetric(0, 1) = 0.5;
  nan(1, 1) = kNaN;
  const Eigen::MatrixXd indefinite = Eigen::Vector2d(1.0, -1.0).asDiagonal();
  const Eigen::MatrixXd three = Eigen::MatrixXd::Identity(3, 3);
  const std::pair<Eigen::MatrixXd, std::string> cases[] = {
      {asymmetric, "the matrix is not symmetric"},
      {nan, "the matrix has entries that are not finite"},
      {indefinite, "the matrix is not positive definite"},
      {three, "expected a 2x2 matrix (got 3x3)"},
  };
  for (const auto& [matrix, problem] : cases) {
    for (const char* name : {"/data/Sigma", "/data/Sigma_w"}) {
      const std::string path =
          damaged(dir, [&m = matrix, name](const h5::File& f) { f.write_matrix(name, m); });
      require_refused(path, std::string(name) + ": " + problem);
    }
    // The same check for --cov-file and --w-cov-file.
    const std::string file = dir.file("cov.h5");
    std::remove(file.c_str());
    h5::File::create(file).write_matrix("/Sigma", matrix);
    CHECK_THROWS_WITH(read_covariance_file(file, {"/Sigma"}, 2, "--cov-file"),
                      Contains("--cov-file (" + file + ":/Sigma): " + problem));
  }
  const std::string missing = damaged(dir, [](const h5::File& f) { f.remove("/data/Sigma_w"); });
  require_refused(missing, "HDF5: cannot open dataset '/data/Sigma_w'");
}

TEST_CASE("readers: missing objects and wrong types are one line naming the file and object",
          "[readers]") {
  TempDir dir;
  for (const char* object : {"/weights/Q", "/checkpoint/theta", "/checkpoint/optimizer_first",
                             "/train/lr", "/eval/loss", "/config", "/checkpoint", "/train"}) {
    const std::string path = damaged(dir, [&](const h5::File& f) { f.remove(object); });
    const std::string error = load_error(path);
    INFO(object << ": " << error);
    CHECK_THAT(error, Contains("run file '" + path + "': ") && Contains("'" + std::string(object)));
    CHECK(error.find('\n') == std::string::npos);
  }
  require_refused(damaged(dir, [](const h5::File& f) { f.set_attr("status", std::int64_t{1}); }),
                  "HDF5: attribute 'status' of '/'");
  require_refused(damaged(dir, [](const h5::File& f) { f.set_attr("status", "exploded"); }),
                  "attribute 'status' must be one of running|completed|stopped|diverged (got "
                  "'exploded')");
  require_refused(
      damaged(dir, [](const h5::File& f) { f.set_attr("format_version", std::int64_t{2}); }),
      "attribute 'format_version' must be 1 (newer files need a newer linicl) (got 2)");
}

TEST_CASE("readers: inspect prints a pgd layer without a closed form instead of failing",
          "[readers][cli]") {
  TempDir dir;
  RunRecord run = small_run();
  run.config.param = Param::kPgd;
  run.config.layers = run.config.heads = 1;
  run.config.x_dist = XDist::kStudentT;
  run.config.dof = 3.0;  // no finite fourth moment: Γ* of §7.1 does not exist
  run.state.theta.conservativeResize(run.config.parametrization().size());
  run.state.optimizer = OptimizerState();
  save_run(dir.file("r.h5"), run);
  const CommandResult r = run_linicl(dir.path(), "inspect r.h5");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Contains("no closed form Gamma*") && Contains("dof"));
}
