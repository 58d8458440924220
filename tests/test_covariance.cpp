#include "linicl/data/covariance.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

using Catch::Contains;
using linicl::check_covariance;
using linicl::covariance_spectrum;
using linicl::CovarianceSpec;
using linicl::CovKind;
using linicl::KappaShape;
using linicl::make_covariance;
using linicl::random_rotation;
using linicl::spd_roots;

namespace {

CovarianceSpec kappa_spec(double kappa, KappaShape shape, bool normalize = true,
                          bool rotate = false) {
  CovarianceSpec spec;
  spec.kind = CovKind::kKappa;
  spec.kappa = kappa;
  spec.shape = shape;
  spec.normalize = normalize;
  spec.rotate = rotate;
  return spec;
}

CovarianceSpec explicit_spec(std::vector<double> spectrum) {
  CovarianceSpec spec;
  spec.kind = CovKind::kSpectrum;
  spec.spectrum = std::move(spectrum);
  spec.normalize = false;
  return spec;
}

double max_abs_difference(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  return (a - b).cwiseAbs().maxCoeff();
}

Eigen::VectorXd ascending_eigenvalues(const Eigen::MatrixXd& m) {
  return Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(m, Eigen::EigenvaluesOnly).eigenvalues();
}

Eigen::VectorXd ascending(Eigen::VectorXd v) {
  std::sort(v.data(), v.data() + v.size());
  return v;
}

bool bit_symmetric(const Eigen::MatrixXd& m) {
  return (m.array() == m.transpose().array()).all();
}

}  // namespace

TEST_CASE("covariance: isotropic spectrum is all ones", "[covariance]") {
  CHECK(covariance_spectrum(CovarianceSpec{}, 4) == Eigen::VectorXd::Ones(4));
  CHECK(make_covariance(CovarianceSpec{}, 4, 1) == Eigen::MatrixXd::Identity(4, 4));
}

TEST_CASE("covariance: geometric kappa spectrum", "[covariance]") {
  const Eigen::VectorXd raw =
      covariance_spectrum(kappa_spec(100.0, KappaShape::kGeometric, false), 3);
  REQUIRE(raw.size() == 3);
  CHECK(raw(0) == 1.0);
  CHECK(raw(1) == Approx(0.1).epsilon(1e-14));
  CHECK(raw(2) == Approx(0.01).epsilon(1e-14));

  const Eigen::VectorXd normalized =
      covariance_spectrum(kappa_spec(100.0, KappaShape::kGeometric), 3);
  CHECK(normalized.sum() == Approx(3.0).epsilon(1e-14));
  CHECK(normalized.maxCoeff() / normalized.minCoeff() == Approx(100.0).epsilon(1e-12));
  CHECK(max_abs_difference(normalized, raw * (3.0 / raw.sum())) < 1e-15);

  CHECK(covariance_spectrum(kappa_spec(100.0, KappaShape::kGeometric, false), 1) ==
        Eigen::VectorXd::Ones(1));
}

TEST_CASE("covariance: two-level kappa spectrum", "[covariance]") {
  Eigen::VectorXd expected(5);
  expected << 4, 4, 4, 1, 1;  // ⌈5/2⌉ = 3 at κ
  CHECK(covariance_spectrum(kappa_spec(4.0, KappaShape::kTwoLevel, false), 5) == expected);
  const Eigen::VectorXd normalized = covariance_spectrum(kappa_spec(4.0, KappaShape::kTwoLevel), 5);
  CHECK(max_abs_difference(normalized, expected * (5.0 / 14.0)) < 1e-15);

  Eigen::VectorXd even(4);
  even << 4, 4, 1, 1;
  CHECK(covariance_spectrum(kappa_spec(4.0, KappaShape::kTwoLevel, false), 4) == even);
}

TEST_CASE("covariance: explicit spectrum is kept in order, normalized on request", "[covariance]") {
  CovarianceSpec spec = explicit_spec({3.0, 1.0, 2.0});
  Eigen::VectorXd expected(3);
  expected << 3, 1, 2;
  CHECK(covariance_spectrum(spec, 3) == expected);
  CHECK(make_covariance(spec, 3, 1) == Eigen::MatrixXd(expected.asDiagonal()));
  spec.normalize = true;
  CHECK(max_abs_difference(covariance_spectrum(spec, 3), expected / 2.0) < 1e-15);
}

