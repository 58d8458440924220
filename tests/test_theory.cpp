// The one-layer closed forms of §7.1 against their special cases, finite differences and
// Monte Carlo estimates drawn from the task sampler.
#include <catch2/catch.hpp>

#include <cmath>

#include "fixtures.hpp"
#include "linicl/analysis/theory.hpp"
#include "linicl/model/parametrization.hpp"
#include "linicl/train/objective.hpp"
#include "linicl/train/problem.hpp"

using namespace linicl;
using namespace linicl::testing;

namespace {

struct Estimate {
  double mean, standard_error;
};

// The loss of one pgd layer, ŷ = x_{n+1}ᵀ Γ (1/n) Σ_i x_i y_i, averaged over sampled prompts.
// Computed straight from the prompts, independently of the model and of the closed form.
Estimate sampled_loss(const TaskSampler& sampler, const Eigen::MatrixXd& gamma, int prompts,
                      std::uint64_t seed) {
  const int n = sampler.spec().context;
  Prompt p;
  double sum = 0.0, sum_sq = 0.0;
  for (int i = 0; i < prompts; ++i) {
    sampler.sample(seed, 0, static_cast<std::uint64_t>(i), p);
    const Eigen::VectorXd b = p.x.leftCols(n) * p.y.head(n) / n;
    const double error = p.x.col(n).dot(gamma * b) - p.y(n);
    sum += error * error;
    sum_sq += error * error * error * error;
  }
  const double mean = sum / prompts;
  const double variance = (sum_sq / prompts - mean * mean) * prompts / (prompts - 1.0);
  return {mean, std::sqrt(variance / prompts)};
}

}  // namespace

TEST_CASE("Γ* has the closed forms of §7.1 for Σ_w = I and Σ_w = Σ⁻¹", "[theory]") {
  const int d = 4, n = 15;
  const double noise = 0.3, noise_var = noise * noise;
  const Eigen::MatrixXd sigma = rotated_covariance(d, 10.0);
  const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(d, d);
  const TaskSpec spec = gaussian_spec(d, n, noise);

  const OneLayerTheory iso_w(spec, sigma, identity);
  const Eigen::MatrixXd expected =
      ((1.0 + 1.0 / n) * sigma + ((sigma.trace() + noise_var) / n) * identity).inverse();
  CHECK(relative_distance(iso_w.gamma_star(), expected) < 1e-12);

  const OneLayerTheory inverse_w(spec, sigma, sigma.inverse());
  const Eigen::MatrixXd scaled = n / (n + d + 1.0 + noise_var) * sigma.inverse();
  CHECK(relative_distance(inverse_w.gamma_star(), scaled) < 1e-12);

  // f(Γ*) = tr(Σ_wΣ) − tr(Γ*ΣΣ_wΣ) + σ², and f at Γ* agrees with it.
  CHECK(iso_w.loss(iso_w.gamma_star()) == Approx(iso_w.loss_star()).epsilon(1e-12));
  // Isotropic everything: Γ* = n/(n+d+1+σ²)·I and f(Γ*) = d(1 − c) + σ² with that c.
  const OneLayerTheory iso(spec, identity, identity);
  const double c = n / (n + d + 1.0 + noise_var);
  CHECK(relative_distance(iso.gamma_star(), c * identity) < 1e-12);
  CHECK(iso.loss_star() == Approx(d * (1.0 - c) + noise_var).epsilon(1e-12));
}

