#include "linicl/numerics/spectrum.hpp"
#include "linicl/numerics/require.hpp"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

#include "linicl/numerics/rng.hpp"

namespace linicl {

namespace {

// Below this fraction of max‖A q_j‖, β_m is round-off: the Krylov space is invariant.
constexpr double kBreakdown = 1e-12;

void require_dimension(Eigen::Index p) {
  require(p >= 1, "dimension p", ">= 1", p);
}

// The Lanczos recurrence A Q_m = Q_m T_m + β_m q_{m+1} e_mᵀ from a unit start vector, with
// q_{m+1} orthogonalized twice against all of Q_m (classical Gram–Schmidt): in floating point
// one pass leaves O(ε‖A‖/β) components along Q_m, the second brings them to O(ε).
class Lanczos {
 public:
  Lanczos(const SymmetricOperator& op, const Eigen::VectorXd& start, Eigen::Index capacity)
      : op_(op), basis_(start.size(), capacity), alpha_(capacity), beta_(capacity) {
    basis_.col(0) = start;
  }

  // Appends α_m = q_mᵀ A q_m and returns β_m = ‖(I − Q_m Q_mᵀ) A q_m‖.
  double step() {
    const Eigen::Index j = size_++;
    const Eigen::VectorXd q = basis_.col(j);
    Eigen::VectorXd w = Eigen::VectorXd::Zero(q.size());
    op_(q, w);
    const double norm = w.norm();
    require(std::isfinite(norm), "the operator's output", "finite", norm);
    scale_ = std::max(scale_, norm);
    alpha_(j) = q.dot(w);
    const auto span = basis_.leftCols(size_);
    for (int pass = 0; pass < 2; ++pass) w -= span * (span.transpose() * w);
    beta_(j) = w.norm();
    if (size_ < basis_.cols() && beta_(j) > 0.0) basis_.col(size_) = w / beta_(j);
    return beta_(j);
  }

  bool invariant() const { return size_ > 0 && beta_(size_ - 1) <= kBreakdown * scale_; }
  Eigen::Index size() const { return size_; }
  double last_beta() const { return beta_(size_ - 1); }

  // Eigenvalues (ascending) and eigenvectors of T_m.
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> ritz() const {
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver;
    const Eigen::VectorXd diagonal = alpha_.head(size_);
    const Eigen::VectorXd off_diagonal = beta_.head(size_ - 1);
    solver.computeFromTridiagonal(diagonal, off_diagonal, Eigen::ComputeEigenvectors);
    return solver;
  }

