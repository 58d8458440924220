// Exact Hessian–vector products (dual numbers through the one backward, gram_layers.hpp) against
// finite differences of the analytic gradient, and the one-layer Hessian 2 H ⊗ Σ against the
// sampled loss (§7.1, §9).
#include <catch2/catch.hpp>

#include <omp.h>

#include "fixtures.hpp"
#include "linicl/analysis/theory.hpp"
#include "linicl/train/objective.hpp"

using namespace linicl;
using namespace linicl::testing;

namespace {

Eigen::VectorXd gradient(BatchObjective& objective, const Eigen::VectorXd& theta,
                         const BatchSpec& batch) {
  Eigen::VectorXd g;
  objective.evaluate(theta, batch, &g);
  return g;
}

// (∇ℒ(θ + h v) − ∇ℒ(θ − h v)) / 2h: the Hessian along v up to O(h²).
Eigen::VectorXd gradient_difference(BatchObjective& objective, const Eigen::VectorXd& theta,
                                    const Eigen::VectorXd& v, const BatchSpec& batch,
                                    double h = 1e-4) {
  return (gradient(objective, theta + h * v, batch) - gradient(objective, theta - h * v, batch)) /
         (2 * h);
}

Eigen::MatrixXd hessian_matrix(BatchObjective& objective, const Eigen::VectorXd& theta,
                               const BatchSpec& batch) {
  const Eigen::Index p = theta.size();
  Eigen::MatrixXd hessian(p, p);
  Eigen::VectorXd column;
  for (Eigen::Index j = 0; j < p; ++j) {
    objective.hessian_times(theta, Eigen::VectorXd::Unit(p, j), batch, column);
    hessian.col(j) = column;
  }
  return hessian;
}

}  // namespace

TEST_CASE("Hessian-vector products match differences of the gradient for every parametrization",
          "[hessian]") {
  const TaskSampler sampler = make_sampler(3, 7, 0.3, 4.0);
  for (Param kind : {Param::kFull, Param::kPgd, Param::kGdpp}) {
    for (int layers = 1; layers <= 3; ++layers) {
      for (int heads = 1; heads <= 2; ++heads) {
        for (bool shared : {false, true}) {
          const Parametrization param(kind, 3, layers, heads, shared);
          BatchObjective objective(sampler, param);
          const BatchSpec batch{17, 2, 40};
          RandomStream rs(layers * 10 + heads, Purpose::kTest, shared);
          const Eigen::VectorXd theta = random_matrix(param.size(), 1, rs, 0.15);
          const Eigen::VectorXd v = random_matrix(param.size(), 1, rs).normalized();
          Eigen::VectorXd hv;
          objective.hessian_times(theta, v, batch, hv);
          const Eigen::VectorXd fd = gradient_difference(objective, theta, v, batch);
          INFO(name_of(kind) << " L=" << layers << " H=" << heads << " shared=" << shared
                             << " |Hv|=" << hv.norm() << " |Hv-fd|=" << (hv - fd).norm());
          CHECK(hv.norm() > 1e-3);
          CHECK((hv - fd).norm() <= 1e-6 * hv.norm());
        }
      }
    }
  }
}

TEST_CASE("the exact Hessian is symmetric, linear, and bit-identical for 1 and 2 threads",
          "[hessian]") {
  const TaskSampler sampler = make_sampler(5, 20, 0.1, 10.0);
  const Parametrization param(Param::kFull, 5, 3, 1, false);
  BatchObjective objective(sampler, param);
  const BatchSpec batch{3, 0, 200};
  RandomStream rs(7, Purpose::kTest);
  const Eigen::VectorXd theta = random_matrix(param.size(), 1, rs, 0.2);
  const Eigen::VectorXd u = random_matrix(param.size(), 1, rs);
  const Eigen::VectorXd v = random_matrix(param.size(), 1, rs);
  Eigen::VectorXd hu, hv, hsum;
  objective.hessian_times(theta, u, batch, hu);
  objective.hessian_times(theta, v, batch, hv);
  objective.hessian_times(theta, 2.0 * u - 3.0 * v, batch, hsum);
  CHECK(std::abs(u.dot(hv) - v.dot(hu)) <= 1e-12 * hu.norm() * v.norm());
  CHECK((hsum - (2.0 * hu - 3.0 * hv)).norm() <= 1e-12 * hsum.norm());

  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  Eigen::VectorXd one;
  objective.hessian_times(theta, u, batch, one);
  omp_set_num_threads(2);
  Eigen::VectorXd two;
  objective.hessian_times(theta, u, batch, two);
  omp_set_num_threads(threads);
  CHECK(one == two);
  CHECK(one == hu);
}

