// Hand-derived gradients (§4) against central finite differences in double precision.
#include <catch2/catch.hpp>

#include <omp.h>

#include <algorithm>
#include <utility>

#include "fixtures.hpp"
#include "linicl/numerics/statistics.hpp"
#include "linicl/train/objective.hpp"
#include "reference_model.hpp"

using namespace linicl;
using namespace linicl::testing;

namespace {

// The §4 tolerance: |a − b| ≤ 1e-6 + 1e-4·max(|a|, |b|) for every entry.
void check_against_finite_differences(const Parametrization& param, const TaskSampler& sampler,
                                      std::uint64_t seed) {
  BatchObjective objective(sampler, param);
  const BatchSpec batch{seed, 3, 6};
  RandomStream rs(seed, Purpose::kInit);
  const Eigen::VectorXd theta = random_matrix(param.size(), 1, rs, 0.3);
  Eigen::VectorXd grad;
  objective.evaluate(theta, batch, &grad);
  REQUIRE(grad.size() == param.size());
  const double h = 1e-5;
  int bad = 0;
  for (Eigen::Index i = 0; i < theta.size(); ++i) {
    Eigen::VectorXd plus = theta, minus = theta;
    plus[i] += h;
    minus[i] -= h;
    const double numeric =
        (objective.evaluate(plus, batch, nullptr) - objective.evaluate(minus, batch, nullptr)) /
        (2 * h);
    const double tolerance = 1e-6 + 1e-4 * std::max(std::abs(numeric), std::abs(grad[i]));
    if (std::abs(numeric - grad[i]) > tolerance) {
      ++bad;
      UNSCOPED_INFO("entry " << i << ": analytic " << grad[i] << ", numeric " << numeric);
    }
  }
  CHECK(bad == 0);
  CHECK(grad.norm() > 1e-3);  // a vanishing gradient would pass any comparison
}

// Central difference of the batch loss along u, the directional derivative ∇ℒ·u.
double directional_difference(BatchObjective& objective, const Eigen::VectorXd& theta,
                              const Eigen::VectorXd& u, const BatchSpec& batch) {
  const double h = 1e-5;
  return (objective.evaluate(theta + h * u, batch, nullptr) -
          objective.evaluate(theta - h * u, batch, nullptr)) /
         (2 * h);
}

}  // namespace

TEST_CASE("gradients match central differences for every parametrization") {
  const Param params[] = {Param::kFull, Param::kPgd, Param::kGdpp};
  for (Param p : params) {
    for (int layers = 1; layers <= 4; ++layers) {
      for (int heads = 1; heads <= 2; ++heads) {
        for (bool shared : {false, true}) {
          for (double noise : {0.0, 0.5}) {
            const TaskSampler sampler = make_sampler(3, 5, noise, 4.0);
            const Parametrization param(p, 3, layers, heads, shared);
            INFO(name_of(p) << " L = " << layers << " H = " << heads << " shared = " << shared
                            << " noise = " << noise);
            check_against_finite_differences(param, sampler, 100 * layers + 10 * heads + shared);
          }
        }
      }
    }
  }
}

TEST_CASE("directional derivatives match on a large model") {
  const TaskSampler sampler = make_sampler(10, 30, 0.5, 10.0);
  const Parametrization param(Param::kFull, 10, 4, 2, false);
  BatchObjective objective(sampler, param);
  const BatchSpec batch{9, 0, 40};
  RandomStream rs(77, Purpose::kTest);
  const Eigen::VectorXd theta = random_matrix(param.size(), 1, rs, 0.05);
  Eigen::VectorXd grad;
  objective.evaluate(theta, batch, &grad);
  for (int trial = 0; trial < 5; ++trial) {
    const Eigen::VectorXd u = random_matrix(param.size(), 1, rs).normalized();
    const double numeric = directional_difference(objective, theta, u, batch);
    const double analytic = grad.dot(u);
    INFO("trial " << trial << ": analytic " << analytic << ", numeric " << numeric);
    CHECK(std::abs(analytic - numeric) <= 1e-6 + 1e-5 * std::abs(analytic));
  }
}

TEST_CASE("loss and gradient are bit-identical for 1 and 2 threads") {
  // d = 5 runs the lane kernels, d = 12 the prompt-by-prompt model with small_gemm.
  for (const auto& [dim, prompts] : {std::pair{5, 1000}, {12, 200}}) {
    const TaskSampler sampler = make_sampler(dim, 20, 0.1, 10.0);
    const Parametrization param(Param::kFull, dim, 3, 1, false);
    RandomStream rs(5, Purpose::kTest);
    const Eigen::VectorXd theta = random_matrix(param.size(), 1, rs, 0.2);
    const BatchSpec batch{42, 7, prompts};
    Eigen::VectorXd grad_one, grad_two;
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    BatchObjective one(sampler, param);
    const double loss_one = one.evaluate(theta, batch, &grad_one);
    omp_set_num_threads(2);
    BatchObjective two(sampler, param);
    const double loss_two = two.evaluate(theta, batch, &grad_two);
    omp_set_num_threads(saved);
    INFO("d = " << dim);
    CHECK(loss_one == loss_two);
    CHECK(grad_one == grad_two);
  }
}

