// Counter-based random streams (DESIGN §2).
//
// Every prompt draws from its own stream keyed by (seed, step, index), so a batch is the same
// whatever the number of threads or the way the batch is split. The k-th number of a stream
// is a pure function of (key, k): no state is shared between streams.
#pragma once

#include <cmath>
#include <cstdint>

namespace linicl {

// SplitMix64's finalizer: a bijection of 64-bit words with full avalanche.
inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
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
                   (b * 0x9e3779b97f4a7c15ULL))) {}

  std::uint64_t next_u64() { return mix64(key_ + (++counter_) * 0x9e3779b97f4a7c15ULL); }

  // Uniform on the open interval (0, 1): 53 random bits, centred in their cell.
  double uniform() { return (static_cast<double>(next_u64() >> 11) + 0.5) * 0x1.0p-53; }

  // Standard normal by Box–Muller; the second value of each pair is kept for the next call.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double radius = std::sqrt(-2.0 * std::log(uniform()));
    const double angle = 6.283185307179586 * uniform();
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }

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
  std::uint64_t key_;
  std::uint64_t counter_ = 0;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace linicl
