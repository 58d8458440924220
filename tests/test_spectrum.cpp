// Spectra of symmetric operators (dense, Lanczos, quadrature), spectrum summaries and the
// stable tail index, against eigendecompositions, hand-computed cases and known laws.
#include <catch2/catch.hpp>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "fixtures.hpp"
#include "linicl/data/streams.hpp"
#include "linicl/numerics/rng.hpp"
#include "linicl/numerics/spectrum.hpp"

using namespace linicl;
using namespace linicl::testing;

namespace {

const double kPi = std::acos(-1.0);

// The landscape's streams under seed 0: Lanczos's start vector and the quadrature probes.
const RandomStream kStart = make_stream(0, Purpose::kLandscape, StreamKey::kLanczosStart);
const StreamFamily kProbes = make_family(0, Purpose::kLandscape, StreamKey::kTraceProbe);

SymmetricOperator matrix_operator(const Eigen::MatrixXd& a) {
  return [a](const Eigen::VectorXd& x, Eigen::VectorXd& out) { out.noalias() = a * x; };
}

Eigen::MatrixXd random_symmetric(Eigen::Index p, RandomStream& rs) {
  const Eigen::MatrixXd g = random_matrix(p, p, rs);
  return 0.5 * (g + g.transpose());
}

// U diag(λ) Uᵀ with U Haar-distributed (QR of a Gaussian matrix).
Eigen::MatrixXd rotated(const Eigen::VectorXd& lambda, RandomStream& rs) {
  const Eigen::Index p = lambda.size();
  const Eigen::MatrixXd u = random_matrix(p, p, rs).householderQr().householderQ();
  return u * lambda.asDiagonal() * u.transpose();
}

Eigen::VectorXd eigenvalues(const Eigen::MatrixXd& a) {
  return Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(a, Eigen::EigenvaluesOnly).eigenvalues();
}

// Lanczos sees each distinct eigenvalue once: the result (default k = 3) must match the
// ascending spectrum `lambda` with repeats merged, to 1e-8·max|λ|, and every residual bound
// must hold.
void check_extremes(const LanczosResult& result, const Eigen::VectorXd& lambda) {
  const double scale = lambda.cwiseAbs().maxCoeff();
  std::vector<double> distinct;
  for (Eigen::Index i = 0; i < lambda.size(); ++i) {
    if (distinct.empty() || lambda(i) - distinct.back() > 1e-10 * scale) {
      distinct.push_back(lambda(i));
    }
  }
  const Eigen::Index n = result.largest.size();
  REQUIRE(result.smallest.size() == n);
  REQUIRE(n == std::min<Eigen::Index>(3, static_cast<Eigen::Index>(distinct.size())));
  for (Eigen::Index i = 0; i < n; ++i) {
    CHECK(std::abs(result.largest(i) - distinct[distinct.size() - 1 - i]) <= 1e-8 * scale);
    CHECK(std::abs(result.smallest(i) - distinct[i]) <= 1e-8 * scale);
    // |β s| bounds the distance from each Ritz value to the spectrum.
    CHECK((lambda.array() - result.largest(i)).abs().minCoeff() <=
          result.largest_residual(i) + 1e-12 * scale);
    CHECK((lambda.array() - result.smallest(i)).abs().minCoeff() <=
          result.smallest_residual(i) + 1e-12 * scale);
  }
}

}  // namespace

TEST_CASE("spectrum: operator_matrix and full_spectrum reproduce a symmetric matrix",
          "[spectrum]") {
  RandomStream rs(31, Purpose::kTest);
  const Eigen::MatrixXd a = random_symmetric(40, rs);
  double asymmetry = -1.0;
  const Eigen::MatrixXd built = operator_matrix(matrix_operator(a), 40, &asymmetry);
  CHECK((built - a).cwiseAbs().maxCoeff() <= 1e-12);
  CHECK(asymmetry == 0.0);
  const Eigen::VectorXd lambda = full_spectrum(matrix_operator(a), 40);
  const Eigen::VectorXd expected = eigenvalues(a);
  REQUIRE(lambda.size() == 40);
  CHECK((lambda - expected).cwiseAbs().maxCoeff() <= 1e-12 * expected.cwiseAbs().maxCoeff());
  for (Eigen::Index i = 1; i < 40; ++i) CHECK(lambda(i - 1) <= lambda(i));
  REQUIRE_THROWS_AS(operator_matrix(matrix_operator(a), 0), std::invalid_argument);
}

