#include "linicl/rng.hpp"

#include <limits>

namespace linicl {

namespace {

// r and v for 128 layers: the tail start and the common area of each layer (Marsaglia &
// Tsang, 2000), for the unnormalized density f(x) = exp(−x²/2).
constexpr double kTailStart = 3.442619855899;
constexpr double kLayerArea = 9.91256303526217e-3;

double density(double x) {
  return std::exp(-0.5 * x * x);
}

}  // namespace

RandomStream::Ziggurat::Ziggurat() {
  x[0] = kLayerArea / density(kTailStart);
  x[1] = kTailStart;
  for (int i = 2; i < 128; ++i) {
    x[i] = std::sqrt(-2.0 * std::log(density(x[i - 1]) + kLayerArea / x[i - 1]));
  }
  x[128] = 0.0;
  for (int i = 0; i < 128; ++i) ratio[i] = x[i + 1] / x[i];
}

const RandomStream::Ziggurat RandomStream::kZiggurat;

double RandomStream::normal_outside_core(int layer, double u) {
  if (layer == 0) {
    // The tail |z| > r: z = r + a with a ~ Exp(r) accepted with probability exp(−a²/2).
    for (;;) {
      const double a = -std::log(uniform()) / kTailStart;
      const double b = -std::log(uniform());
      if (2.0 * b >= a * a) return u < 0 ? -(kTailStart + a) : kTailStart + a;
    }
  }
  // The wedge between f(x[layer]) and f(x[layer+1]): accept z if a uniform height there lies
  // under f(z). Both sides are divided by f(z), so only differences of squares appear.
  const double z = u * kZiggurat.x[layer];
  const double low = std::exp(-0.5 * (kZiggurat.x[layer] * kZiggurat.x[layer] - z * z));
  const double high = std::exp(-0.5 * (kZiggurat.x[layer + 1] * kZiggurat.x[layer + 1] - z * z));
  if (low + uniform() * (high - low) < 1.0) return z;
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace linicl
