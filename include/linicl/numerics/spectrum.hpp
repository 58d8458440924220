// Spectra of symmetric operators known only through products y = A x (Hessian–vector
// products of a landscape), and the tail index of heavy-tailed gradient noise.
//
// Small p: build A column by column and diagonalize it. Large p: Lanczos for the extreme
// eigenvalues, stochastic Lanczos quadrature for quantiles of the eigenvalue distribution.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <functional>
#include <vector>

#include "linicl/numerics/rng.hpp"

namespace linicl {

// y = A x with A symmetric on R^p; `out` arrives sized p (and zeroed) and must be overwritten.
using SymmetricOperator = std::function<void(const Eigen::VectorXd& x, Eigen::VectorXd& out)>;

// A = [A e_1 … A e_p]. Reports the asymmetry ‖A − Aᵀ‖_F / ‖A‖_F (0 if A = 0), a check on the
// operator, and returns the symmetric part (A + Aᵀ)/2. Throws std::invalid_argument if p < 1.
Eigen::MatrixXd operator_matrix(const SymmetricOperator& op, Eigen::Index p,
                                double* asymmetry = nullptr);

// All eigenvalues of (A + Aᵀ)/2, ascending.
Eigen::VectorXd full_spectrum(const SymmetricOperator& op, Eigen::Index p,
                              double* asymmetry = nullptr);

struct LanczosOptions {
  int wanted = 3;            // k: eigenvalues wanted at each end (k largest, k smallest), >= 1
  int max_iterations = 300;  // cap on the Krylov dimension (also capped at p), >= 2 * wanted
  double tolerance = 1e-10;  // Ritz value θ_i converged when |β_m s_mi| <= tol · max|θ|; (0, 1)
  void check() const;        // throws std::invalid_argument naming the field and its range
};

struct LanczosResult {
  Eigen::VectorXd largest;                              // min(k, m) largest Ritz values, descending
  Eigen::VectorXd smallest;                             // min(k, m) smallest Ritz values, ascending
  Eigen::VectorXd largest_residual, smallest_residual;  // |β_m s_mi|: an eigenvalue is this close
  int iterations = 0;                                   // m, the Krylov dimension used
  bool converged = false;                               // every returned value met the tolerance
};

// Lanczos with full reorthogonalization (classical Gram–Schmidt, twice, against the whole
// basis). T_m = Q_mᵀ A Q_m is tridiagonal; its eigenpairs (θ_i, s_i) give Ritz values with
// ‖A Q_m s_i − θ_i Q_m s_i‖ = |β_m s_mi|. Stops once the 2k extreme Ritz values (m >= 2k) meet
// the tolerance, on an invariant subspace (β_m <= 1e-12 · max‖A q_j‖: the Ritz values are
// then eigenvalues), or at m = min(p, max_iterations).
// One start vector sees each distinct eigenvalue once: a repeated eigenvalue is returned once,
// so `largest`/`smallest` are the extreme eigenvalues without multiplicity (for a low-rank A,
// `smallest` is 0 followed by the smallest nonzero eigenvalues). The start vector is p normals
// of `start`, normalized.
LanczosResult lanczos_extremes(const SymmetricOperator& op, Eigen::Index p, RandomStream start,
                               const LanczosOptions& options = {});

struct QuadratureOptions {
  int probes = 8;      // Rademacher start vectors, >= 1
  int steps = 60;      // Lanczos steps per probe (capped at p), >= 1
  void check() const;  // throws std::invalid_argument naming the field and its range
};

// q-quantile, q in (0, 1), of the eigenvalue distribution μ = (1/p) Σ δ_λi by stochastic
// Lanczos quadrature (Ubaru, Chen & Saad 2017): a unit probe v gives vᵀ f(A) v ≈ Σ_j τ_j² f(θ_j)
// with θ_j, τ_j the eigenvalues and first eigenvector components of T_m. Each probe's CDF is
// piecewise linear through (θ_j, W_{<j} + τ_j²/2), the midpoint of its jump (the true CDF
// lies between W_{<j} and W_{<j} + τ_j² at θ_j), constant beyond its end nodes; the estimate
// is the exact inverse of their mean, clamped to the range of the nodes. Probe i has the signs
// of probes.stream(i).
double spectral_quantile(const SymmetricOperator& op, Eigen::Index p, double q,
                         const StreamFamily& probes, const QuadratureOptions& options = {});

struct SpectrumSummary {
  double largest = 0, smallest = 0;
  double median = 0;                         // mean of the two middle eigenvalues for an even count
  double robust_condition = 0;               // largest / median; +inf if median <= 0
  int negative = 0, zero = 0, positive = 0;  // zero: |λ| <= zero_tolerance · max|λ|
};

// Eigenvalues in any order. Throws std::invalid_argument if empty, any is non-finite, or
// zero_tolerance is negative.
SpectrumSummary summarize_spectrum(const Eigen::VectorXd& eigenvalues,
                                   double zero_tolerance = 1e-9);

// 1/α̂ for samples of a symmetric α-stable law, by the block-sum estimator of Mohammadi,
// Mohammadpour & Ogata (2015) as used for gradient noise by Simsekli, Sagun & Gürbüzbalaban
// (2019). With K1 blocks of K2 consecutive samples (the remainder dropped), K = K1 K2 and Y_i
// the block sums, 1/α̂ = ((1/K1) Σ log|Y_i| − (1/K) Σ log|X_k|) / log K2; it rests on
// Y_i ~ K2^{1/α} X. Unclamped: about 1/2 for Gaussian data, below 1/2 for lighter tails.
// block_size K2 >= 2, or 0 for K1 = ⌊√K⌋, K2 = ⌊K/K1⌋. Each block's own scale cancels in its
// term, so samples of different scales may be pooled as long as no block mixes them.
// Throws std::invalid_argument for fewer than 16 samples, a block size outside [2, K], or any
// sample (or block sum) that is non-finite or exactly 0 (log|0| = −∞).
double inverse_tail_index(const std::vector<double>& samples, std::size_t block_size = 0);

// α̂ = 1 / inverse_tail_index, clamped to (0, 2]: an estimate 1/α̂ <= 1/2 (including <= 0,
// tails lighter than any stable law) returns 2; positive estimates are never clamped below.
double stable_tail_index(const std::vector<double>& samples, std::size_t block_size = 0);

}  // namespace linicl