TEST_CASE("covariance: bad spectra are rejected with the option's name", "[covariance]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_WITH(covariance_spectrum(kappa_spec(0.5, KappaShape::kGeometric), 3),
                      Contains("--kappa must be >= 1") && Contains("(got 0.5)"));
  REQUIRE_THROWS_WITH(covariance_spectrum(kappa_spec(nan, KappaShape::kTwoLevel), 3),
                      Contains("--kappa"));
  REQUIRE_THROWS_WITH(covariance_spectrum(kappa_spec(inf, KappaShape::kGeometric), 3),
                      Contains("--kappa"));
  REQUIRE_NOTHROW(covariance_spectrum(kappa_spec(1.0, KappaShape::kGeometric), 3));

  REQUIRE_THROWS_WITH(covariance_spectrum(explicit_spec({1, 2, 3}), 5),
                      Contains("--spectrum must be a list of exactly d = 5 values (got 3)"));
  for (double bad : {0.0, -1.0, nan, inf}) {
    REQUIRE_THROWS_WITH(covariance_spectrum(explicit_spec({1, bad, 3}), 3),
                        Contains("--spectrum values must be > 0"));
  }

  CovarianceSpec file;
  file.kind = CovKind::kFile;
  REQUIRE_THROWS_AS(covariance_spectrum(file, 3), std::invalid_argument);
  REQUIRE_THROWS_WITH(covariance_spectrum(CovarianceSpec{}, 0), Contains("--dim must be >= 1"));
}

TEST_CASE("covariance: random rotations are orthogonal and seeded", "[covariance]") {
  for (int dim : {1, 2, 5, 12}) {
    const Eigen::MatrixXd q = random_rotation(dim, 42);
    CHECK(max_abs_difference(q.transpose() * q, Eigen::MatrixXd::Identity(dim, dim)) < 1e-12);
    CHECK(std::abs(std::abs(q.determinant()) - 1.0) < 1e-12);
  }
  const Eigen::MatrixXd a = random_rotation(5, 42);
  CHECK(random_rotation(5, 42) == a);  // bitwise
  CHECK(max_abs_difference(random_rotation(5, 43), a) > 0.1);
  REQUIRE_THROWS_AS(random_rotation(0, 42), std::invalid_argument);
}

TEST_CASE("covariance: random rotations are Haar (no sign bias)", "[covariance]") {
  // Every entry of a Haar matrix is symmetric about 0. Householder QR without the sign fix
  // gives Q_00 < 0 always. With 2000 seeds the positive fraction has sd ≈ 0.011.
  const int dim = 3, seeds = 2000;
  Eigen::MatrixXd positive = Eigen::MatrixXd::Zero(dim, dim);
  for (int seed = 0; seed < seeds; ++seed) {
    positive += (random_rotation(dim, seed).array() > 0.0).cast<double>().matrix();
  }
  positive /= seeds;
  CHECK(positive.minCoeff() > 0.45);
  CHECK(positive.maxCoeff() < 0.55);
}

TEST_CASE("covariance: rotated covariance keeps the spectrum and is bit-symmetric",
          "[covariance]") {
  const CovarianceSpec spec = kappa_spec(100.0, KappaShape::kGeometric, true, true);
  const Eigen::MatrixXd sigma = make_covariance(spec, 6, 9);
  CHECK(bit_symmetric(sigma));
  CHECK(max_abs_difference(ascending_eigenvalues(sigma), ascending(covariance_spectrum(spec, 6))) <
        1e-10);
  CHECK(sigma.trace() == Approx(6.0).epsilon(1e-12));
  // The rotation is really used: Σ is not diagonal.
  CHECK(max_abs_difference(sigma, Eigen::MatrixXd(sigma.diagonal().asDiagonal())) > 0.1);
  CHECK(make_covariance(spec, 6, 9) == sigma);
  CHECK_NOTHROW(check_covariance(sigma, 6, "Sigma"));
}