TEST_CASE("the batch loss is the mean squared error of the predictions") {
  const TaskSampler sampler = make_sampler(3, 4, 0.2);
  const Parametrization param(Param::kFull, 3, 2, 1, false);
  RandomStream rs(6, Purpose::kTest);
  const Eigen::VectorXd theta = random_matrix(param.size(), 1, rs, 0.3);
  Weights w = param.make_weights();
  param.expand(theta, w);
  BatchObjective objective(sampler, param);
  const BatchSpec batch{1, 2, 70};  // not a multiple of the chunk size
  double expected = 0.0;
  for (double e : prompt_errors(sampler, w, batch)) expected += e;
  CHECK(objective.evaluate(theta, batch, nullptr) == Approx(expected / batch.size).epsilon(1e-14));
}

TEST_CASE("a loss cap truncates each prompt's loss and drops its gradient (§5.3)") {
  // d = 3 runs the lane kernels, d = 7 one prompt at a time.
  for (int dim : {3, 7}) {
    INFO("d = " << dim);
    const TaskSampler sampler = make_sampler(dim, 5, 0.2);
    const Parametrization param(Param::kFull, dim, 2, 1, false);
    RandomStream rs(8, Purpose::kTest);
    const Eigen::VectorXd theta = random_matrix(param.size(), 1, rs, 0.3);
    Weights w = param.make_weights();
    param.expand(theta, w);
    const BatchSpec batch{2, 5, 45};
    const std::vector<double> errors = prompt_errors(sampler, w, batch);
    // About half the prompts above the cap, none within rounding of it: the lane kernels' sums
    // run in another order, so a prompt exactly at the cap could land on either side.
    std::vector<double> sorted = errors;
    std::sort(sorted.begin(), sorted.end());
    const double cap = 0.5 * (sorted[batch.size / 2] + sorted[batch.size / 2 + 1]);
    double expected_loss = 0.0;
    for (double e : errors) expected_loss += std::min(e, cap);
    const auto expected_capped =
        std::count_if(errors.begin(), errors.end(), [&](double e) { return e > cap; });
    Weights expected_grad = param.make_weights();
    expected_grad.set_zero();
    prompt_errors(sampler, w, batch, &expected_grad, [&](double e) { return e <= cap; });
    Eigen::VectorXd expected;
    param.reduce(expected_grad, expected);

    BatchObjective objective(sampler, param);
    const double uncapped = objective.evaluate(theta, batch, nullptr);
    objective.set_loss_cap(cap);
    Eigen::VectorXd grad;
    CHECK(objective.evaluate(theta, batch, &grad) ==
          Approx(expected_loss / batch.size).epsilon(1e-13));
    CHECK(objective.last_capped() == expected_capped);
    CHECK(expected_capped > 10);
    CHECK((grad - expected).norm() <= 1e-12 * expected.norm());
    // estimate() measures, uncapped.
    CHECK(objective.estimate(theta, batch).mean == uncapped);
  }
}

TEST_CASE("size-specialized kernels and the dynamic fallback agree with the reference") {
  // d + 1 ∈ {2…6, 11} run compiled-size kernels, every other size the dynamic one; L = 1 is the
  // top layer alone, L = 3 has one layer between bottom and top.
  for (int d : {1, 2, 4, 5, 6, 7, 10, 12, 20, 50}) {
    for (int layers : {1, 2, 3}) {
      const TaskSampler sampler = make_sampler(d, 9, 0.2, 4.0);
      const Parametrization param(Param::kFull, d, layers, 2, false);
      BatchObjective objective(sampler, param);
      const BatchSpec batch{3, 0, 6};
      RandomStream rs(40 + d, Purpose::kTest);
      const Eigen::VectorXd theta = random_matrix(param.size(), 1, rs, 0.1);
      Weights w = param.make_weights();
      param.expand(theta, w);
      Prompt prompt;
      sampler.sample(3, 0, 0, prompt);
      INFO("d = " << d << ", L = " << layers);
      CHECK(std::abs(model_prediction(w, prompt) - reference_prediction(w, prompt)) <=
            1e-12 * std::max(1.0, std::abs(reference_prediction(w, prompt))));
      Eigen::VectorXd grad;
      objective.evaluate(theta, batch, &grad);
      const Eigen::VectorXd u = random_matrix(param.size(), 1, rs).normalized();
      const double numeric = directional_difference(objective, theta, u, batch);
      CHECK(std::abs(grad.dot(u) - numeric) <= 1e-7 + 1e-6 * std::abs(numeric));
    }
  }
}
