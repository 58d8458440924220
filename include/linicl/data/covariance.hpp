// Covariances Σ = U diag(λ) Uᵀ of the covariates (§2).
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <string>
#include <vector>

#include "linicl/numerics/name_table.hpp"
#include "linicl/numerics/require.hpp"

namespace linicl {

enum class CovKind { kIsotropic, kKappa, kSpectrum, kFile };
constexpr NameTable<CovKind, 4> name_table(CovKind) {
  return {{{CovKind::kIsotropic, "isotropic"},
           {CovKind::kKappa, "kappa"},
           {CovKind::kSpectrum, "spectrum"},
           {CovKind::kFile, "file"}}};
}

enum class KappaShape { kGeometric, kTwoLevel };
constexpr NameTable<KappaShape, 2> name_table(KappaShape) {
  return {{{KappaShape::kGeometric, "geometric"}, {KappaShape::kTwoLevel, "two-level"}}};
}

// The covariance Σ_w of the task weights (§2.1): I, Σ⁻¹ or a matrix read from a file.
enum class WCovKind { kIdentity, kInverse, kFile };
constexpr NameTable<WCovKind, 3> name_table(WCovKind) {
  return {{{WCovKind::kIdentity, "identity"},
           {WCovKind::kInverse, "inverse"},
           {WCovKind::kFile, "file"}}};
}

struct CovarianceSpec {
  CovKind kind = CovKind::kIsotropic;
  // kKappa: condition number κ ≥ 1. Geometric: λ_i = κ^{-i/(d-1)}; two-level: the first
  // ⌈d/2⌉ eigenvalues are κ, the rest 1.
  double kappa = 10.0;
  KappaShape shape = KappaShape::kGeometric;
  std::vector<double> spectrum;  // kSpectrum: exactly d positive eigenvalues
  bool rotate = false;           // U Haar-random from the seed instead of the identity
  bool normalize = true;         // rescale so that tr Σ = d

  // Throws std::invalid_argument naming the first bad field (as `label` names it) and its
  // range, for a Σ of dimension `dim`.
  void check(int dim, const FieldLabel& label = option_flag) const;
};

// The eigenvalues λ of Σ for a non-file spec, normalized if asked; throws
// std::invalid_argument naming the offending field (kappa, spectrum).
Eigen::VectorXd covariance_spectrum(const CovarianceSpec& spec, int dim);

// A Haar-distributed orthogonal matrix: QR of a Gaussian matrix with the signs of R's diagonal
// moved into Q. Drawn from RandomStream(seed, Purpose::kRotation).
Eigen::MatrixXd random_rotation(int dim, std::uint64_t seed);

// Σ = U diag(λ) Uᵀ for a non-file spec.
Eigen::MatrixXd make_covariance(const CovarianceSpec& spec, int dim, std::uint64_t seed);

// Throws std::invalid_argument("<what>: ...") unless `m` is dim×dim, finite, symmetric to
// 1e-10 relative, and positive definite.
void check_covariance(const Eigen::MatrixXd& m, int dim, const std::string& what);

// Symmetric square root, inverse square root and inverse of an SPD matrix, by one
// eigendecomposition.
struct SpdRoots {
  Eigen::MatrixXd sqrt;
  Eigen::MatrixXd inv_sqrt;
  Eigen::MatrixXd inverse;
};
SpdRoots spd_roots(const Eigen::MatrixXd& spd);

}  // namespace linicl
