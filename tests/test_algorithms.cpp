// The reference learners of §6 against exact answers, and against the model's layers.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "fixtures.hpp"
#include "linicl/analysis/algorithms.hpp"
#include "linicl/analysis/analysis.hpp"
#include "linicl/analysis/theory.hpp"
#include "linicl/model/parametrization.hpp"

using namespace linicl;
using namespace linicl::testing;

namespace {

// A context of n covariates with covariance Σ (condition number κ) and noisy labels.
struct Context {
  Eigen::MatrixXd x;
  Eigen::VectorXd y;
};

Context random_context(int d, int n, double kappa, std::uint64_t seed) {
  const Eigen::MatrixXd root = spd_roots(rotated_covariance(d, kappa, seed)).sqrt;
  RandomStream rs(seed, Purpose::kTest);
  Context c;
  c.x = root * random_matrix(d, n, rs);
  c.y = c.x.transpose() * random_matrix(d, 1, rs) + 0.1 * random_matrix(n, 1, rs);
  return c;
}

}  // namespace

TEST_CASE("Newton-Schulz converges to OLS quadratically", "[algorithms]") {
  struct Case {
    int d, n;
    double kappa;
  };
  for (const Case& c : {Case{5, 40, 2.0}, Case{5, 40, 100.0}, Case{8, 30, 1000.0},
                        Case{6, 4, 10.0}}) {  // the last: n < d, the minimum-norm solution
    const Context ctx = random_context(c.d, c.n, c.kappa, 17 + c.d);
    const Eigen::VectorXd target = ols(ctx.x, ctx.y);
    const Eigen::MatrixXd w = newton_iterates(ctx.x, ctx.y, 40);
    // In the eigenbasis of S every mode's relative error is (1 − αλ²)^(2^k): it squares.
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(ctx.x * ctx.x.transpose());
    const Eigen::VectorXd target_modes = eig.eigenvectors().transpose() * target;
    auto relative_error = [&](int k) {
      const Eigen::VectorXd e = eig.eigenvectors().transpose() * (w.col(k) - target);
      double worst = 0.0;
      for (int i = 0; i < c.d; ++i) {
        if (std::abs(target_modes[i]) > 1e-8 * target.norm())
          worst = std::max(worst, std::abs(e[i] / target_modes[i]));
      }
      return worst;
    };
    // Round-off in a mode's relative error grows with the conditioning of S.
    const Eigen::VectorXd lambda = eig.eigenvalues();
    const double floor = 1e3 * std::numeric_limits<double>::epsilon() * lambda.maxCoeff() /
                         lambda.tail(std::min(c.d, c.n)).minCoeff();
    INFO("d = " << c.d << ", n = " << c.n << ", kappa = " << c.kappa << ", floor " << floor);
    int squared_steps = 0;
    for (int k = 1; k < 40; ++k) {
      const double now = relative_error(k), next = relative_error(k + 1);
      CHECK(next <= now * (1.0 + 1e-9) + floor);   // monotone from the first step
      if (now < 0.5 && now * now > 1e3 * floor) {  // in the basin, the square above round-off
        CHECK(std::abs(next - now * now) <= 1e-6 * now * now + floor);
        ++squared_steps;
      }
    }
    CHECK(squared_steps >= 2);
    CHECK((w.col(40) - target).norm() < 1e-9 * target.norm());
  }
}

