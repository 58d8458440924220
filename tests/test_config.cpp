// The parameter structs' check() (TaskSpec, CovarianceSpec, OptimizerSpec, ScheduleSpec) and
// TrainConfig::check(), which hands them its fields under the names of its options.
#include "linicl/train/config.hpp"

#include <catch2/catch.hpp>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

using namespace linicl;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

// An edit of a default-constructed spec and the refusal it must cause.
template <class Spec>
struct Bad {
  std::function<void(Spec&)> edit;
  std::string message;
};

template <class Spec, class Check>
void require_refusals(const std::vector<Bad<Spec>>& rows, Check check) {
  REQUIRE_NOTHROW(check(Spec{}));
  for (const auto& row : rows) {
    Spec spec;
    row.edit(spec);
    INFO(row.message);
    CHECK_THROWS_AS(check(spec), std::invalid_argument);
    CHECK_THROWS_WITH(check(spec), row.message);
  }
}

}  // namespace

TEST_CASE("specs: TaskSpec::check names every field and its range", "[config]") {
  require_refusals<TaskSpec>(
      {
          {[](TaskSpec& s) { s.dim = 0; }, "--dim must be >= 1 (got 0)"},
          {[](TaskSpec& s) { s.context = -2; }, "--context must be >= 1 (got -2)"},
          {[](TaskSpec& s) { s.dof = 2.0; }, "--dof must be > 2 and finite (got 2)"},
          {[](TaskSpec& s) { s.dof = kInf; }, "--dof must be > 2 and finite (got inf)"},
          {[](TaskSpec& s) { s.gamma_shape = 0.0; },
           "--gamma-shape must be > 0 and finite (got 0)"},
          {[](TaskSpec& s) { s.gamma_scale = kNaN; },
           "--gamma-scale must be > 0 and finite (got nan)"},
          {[](TaskSpec& s) { s.noise = -0.5; }, "--noise must be >= 0 and finite (got -0.5)"},
      },
      [](const TaskSpec& s) { s.check(); });
  // A caller that reads another source names the field its own way.
  TaskSpec spec;
  spec.noise = -1.0;
  CHECK_THROWS_WITH(spec.check([](const std::string& f) { return "<" + f + ">"; }),
                    "<noise> must be >= 0 and finite (got -1)");
}

TEST_CASE("specs: CovarianceSpec::check names every field and its range", "[config]") {
  require_refusals<CovarianceSpec>(
      {
          {[](CovarianceSpec& s) { s.kappa = 0.5; }, "--kappa must be in [1, 1e12] (got 0.5)"},
          {[](CovarianceSpec& s) { s.kappa = 1e13; }, "--kappa must be in [1, 1e12] (got 1e+13)"},
          {[](CovarianceSpec& s) { s.kappa = kNaN; }, "--kappa must be in [1, 1e12] (got nan)"},
          {[](CovarianceSpec& s) {
             s.kind = CovKind::kSpectrum;
             s.spectrum = {1.0, 2.0};
           },
           "--spectrum must be a list of exactly d values (got 2 values)"},
          {[](CovarianceSpec& s) {
             s.kind = CovKind::kSpectrum;
             s.spectrum = {1.0, 0.0, 2.0};
           },
           "--spectrum must be values > 0 (got 0)"},
          {[](CovarianceSpec& s) {
             s.kind = CovKind::kKappa;
             s.spectrum = {1.0, 2.0, 3.0};
           },
           "--spectrum must be given only with --cov spectrum (got a list with --cov kappa)"},
      },
      [](const CovarianceSpec& s) { s.check(3); });
  CovarianceSpec spectrum;
  spectrum.kind = CovKind::kSpectrum;
  spectrum.spectrum = {3.0, 1.0, 2.0};
  CHECK_NOTHROW(spectrum.check(3));
}

TEST_CASE("specs: OptimizerSpec::check names every field and its range", "[config]") {
  require_refusals<OptimizerSpec>(
      {
          {[](OptimizerSpec& s) { s.beta1 = 1.0; }, "--beta1 must be in [0, 1) (got 1)"},
          {[](OptimizerSpec& s) { s.beta2 = -0.1; }, "--beta2 must be in [0, 1) (got -0.1)"},
          {[](OptimizerSpec& s) { s.eps = 0.0; }, "--eps must be > 0 (got 0)"},
          {[](OptimizerSpec& s) { s.momentum = kNaN; }, "--momentum must be in [0, 1) (got nan)"},
          {[](OptimizerSpec& s) { s.weight_decay = -1.0; }, "--weight-decay must be >= 0 (got -1)"},
      },
      [](const OptimizerSpec& s) { s.check(); });
}