TEST_CASE("the gradient of f matches central differences and vanishes at Γ*", "[theory]") {
  const int d = 4;
  const Eigen::MatrixXd sigma = rotated_covariance(d, 10.0);
  RandomStream rs(11, Purpose::kTest);
  const Eigen::MatrixXd sigma_w = [&] {
    const Eigen::MatrixXd a = random_matrix(d, d, rs);
    return Eigen::MatrixXd(a * a.transpose() / d + 0.5 * Eigen::MatrixXd::Identity(d, d));
  }();
  for (XDist dist : {XDist::kGaussian, XDist::kUniform, XDist::kStudentT}) {
    TaskSpec spec = gaussian_spec(d, 9, 0.5);
    spec.x_dist = dist;
    spec.dof = 7.0;
    const OneLayerTheory theory(spec, sigma, sigma_w);
    const Eigen::MatrixXd gamma = random_matrix(d, d, rs, 0.5);
    const Eigen::MatrixXd grad = theory.gradient(gamma);
    const double h = 1e-5;
    for (int i = 0; i < d; ++i) {
      for (int j = 0; j < d; ++j) {
        Eigen::MatrixXd plus = gamma, minus = gamma;
        plus(i, j) += h;
        minus(i, j) -= h;
        const double fd = (theory.loss(plus) - theory.loss(minus)) / (2 * h);
        CHECK(std::abs(fd - grad(i, j)) <= 1e-6 * std::max(1.0, std::abs(grad(i, j))));
      }
    }
    CHECK(theory.gradient(theory.gamma_star()).norm() < 1e-10 * grad.norm());
    // f is a convex quadratic in Γ: anything else is worse than Γ*.
    CHECK(theory.loss(gamma) > theory.loss_star());
  }
}

TEST_CASE("f(Γ) agrees with Monte Carlo within 3 standard errors (rotated κ = 10, σ = 0.5)",
          "[theory]") {
  const int d = 5, n = 20;
  const Eigen::MatrixXd sigma = rotated_covariance(d, 10.0);
  const Eigen::MatrixXd sigma_w = Eigen::MatrixXd::Identity(d, d);
  const TaskSpec spec = gaussian_spec(d, n, 0.5);
  const TaskSampler sampler(spec, sigma, sigma_w);
  const OneLayerTheory theory(spec, sigma, sigma_w);
  RandomStream rs(21, Purpose::kTest);
  const Eigen::MatrixXd random_gamma = random_matrix(d, d, rs, 0.3);
  const std::pair<const char*, Eigen::MatrixXd> points[] = {
      {"Gamma*", theory.gamma_star()},
      {"1.1 Gamma*", 1.1 * theory.gamma_star()},
      {"random", random_gamma}};
  for (const auto& [name, gamma] : points) {
    const Estimate mc = sampled_loss(sampler, gamma, 200000, 77);
    INFO(name << ": f = " << theory.loss(gamma) << ", Monte Carlo " << mc.mean << " ± "
              << mc.standard_error);
    CHECK(std::abs(mc.mean - theory.loss(gamma)) < 3.0 * mc.standard_error);
    CHECK(mc.standard_error < 0.01 * mc.mean);  // the check has teeth
  }
}

TEST_CASE("the fourth moment E[(xᵀCx) x xᵀ] matches sampling for every covariate law", "[theory]") {
  const int d = 3, samples = 400000;
  const Eigen::MatrixXd sigma = rotated_covariance(d, 4.0);
  RandomStream rs(5, Purpose::kTest);
  const Eigen::MatrixXd a = random_matrix(d, d, rs);
  const Eigen::MatrixXd c = a * a.transpose() / d;
  for (XDist dist :
       {XDist::kGaussian, XDist::kUniform, XDist::kStudentT, XDist::kSphere, XDist::kGamma}) {
    TaskSpec spec = gaussian_spec(d, 1, 0.0);
    spec.x_dist = dist;
    spec.dof = 9.0;
    spec.gamma_shape = 2.0;  // a moderate tail keeps the Monte Carlo error small
    spec.gamma_scale = 0.5;
    const TaskSampler sampler(spec, sigma, Eigen::MatrixXd::Identity(d, d));
    Eigen::MatrixXd sum = Eigen::MatrixXd::Zero(d, d), sum_sq = Eigen::MatrixXd::Zero(d, d);
    Prompt p;
    for (int i = 0; i < samples; ++i) {
      sampler.sample(3, 0, static_cast<std::uint64_t>(i), p);
      for (int col = 0; col < 2; ++col) {  // both covariates of the prompt are independent
        const Eigen::VectorXd x = p.x.col(col);
        const Eigen::MatrixXd term = x.dot(c * x) * x * x.transpose();
        sum += term;
        sum_sq += term.cwiseProduct(term);
      }
    }
    const double count = 2.0 * samples;
    const Eigen::MatrixXd mean = sum / count;
    const Eigen::MatrixXd se = ((sum_sq / count - mean.cwiseProduct(mean)) / count).cwiseSqrt();
    const Eigen::MatrixXd exact = weighted_fourth_moment(spec, sigma, c);
    INFO("law " << static_cast<int>(dist) << "\nexact\n" << exact << "\nsampled\n" << mean);
    // 4σ per entry: 9 entries per law, 45 in all, keep the false-alarm rate negligible.
    CHECK(((mean - exact).array().abs() <= 4.0 * se.array()).all());
  }
}

