#include "linicl/analysis/algorithms.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace linicl {

namespace {

// The sufficient statistics of R: ∇R(w) = S w − b with S = XXᵀ/n, b = Xy/n.
struct LeastSquares {
  Eigen::MatrixXd s;
  Eigen::VectorXd b;

  LeastSquares(const Eigen::MatrixXd& x, const Eigen::VectorXd& y) {
    if (x.cols() != y.size() || x.cols() == 0)
      throw std::invalid_argument("reference learner: X must be d x n and y of length n >= 1");
    const double n = static_cast<double>(x.cols());
    s = x * x.transpose() / n;
    b = x * y / n;
  }
  Eigen::VectorXd gradient(const Eigen::VectorXd& w) const { return s * w - b; }
};

// The largest eigenvalue of S and the smallest one that is not zero to working precision
// (the iterations below never move w in the null space of S). Both are 0 when X = 0.
struct CurvatureRange {
  double max = 0.0, min = 0.0;
};
CurvatureRange curvature_range(const Eigen::MatrixXd& s) {
  const Eigen::VectorXd lambda =
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(s, Eigen::EigenvaluesOnly).eigenvalues();
  CurvatureRange range{lambda.maxCoeff(), lambda.maxCoeff()};
  for (Eigen::Index i = 0; i < lambda.size(); ++i)
    if (lambda[i] > 1e-12 * range.max) range.min = std::min(range.min, lambda[i]);
  return range;
}

}  // namespace

double empirical_risk(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                      const Eigen::VectorXd& w) {
  return (x.transpose() * w - y).squaredNorm() / (2.0 * static_cast<double>(x.cols()));
}

Eigen::MatrixXd gd_iterates(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, double step,
                            int steps) {
  const LeastSquares ls(x, y);
  Eigen::MatrixXd w = Eigen::MatrixXd::Zero(x.rows(), steps + 1);
  for (int k = 0; k < steps; ++k) w.col(k + 1) = w.col(k) - step * ls.gradient(w.col(k));
  return w;
}

double gd_step_limit(const Eigen::MatrixXd& x) {
  const double n = static_cast<double>(x.cols());
  const CurvatureRange range = curvature_range(x * x.transpose() / n);
  return range.max > 0 ? 2.0 / (range.max + range.min) : std::numeric_limits<double>::infinity();
}

Eigen::MatrixXd pgd_iterates(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                             const std::vector<Eigen::MatrixXd>& gammas) {
  const LeastSquares ls(x, y);
  const int steps = static_cast<int>(gammas.size());
  Eigen::MatrixXd w = Eigen::MatrixXd::Zero(x.rows(), steps + 1);
  for (int k = 0; k < steps; ++k) w.col(k + 1) = w.col(k) - gammas[k] * ls.gradient(w.col(k));
  return w;
}

Eigen::MatrixXd gdpp_iterates(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                              const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw std::invalid_argument("gdpp_iterates: a and b differ in length");
  const Eigen::Index d = x.rows();
  const double n = static_cast<double>(x.cols());
  const int steps = static_cast<int>(a.size());
  Eigen::MatrixXd xk = x;                               // the moving context covariates X_k
  Eigen::VectorXd r = y;                                // the residual labels r_k
  Eigen::MatrixXd t = Eigen::MatrixXd::Identity(d, d);  // T_k, the query's accumulated map
  Eigen::MatrixXd w = Eigen::MatrixXd::Zero(d, steps + 1);
  for (int k = 0; k < steps; ++k) {
    const Eigen::VectorXd u = (a[k] / n) * (xk * r);
    // The query's prediction gains u_kᵀ T_k x_{n+1}, so w gains T_kᵀ u_k.
    w.col(k + 1) = w.col(k) + t.transpose() * u;
    const Eigen::MatrixXd move =
        Eigen::MatrixXd::Identity(d, d) - (a[k] * b[k] / n) * (xk * xk.transpose());
    r -= xk.transpose() * u;
    xk = move * xk;
    t = move * t;
  }
  return w;
}

Eigen::MatrixXd newton_iterates(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, int steps,
                                NewtonStart start) {
  const LeastSquares ls(x, y);
  const Eigen::Index d = x.rows();
  Eigen::MatrixXd w = Eigen::MatrixXd::Zero(d, steps + 1);
  const CurvatureRange range = curvature_range(ls.s);
  if (!(range.max > 0)) return w;  // X = 0: every iterate stays at 0, as OLS does.
  // α = 2/(λ_max² + λ_min²) makes |1 − αλ²| < 1 on every non-zero mode (§6); the null space
  // of S is never touched, so w_k tends to the minimum-norm solution.
  // 1/‖S²‖_F <= 1/λ_max² contracts every mode too, more slowly.
  const double alpha = start == NewtonStart::kSpectral
                           ? 2.0 / (range.max * range.max + range.min * range.min)
                           : 1.0 / (ls.s * ls.s).norm();
  Eigen::MatrixXd m = alpha * ls.s;
  const Eigen::MatrixXd two = 2.0 * Eigen::MatrixXd::Identity(d, d);
  for (int k = 1; k <= steps; ++k) {
    w.col(k) = m * ls.b;
    m = m * (two - ls.s * m);
  }
  return w;
}

Eigen::VectorXd ols(const Eigen::MatrixXd& x, const Eigen::VectorXd& y) {
  const LeastSquares check(x, y);
  // Xᵀw = y in the least-squares sense; the complete orthogonal decomposition returns the
  // minimum-norm solution when XXᵀ is singular (n < d or collinear covariates).
  return x.transpose().completeOrthogonalDecomposition().solve(y);
}

Eigen::VectorXd ridge(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, double lambda) {
  if (!(lambda > 0)) throw std::invalid_argument("ridge: lambda must be > 0");
  const LeastSquares check(x, y);
  Eigen::MatrixXd a = x * x.transpose();
  a.diagonal().array() += lambda;
  return a.llt().solve(x * y);
}

}  // namespace linicl