TEST_CASE("spectrum: operator_matrix reports the asymmetry and symmetrizes", "[spectrum]") {
  // A = [1 2; 0 1]: ‖A − Aᵀ‖_F = 2√2, ‖A‖_F = √6, so the asymmetry is 2/√3.
  Eigen::MatrixXd a(2, 2);
  a << 1, 2, 0, 1;
  double asymmetry = -1.0;
  const Eigen::MatrixXd sym = operator_matrix(matrix_operator(a), 2, &asymmetry);
  CHECK(asymmetry == Approx(2.0 / std::sqrt(3.0)).epsilon(1e-14));
  CHECK(sym == Eigen::MatrixXd::Ones(2, 2));
  const Eigen::VectorXd lambda = full_spectrum(matrix_operator(a), 2, &asymmetry);
  CHECK(std::abs(lambda(0)) <= 1e-15);
  CHECK(lambda(1) == Approx(2.0).epsilon(1e-15));

  // The zero operator: asymmetry 0 by convention, not 0/0.
  operator_matrix(matrix_operator(Eigen::MatrixXd::Zero(3, 3)), 3, &asymmetry);
  CHECK(asymmetry == 0.0);
}

TEST_CASE("spectrum: Lanczos finds the extremes of random indefinite matrices", "[spectrum]") {
  RandomStream rs(41, Purpose::kTest);
  const Eigen::Index p = 200;
  SECTION("a Wigner matrix (edges of the semicircle, poorly separated)") {
    const Eigen::MatrixXd a = random_symmetric(p, rs);
    const LanczosResult result = lanczos_extremes(matrix_operator(a), p, kStart);
    CHECK(result.converged);
    CHECK(result.iterations <= p);
    check_extremes(result, eigenvalues(a));
    // Capped at m = 10, far from converged: the flag says so.
    LanczosOptions options;
    options.max_iterations = 10;
    const LanczosResult capped = lanczos_extremes(matrix_operator(a), p, kStart, options);
    CHECK(capped.iterations == 10);
    CHECK_FALSE(capped.converged);
    CHECK(capped.largest_residual.maxCoeff() > 1e-3);
  }
  SECTION("a bulk on [-1, 1] with outliers ±3, ±4, ±5 converges well before m = p") {
    Eigen::VectorXd lambda(p);
    for (Eigen::Index i = 0; i < p; ++i) lambda(i) = 2.0 * rs.uniform() - 1.0;
    lambda.head(6) << 5, 4, 3, -3, -4, -5;
    const Eigen::MatrixXd a = rotated(lambda, rs);
    const LanczosResult result = lanczos_extremes(matrix_operator(a), p, kStart);
    CHECK(result.converged);
    CHECK(result.iterations < p / 2);
    check_extremes(result, eigenvalues(a));
    CHECK(result.largest(0) == Approx(5.0).epsilon(1e-12));
    CHECK(result.smallest(2) == Approx(-3.0).epsilon(1e-12));
  }
}

TEST_CASE("spectrum: Lanczos on a diagonal spectrum with clusters and repeated eigenvalues",
          "[spectrum]") {
  // Top: 10 twice, then a cluster 9.9999, 9.999; bottom: a cluster −3, −2.9999, −2.999;
  // inside: 1 thirty times, 2 twenty times and 43 distinct values. 51 distinct eigenvalues:
  // the Krylov space is invariant at m = 51 at the latest.
  RandomStream rs(43, Purpose::kTest);
  const Eigen::Index p = 100;
  Eigen::VectorXd lambda(p);
  lambda.head(7) << 10, 10, 9.9999, 9.999, -3, -2.9999, -2.999;
  lambda.segment(7, 30).setConstant(1.0);
  lambda.segment(37, 20).setConstant(2.0);
  for (Eigen::Index i = 57; i < p; ++i) lambda(i) = 0.05 + 2.9 * rs.uniform();
  const Eigen::MatrixXd a = lambda.asDiagonal();
  const LanczosResult result = lanczos_extremes(matrix_operator(a), p, kStart);
  CHECK(result.converged);
  CHECK(result.iterations <= 51);
  Eigen::VectorXd sorted = lambda;
  std::sort(sorted.data(), sorted.data() + p);
  check_extremes(result, sorted);
  // The repeated top eigenvalue is returned once (documented).
  CHECK(result.largest(0) == Approx(10.0).epsilon(1e-12));
  CHECK(result.largest(1) == Approx(9.9999).epsilon(1e-12));
}

