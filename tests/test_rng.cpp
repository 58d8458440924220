// The counter-based streams (§2): determinism, and the laws of uniform() and normal().
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "linicl/numerics/rng.hpp"

using namespace linicl;

namespace {

double normal_cdf(double z) {
  return 0.5 * std::erfc(-z / std::sqrt(2.0));
}

// r, where the ziggurat's tail begins: |z| > r comes from the tail branch. (A function: the
// table is built by a dynamic initializer in another translation unit.)
double tail_start() {
  return RandomStream::layer_edge(1);
}

}  // namespace

TEST_CASE("streams are pure functions of their key and counter", "[rng]") {
  RandomStream a(7, Purpose::kPrompt, 3, 4), b(7, Purpose::kPrompt, 3, 4);
  RandomStream other_index(7, Purpose::kPrompt, 3, 5), other_purpose(7, Purpose::kInit, 3, 4);
  for (int i = 0; i < 100; ++i) {
    const double x = a.normal();
    CHECK(x == b.normal());
    CHECK(x != other_index.normal());
    CHECK(x != other_purpose.normal());
  }
}

TEST_CASE("normal() has the N(0, 1) law, its tail included", "[rng]") {
  constexpr int kSamples = 4000000;
  const std::vector<double> points = {-3.0, -2.0, -1.0, -0.3, 0.0, 0.5, 1.5, 2.5};
  std::vector<int> below(points.size(), 0);
  double sum = 0, sum2 = 0, sum4 = 0;
  int tail = 0, far_tail = 0;
  RandomStream rs(1, Purpose::kTest);
  for (int i = 0; i < kSamples; ++i) {
    const double z = rs.normal();
    sum += z;
    sum2 += z * z;
    sum4 += z * z * z * z;
    tail += std::abs(z) > tail_start();  // drawn by the ziggurat's tail branch
    far_tail += std::abs(z) > 4.5;
    for (std::size_t j = 0; j < points.size(); ++j) below[j] += z < points[j];
  }
  const double n = kSamples;
  CHECK(std::abs(sum / n) < 4 * std::sqrt(1 / n));
  CHECK(std::abs(sum2 / n - 1) < 4 * std::sqrt(2 / n));
  CHECK(std::abs(sum4 / n - 3) < 4 * std::sqrt(96 / n));
  // Each empirical CDF value is binomial: within 4 standard errors of Φ.
  for (std::size_t j = 0; j < points.size(); ++j) {
    const double p = normal_cdf(points[j]);
    INFO("z = " << points[j]);
    CHECK(std::abs(below[j] / n - p) < 4 * std::sqrt(p * (1 - p) / n));
  }
  const double p_tail = 2 * normal_cdf(-tail_start()), p_far = 2 * normal_cdf(-4.5);
  CHECK(std::abs(tail - n * p_tail) < 4 * std::sqrt(n * p_tail));
  CHECK(std::abs(far_tail - n * p_far) < 4 * std::sqrt(n * p_far) + 1);
}

TEST_CASE("uniform() is positive, at most 1, and has mean 1/2", "[rng]") {
  // The extremes of 53 bits: 2⁻⁵⁴ for none set, and 1 for all (m + ½ rounds to even).
  CHECK(RandomStream::uniform_of(0) == 0x1.0p-54);
  CHECK(RandomStream::uniform_of(~std::uint64_t{0}) == 1.0);
  RandomStream rs(2, Purpose::kTest);
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    const double u = rs.uniform();
    REQUIRE(u > 0.0);
    REQUIRE(u <= 1.0);
    sum += u;
  }
  CHECK(std::abs(sum / 1e5 - 0.5) < 4 * std::sqrt(1.0 / 12 / 1e5));
}

TEST_CASE("fill_normals() gives the numbers of normal(), rejections included", "[rng]") {
  constexpr int kCount =
      400000;  // about 1,700 draws fall outside the ziggurat's core, 20 in its tail
  RandomStream one_by_one(11, Purpose::kTest), filled(11, Purpose::kTest);
  std::vector<double> expected(kCount), got(kCount);
  for (double& z : expected) z = one_by_one.normal();
  filled.fill_normals(got.data(), 7);  // two calls: the stream carries on across them
  filled.fill_normals(got.data() + 7, kCount - 7);
  int tail = 0;
  for (int i = 0; i < kCount; ++i) {
    REQUIRE(got[i] == expected[i]);
    tail += std::abs(expected[i]) > tail_start();
  }
  CHECK(tail > 0);
  CHECK(filled.normal() == one_by_one.normal());
}

TEST_CASE("fill_normals() agrees with normal() for every short count and offset", "[rng]") {
  // Counts below, at and past a SIMD group, starting at every phase of the stream. Outside the
  // ziggurat's core: stream 212's second normal and stream 253's 47th (wedges), and stream
  // 7862's eighth (the tail).
  for (const std::uint64_t seed : {212, 253, 7862}) {
    for (int skip = 0; skip < 5; ++skip) {
      for (std::size_t count = 0; count <= 9; ++count) {
        RandomStream one_by_one(seed, Purpose::kTest), filled(seed, Purpose::kTest);
        for (int s = 0; s < skip; ++s) REQUIRE(filled.normal() == one_by_one.normal());
        std::vector<double> got(count + 100);
        filled.fill_normals(got.data(), count);
        filled.fill_normals(got.data() + count, 100);
        for (std::size_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == one_by_one.normal());
      }
    }
  }
}

