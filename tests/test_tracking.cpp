// Landscape statistics along training (§9, tracking.hpp): each row recomputed independently.
#include <catch2/catch.hpp>

#include <cmath>

#include "linicl/problem.hpp"
#include "linicl/run_file.hpp"
#include "linicl/trainer.hpp"
#include "support.hpp"

using namespace linicl;
using namespace linicl::testing;

namespace {

TrainConfig tracked_config() {
  TrainConfig config;
  config.dim = 3;
  config.context = 8;
  config.layers = 2;
  config.batch = 200;
  config.steps = 40;
  config.warmup = 0;
  config.lr = 0.01;
  config.eval_every = 20;
  config.eval_batch = 200;
  config.track_every = 15;
  config.track_pool = 300;
  config.track_batches = 6;
  return config;
}

TrainState train_until(const TrainConfig& config, const Problem& problem, std::int64_t stop) {
  Trainer trainer(config, problem.sampler);
  TrainState state = trainer.initial_state();
  TrainObserver quiet;
  trainer.run(state, stop, quiet);
  return state;
}

}  // namespace

TEST_CASE("tracked rows match the landscape recomputed at theta_t", "[tracking]") {
  const TrainConfig config = tracked_config();
  const Problem problem = make_problem(config);
  const TrainState state = train_until(config, problem, config.steps);
  const TrackSeries& track = state.curves.track;
  REQUIRE(track.step == std::vector<std::int64_t>{0, 15, 30});
  REQUIRE(track.noise_norms.size() == 3);
  REQUIRE(track.noise_norms[0].size() == 6);

  const Parametrization param = config.parametrization();
  LandscapeOptions options;
  options.pool = config.track_pool;
  options.seed = config.eval_seed;
  Landscape landscape(problem.sampler, param, options);
  for (std::size_t row = 1; row < track.step.size(); ++row) {
    const std::int64_t t = track.step[row];
    const Eigen::VectorXd theta = train_until(config, problem, t).theta;
    const Eigen::VectorXd next = train_until(config, problem, t + 1).theta;
    const Curvature curvature = landscape.curvature(theta);
    CHECK(track.sharpness[row] == curvature.sharpness);
    CHECK(track.robust_condition[row] == curvature.robust_condition);
    CHECK(track.negative[row] == curvature.negative);
    CHECK(track.sharpness[row] > 0.0);
    const Eigen::VectorXd u = (next - theta).normalized();
    Eigen::VectorXd hu;
    landscape.hessian_times(theta, u, hu);
    CHECK(track.directional_smoothness[row] == Approx(u.dot(hu)).epsilon(1e-12));
    // The noise norms: each batch's gradient against the mean of the batches.
    CHECK(track.noise_norms[row].minCoeff() > 0.0);
    CHECK(track.noise_mean[row] == Approx(track.noise_norms[row].mean()).epsilon(1e-14));
    CHECK(track.tail_index[row] > 0.0);
    CHECK(track.tail_index[row] <= 2.0);
  }
}

TEST_CASE("the tracked series survive the run file and are cut back on resume", "[tracking]") {
  const TrainConfig config = tracked_config();
  const Problem problem = make_problem(config);
  RunRecord run;
  run.config = config;
  run.sigma = problem.sigma;
  run.sigma_w = problem.sigma_w;
  run.state = train_until(config, problem, config.steps);
  TempDir dir;
  save_run(dir.file("run.h5"), run);
  const RunRecord loaded = load_run(dir.file("run.h5"));
  const TrackSeries& a = run.state.curves.track;
  const TrackSeries& b = loaded.state.curves.track;
  CHECK(b.step == a.step);
  CHECK(b.sharpness == a.sharpness);
  CHECK(b.tail_index == a.tail_index);
  CHECK(b.negative == a.negative);
  REQUIRE(b.noise_norms.size() == a.noise_norms.size());
  CHECK(b.noise_norms[2] == a.noise_norms[2]);
  TrackSeries cut = b;
  cut.drop_from(15);
  CHECK(cut.step == std::vector<std::int64_t>{0});
  CHECK(cut.noise_norms.size() == 1);
  CHECK(cut.directional_smoothness.size() == 1);
}

TEST_CASE("a resumed tracked run has the same /track as an uninterrupted one", "[tracking]") {
  TempDir dir;
  const std::string args =
      "train -d 3 -n 6 -L 2 --batch 64 --steps 40 --track-every 10 --track-pool 64 "
      "--track-batches 4";
  REQUIRE(run_linicl(dir.path(), args + " -o whole.h5").exit_code == 0);
  REQUIRE(run_linicl(dir.path(), args + " --stop-at 20 -o parts.h5").exit_code == 0);
  REQUIRE(load_run(dir.file("parts.h5")).state.curves.track.step.size() == 2);
  REQUIRE(run_linicl(dir.path(), "train --resume parts.h5").exit_code == 0);
  const TrackSeries a = load_run(dir.file("whole.h5")).state.curves.track;
  const TrackSeries b = load_run(dir.file("parts.h5")).state.curves.track;
  CHECK(a.step == std::vector<std::int64_t>{0, 10, 20, 30});
  CHECK(b.step == a.step);
  CHECK(b.sharpness == a.sharpness);
  CHECK(b.directional_smoothness == a.directional_smoothness);
  CHECK(b.noise_mean == a.noise_mean);
  CHECK(b.tail_index == a.tail_index);
}