TEST_CASE("spectrum: Lanczos stops on the invariant subspace of a low-rank PSD matrix",
          "[spectrum]") {
  // A = B Bᵀ of rank 6 on R^150: K_m(A, v) is invariant at m = 7 (range of A plus the null
  // component of v), where the Ritz values are the 6 nonzero eigenvalues and 0.
  RandomStream rs(47, Purpose::kTest);
  const Eigen::Index p = 150;
  const Eigen::MatrixXd b = random_matrix(p, 6, rs);
  const Eigen::MatrixXd a = b * b.transpose();
  const LanczosResult result = lanczos_extremes(matrix_operator(a), p, kStart);
  CHECK(result.converged);
  CHECK(result.iterations == 7);
  Eigen::VectorXd lambda = eigenvalues(a);
  lambda.head(p - 6).setZero();  // round-off of the 144-fold eigenvalue 0
  check_extremes(result, lambda);
  CHECK(std::abs(result.smallest(0)) <= 1e-10 * lambda(p - 1));
}

TEST_CASE("spectrum: Lanczos returns what exists for small p and early breakdown", "[spectrum]") {
  RandomStream rs(53, Purpose::kTest);
  for (Eigen::Index p : {1, 3, 5}) {
    const Eigen::MatrixXd a = random_symmetric(p, rs);
    const LanczosResult result = lanczos_extremes(matrix_operator(a), p, kStart);
    CHECK(result.iterations == p);
    CHECK(result.converged);
    check_extremes(result, eigenvalues(a));
  }
  // Rank one (u uᵀ on R^10): invariant at m = 2, so only 2 values exist at each end.
  const Eigen::VectorXd u = random_matrix(10, 1, rs);
  const LanczosResult result = lanczos_extremes(matrix_operator(u * u.transpose()), 10, kStart);
  CHECK(result.iterations == 2);
  REQUIRE(result.largest.size() == 2);
  CHECK(result.largest(0) == Approx(u.squaredNorm()).epsilon(1e-12));
  CHECK(std::abs(result.largest(1)) <= 1e-12 * u.squaredNorm());
  // The zero operator breaks down at once.
  const LanczosResult zero =
      lanczos_extremes(matrix_operator(Eigen::MatrixXd::Zero(4, 4)), 4, kStart);
  CHECK(zero.iterations == 1);
  CHECK(zero.converged);
  CHECK(zero.largest(0) == 0.0);
}

TEST_CASE("spectrum: option checks name the field and its range", "[spectrum]") {
  using Catch::Contains;
  REQUIRE_NOTHROW(LanczosOptions{}.check());
  REQUIRE_NOTHROW(QuadratureOptions{}.check());
  LanczosOptions lanczos;
  lanczos.wanted = 0;
  REQUIRE_THROWS_WITH(lanczos.check(), Contains("wanted must be >= 1 (got 0)"));
  lanczos = {};
  lanczos.max_iterations = 5;
  REQUIRE_THROWS_WITH(lanczos.check(), Contains("max_iterations must be >= 2 * wanted"));
  for (double bad : {0.0, 1.0, -1e-3, std::numeric_limits<double>::quiet_NaN()}) {
    lanczos = {};
    lanczos.tolerance = bad;
    REQUIRE_THROWS_AS(lanczos.check(), std::invalid_argument);
    REQUIRE_THROWS_WITH(lanczos.check(), Contains("tolerance must be in (0, 1)"));
  }
  QuadratureOptions quadrature;
  quadrature.probes = 0;
  REQUIRE_THROWS_WITH(quadrature.check(), Contains("probes must be >= 1"));
  quadrature = {};
  quadrature.steps = -2;
  REQUIRE_THROWS_WITH(quadrature.check(), Contains("steps must be >= 1 (got -2)"));
  // The algorithms check their options and arguments.
  const SymmetricOperator identity = [](const Eigen::VectorXd& x, Eigen::VectorXd& out) {
    out = x;
  };
  REQUIRE_THROWS_WITH(lanczos_extremes(identity, 4, kStart, lanczos), Contains("tolerance"));
  REQUIRE_THROWS_WITH(spectral_quantile(identity, 4, 0.5, kProbes, quadrature), Contains("steps"));
  REQUIRE_THROWS_WITH(spectral_quantile(identity, 4, 1.0, kProbes), Contains("quantile q"));
  const SymmetricOperator broken = [](const Eigen::VectorXd& x, Eigen::VectorXd& out) {
    out = x / 0.0;
  };
  REQUIRE_THROWS_WITH(lanczos_extremes(broken, 4, kStart),
                      Contains("operator's output must be finite"));
}

