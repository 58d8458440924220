// Landscape statistics along training (§9, tracking.hpp): each row recomputed independently.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "linicl/data/streams.hpp"
#include "linicl/io/run_file.hpp"
#include "linicl/landscape/landscape.hpp"
#include "linicl/numerics/rng.hpp"
#include "linicl/train/problem.hpp"
#include "linicl/train/tracking.hpp"
#include "linicl/train/trainer.hpp"
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
    // The noise: the gradients of the J noise batches, drawn again here.
    std::vector<Eigen::VectorXd> grads(config.track_batches);
    for (int j = 0; j < config.track_batches; ++j) {
      const std::uint64_t noise_step = prompt_step(
          PromptSet::kTrackingNoise, static_cast<std::uint64_t>(t) * config.track_batches + j);
      grads[j] = landscape.gradient(theta, {config.eval_seed, noise_step, config.batch}, nullptr);
    }
    const GradientNoise noise = gradient_noise(grads);
    CHECK(track.grad_norm[row] == noise.mean.norm());
    CHECK(track.noise_norms[row] == noise.norms);
    CHECK(track.noise_mean[row] == Approx(noise.norms.mean()).epsilon(1e-14));
    CHECK(track.tail_index[row] == noise.tail_index);
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

namespace {

// J batch gradients with independent coordinates z·scale_c, where the scales spread over
// e^{±2} (as the noise scales of a model's parameters do) and z is drawn by `draw`.
template <class Draw>
std::vector<Eigen::VectorXd> synthetic_gradients(int batches, int coordinates, Draw draw) {
  RandomStream rs(17, Purpose::kTest);
  Eigen::VectorXd scale(coordinates);
  for (int c = 0; c < coordinates; ++c) scale[c] = std::exp(4.0 * rs.uniform() - 2.0);
  std::vector<Eigen::VectorXd> grads(batches, Eigen::VectorXd(coordinates));
  for (Eigen::VectorXd& g : grads) {
    for (int c = 0; c < coordinates; ++c) g[c] = 0.3 + scale[c] * draw(rs);
  }
  return grads;
}

}  // namespace

TEST_CASE("the noise tail index sees Gaussian noise as Gaussian whatever the scales",
          "[tracking]") {
  const auto gaussian = synthetic_gradients(32, 200, [](RandomStream& rs) { return rs.normal(); });
  const auto cauchy = synthetic_gradients(
      32, 200, [](RandomStream& rs) { return std::tan(M_PI * (rs.uniform() - 0.5)); });
  const double alpha_gaussian = gradient_noise(gaussian).tail_index;
  const double alpha_cauchy = gradient_noise(cauchy).tail_index;
  INFO("gaussian " << alpha_gaussian << ", cauchy " << alpha_cauchy);
  CHECK(alpha_gaussian > 1.75);  // 2 in the limit
  CHECK(alpha_cauchy > 0.75);    // 1 in the limit
  CHECK(alpha_cauchy < 1.3);

  // Coordinates without noise (inactive parameters) change nothing (Cauchy: never clamped).
  auto padded = cauchy;
  for (Eigen::VectorXd& g : padded) {
    g.conservativeResize(g.size() + 50);
    g.tail(50).setConstant(1.5);
  }
  CHECK(gradient_noise(padded).tail_index == alpha_cauchy);
  CHECK_THROWS_AS(gradient_noise({gaussian[0], gaussian[1]}), std::invalid_argument);
}

TEST_CASE("the noise norms are unbiased in mean square", "[tracking]") {
  // Unit scales: E‖g_j − ∇ℒ‖² = coordinates. Over many sets of J = 4 batches the mean of the
  // squared norms must match it (without the Bessel factor it would be 3/4 of it).
  constexpr int kSets = 2000, kBatches = 4, kCoordinates = 10;
  RandomStream rs(23, Purpose::kTest);
  double sum = 0.0;
  for (int set = 0; set < kSets; ++set) {
    std::vector<Eigen::VectorXd> grads(kBatches, Eigen::VectorXd(kCoordinates));
    for (Eigen::VectorXd& g : grads) {
      for (double& x : g.reshaped()) x = rs.normal();
    }
    sum += gradient_noise(grads).norms.squaredNorm() / kBatches;
  }
  // Each set gives χ²₃₀/3 (variance 20/3): the standard error of the mean is 0.058.
  CHECK(sum / kSets == Approx(kCoordinates).margin(0.25));
}

TEST_CASE("a tracked step that cannot be measured is a NaN row, not an error", "[tracking]") {
  const TrainConfig config = tracked_config();
  const Problem problem = make_problem(config);
  const Parametrization param = config.parametrization();
  Tracker tracker(config, problem.sampler, param);
  Eigen::VectorXd theta = Eigen::VectorXd::Constant(param.size(), 0.1);
  theta[0] = std::numeric_limits<double>::quiet_NaN();  // every Hessian product is NaN
  TrackSeries track;
  REQUIRE_NOTHROW(tracker.record(5, theta, Eigen::VectorXd::Ones(param.size()), track));
  REQUIRE(track.step == std::vector<std::int64_t>{5});
  CHECK(std::isnan(track.sharpness[0]));
  CHECK(std::isnan(track.directional_smoothness[0]));
  CHECK(std::isnan(track.tail_index[0]));
  CHECK(track.negative[0] == -1);
  CHECK(track.noise_norms[0].size() == config.track_batches);
}