TEST_CASE("specs: ScheduleSpec::check names every field and its range", "[config]") {
  require_refusals<ScheduleSpec>(
      {
          {[](ScheduleSpec& s) { s.total_steps = 0; }, "--steps must be >= 1 (got 0)"},
          {[](ScheduleSpec& s) { s.warmup = -1; }, "--warmup must be >= 0 (got -1)"},
          {[](ScheduleSpec& s) { s.decay_every = 0; }, "--decay-every must be >= 1 (got 0)"},
          {[](ScheduleSpec& s) { s.decay_factor = 0.0; },
           "--decay-factor must be in (0, 1] (got 0)"},
          {[](ScheduleSpec& s) { s.decay_factor = 1.5; },
           "--decay-factor must be in (0, 1] (got 1.5)"},
          {[](ScheduleSpec& s) { s.min_lr = -kInf; }, "--min-lr must be >= 0 (got -inf)"},
      },
      [](const ScheduleSpec& s) { s.check(); });
}

TEST_CASE("specs: TrainConfig::check delegates to the specs under its options' names", "[config]") {
  const std::vector<Bad<TrainConfig>> rows = {
      {[](TrainConfig& c) { c.context = 0; }, "context' must be >= 1 (got 0)"},
      {[](TrainConfig& c) { c.dof = 1.5; }, "dof' must be > 2 and finite (got 1.5)"},
      {[](TrainConfig& c) { c.kappa = 0.5; }, "kappa' must be in [1, 1e12] (got 0.5)"},
      {[](TrainConfig& c) { c.spectrum = {1.0}; },
       "spectrum' must be given only with /config attribute 'cov' spectrum (got a list with "
       "/config attribute 'cov' isotropic)"},
      {[](TrainConfig& c) { c.beta2 = 1.0; }, "beta2' must be in [0, 1) (got 1)"},
      {[](TrainConfig& c) { c.decay_factor = 2.0; }, "decay-factor' must be in (0, 1] (got 2)"},
      {[](TrainConfig& c) { c.steps = 0; }, "steps' must be >= 1 (got 0)"},
  };
  REQUIRE_NOTHROW(TrainConfig{}.check());
  for (const auto& row : rows) {
    TrainConfig config;
    row.edit(config);
    INFO(row.message);
    CHECK_THROWS_WITH(config.check(ConfigSource::kRunFile), "/config attribute '" + row.message);
    // On the command line the same rule names the option.
    std::string option = row.message;
    option.replace(option.find('\''), 1, "");
    CHECK_THROWS_WITH(config.check(), Catch::StartsWith("--" + option.substr(0, option.find(' '))));
  }
}

TEST_CASE("defaults: a default TrainConfig builds the specs' defaults", "[config]") {
  const TrainConfig config;

  const TaskSpec task = config.task_spec(), task_default;
  CHECK(task.dim == task_default.dim);
  CHECK(task.context == task_default.context);
  CHECK(task.x_dist == task_default.x_dist);
  CHECK(task.dof == task_default.dof);
  CHECK(task.gamma_shape == task_default.gamma_shape);
  CHECK(task.gamma_scale == task_default.gamma_scale);
  CHECK(task.noise == task_default.noise);

  const CovarianceSpec cov = config.covariance_spec(), cov_default;
  CHECK(cov.kind == cov_default.kind);
  CHECK(cov.kappa == cov_default.kappa);
  CHECK(cov.shape == cov_default.shape);
  CHECK(cov.spectrum == cov_default.spectrum);
  CHECK(cov.rotate == cov_default.rotate);
  CHECK(cov.normalize == cov_default.normalize);

  const OptimizerSpec opt = config.optimizer_spec(), opt_default;
  CHECK(opt.kind == opt_default.kind);
  CHECK(opt.beta1 == opt_default.beta1);
  CHECK(opt.beta2 == opt_default.beta2);
  CHECK(opt.eps == opt_default.eps);
  CHECK(opt.momentum == opt_default.momentum);
  CHECK(opt.nesterov == opt_default.nesterov);
  CHECK(opt.weight_decay == opt_default.weight_decay);

  // total_steps is --steps, which the schedule does not default.
  const ScheduleSpec schedule = config.schedule_spec(), schedule_default;
  CHECK(schedule.kind == schedule_default.kind);
  CHECK(schedule.total_steps == config.steps);
  CHECK(schedule.warmup == schedule_default.warmup);
  CHECK(schedule.decay_every == schedule_default.decay_every);
  CHECK(schedule.decay_factor == schedule_default.decay_factor);
  CHECK(schedule.min_lr == schedule_default.min_lr);

  // The reference recipe itself (config.hpp; README, Set up and run), so that neither side moves
  // alone.
  CHECK(config.optimizer == OptimizerKind::kAdamW);
  CHECK(config.lr == 0.02);
  CHECK(config.beta1 == 0.9);
  CHECK(config.beta2 == 0.9);
  CHECK(config.momentum == 0.9);
  CHECK(config.clip == 1.0);
  CHECK(config.schedule == ScheduleKind::kConstant);
  CHECK(config.init_std == 0.05);
}