TEST_CASE("spectrum: spectral_quantile estimates quantiles of the eigenvalue distribution",
          "[spectrum]") {
  const Eigen::Index p = 400;
  SECTION("diagonal, eigenvalues evenly spread over [1, 2]") {
    // Rademacher probes give every eigenvector of a diagonal matrix weight exactly 1/p, so
    // the only error is the quadrature's. The true CDF at a node lies within that node's
    // weight, ≈ π/(2m) ≈ 0.026 at the centre for m = 60: a step-function estimate can be off
    // by a node spacing (1.7%). The midpoint CDF of a Gauss rule is O(m⁻²) for a smooth
    // density (≈ 1e-4 here), so 0.1% catches a lost interpolation.
    Eigen::VectorXd lambda(p);
    for (Eigen::Index i = 0; i < p; ++i) lambda(i) = 1.0 + (i + 0.5) / p;
    const Eigen::MatrixXd a = lambda.asDiagonal();
    for (double q : {0.1, 0.25, 0.5, 0.75, 0.9}) {
      CHECK(spectral_quantile(matrix_operator(a), p, q, kProbes) == Approx(1.0 + q).epsilon(1e-3));
    }
  }
  SECTION("rotated, skewed spectrum λ = 1 + 2t² with known median") {
    // A probe's CDF weight below the median, Σ_{λi < m} (u_iᵀv)², has standard deviation
    // ≈ 1/√p = 0.05; 32 probes bring it to 0.009. The CDF rises at 1/(4t) = 0.5 per unit
    // at t = 1/2, so the median is off by ≈ 0.018 (1.2% of 1.5) per standard deviation:
    // a 3σ tolerance is 4%.
    RandomStream rs(59, Purpose::kTest);
    Eigen::VectorXd lambda(p);
    for (Eigen::Index i = 0; i < p; ++i) {
      const double t = (i + 0.5) / p;
      lambda(i) = 1.0 + 2.0 * t * t;
    }
    const double median = 0.5 * (lambda(p / 2 - 1) + lambda(p / 2));
    const Eigen::MatrixXd a = rotated(lambda, rs);
    QuadratureOptions options;
    options.probes = 32;
    CHECK(spectral_quantile(matrix_operator(a), p, 0.5, kProbes, options) ==
          Approx(median).epsilon(0.04));
  }
  SECTION("a matrix with few distinct eigenvalues: exact nodes after breakdown") {
    // Eigenvalues 1 (a quarter) and 3 (three quarters): each probe's Krylov space is
    // invariant at m = 2 with nodes 1 and 3 of weights 1/4 and 3/4. The CDF estimate is 1/8 at
    // 1, 5/8 at 3 and linear in between: the 0.4-quantile is 1 + 2 (0.4 − 1/8)/(1/2) = 2.1;
    // 0.1 and 0.9 lie outside [1/8, 5/8] and give the end nodes.
    Eigen::VectorXd lambda = Eigen::VectorXd::Constant(p, 3.0);
    lambda.head(p / 4).setConstant(1.0);
    const Eigen::MatrixXd a = lambda.asDiagonal();
    CHECK(spectral_quantile(matrix_operator(a), p, 0.4, kProbes) == Approx(2.1).epsilon(1e-12));
    CHECK(spectral_quantile(matrix_operator(a), p, 0.1, kProbes) == Approx(1.0).epsilon(1e-12));
    CHECK(spectral_quantile(matrix_operator(a), p, 0.9, kProbes) == Approx(3.0).epsilon(1e-12));
  }
}