TEST_CASE("GD with the tuned step decreases R monotonically", "[algorithms]") {
  TrainConfig config;
  config.dim = 5;
  config.context = 20;
  config.layers = 3;
  config.param = Param::kPgd;
  config.noise = 0.5;
  const Eigen::MatrixXd sigma = rotated_covariance(5, 10.0);
  const Eigen::MatrixXd sigma_w = Eigen::MatrixXd::Identity(5, 5);
  Weights weights = config.parametrization().make_weights();  // all zero
  AnalysisOptions options;
  options.prompts = 32;
  options.calibration_prompts = 2000;
  options.max_steps = 3;
  const AnalysisReport report = analyze(config, sigma, sigma_w, weights, options);
  const double eta = report.algorithms.at(0).parameters.at(0);
  REQUIRE(report.algorithms.at(0).name == "gd");
  REQUIRE(eta > 0);
  const TaskSampler sampler(config.task_spec(), sigma, sigma_w);
  Prompt p;
  int capped = 0;
  for (int i = 0; i < 500; ++i) {
    sampler.sample(1, 2, static_cast<std::uint64_t>(i), p);
    const Eigen::MatrixXd x = p.x.leftCols(20);
    const Eigen::VectorXd y = p.y.head(20);
    const double step = std::min(eta, gd_step_limit(x));
    capped += step < eta;
    const Eigen::MatrixXd w = gd_iterates(x, y, step, 50);
    for (int k = 0; k < 50; ++k) {
      const double now = empirical_risk(x, y, w.col(k)), next = empirical_risk(x, y, w.col(k + 1));
      INFO("prompt " << i << ", step " << k << ", eta " << eta);
      REQUIRE(next <= now);
    }
  }
  // The cap is a safeguard for rare contexts, not a second tuning.
  CHECK(capped < 25);
}

TEST_CASE("ridge solves its normal equations, and OLS is the minimum-norm solution",
          "[algorithms]") {
  const Context tall = random_context(5, 30, 50.0, 3);
  const double lambda = 0.7;
  const Eigen::VectorXd w = ridge(tall.x, tall.y, lambda);
  // (XXᵀ + λI) w = X y, checked through the residual of the normal equations ...
  const Eigen::VectorXd residual = tall.x * (tall.x.transpose() * w - tall.y) + lambda * w;
  CHECK(residual.norm() < 1e-12 * (tall.x * tall.y).norm());
  // ... and against the stacked least-squares problem [Xᵀ; √λ I] w = [y; 0], solved by QR.
  Eigen::MatrixXd stacked(35, 5);
  stacked << tall.x.transpose(), std::sqrt(lambda) * Eigen::MatrixXd::Identity(5, 5);
  Eigen::VectorXd rhs = Eigen::VectorXd::Zero(35);
  rhs.head(30) = tall.y;
  CHECK(relative_distance(w, stacked.householderQr().solve(rhs)) < 1e-12);
  // Ridge tends to OLS as λ → 0, and OLS solves the normal equations when n > d.
  const Eigen::VectorXd w_ols = ols(tall.x, tall.y);
  CHECK((tall.x * (tall.x.transpose() * w_ols - tall.y)).norm() < 1e-11 * tall.y.norm());
  CHECK(relative_distance(ridge(tall.x, tall.y, 1e-10), w_ols) < 1e-8);

  // n < d: interpolation with the smallest norm, i.e. Xᵀw = y and w in the span of the x_i.
  const Context wide = random_context(7, 4, 5.0, 4);
  const Eigen::VectorXd w_min = ols(wide.x, wide.y);
  CHECK((wide.x.transpose() * w_min - wide.y).norm() < 1e-12 * wide.y.norm());
  const Eigen::VectorXd coefficients = wide.x.colPivHouseholderQr().solve(w_min);
  CHECK((wide.x * coefficients - w_min).norm() < 1e-12 * w_min.norm());
  CHECK_THROWS(ridge(tall.x, tall.y, 0.0));
}