TEST_CASE("fill_normals() agrees with normal() over random sequences of calls", "[rng]") {
  // Counts up to 140 across block boundaries and block ends: wedges whose height is the word
  // after a block, tail draws inside a block, a call ending right after a wedge. Nothing past
  // the requested count is written, and the stream then carries on as normal()'s.
  RandomStream pick(13, Purpose::kTest);
  long tails = 0;
  for (std::uint64_t stream = 0; stream < 8000; ++stream) {
    RandomStream one_by_one(stream, Purpose::kTest, 7), filled(stream, Purpose::kTest, 7);
    const int calls = 1 + static_cast<int>(pick.next_u64() % 6);
    for (int call = 0; call < calls; ++call) {
      const std::size_t count = pick.next_u64() % 141;
      std::vector<double> got(count + 8, -7.0);  // a group's store spans eight
      filled.fill_normals(got.data(), count);
      for (std::size_t i = 0; i < count; ++i) {
        const double z = one_by_one.normal();
        REQUIRE(got[i] == z);
        tails += std::abs(z) > tail_start();
      }
      for (std::size_t i = count; i < got.size(); ++i) REQUIRE(got[i] == -7.0);
    }
    REQUIRE(filled.normal() == one_by_one.normal());
  }
  CHECK(tails > 50);
}

TEST_CASE("under_wedge() decides as the exp-based rule, at its boundary too", "[rng]") {
  // In every layer's wedge (|z| between x[layer+1] and x[layer]): random heights, and the heights
  // where the rule's value low + height·(high − low) crosses 1, walked one ulp at a time so that
  // the exact rule flips inside the walk (the polynomial guess must then fall back to it).
  RandomStream rs(12, Purpose::kTest);
  int flips = 0;
  for (int layer = 1; layer < RandomStream::kLayers; ++layer) {
    const double outer = RandomStream::layer_edge(layer),
                 inner = RandomStream::layer_edge(layer + 1);
    for (int k = 0; k < 16; ++k) {
      const double z = (k % 2 ? -1 : 1) * (inner + (outer - inner) * (k + 0.5) / 16);
      INFO("layer " << layer << " z " << z);
      for (int r = 0; r < 64; ++r) {
        const double height = rs.uniform();
        REQUIRE(RandomStream::under_wedge(layer, z, height) ==
                RandomStream::under_wedge_exact(layer, z, height));
      }
      const double low = std::exp(-0.5 * (outer * outer - z * z));
      const double high = std::exp(-0.5 * (inner * inner - z * z));
      const double crossing = (1.0 - low) / (high - low);
      if (!(crossing > 0.0 && crossing < 1.0)) continue;
      double height = crossing;
      for (int step = 0; step < 64; ++step) height = std::nextafter(height, 0.0);
      bool previous = RandomStream::under_wedge_exact(layer, z, height);
      for (int step = 0; step < 128; ++step, height = std::nextafter(height, 1.0)) {
        const bool exact = RandomStream::under_wedge_exact(layer, z, height);
        REQUIRE(RandomStream::under_wedge(layer, z, height) == exact);
        flips += exact != previous;
        previous = exact;
      }
    }
  }
  CHECK(flips > 1000);  // the walks do cross the boundary
}

TEST_CASE("the ziggurat's layers have equal areas and close at the top", "[rng]") {
  // v is the base layer's area: the rectangle r·f(r) plus the tail ∫_r^∞ f = √(π/2)·erfc(r/√2).
  // Every layer above it has area v by the recursion; the top one, x·(f(0) − f(x)) with
  // x = x[kLayers − 1], only if r and v were solved for right.
  const auto f = [](double x) { return std::exp(-0.5 * x * x); };
  const double r = RandomStream::layer_edge(1);
  const double v = RandomStream::layer_edge(0) * f(r);
  CHECK(r * f(r) + std::sqrt(std::acos(-1.0) / 2) * std::erfc(r / std::sqrt(2.0)) ==
        Approx(v).epsilon(1e-14));
  for (int i = 1; i + 1 < RandomStream::kLayers; ++i) {
    const double outer = RandomStream::layer_edge(i), inner = RandomStream::layer_edge(i + 1);
    INFO("layer " << i);
    REQUIRE(inner < outer);
    REQUIRE(outer * (f(inner) - f(outer)) == Approx(v).epsilon(1e-9));
  }
  const double top = RandomStream::layer_edge(RandomStream::kLayers - 1);
  CHECK(top * (1.0 - f(top)) == Approx(v).epsilon(1e-9));
  CHECK(RandomStream::layer_edge(RandomStream::kLayers) == 0.0);
}
