#include "linicl/analysis/theory.hpp"

#include <stdexcept>
#include <string>

#include "linicl/data/covariance.hpp"
#include "linicl/model/parametrization.hpp"

namespace linicl {

namespace {

// E‖u‖⁴/(d(d+2)) for the spherically symmetric laws; the uniform law has c = 1 as well and
// its non-sphericity goes into the Diag(B) term.
double spherical_factor(const TaskSpec& spec) {
  const double d = spec.dim;
  switch (spec.x_dist) {
    case XDist::kGaussian:
    case XDist::kUniform:
      return 1.0;
    case XDist::kSphere:
      return d / (d + 2.0);
    case XDist::kGamma: {  // ‖u‖² = d·s/(kθ): E‖u‖⁴ = d²·E[s²]/(kθ)² = d²(k+1)/k
      const double k = spec.gamma_shape;
      return d * (k + 1.0) / (k * (d + 2.0));
    }
    case XDist::kStudentT:
      if (spec.dof <= 4.0) {
        throw std::invalid_argument(
            "student-t covariates need --dof > 4 for a finite fourth moment (got " +
            std::to_string(spec.dof) + ")");
      }
      return (spec.dof - 2.0) / (spec.dof - 4.0);
  }
  return 1.0;
}

}  // namespace

Eigen::MatrixXd weighted_fourth_moment(const TaskSpec& spec, const Eigen::MatrixXd& sigma,
                                       const Eigen::MatrixXd& c) {
  const Eigen::MatrixXd root = spd_roots(sigma).sqrt;
  const Eigen::MatrixXd b = root * c * root;
  const Eigen::Index d = b.rows();
  Eigen::MatrixXd inner =
      spherical_factor(spec) * (b.trace() * Eigen::MatrixXd::Identity(d, d) + 2.0 * b);
  if (spec.x_dist == XDist::kUniform) {
    // Coordinates of u are independent with E u⁴ = 9/5: the Gaussian value plus (κ₄−3)·B_aa.
    inner.diagonal() += (9.0 / 5.0 - 3.0) * b.diagonal();
  }
  return root * inner * root;
}

OneLayerTheory::OneLayerTheory(const TaskSpec& spec, const Eigen::MatrixXd& sigma,
                               const Eigen::MatrixXd& sigma_w)
    : sigma_(sigma), sigma_w_(sigma_w) {
  const double n = spec.context;
  const double noise_var = spec.noise * spec.noise;
  cross_ = sigma * sigma_w * sigma;
  h_ = weighted_fourth_moment(spec, sigma, sigma_w) / n + (1.0 - 1.0 / n) * cross_ +
       (noise_var / n) * sigma;
  baseline_ = (sigma_w * sigma).trace() + noise_var;
  // ∇f = 2(ΣΓH − ΣΣ_wΣ) = 0  ⇔  Γ* = Σ_w Σ H⁻¹ (Σ invertible).
  gamma_star_ = h_.ldlt().solve(sigma * sigma_w).transpose();
  loss_star_ = baseline_ - (gamma_star_ * cross_).trace();
}

double OneLayerTheory::loss(const Eigen::MatrixXd& gamma) const {
  return (gamma * h_ * gamma.transpose() * sigma_).trace() - 2.0 * (gamma * cross_).trace() +
         baseline_;
}

Eigen::MatrixXd OneLayerTheory::gradient(const Eigen::MatrixXd& gamma) const {
  return 2.0 * (sigma_ * gamma * h_ - cross_);
}

Eigen::MatrixXd OneLayerTheory::hessian_times(const Eigen::MatrixXd& delta) const {
  return 2.0 * sigma_ * delta * h_;
}

Eigen::MatrixXd OneLayerTheory::hessian() const {
  const Eigen::Index d = sigma_.rows();
  Eigen::MatrixXd result(d * d, d * d);  // block (a, b) is 2·H(a, b)·Σ
  for (Eigen::Index a = 0; a < d; ++a) {
    for (Eigen::Index b = 0; b < d; ++b) result.block(a * d, b * d, d, d) = 2.0 * h_(a, b) * sigma_;
  }
  return result;
}

double relative_distance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  return (a - b).norm() / b.norm();
}

TheoryReport theory_report(const TrainConfig& config, const Eigen::MatrixXd& sigma,
                           const Eigen::MatrixXd& sigma_w, const Eigen::VectorXd& theta) {
  TheoryReport report;
  report.zero_loss = (sigma_w * sigma).trace() + config.noise * config.noise;
  if (config.param != Param::kPgd || config.layers != 1) return report;
  report.one_pgd_layer = true;
  try {
    const OneLayerTheory theory(config.task_spec(), sigma, sigma_w);
    const Parametrization param = config.parametrization();
    Weights weights = param.make_weights();
    param.expand(theta, weights);
    const Eigen::MatrixXd gamma = effective_preconditioner(weights, 0);
    report.gamma_distance = relative_distance(gamma, theory.gamma_star());
    report.gamma_loss = theory.loss(gamma);
    report.loss_star = theory.loss_star();
  } catch (const std::invalid_argument& e) {
    report.no_closed_form = e.what();
  }
  return report;
}

}  // namespace linicl
