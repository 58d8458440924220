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