TEST_CASE("PGD and GD++ iterates are the induced weights of pgd and gdpp models", "[algorithms]") {
  const int d = 4, n = 12, layers = 3;
  const TaskSampler sampler = make_sampler(d, n, 0.2, 5.0);
  Prompt prompt;
  sampler.sample(9, 0, 0, prompt);
  EmbeddedPrompt embedded;
  embed(prompt, embedded);
  const Eigen::MatrixXd x = prompt.x.leftCols(n);
  const Eigen::VectorXd y = prompt.y.head(n);
  RandomStream rs(8, Purpose::kTest);
  const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(d, d);

  SECTION("pgd: layer ℓ applies Γ_ℓ = A_ℓᵀ") {
    const Parametrization param(Param::kPgd, d, layers, 1, false);
    const Eigen::VectorXd theta = random_matrix(param.size(), 1, rs, 0.3);
    Weights weights = param.make_weights();
    param.expand(theta, weights);
    std::vector<Eigen::MatrixXd> gammas;
    for (int l = 0; l < layers; ++l) gammas.push_back(effective_preconditioner(weights, l));
    const Eigen::MatrixXd model = induced_weights(weights, embedded);
    const Eigen::MatrixXd pgd = pgd_iterates(x, y, gammas);
    CHECK(relative_distance(pgd, model) < 1e-12);
  }
  SECTION("gdpp: A = a_ℓ I, B = b_ℓ I") {
    const Parametrization param(Param::kGdpp, d, layers, 1, false);
    const std::vector<double> a = {0.4, 0.25, 0.6}, b = {0.5, -0.3, 0.8};
    Eigen::VectorXd theta = Eigen::VectorXd::Zero(param.size());
    for (int l = 0; l < layers; ++l) {  // blocks in θ: A_0, B_0, A_1, B_1, …
      const ParamBlock& block_a = param.blocks()[2 * l];
      const ParamBlock& block_b = param.blocks()[2 * l + 1];
      REQUIRE(block_a.name.find("/A") != std::string::npos);
      REQUIRE(block_b.name.find("/B") != std::string::npos);
      const Eigen::MatrixXd ma = a[l] * identity, mb = b[l] * identity;
      theta.segment(block_a.offset, d * d) = Eigen::Map<const Eigen::VectorXd>(ma.data(), d * d);
      theta.segment(block_b.offset, d * d) = Eigen::Map<const Eigen::VectorXd>(mb.data(), d * d);
    }
    Weights weights = param.make_weights();
    param.expand(theta, weights);
    const Eigen::MatrixXd model = induced_weights(weights, embedded);
    CHECK(relative_distance(gdpp_iterates(x, y, a, b), model) < 1e-12);
    // b = 0 is plain GD.
    const Eigen::MatrixXd gd = gd_iterates(x, y, 0.3, 3);
    CHECK(relative_distance(gdpp_iterates(x, y, {0.3, 0.3, 0.3}, {0, 0, 0}), gd) < 1e-14);
  }
}

TEST_CASE("Newton's Frobenius start is M_0 = S/|S S|_F, counted one step before column 1",
          "[algorithms]") {
  const Context ctx = random_context(4, 12, 10.0, 23);
  const double n = 12.0;
  const Eigen::MatrixXd s = ctx.x * ctx.x.transpose() / n;
  const Eigen::VectorXd b = ctx.x * ctx.y / n;
  const Eigen::MatrixXd w = newton_iterates(ctx.x, ctx.y, 30, NewtonStart::kFrobenius);
  CHECK(w.col(0).norm() == 0.0);
  // The literature's form on the unnormalized A = XXᵀ, A⁻¹ ≈ M_k with M_0 = A/|A A|_F, gives
  // the same estimates M_k X y: column k + 1 here.
  const Eigen::MatrixXd a = ctx.x * ctx.x.transpose();
  Eigen::MatrixXd m = a / (a * a).norm();
  for (int k = 0; k < 5; ++k) {
    CHECK((w.col(k + 1) - m * ctx.x * ctx.y).norm() <= 1e-12 * w.col(k + 1).norm());
    m = m * (2.0 * Eigen::MatrixXd::Identity(4, 4) - a * m);
  }
  CHECK((w.col(1) - s * b / (s * s).norm()).norm() <= 1e-12 * w.col(1).norm());
  CHECK((w.col(30) - ols(ctx.x, ctx.y)).norm() <= 1e-9 * w.col(30).norm());
}