TEST_CASE(
    "one pgd layer: the exact Hessian equals the finite-difference Hessian of the sampled "
    "loss and 2 H ⊗ Σ within sampling error",
    "[hessian][theory]") {
  const int d = 2, n = 6;
  OnePgdLayer layer(d, n, 4.0, 0.5);
  auto& [sigma, spec, sampler, theory, param, objective] = layer;
  const Eigen::VectorXd theta = Eigen::VectorXd::Constant(d * d, 0.2);

  // The exact f in θ coordinates: θ = vec(A), Γ = Aᵀ, so column j is (2 Σ Δ_Γ H)ᵀ.
  const int p = d * d;
  Eigen::MatrixXd exact(p, p);
  for (int j = 0; j < p; ++j) {
    Eigen::MatrixXd delta_a = Eigen::MatrixXd::Zero(d, d);
    delta_a(j % d, j / d) = 1.0;
    const Eigen::MatrixXd column = theory.hessian_times(delta_a.transpose()).transpose();
    exact.col(j) = Eigen::Map<const Eigen::VectorXd>(column.data(), p);
  }

  // Independent batches: the sampled Hessian's mean and per-entry standard error.
  const int batches = 30;
  Eigen::MatrixXd sum = Eigen::MatrixXd::Zero(p, p), sum_squares = Eigen::MatrixXd::Zero(p, p);
  for (int k = 0; k < batches; ++k) {
    const BatchSpec batch{11, static_cast<std::uint64_t>(k), 4000};
    Eigen::MatrixXd fd(p, p);
    for (int j = 0; j < p; ++j) {
      fd.col(j) = gradient_difference(objective, theta, Eigen::VectorXd::Unit(p, j), batch);
    }
    const Eigen::MatrixXd analytic = hessian_matrix(objective, theta, batch);
    CHECK((analytic - fd).norm() <= 1e-6 * analytic.norm());
    sum += fd;
    sum_squares += fd.cwiseProduct(fd);
  }
  const Eigen::MatrixXd mean = sum / batches;
  const Eigen::MatrixXd variance =
      (sum_squares / batches - mean.cwiseProduct(mean)) * (batches / (batches - 1.0));
  const Eigen::MatrixXd standard_error = (variance / batches).cwiseSqrt();
  for (int i = 0; i < p; ++i) {
    for (int j = 0; j < p; ++j) {
      INFO("entry (" << i << ", " << j << "): exact " << exact(i, j) << ", sampled " << mean(i, j)
                     << " ± " << standard_error(i, j));
      CHECK(std::abs(mean(i, j) - exact(i, j)) <= 3.0 * standard_error(i, j) + 1e-12);
    }
  }
  CHECK(standard_error.maxCoeff() < 0.02 * exact.cwiseAbs().maxCoeff());
}

TEST_CASE("the gradient's batch-means standard error matches the per-prompt variance",
          "[hessian]") {
  const int d = 3, n = 10;
  const TaskSampler sampler = make_sampler(d, n, 0.2, 3.0);
  const Parametrization param(Param::kFull, d, 2, 1, false);
  BatchObjective objective(sampler, param);
  RandomStream rs(5, Purpose::kTest);
  const Eigen::VectorXd theta = random_matrix(param.size(), 1, rs, 0.3);
  const int size = 2048;
  Eigen::VectorXd mean;
  objective.evaluate(theta, {9, 1, size}, &mean);
  const double batch_means = objective.gradient_standard_error();

  // Independently: tr Cov(per-prompt gradient) / B, from the prompts one by one.
  Weights weights = param.make_weights(), grad = param.make_weights();
  param.expand(theta, weights);
  Prompt prompt;
  EmbeddedPrompt embedded;
  Tape tape;
  Workspace ws;
  Eigen::VectorXd g, sum = Eigen::VectorXd::Zero(param.size());
  double sum_squares = 0.0;
  for (int b = 0; b < size; ++b) {
    sampler.sample(9, 1, b, prompt);
    embed(prompt, embedded);
    const double residual = forward(weights, embedded, tape, ws) - embedded.target;
    grad.set_zero();
    backward(weights, embedded, tape, 2.0 * residual, grad, ws);
    param.reduce(grad, g);
    sum += g;
    sum_squares += g.squaredNorm();
  }
  CHECK((sum / size - mean).norm() <= 1e-12 * mean.norm());
  const double trace = (sum_squares - sum.squaredNorm() / size) / (size - 1);
  const double direct = std::sqrt(trace / size);
  INFO("batch means " << batch_means << ", per-prompt " << direct);
  CHECK(batch_means == Approx(direct).epsilon(0.15));

  objective.evaluate(theta, {9, 1, size}, nullptr);
  CHECK_THROWS_AS(objective.gradient_standard_error(), std::logic_error);
}