TEST_CASE("student-t with ν ≤ 4 has no finite fourth moment and is refused", "[theory]") {
  TaskSpec spec = gaussian_spec(3, 10, 0.0);
  spec.x_dist = XDist::kStudentT;
  spec.dof = 4.0;
  const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(3, 3);
  CHECK_THROWS_WITH(OneLayerTheory(spec, identity, identity), Catch::Contains("--dof > 4"));
}

TEST_CASE("gamma covariates with kθ ≠ 1: the run's Σ is Cov(x) and f still matches sampling",
          "[theory]") {
  TrainConfig config;
  config.dim = 4;
  config.context = 12;
  config.cov = CovKind::kKappa;
  config.kappa = 5.0;
  config.rotate = true;
  config.x_dist = XDist::kGamma;
  config.gamma_shape = 2.0;
  config.gamma_scale = 1.5;  // kθ = 3
  config.noise = 0.3;
  const Problem problem = make_problem(config);
  CHECK(problem.sigma.trace() == Approx(3.0 * config.dim));  // tr Σ = d before the kθ scale
  const OneLayerTheory theory(config.task_spec(), problem.sigma, problem.sigma_w);
  for (const Eigen::MatrixXd& gamma :
       {theory.gamma_star(), Eigen::MatrixXd(0.5 * theory.gamma_star())}) {
    const Estimate mc = sampled_loss(problem.sampler, gamma, 200000, 5);
    INFO("f = " << theory.loss(gamma) << ", Monte Carlo " << mc.mean << " ± " << mc.standard_error);
    CHECK(std::abs(mc.mean - theory.loss(gamma)) < 3.0 * mc.standard_error);
    CHECK(mc.standard_error < 0.02 * mc.mean);
  }
}

TEST_CASE("the Hessian of f is 2 H ⊗ Σ: finite differences, action, and definiteness at Γ*",
          "[theory]") {
  const int d = 4;
  const Eigen::MatrixXd sigma = rotated_covariance(d, 10.0);
  const OneLayerTheory theory(gaussian_spec(d, 9, 0.5), sigma, Eigen::MatrixXd::Identity(d, d));
  RandomStream rs(31, Purpose::kTest);
  const Eigen::MatrixXd gamma = random_matrix(d, d, rs, 0.5);
  const Eigen::MatrixXd hessian = theory.hessian();
  for (int trial = 0; trial < 3; ++trial) {
    const Eigen::MatrixXd delta = random_matrix(d, d, rs);
    const double h = 1e-4;
    const Eigen::MatrixXd fd =
        (theory.gradient(gamma + h * delta) - theory.gradient(gamma - h * delta)) / (2 * h);
    const Eigen::MatrixXd action = theory.hessian_times(delta);
    CHECK((fd - action).norm() <= 1e-8 * action.norm());
    const Eigen::VectorXd vec_action =
        hessian * Eigen::Map<const Eigen::VectorXd>(delta.data(), d * d);
    CHECK((vec_action - Eigen::Map<const Eigen::VectorXd>(action.data(), d * d)).norm() <=
          1e-12 * action.norm());
  }
  // Its eigenvalues are 2·λ_i(H)·λ_j(Σ): all positive, so Γ* is the strict global minimum.
  const Eigen::VectorXd eig = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(hessian).eigenvalues();
  const Eigen::VectorXd h_eig =
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(theory.h()).eigenvalues();
  const Eigen::VectorXd s_eig = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(sigma).eigenvalues();
  CHECK(eig.minCoeff() == Approx(2 * h_eig.minCoeff() * s_eig.minCoeff()).epsilon(1e-9));
  CHECK(eig.maxCoeff() == Approx(2 * h_eig.maxCoeff() * s_eig.maxCoeff()).epsilon(1e-9));
  CHECK(eig.minCoeff() > 0.0);
}

