#include "linicl/analysis/family_fit.hpp"
#include "linicl/numerics/require.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace linicl {

void FitOptions::check() const {
  require(max_iterations >= 1 && max_iterations <= 100000, "fit max_iterations", "in [1, 100000]",
          max_iterations);
  require(gradient_tolerance > 0.0 && gradient_tolerance < 1.0, "fit gradient_tolerance",
          "in (0, 1)", gradient_tolerance);
  require(agreement > 0.0 && agreement < 1.0, "fit agreement", "in (0, 1)", agreement);
}

namespace {

struct FamilyObjective {
  BatchObjective& objective;
  const BatchSpec& pool;
  const Eigen::MatrixXd& basis;
  Eigen::VectorXd theta_grad;

  double operator()(const Eigen::VectorXd& s, Eigen::VectorXd* grad) {
    const double loss = objective.evaluate(basis * s, pool, grad ? &theta_grad : nullptr);
    if (grad) *grad = basis.transpose() * theta_grad;  // chain rule through θ = basis·s
    return loss;
  }

  // basisᵀ ∇²ℒ(θ) basis by central differences of the exact gradient: 2m gradients on the
  // pool cost a fraction of m exact Hessian–vector products (the Hessian–vector path is not
  // batched over lanes), and Newton's direction needs no more than their ~1e-10 accuracy.
  Eigen::MatrixXd hessian(const Eigen::VectorXd& s) {
    const Eigen::Index m = s.size();
    Eigen::MatrixXd h(m, m);
    Eigen::VectorXd shifted = s, plus, minus;
    for (Eigen::Index j = 0; j < m; ++j) {
      const double step = 1e-5 * std::max(1.0, std::abs(s[j]));
      shifted[j] = s[j] + step;
      (*this)(shifted, &plus);
      shifted[j] = s[j] - step;
      (*this)(shifted, &minus);
      shifted[j] = s[j];
      h.col(j) = (plus - minus) / (2 * step);
    }
    return 0.5 * (h + h.transpose());
  }
};

// Backtracking (Armijo) along `direction` from t = 1; true and the new point on a decrease.
bool line_search(FamilyObjective& f, const Eigen::VectorXd& s, double loss,
                 const Eigen::VectorXd& grad, const Eigen::VectorXd& direction,
                 Eigen::VectorXd& next, double& next_loss, Eigen::VectorXd& next_grad) {
  const double slope = grad.dot(direction);
  if (!(slope < 0.0)) return false;
  double t = 1.0;
  for (int halvings = 0; halvings < 60; ++halvings, t *= 0.5) {
    next = s + t * direction;
    next_loss = f(next, &next_grad);
    if (std::isfinite(next_loss) && next_loss <= loss + 1e-4 * t * slope && next_loss < loss) {
      return true;
    }
  }
  return false;
}

}  // namespace

Eigen::MatrixXd family_basis(const Parametrization& param, const std::vector<int>& blocks,
                             const std::vector<Eigen::MatrixXd>& patterns) {
  Eigen::MatrixXd basis = Eigen::MatrixXd::Zero(param.size(), blocks.size());
  for (std::size_t j = 0; j < blocks.size(); ++j) {
    const ParamBlock& block = param.blocks()[blocks[j]];
    basis.col(j).segment(block.offset, block.rows * block.cols) =
        Eigen::Map<const Eigen::VectorXd>(patterns[j].data(), patterns[j].size());
  }
  return basis;
}

FamilyFit fit_family(BatchObjective& objective, const BatchSpec& pool, const Eigen::MatrixXd& basis,
                     const Eigen::VectorXd& start, const FitOptions& options) {
  options.check();
  FamilyObjective f{objective, pool, basis, {}};
  const Eigen::Index m = start.size();
  Eigen::VectorXd s = start, grad, next, next_grad;
  double loss = f(s, &grad), next_loss = 0.0;
  int iteration = 0;
  for (; iteration < options.max_iterations && std::isfinite(loss); ++iteration) {
    if (grad.norm() <= 1e-13 * (1.0 + std::abs(loss))) break;  // rounding level
    const Eigen::MatrixXd hessian = f.hessian(s);
    // Levenberg damping until the Newton system is positive definite.
    Eigen::VectorXd newton;
    double damping = 0.0;
    const double scale = 1.0 + hessian.diagonal().cwiseAbs().maxCoeff();
    for (;;) {
      Eigen::LLT<Eigen::MatrixXd> llt(hessian + damping * Eigen::MatrixXd::Identity(m, m));
      if (llt.info() == Eigen::Success) {
        newton = -llt.solve(grad);
        break;
      }
      damping = damping == 0.0 ? 1e-8 * scale : 10.0 * damping;
    }
    // Steepest descent scaled to the curvature: a Newton step on the largest curvature.
    const Eigen::VectorXd steepest = -grad / scale;
    if (!line_search(f, s, loss, grad, newton, next, next_loss, next_grad) &&
        !line_search(f, s, loss, grad, steepest, next, next_loss, next_grad)) {
      break;  // no direction decreases the loss at machine precision
    }
    s = next;
    loss = next_loss;
    grad = next_grad;
  }
  FamilyFit fit;
  fit.scalars = s;
  fit.theta = basis * s;
  fit.loss = loss;
  fit.scalar_grad_norm = grad.norm();
  fit.iterations = iteration;
  fit.converged = std::isfinite(loss) &&
                  fit.scalar_grad_norm <= options.gradient_tolerance * (1.0 + std::abs(loss));
  return fit;
}

FamilyFit fit_family(BatchObjective& objective, const BatchSpec& pool, const Eigen::MatrixXd& basis,
                     const std::vector<Eigen::VectorXd>& starts, const FitOptions& options) {
  if (starts.empty()) throw std::invalid_argument("fit_family needs at least one start");
  std::vector<double> losses;
  FamilyFit best;
  for (const Eigen::VectorXd& start : starts) {
    FamilyFit fit = fit_family(objective, pool, basis, start, options);
    losses.push_back(fit.loss);
    if (losses.size() == 1 || fit.loss < best.loss) best = std::move(fit);
  }
  best.starts = static_cast<int>(starts.size());
  best.agreeing = 0;
  for (double loss : losses) {
    if (std::abs(loss - best.loss) <= options.agreement * (1.0 + std::abs(best.loss))) {
      ++best.agreeing;
    }
  }
  return best;
}

std::vector<Eigen::VectorXd> spread_starts(int steps, double a, bool with_b) {
  const int per_step = with_b ? 2 : 1;  // b_ℓ starts at 0
  auto make = [&](double top, double bottom) {
    Eigen::VectorXd s = Eigen::VectorXd::Zero(per_step * steps);
    for (int l = 0; l < steps; ++l) {
      const double t = steps > 1 ? l / (steps - 1.0) : 0.0;
      s[per_step * l] = a * (top + (bottom - top) * t);
    }
    return s;
  };
  if (steps == 1) return {make(1, 1), make(0.5, 0.5), make(2, 2)};
  return {make(1, 1), make(1.5, 0.5), make(0.5, 1.5), make(0.75, 0.25), make(3, 1)};
}

}  // namespace linicl