 private:
  const SymmetricOperator& op_;
  Eigen::MatrixXd basis_;
  Eigen::VectorXd alpha_, beta_;
  Eigen::Index size_ = 0;
  double scale_ = 0.0;  // max‖A q_j‖ ~ ‖T_m‖ (‖A q_j‖² = β_{j−1}² + α_j² + β_j²)
};

}  // namespace

Eigen::MatrixXd operator_matrix(const SymmetricOperator& op, Eigen::Index p, double* asymmetry) {
  require_dimension(p);
  Eigen::MatrixXd a(p, p);
  Eigen::VectorXd column(p);
  for (Eigen::Index j = 0; j < p; ++j) {
    column.setZero();
    op(Eigen::VectorXd::Unit(p, j), column);
    a.col(j) = column;
  }
  if (asymmetry) {
    const double norm = a.norm();
    *asymmetry = norm > 0.0 ? (a - a.transpose()).norm() / norm : 0.0;
  }
  return 0.5 * (a + a.transpose());
}

Eigen::VectorXd full_spectrum(const SymmetricOperator& op, Eigen::Index p, double* asymmetry) {
  const Eigen::MatrixXd a = operator_matrix(op, p, asymmetry);
  return Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(a, Eigen::EigenvaluesOnly).eigenvalues();
}

void LanczosOptions::check() const {
  require(wanted >= 1, "LanczosOptions::wanted", ">= 1", wanted);
  require(max_iterations >= 2 * wanted, "LanczosOptions::max_iterations", ">= 2 * wanted",
          max_iterations);
  require(tolerance > 0.0 && tolerance < 1.0, "LanczosOptions::tolerance", "in (0, 1)", tolerance);
}

LanczosResult lanczos_extremes(const SymmetricOperator& op, Eigen::Index p, RandomStream rs,
                               const LanczosOptions& options) {
  options.check();
  require_dimension(p);
  Eigen::VectorXd start(p);
  for (Eigen::Index i = 0; i < p; ++i) start(i) = rs.normal();
  start.normalize();

  const Eigen::Index capacity = std::min<Eigen::Index>(p, options.max_iterations);
  const Eigen::Index wanted = options.wanted;
  Lanczos lanczos(op, start, capacity);
  LanczosResult result;
  for (;;) {
    lanczos.step();
    const Eigen::Index m = lanczos.size();
    const bool last = m == capacity || lanczos.invariant();
    if (m < 2 * wanted && !last) continue;  // the two ends would still overlap

    const auto solver = lanczos.ritz();
    const Eigen::VectorXd& theta = solver.eigenvalues();
    const Eigen::VectorXd residual =
        (lanczos.last_beta() * solver.eigenvectors().row(m - 1)).cwiseAbs().transpose();
    const Eigen::Index n = std::min(wanted, m);
    result.smallest = theta.head(n);
    result.smallest_residual = residual.head(n);
    result.largest = theta.tail(n).reverse();
    result.largest_residual = residual.tail(n).reverse();
    result.iterations = static_cast<int>(m);
    const double bound = options.tolerance * theta.cwiseAbs().maxCoeff();
    result.converged =
        result.smallest_residual.maxCoeff() <= bound && result.largest_residual.maxCoeff() <= bound;
    if (result.converged || last) return result;
  }
}

void QuadratureOptions::check() const {
  require(probes >= 1, "QuadratureOptions::probes", ">= 1", probes);
  require(steps >= 1, "QuadratureOptions::steps", ">= 1", steps);
}

double spectral_quantile(const SymmetricOperator& op, Eigen::Index p, double q,
                         const StreamFamily& probes, const QuadratureOptions& options) {
  options.check();
  require_dimension(p);
  require(q > 0.0 && q < 1.0, "quantile q", "in (0, 1)", q);
  // Per probe: nodes θ_j (ascending) and midpoint cumulative weights c_j = W_{<j} + τ_j²/2.
  std::vector<Eigen::VectorXd> theta, c;
  std::vector<double> pooled;
  const Eigen::Index capacity = std::min<Eigen::Index>(p, options.steps);
  const double entry = 1.0 / std::sqrt(static_cast<double>(p));
  for (int probe = 0; probe < options.probes; ++probe) {
    RandomStream rs = probes.stream(static_cast<std::uint64_t>(probe));
    Eigen::VectorXd v(p);
    for (Eigen::Index i = 0; i < p; ++i) v(i) = (rs.next_u64() >> 63) ? entry : -entry;
    Lanczos lanczos(op, v, capacity);
    do {
      lanczos.step();
    } while (lanczos.size() < capacity && !lanczos.invariant());
    const auto solver = lanczos.ritz();
    const Eigen::VectorXd weight = solver.eigenvectors().row(0).transpose().array().square();
    Eigen::VectorXd cumulative(weight.size());
    double below = 0.0;
    for (Eigen::Index j = 0; j < weight.size(); ++j) {
      cumulative(j) = below + 0.5 * weight(j);
      below += weight(j);
    }
    theta.push_back(solver.eigenvalues());
    c.push_back(cumulative);
    pooled.insert(pooled.end(), theta.back().data(), theta.back().data() + theta.back().size());
  }
  // F(x): the mean over probes of the piecewise-linear CDFs through (θ_j, c_j), constant
  // beyond the end nodes. It is linear between consecutive pooled nodes, so it inverts exactly.
  const auto cdf = [&](double x) {
    double sum = 0.0;
    for (std::size_t l = 0; l < theta.size(); ++l) {
      const Eigen::VectorXd& t = theta[l];
      const Eigen::Index j = std::upper_bound(t.data(), t.data() + t.size(), x) - t.data();
      if (j == 0) {
        sum += c[l](0);
      } else if (j == t.size()) {
        sum += c[l](j - 1);
      } else {
        sum += c[l](j - 1) + (x - t(j - 1)) / (t(j) - t(j - 1)) * (c[l](j) - c[l](j - 1));
      }
    }
    return sum / static_cast<double>(theta.size());
  };
  std::sort(pooled.begin(), pooled.end());
  double x0 = pooled.front(), f0 = cdf(x0);
  if (q <= f0) return x0;
  for (std::size_t i = 1; i < pooled.size(); ++i) {
    const double x1 = pooled[i], f1 = cdf(x1);
    if (q <= f1) return x0 + (q - f0) / (f1 - f0) * (x1 - x0);  // f0 < q <= f1
    x0 = x1;
    f0 = f1;
  }
  return pooled.back();
}

SpectrumSummary summarize_spectrum(const Eigen::VectorXd& eigenvalues, double zero_tolerance) {
  require(eigenvalues.size() >= 1, "eigenvalues", "non-empty", eigenvalues.size());
  require(eigenvalues.allFinite(), "eigenvalues", "finite", "a non-finite value");
  require(zero_tolerance >= 0.0, "zero_tolerance", ">= 0", zero_tolerance);
  std::vector<double> sorted(eigenvalues.data(), eigenvalues.data() + eigenvalues.size());
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  SpectrumSummary s;
  s.smallest = sorted.front();
  s.largest = sorted.back();
  s.median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  s.robust_condition =
      s.median > 0.0 ? s.largest / s.median : std::numeric_limits<double>::infinity();
  const double zero = zero_tolerance * std::max(std::abs(s.smallest), std::abs(s.largest));
  for (double lambda : sorted) {
    if (std::abs(lambda) <= zero) {
      ++s.zero;
    } else if (lambda < 0.0) {
      ++s.negative;
    } else {
      ++s.positive;
    }
  }
  return s;
}

double inverse_tail_index(const std::vector<double>& samples, std::size_t block_size) {
  require(samples.size() >= 16, "samples", "at least 16", samples.size());
  require(block_size == 0 || (block_size >= 2 && block_size <= samples.size()), "block size",
          "0 or in [2, number of samples]", block_size);
  for (double x : samples) require(std::isfinite(x) && x != 0.0, "samples", "finite, nonzero", x);
  std::size_t k1 = 0, k2 = block_size;
  if (block_size == 0) {
    k1 = static_cast<std::size_t>(std::sqrt(static_cast<double>(samples.size())));
    while (k1 * k1 > samples.size()) --k1;  // ⌊√K⌋ whatever the rounding of sqrt
    while ((k1 + 1) * (k1 + 1) <= samples.size()) ++k1;
    k2 = samples.size() / k1;
  } else {
    k1 = samples.size() / k2;
  }
  double log_blocks = 0.0, log_samples = 0.0;
  for (std::size_t i = 0; i < k1; ++i) {
    double sum = 0.0;
    for (std::size_t k = i * k2; k < (i + 1) * k2; ++k) {
      sum += samples[k];
      log_samples += std::log(std::abs(samples[k]));
    }
    require(std::isfinite(sum) && sum != 0.0, "block sums", "finite, nonzero", sum);
    log_blocks += std::log(std::abs(sum));
  }
  // A block sum of K2 samples is K2^{1/α} times one sample in law: divide by log K2.
  return (log_blocks / k1 - log_samples / (k1 * k2)) / std::log(static_cast<double>(k2));
}

double stable_tail_index(const std::vector<double>& samples, std::size_t block_size) {
  const double inverse = inverse_tail_index(samples, block_size);
  return inverse > 0.5 ? 1.0 / inverse : 2.0;
}

}  // namespace linicl