TEST_CASE("the sampled loss of a pgd layer and its standard error bracket the exact f",
          "[theory]") {
  const int d = 5, n = 20;
  OnePgdLayer layer(d, n, 10.0, 0.5);
  auto& [sigma, spec, sampler, theory, param, objective] = layer;
  RandomStream rs(41, Purpose::kTest);
  for (const Eigen::MatrixXd& gamma :
       {theory.gamma_star(), Eigen::MatrixXd(theory.gamma_star() + random_matrix(d, d, rs, 0.1))}) {
    // θ holds A with Γ = Aᵀ (§3.6).
    const Eigen::MatrixXd a = gamma.transpose();
    const Eigen::VectorXd theta = Eigen::Map<const Eigen::VectorXd>(a.data(), d * d);
    const BatchObjective::Estimate e = objective.estimate(theta, {3, 0, 100000});
    INFO("f = " << theory.loss(gamma) << ", sampled " << e.mean << " ± " << e.standard_error);
    CHECK(std::abs(e.mean - theory.loss(gamma)) < 3.0 * e.standard_error);
    CHECK(e.standard_error < 0.01 * e.mean);
  }
}

TEST_CASE("theory_report: the zero loss, and Γ against Γ* for one pgd layer only", "[theory]") {
  TrainConfig config;
  config.dim = 3;
  config.context = 10;
  config.layers = 1;
  config.param = Param::kPgd;
  config.cov = CovKind::kKappa;
  config.rotate = true;
  config.noise = 0.5;
  const Problem problem = make_problem(config);
  const OneLayerTheory theory(config.task_spec(), problem.sigma, problem.sigma_w);
  // One head's θ is A, column-major, and Γ = Aᵀ (§3.6): θ = vec(Γ*ᵀ) is the optimum itself.
  const Eigen::MatrixXd a = theory.gamma_star().transpose();
  const Eigen::VectorXd at_optimum = Eigen::Map<const Eigen::VectorXd>(a.data(), a.size());
  const TheoryReport report = theory_report(config, problem.sigma, problem.sigma_w, at_optimum);
  CHECK(report.zero_loss == Approx(config.dim + 0.25));  // tr(Σ) = d, Σ_w = I, σ² = 0.25
  CHECK(report.one_pgd_layer);
  CHECK(report.no_closed_form.empty());
  CHECK(report.gamma_distance < 1e-12);
  CHECK(report.loss_star == theory.loss_star());
  CHECK(report.gamma_loss == Approx(theory.loss_star()).epsilon(1e-12));
  const TheoryReport halfway =
      theory_report(config, problem.sigma, problem.sigma_w, 0.5 * at_optimum);
  CHECK(halfway.gamma_distance == Approx(0.5));
  CHECK(halfway.gamma_loss == Approx(theory.loss(0.5 * theory.gamma_star())));

  // Without the fourth moment there is no Γ*, and the report says why.
  config.x_dist = XDist::kStudentT;
  config.dof = 3.0;
  const TheoryReport heavy = theory_report(config, problem.sigma, problem.sigma_w, at_optimum);
  CHECK(heavy.one_pgd_layer);
  CHECK_THAT(heavy.no_closed_form, Catch::Contains("--dof > 4"));

  // Two layers or the full parametrization: only the zero loss.
  config = TrainConfig();
  const TheoryReport full =
      theory_report(config, Eigen::MatrixXd::Identity(5, 5), Eigen::MatrixXd::Identity(5, 5),
                    Eigen::VectorXd::Zero(config.parametrization().size()));
  CHECK(full.zero_loss == 5.0);
  CHECK_FALSE(full.one_pgd_layer);
  CHECK(full.no_closed_form.empty());
}
