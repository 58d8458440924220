#include "linicl/family_fit.hpp"

#include <cmath>

namespace linicl {

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
};

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
                     const Eigen::VectorXd& start, int max_iterations) {
  FamilyObjective f{objective, pool, basis, {}};
  const Eigen::Index m = start.size();
  Eigen::VectorXd s = start, grad, grad_plus, grad_minus;
  double loss = f(s, &grad);
  int iteration = 0;
  for (; iteration < max_iterations; ++iteration) {
    if (grad.norm() <= 1e-12 * (1.0 + std::abs(loss))) break;
    Eigen::MatrixXd hessian(m, m);
    for (Eigen::Index j = 0; j < m; ++j) {
      const double h = 1e-5 * std::max(1.0, std::abs(s[j]));
      Eigen::VectorXd shifted = s;
      shifted[j] += h;
      f(shifted, &grad_plus);
      shifted[j] -= 2 * h;
      f(shifted, &grad_minus);
      hessian.col(j) = (grad_plus - grad_minus) / (2 * h);
    }
    hessian = 0.5 * (hessian + hessian.transpose()).eval();
    // Levenberg damping until the Newton system is positive definite.
    Eigen::VectorXd step;
    double damping = 0.0;
    for (;;) {
      Eigen::LLT<Eigen::MatrixXd> llt(hessian + damping * Eigen::MatrixXd::Identity(m, m));
      if (llt.info() == Eigen::Success) {
        step = -llt.solve(grad);
        break;
      }
      damping =
          damping == 0.0 ? 1e-8 * (1.0 + hessian.diagonal().cwiseAbs().maxCoeff()) : 10.0 * damping;
    }
    // Backtracking (Armijo) on the sampled loss.
    double t = 1.0;
    Eigen::VectorXd trial_grad;
    double trial_loss = 0.0;
    for (int halvings = 0; halvings < 40; ++halvings, t *= 0.5) {
      trial_loss = f(s + t * step, &trial_grad);
      if (std::isfinite(trial_loss) && trial_loss <= loss + 1e-4 * t * grad.dot(step)) break;
    }
    if (!(trial_loss < loss)) break;  // no further decrease at machine precision
    s += t * step;
    loss = trial_loss;
    grad = trial_grad;
  }
  return {s, basis * s, loss, grad.norm(), iteration};
}

}  // namespace linicl