TEST_CASE("spectrum: summarize_spectrum on hand-computed cases", "[spectrum]") {
  const double inf = std::numeric_limits<double>::infinity();
  SECTION("odd count with a negative and a zero") {
    Eigen::VectorXd lambda(5);
    lambda << 3, -1, 0, 2, 5;  // sorted −1 0 2 3 5
    const SpectrumSummary s = summarize_spectrum(lambda);
    CHECK(s.largest == 5.0);
    CHECK(s.smallest == -1.0);
    CHECK(s.median == 2.0);
    CHECK(s.robust_condition == 2.5);
    CHECK(s.negative == 1);
    CHECK(s.zero == 1);
    CHECK(s.positive == 3);
  }
  SECTION("even count: the median is the mean of the two middle values") {
    Eigen::VectorXd lambda(4);
    lambda << 4, 1, 3, 2;
    const SpectrumSummary s = summarize_spectrum(lambda);
    CHECK(s.median == 2.5);
    CHECK(s.robust_condition == Approx(1.6).epsilon(1e-15));
    CHECK(s.positive == 4);
    CHECK(s.negative + s.zero == 0);
  }
  SECTION("median <= 0 gives an infinite robust condition") {
    Eigen::VectorXd lambda(4);
    lambda << -2, 1, -1, 0;  // median −0.5
    CHECK(summarize_spectrum(lambda).median == -0.5);
    CHECK(summarize_spectrum(lambda).robust_condition == inf);
    lambda << -1, 0, 0, 1;  // median 0
    CHECK(summarize_spectrum(lambda).robust_condition == inf);
    CHECK(summarize_spectrum(Eigen::VectorXd::Zero(3)).zero == 3);
  }
  SECTION("zeros are relative to max|λ|") {
    Eigen::VectorXd lambda(3);
    lambda << 1e-12, 1.0, -1e-10;
    const SpectrumSummary s = summarize_spectrum(lambda);
    CHECK(s.zero == 2);
    CHECK(s.positive == 1);
    CHECK(s.negative == 0);
    const SpectrumSummary strict = summarize_spectrum(lambda, 0.0);
    CHECK(strict.zero == 0);
    CHECK(strict.negative == 1);
    CHECK(strict.positive == 2);
  }
  SECTION("bad input throws") {
    REQUIRE_THROWS_AS(summarize_spectrum(Eigen::VectorXd()), std::invalid_argument);
    Eigen::VectorXd lambda(2);
    lambda << 1.0, std::numeric_limits<double>::quiet_NaN();
    REQUIRE_THROWS_AS(summarize_spectrum(lambda), std::invalid_argument);
    REQUIRE_THROWS_WITH(summarize_spectrum(Eigen::VectorXd::Ones(2), -1.0),
                        Catch::Contains("zero_tolerance"));
  }
}

TEST_CASE("spectrum: stable_tail_index recovers α for Gaussian, Cauchy and α = 1.5 samples",
          "[spectrum]") {
  // K = 10⁵: K1 = 316 blocks. The mean of log|Y_i| over the blocks has standard deviation
  // ≈ 1.1/√316 (Gaussian), so 1/α̂ is off by ≈ 0.011 and α̂ = 2 by ≈ 0.04; Cauchy and α = 1.5
  // are tighter in 1/α̂ but α̂ = 1.5 spreads by α² = 2.25 times as much.
  const std::size_t n = 100000;
  RandomStream rs(61, Purpose::kTest);
  std::vector<double> gaussian(n), cauchy(n), stable(n);
  for (double& x : gaussian) x = rs.normal();
  for (double& x : cauchy) x = std::tan(kPi * (rs.uniform() - 0.5));
  const double alpha = 1.5;
  for (double& x : stable) {
    // Chambers–Mallows–Stuck, β = 0: V ~ U(−π/2, π/2), W ~ Exp(1).
    const double v = kPi * (rs.uniform() - 0.5), w = -std::log(rs.uniform());
    x = std::sin(alpha * v) / std::pow(std::cos(v), 1.0 / alpha) *
        std::pow(std::cos((1.0 - alpha) * v) / w, (1.0 - alpha) / alpha);
  }
  CHECK(std::abs(1.0 / inverse_tail_index(gaussian) - 2.0) < 0.1);  // before clamping
  CHECK(stable_tail_index(gaussian) >= 1.9);
  CHECK(stable_tail_index(gaussian) <= 2.0);
  CHECK(std::abs(stable_tail_index(cauchy) - 1.0) < 0.1);
  CHECK(std::abs(stable_tail_index(stable) - alpha) < 0.15);
}

