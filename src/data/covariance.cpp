// Covariances Σ = U diag(λ) Uᵀ of the covariates (§2).

#include "linicl/data/covariance.hpp"
#include "linicl/data/streams.hpp"
#include "linicl/numerics/require.hpp"

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "linicl/numerics/rng.hpp"

namespace linicl {
namespace {

void require_dimension(int dim) {
  require(dim >= 1, "--dim", ">= 1", dim);
}

// Condition number κ spread over d eigenvalues (§2): geometric λ_i = κ^{-i/(d-1)}, so
// λ_max/λ_min = κ with evenly spaced log-eigenvalues; two-level: the first ⌈d/2⌉ are κ, the rest 1.
Eigen::VectorXd kappa_spectrum(double kappa, KappaShape shape, int dim) {
  require(std::isfinite(kappa) && kappa >= 1.0, "--kappa", ">= 1 and finite", kappa);
  Eigen::VectorXd lambda = Eigen::VectorXd::Ones(dim);
  if (shape == KappaShape::kTwoLevel) {
    lambda.head((dim + 1) / 2).setConstant(kappa);
  } else if (dim > 1) {
    for (int i = 0; i < dim; ++i) lambda(i) = std::pow(kappa, -static_cast<double>(i) / (dim - 1));
  }
  return lambda;
}

Eigen::VectorXd explicit_spectrum(const std::vector<double>& spectrum, int dim) {
  require(static_cast<int>(spectrum.size()) == dim, "--spectrum",
          "a list of exactly d = " + std::to_string(dim) + " values", spectrum.size());
  for (double value : spectrum) {
    require(std::isfinite(value) && value > 0.0, "--spectrum values", "> 0 and finite", value);
  }
  return Eigen::Map<const Eigen::VectorXd>(spectrum.data(), dim);
}

// (M + Mᵀ)/2 is bit-symmetric: entry (i, j) and (j, i) add the same two numbers.
Eigen::MatrixXd symmetrized(const Eigen::MatrixXd& m) {
  return 0.5 * (m + m.transpose());
}

}  // namespace

void CovarianceSpec::check(int dim, const FieldLabel& label) const {
  // Beyond 1e12 the smallest eigenvalue is lost to round-off against the largest.
  require(std::isfinite(kappa) && kappa >= 1.0 && kappa <= 1e12, label("kappa"), "in [1, 1e12]",
          kappa);
  if (kind == CovKind::kSpectrum) {
    require(static_cast<int>(spectrum.size()) == dim, label("spectrum"),
            "a list of exactly d values", std::to_string(spectrum.size()) + " values");
    for (double v : spectrum) {
      require(std::isfinite(v) && v > 0.0, label("spectrum"), "values > 0", v);
    }
  }
  require(kind == CovKind::kSpectrum || spectrum.empty(), label("spectrum"),
          "given only with " + label("cov") + " spectrum",
          "a list with " + label("cov") + " " + name_of(kind));
}

Eigen::VectorXd covariance_spectrum(const CovarianceSpec& spec, int dim) {
  require_dimension(dim);
  Eigen::VectorXd lambda;
  switch (spec.kind) {
    case CovKind::kIsotropic:
      lambda = Eigen::VectorXd::Ones(dim);
      break;
    case CovKind::kKappa:
      lambda = kappa_spectrum(spec.kappa, spec.shape, dim);
      break;
    case CovKind::kSpectrum:
      lambda = explicit_spectrum(spec.spectrum, dim);
      break;
    case CovKind::kFile:
      throw std::invalid_argument(
          "covariance_spectrum: a --cov file covariance has no spectrum; load the matrix and "
          "check it with check_covariance");
  }
  if (spec.normalize) lambda *= dim / lambda.sum();  // tr Σ = Σ_i λ_i = d
  return lambda;
}

Eigen::MatrixXd random_rotation(int dim, std::uint64_t seed) {
  require_dimension(dim);
  // Gaussian entries drawn column by column (column-major order), from a stream of their own.
  RandomStream rs = make_stream(seed, Purpose::kRotation, StreamKey::kRotation);
  Eigen::MatrixXd gaussian(dim, dim);
  for (int j = 0; j < dim; ++j) {
    for (int i = 0; i < dim; ++i) gaussian(i, j) = rs.normal();
  }
  // G = QR is unique once diag(R) > 0; Householder QR leaves those signs arbitrary, which biases
  // Q. Flipping column j of Q by sign(R_jj) restores uniqueness, and then Q is Haar
  // (Mezzadri 2007, "How to generate random matrices from the classical compact groups").
  const Eigen::HouseholderQR<Eigen::MatrixXd> qr(gaussian);
  Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(dim, dim);
  for (int j = 0; j < dim; ++j) {
    if (qr.matrixQR()(j, j) < 0.0) q.col(j) *= -1.0;
  }
  return q;
}

Eigen::MatrixXd make_covariance(const CovarianceSpec& spec, int dim, std::uint64_t seed) {
  const Eigen::VectorXd lambda = covariance_spectrum(spec, dim);
  if (!spec.rotate) return lambda.asDiagonal();
  const Eigen::MatrixXd u = random_rotation(dim, seed);
  return symmetrized(u * lambda.asDiagonal() * u.transpose());
}

void check_covariance(const Eigen::MatrixXd& m, int dim, const std::string& what) {
  const auto fail = [&what](const std::string& problem) {
    throw std::invalid_argument(what + ": " + problem);
  };
  if (dim < 1) fail("the dimension must be >= 1 (got " + std::to_string(dim) + ")");
  if (m.rows() != dim || m.cols() != dim) {
    fail("expected a " + std::to_string(dim) + "x" + std::to_string(dim) + " matrix (got " +
         std::to_string(m.rows()) + "x" + std::to_string(m.cols()) + ")");
  }
  if (!m.allFinite()) fail("the matrix has entries that are not finite");
  const double asymmetry = (m - m.transpose()).cwiseAbs().maxCoeff();
  if (asymmetry > 1e-10 * m.cwiseAbs().maxCoeff()) {
    std::ostringstream detail;
    detail << "the matrix is not symmetric (max |M - M^T| = " << asymmetry << ")";
    fail(detail.str());
  }
  // Positive definite in floating point: Cholesky succeeds and λ_min > d·ε·λ_max. The eigenvalues
  // are only accurate to about ε·λ_max, so a smaller λ_min is numerically zero (the rank tolerance
  // of numpy.linalg.matrix_rank); Cholesky alone accepts a singular matrix whose pivots come out
  // positive by rounding.
  const Eigen::VectorXd lambda =
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(m, Eigen::EigenvaluesOnly).eigenvalues();
  const double zero_below = dim * std::numeric_limits<double>::epsilon() * lambda(dim - 1);
  if (m.llt().info() != Eigen::Success || !(lambda(0) > zero_below)) {
    std::ostringstream detail;
    detail << "the matrix is not positive definite (eigenvalues from " << lambda(0) << " to "
           << lambda(dim - 1) << "; below " << zero_below << " counts as 0)";
    fail(detail.str());
  }
}

SpdRoots spd_roots(const Eigen::MatrixXd& spd) {
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(spd);
  const Eigen::VectorXd& lambda = eigen.eigenvalues();  // ascending
  if (eigen.info() != Eigen::Success || lambda.size() == 0 || !(lambda(0) > 0.0)) {
    throw std::invalid_argument("spd_roots: the matrix is not symmetric positive definite");
  }
  const Eigen::MatrixXd& v = eigen.eigenvectors();
  // f(Σ) = V f(Λ) Vᵀ, symmetrized so that rounding leaves no asymmetry.
  const auto apply = [&v](const Eigen::VectorXd& f_lambda) {
    return symmetrized(v * f_lambda.asDiagonal() * v.transpose());
  };
  const Eigen::VectorXd root = lambda.cwiseSqrt();
  return {apply(root), apply(root.cwiseInverse()), apply(lambda.cwiseInverse())};
}

}  // namespace linicl
