// Counter-based random streams (§2).
//
// Every prompt draws from its own stream keyed by (seed, step, index), so a batch is the same
// whatever the number of threads or the way the batch is split. The k-th number of a stream
// is a pure function of (key, k): no state is shared between streams.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace linicl {

// The golden-ratio increment 2⁶⁴/φ of SplitMix64: the k-th word of a stream hashes key + k·φ.
constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

// SplitMix64's finalizer: a bijection of 64-bit words with full avalanche. Its two
// multipliers are named because src/numerics/rng.cpp repeats the finalizer eight lanes at a time
// (AVX-512) or four (AVX2).
constexpr std::uint64_t kMixMultiplier1 = 0xbf58476d1ce4e5b9ULL;
constexpr std::uint64_t kMixMultiplier2 = 0x94d049bb133111ebULL;
inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * kMixMultiplier1;
  z = (z ^ (z >> 27)) * kMixMultiplier2;
  return z ^ (z >> 31);
}

// Every stream names its purpose, so streams of different purposes never coincide even
// under the same user seed (a prompt's (step, index) can take any value).
enum class Purpose : std::uint64_t {
  kPrompt = 1,
  kRotation = 2,
  kInit = 3,
  kLandscape = 4,
  kTest = 5,
};

class RandomStream {
 public:
  RandomStream(std::uint64_t seed, Purpose purpose, std::uint64_t a = 0, std::uint64_t b = 0)
      : key_(mix64(mix64(mix64(mix64(seed) ^ static_cast<std::uint64_t>(purpose)) + a) ^
                   (b * kGolden))) {}

  std::uint64_t next_u64() { return mix64(key_ + (++counter_) * kGolden); }

  // Uniform on (0, 1]: 53 random bits m as (m + ½)·2⁻⁵³, centred in their cell below 2⁵²; above,
  // m + ½ rounds to even, and m = 2⁵³ − 1 gives 1 (probability 2⁻⁵³).
  double uniform() { return uniform_of(next_u64()); }
  static double uniform_of(std::uint64_t bits) {
    return (static_cast<double>(bits >> 11) + 0.5) * 0x1.0p-53;
  }

  // Standard normal by the ziggurat method (Marsaglia & Tsang, 2000): one 64-bit draw picks
  // a layer (10 bits) and a signed abscissa (53 bits); inside the layer's core rectangle,
  // 99.57% of draws, that is the sample. Wedges and the tail beyond r = 4.0388 are
  // resolved exactly by rejection, so the law is N(0, 1) without approximation.
  double normal() {
    for (;;) {
      const Draw draw = split(next_u64());
      const Core& core = kZiggurat.core[draw.layer];
      if (std::abs(draw.u) < core.ratio) return draw.u * core.width;
      if (const double z = normal_outside_core(draw.layer, draw.u); !std::isnan(z)) return z;
    }
  }

  // `count` normals into out: the same numbers, in the same order, as `count` calls of
  // normal(). The core test runs in a tight loop (eight draws at a time with AVX-512, four with
  // AVX2 and FMA); a draw outside the core is resolved exactly as normal() would: a wedge in place,
  // with the next word as its height, a tail draw by normal() itself.
  void fill_normals(double* out, std::size_t count);

  // Whether z = u·x[layer] in layer ≥ 1, outside the core, lies under the curve, given the
  // uniform draw `height`: under_wedge_exact() (one function for normal() and fill_normals(), so
  // both decide alike), settled without exp for all but about 1 in 400,000 of them.
  static bool under_wedge(int layer, double z, double height);
  // The wedge rule itself: a uniform height between f(x[layer]) and f(x[layer+1]) lies under
  // f(z), both sides divided by f(z) so that only differences of squares appear.
  static bool under_wedge_exact(int layer, double z, double height);
  // The ziggurat's 1,024 layers: a draw's low 10 bits pick one, its top 53 give u, the bits
  // between are unused. With 128 layers 2.8% of draws fell outside their layer's core and
  // resolving them took more than half of fill_normals(); with 1,024 it is 0.43%, and a normal
  // costs 0.94–0.99 ns instead of 1.48–1.50 in d = 5, n = 20 prompts (Zen 5, AVX-512). The hot
  // table (ratio and width of each layer) is 16 KiB.
  static constexpr int kLayerBits = 10;
  static constexpr int kLayers = 1 << kLayerBits;
  static constexpr std::uint64_t kLayerMask = kLayers - 1;
  // x[i] of the ziggurat (i = 0 … kLayers, see Ziggurat below); public for the tests.
  static double layer_edge(int i) { return kZiggurat.x[i]; }

  // Gamma(shape k, scale θ) by Marsaglia–Tsang; for k < 1 use Gamma(k+1)·U^{1/k}.
  double gamma(double shape, double scale) {
    if (shape < 1.0) {
      const double boost = std::pow(uniform(), 1.0 / shape);
      return gamma(shape + 1.0, scale) * boost;
    }
    const double dd = shape - 1.0 / 3.0;
    const double c = 1.0 / std::sqrt(9.0 * dd);
    for (;;) {
      double x, v;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0.0);
      v = v * v * v;
      const double u = uniform();
      if (u < 1.0 - 0.0331 * x * x * x * x) return dd * v * scale;
      if (std::log(u) < 0.5 * x * x + dd * (1.0 - v + std::log(v))) return dd * v * scale;
    }
  }

 private:
  // The layers of equal area v under exp(−x²/2): x[0] = v/f(r) is the width of the base layer
  // (core plus tail), x[1] = r, x[i+1] = f⁻¹(f(x[i]) + v/x[i]), x[kLayers] = 0; a draw with
  // |u| < core[i].ratio = x[i+1]/x[i] lies under the curve for sure, at u·core[i].width = u·x[i]
  // (side by side, so that fill_normals() reads both with one load). wedge_margin[i] bounds how
  // far under_wedge()'s polynomial guess can be from its exact rule in layer i.
  struct alignas(16) Core {
    double ratio, width;
  };
  struct Ziggurat {
    double x[kLayers + 1];
    Core core[kLayers];
    double wedge_margin[kLayers];
    Ziggurat();
  };
  static const Ziggurat kZiggurat;

  // One 64-bit word as the ziggurat reads it: a layer (the low kLayerBits) and a signed abscissa
  // u ∈ (−1, 1] (the top 53 bits, as uniform_of() reads them).
  struct Draw {
    int layer;
    double u;
  };
  static Draw split(std::uint64_t bits) {
    return {static_cast<int>(bits & kLayerMask), 2.0 * uniform_of(bits) - 1.0};
  }

  // The rare draws outside the core: a tail sample for layer 0, otherwise u·x[layer] if it
  // falls under the curve in the layer's wedge, else NaN (draw again).
  double normal_outside_core(int layer, double u);
  std::uint64_t key_;
  std::uint64_t counter_ = 0;
};

// The streams RandomStream(seed, purpose, a, b) for b = 0, 1, …: how a caller hands an
// algorithm several independent streams of its choosing (data/streams.hpp names the keys).
struct StreamFamily {
  std::uint64_t seed = 0;
  Purpose purpose = Purpose::kTest;
  std::uint64_t a = 0;
  RandomStream stream(std::uint64_t b) const { return RandomStream(seed, purpose, a, b); }
};

}  // namespace linicl