TEST_CASE("spectrum: stable_tail_index on exact cases and bad input", "[spectrum]") {
  // All ones, K = 105: K1 = 10 blocks of 10 (5 dropped), Y = 10: 1/α̂ = log 10 / log 10 = 1.
  std::vector<double> ones(105, 1.0);
  ones[100] = ones[104] = 1e6;  // in the dropped remainder: no effect
  CHECK(inverse_tail_index(ones) == Approx(1.0).epsilon(1e-14));
  CHECK(stable_tail_index(ones) == Approx(1.0).epsilon(1e-14));
  // ±1 alternating, K = 17²: every block sum is ±1, so 1/α̂ = 0 and α̂ is clamped to 2.
  std::vector<double> alternating(289);
  for (std::size_t k = 0; k < alternating.size(); ++k) alternating[k] = k % 2 ? -1.0 : 1.0;
  CHECK(inverse_tail_index(alternating) == 0.0);
  CHECK(stable_tail_index(alternating) == 2.0);

  using Catch::Contains;
  REQUIRE_THROWS_WITH(stable_tail_index(std::vector<double>(15, 1.0)), Contains("at least 16"));
  for (double bad :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(), 0.0}) {
    std::vector<double> samples(22, 1.0);  // 4 blocks of 5, 2 dropped
    samples[21] = bad;                     // in the dropped remainder, still rejected
    REQUIRE_THROWS_AS(stable_tail_index(samples), std::invalid_argument);
  }
  std::vector<double> cancel(16, 1.0);
  cancel[1] = cancel[3] = -1.0;  // the first block sums to 0
  REQUIRE_THROWS_WITH(stable_tail_index(cancel), Contains("block sums"));
  REQUIRE_THROWS_WITH(stable_tail_index(ones, 1), Contains("block size"));
  REQUIRE_THROWS_WITH(stable_tail_index(ones, 106), Contains("block size"));
}

TEST_CASE("spectrum: with a given block size, each block's scale cancels", "[spectrum]") {
  // All ones in blocks of 4 (K = 105: 26 blocks, 1 dropped): 1/α̂ = log 4 / log 4 = 1; the
  // dropped sample does not count. With the default blocks (10 of 10) it would.
  std::vector<double> ones(105, 1.0);
  ones[104] = 1e6;
  CHECK(inverse_tail_index(ones, 4) == Approx(1.0).epsilon(1e-14));
  ones[104] = 1.0;
  ones[99] = 1e6;  // inside the last block of 4 (samples 96–99)
  CHECK(inverse_tail_index(ones, 4) != Approx(1.0).epsilon(1e-6));
  // Gaussian samples, blocks of 16, every block on its own scale from 1e-3 to 1e3: the same
  // estimate as on one scale, to rounding; pooled with the default blocks the scales mix.
  RandomStream rs(29, Purpose::kTest);
  std::vector<double> plain(16 * 400), scaled(plain.size());
  for (std::size_t k = 0; k < plain.size(); ++k) {
    plain[k] = rs.normal();
    scaled[k] = plain[k] * std::pow(10.0, 6.0 * ((k / 16) % 7) / 6.0 - 3.0);
  }
  const double one_scale = inverse_tail_index(plain, 16);
  CHECK(inverse_tail_index(scaled, 16) == Approx(one_scale).epsilon(1e-12));
  CHECK(std::abs(one_scale - 0.5) < 0.05);
  CHECK(inverse_tail_index(scaled) > 0.7);  // mixed scales: a spurious heavy tail
}
