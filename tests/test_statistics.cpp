// Per-prompt loss statistics: the median helper and the evaluation estimate's median and
// standard error against the prompts' losses computed one by one.
#include <catch2/catch.hpp>

#include <cmath>

#include "fixtures.hpp"
#include "linicl/numerics/statistics.hpp"
#include "linicl/train/objective.hpp"

using namespace linicl;
using namespace linicl::testing;

TEST_CASE("median() of odd, even and empty sets", "[statistics]") {
  CHECK(median({3.0, 1.0, 2.0}) == 2.0);
  CHECK(median({4.0, 1.0, 3.0, 2.0}) == 2.5);
  CHECK(median({5.0}) == 5.0);
  CHECK(std::isnan(median({})));
}

TEST_CASE("the evaluation estimate's mean, standard error and median match the prompts one by one",
          "[statistics]") {
  // d = 5 takes the eight-lane kernels, d = 9 the one-prompt path.
  for (int dim : {5, 9}) {
    const TaskSampler sampler = make_sampler(dim, 10, 0.1, 4.0);
    const Parametrization param(Param::kFull, dim, 2, 1, false);
    const Weights w = random_weights(2, 1, dim, 31, 0.2);
    const Eigen::VectorXd theta = param.project(w);
    BatchObjective objective(sampler, param);
    const BatchSpec batch{8, 3, 37};  // a last chunk of 5, a last lane group of 5
    const BatchObjective::Estimate e = objective.estimate(theta, batch, true);
    const std::vector<double> errors = prompt_errors(sampler, w, batch);
    double mean = 0.0, var = 0.0;
    for (double x : errors) mean += x / errors.size();
    for (double x : errors) var += (x - mean) * (x - mean) / (errors.size() - 1.0);
    std::vector<double> sorted = errors;
    std::sort(sorted.begin(), sorted.end());
    INFO("d = " << dim);
    CHECK(e.mean == Approx(mean).epsilon(1e-12));
    CHECK(e.standard_error == Approx(std::sqrt(var / errors.size())).epsilon(1e-8));
    CHECK(e.median == Approx(sorted[18]).epsilon(1e-12));
    CHECK(std::isnan(objective.estimate(theta, batch).median));  // not asked for
  }
}
