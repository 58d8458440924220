// Training reaches the closed-form optimum of one pgd layer (§7.1), and trainer mechanics.
#include <catch2/catch.hpp>

#include <algorithm>

#include "linicl/analysis/analysis.hpp"
#include "linicl/analysis/theory.hpp"
#include "linicl/train/problem.hpp"
#include "linicl/train/trainer.hpp"

using namespace linicl;

namespace {

// Trains `config` from its initialization to its last step; the outcome and the final state.
TrainOutcome train_from_start(const TrainConfig& config, const Problem& problem,
                              TrainState& state) {
  Trainer trainer(config, problem.sampler);
  state = trainer.initial_state();
  TrainObserver quiet;
  return trainer.run(state, config.steps, quiet);
}

// Trains one pgd layer with Adam and a cosine decay; returns ‖Γ − Γ*‖_F / ‖Γ*‖_F.
double distance_to_gamma_star(TrainConfig config) {
  config.dim = 5;
  config.context = 20;
  config.layers = 1;
  config.param = Param::kPgd;
  config.optimizer = OptimizerKind::kAdam;
  config.lr = 0.03;
  config.schedule = ScheduleKind::kCosine;
  config.warmup = 0;
  config.clip = 0.0;
  config.init_std = 0.0;
  config.batch = 2000;
  config.steps = 1500;
  config.eval_every = 500;
  const Problem problem = make_problem(config);
  Trainer trainer(config, problem.sampler);
  TrainState state = trainer.initial_state();
  TrainObserver quiet;
  REQUIRE(trainer.run(state, config.steps, quiet).status == TrainStatus::kCompleted);
  const Parametrization& param = trainer.parametrization();
  Weights weights = param.make_weights();
  param.expand(state.theta, weights);
  const OneLayerTheory theory(config.task_spec(), problem.sigma, problem.sigma_w);
  const double distance =
      relative_distance(effective_preconditioner(weights, 0), theory.gamma_star());
  INFO("relative distance to Gamma*: " << distance);
  CHECK(state.curves.eval_loss.back() == Approx(theory.loss_star()).epsilon(0.05));
  // The analysis of the trained run reports the same distance (§8).
  AnalysisOptions options;
  options.prompts = 100;
  options.calibration_prompts = 100;
  options.max_steps = 2;
  const AnalysisReport report = analyze(config, problem.sigma, problem.sigma_w, weights, options);
  CHECK(report.layers[0].distance_gamma_star == Approx(distance).epsilon(1e-12));
  return distance;
}

}  // namespace

TEST_CASE("one pgd layer learns Gamma* within 3% on isotropic data") {
  CHECK(distance_to_gamma_star(TrainConfig{}) < 0.03);
}

TEST_CASE("one pgd layer learns Gamma* within 5% with kappa = 10 and a random rotation") {
  TrainConfig config;
  config.cov = CovKind::kKappa;
  config.kappa = 10.0;
  config.rotate = true;
  CHECK(distance_to_gamma_star(config) < 0.05);
}

TEST_CASE("a pool resampled every k steps repeats its prompts within the period") {
  TrainConfig config;
  config.resample_every = 4;
  const Problem problem = make_problem(config);
  const Trainer trainer(config, problem.sampler);
  CHECK(trainer.train_batch(4).step == trainer.train_batch(7).step);
  CHECK(trainer.train_batch(7).step != trainer.train_batch(8).step);
  CHECK(trainer.eval_batch().seed == config.eval_seed);
  CHECK(trainer.eval_batch().step != trainer.train_batch(0).step);
}

TEST_CASE("the initialization is seeded and scaled by --init-std") {
  TrainConfig config;
  config.init_std = 0.5;
  const Problem problem = make_problem(config);
  const Trainer a(config, problem.sampler);
  const Eigen::VectorXd theta = a.initial_state().theta;
  CHECK(theta == a.initial_state().theta);
  const double std = std::sqrt(theta.squaredNorm() / theta.size());
  CHECK(std == Approx(0.5).epsilon(0.2));
  config.seed = 1;
  const Trainer b(config, problem.sampler);
  CHECK(b.initial_state().theta != theta);
}

TEST_CASE("with a loss cap, 8 layers train past the prompts that overflow (§5.3)") {
  TrainConfig config;
  config.dim = 10;
  config.context = 20;
  config.cov = CovKind::kKappa;
  config.rotate = true;
  config.layers = 8;
  config.batch = 500;
  config.steps = 40;
  config.eval_every = 20;
  config.eval_batch = 500;
  const Problem problem = make_problem(config);
  TrainState state;
  {
    const TrainOutcome outcome = train_from_start(config, problem, state);
    INFO(outcome.reason);
    CHECK(outcome.status == TrainStatus::kDiverged);
  }
  config.loss_cap = 100.0;
  const TrainOutcome outcome = train_from_start(config, problem, state);
  INFO(outcome.reason);
  REQUIRE(outcome.status == TrainStatus::kCompleted);
  const Curves& c = state.curves;
  REQUIRE(c.train_capped.size() == static_cast<std::size_t>(config.steps));
  CHECK(*std::max_element(c.train_capped.begin(), c.train_capped.end()) > 0.0);
  CHECK(*std::max_element(c.train_capped.begin(), c.train_capped.end()) <= 0.5);
  CHECK(c.eval_loss_median.back() < 0.5 * c.eval_loss_median.front());

  // A cap below most prompts' loss is a divergence, with its reason.
  config.loss_cap = 1e-9;
  TrainState start;
  const TrainOutcome stopped = train_from_start(config, problem, start);
  CHECK(stopped.status == TrainStatus::kDiverged);
  CHECK(stopped.reason ==
        "more than half of the batch above --loss-cap at step 0; rolled back to step 0");
}