TEST_CASE("covariance: check_covariance rejects bad matrices", "[covariance]") {
  const Eigen::MatrixXd good =
      make_covariance(kappa_spec(10.0, KappaShape::kGeometric, true, true), 4, 3);
  REQUIRE_NOTHROW(check_covariance(good, 4, "--cov-file"));

  REQUIRE_THROWS_WITH(check_covariance(good, 5, "--cov-file"),
                      Contains("--cov-file: expected a 5x5 matrix (got 4x4)"));
  REQUIRE_THROWS_WITH(check_covariance(Eigen::MatrixXd::Identity(4, 3), 4, "--cov-file"),
                      Contains("expected a 4x4 matrix (got 4x3)"));

  Eigen::MatrixXd nan = good;
  nan(1, 2) = nan(2, 1) = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_WITH(check_covariance(nan, 4, "--cov-file"),
                      Contains("--cov-file:") && Contains("not finite"));

  Eigen::MatrixXd asymmetric = good;
  asymmetric(0, 3) += 1e-8;
  REQUIRE_THROWS_WITH(check_covariance(asymmetric, 4, "--cov-file"),
                      Contains("--cov-file:") && Contains("not symmetric"));
  Eigen::MatrixXd rounding = good;
  rounding(0, 3) += 1e-14;  // well inside the 1e-10 relative tolerance
  REQUIRE_NOTHROW(check_covariance(rounding, 4, "--cov-file"));

  Eigen::MatrixXd indefinite = Eigen::MatrixXd::Identity(4, 4);
  indefinite(2, 2) = -1.0;
  REQUIRE_THROWS_WITH(check_covariance(indefinite, 4, "Sigma_w"),
                      Contains("Sigma_w:") && Contains("not positive definite"));
  Eigen::MatrixXd singular = Eigen::MatrixXd::Ones(4, 4);  // rank 1, PSD but not PD
  REQUIRE_THROWS_WITH(check_covariance(singular, 4, "Sigma_w"), Contains("not positive definite"));
  // Numerically singular: λ_min ≤ d·ε·λ_max. Cholesky succeeds on both.
  const Eigen::MatrixXd nearly_singular = Eigen::Vector3d(1.0, 1e-17, 2.0).asDiagonal();
  REQUIRE_THROWS_WITH(check_covariance(nearly_singular, 3, "Sigma"),
                      Contains("not positive definite"));
  const Eigen::MatrixXd ill_conditioned = Eigen::Vector3d(1.0, 1e-12, 2.0).asDiagonal();
  REQUIRE_NOTHROW(check_covariance(ill_conditioned, 3, "Sigma"));
  // Rank 2 (the Gram matrix of a 3×2 factor): computed λ_min ≈ ±1e-17, Cholesky may succeed.
  Eigen::MatrixXd rank_two(3, 3);
  rank_two << 10.827622921748517, 2.1031217927832917, 1.0633247788749147,  //
      2.1031217927832917, 0.40852646570038065, 0.20655510971849297,        //
      1.0633247788749147, 0.20655510971849297, 0.10443834208263594;
  REQUIRE_THROWS_WITH(check_covariance(rank_two, 3, "Sigma"), Contains("not positive definite"));
}

TEST_CASE("covariance: spd_roots of an ill-conditioned matrix", "[covariance]") {
  const Eigen::MatrixXd sigma =
      make_covariance(kappa_spec(100.0, KappaShape::kGeometric, true, true), 5, 17);
  const linicl::SpdRoots roots = spd_roots(sigma);
  const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(5, 5);
  CHECK(max_abs_difference(roots.sqrt * roots.sqrt, sigma) < 1e-10);
  CHECK(max_abs_difference(roots.inv_sqrt * sigma * roots.inv_sqrt, identity) < 1e-10);
  CHECK(max_abs_difference(roots.inverse * sigma, identity) < 1e-10);
  CHECK(bit_symmetric(roots.sqrt));
  CHECK(bit_symmetric(roots.inv_sqrt));
  CHECK(bit_symmetric(roots.inverse));
  // The symmetric root, not another factor such as Cholesky's.
  CHECK(ascending_eigenvalues(roots.sqrt).minCoeff() > 0.0);

  REQUIRE_THROWS_AS(spd_roots(-identity), std::invalid_argument);
}
