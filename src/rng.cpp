#include "linicl/rng.hpp"

#include <limits>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace linicl {

namespace {

// r and v for 128 layers: the tail start and the common area of each layer (Marsaglia &
// Tsang, 2000), for the unnormalized density f(x) = exp(−x²/2).
constexpr double kTailStart = 3.442619855899;
constexpr double kLayerArea = 9.91256303526217e-3;

double density(double x) {
  return std::exp(-0.5 * x * x);
}

#if defined(__AVX2__)
// Four lanes of the scalar arithmetic of next_u64() and split(), operation for operation and
// in the same order, so every result is the same bit for bit. (The compiler may fuse 2·t − 1
// here and there; 2·t is exact, so the fused and unfused results agree.)

// a·b mod 2⁶⁴ per lane from 32×32→64 products: a_lo·b_lo + ((a_hi·b_lo + a_lo·b_hi) << 32).
__m256i multiply_low(__m256i a, std::uint64_t b) {
  const __m256i b_low = _mm256_set1_epi64x(static_cast<long long>(b & 0xffffffffULL));
  const __m256i b_high = _mm256_set1_epi64x(static_cast<long long>(b >> 32));
  const __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(a, 32), b_low),
                                         _mm256_mul_epu32(a, b_high));
  return _mm256_add_epi64(_mm256_mul_epu32(a, b_low), _mm256_slli_epi64(cross, 32));
}

__m256i mix64(__m256i z) {
  z = multiply_low(_mm256_xor_si256(z, _mm256_srli_epi64(z, 30)), kMixMultiplier1);
  z = multiply_low(_mm256_xor_si256(z, _mm256_srli_epi64(z, 27)), kMixMultiplier2);
  return _mm256_xor_si256(z, _mm256_srli_epi64(z, 31));
}

// v < 2⁵³ to double, exactly: (2⁸⁴ + v_hi·2³²) − (2⁸⁴ + 2⁵²) + (2⁵² + v_lo), every step exact.
__m256d to_double(__m256i v) {
  const __m256i high =
      _mm256_or_si256(_mm256_srli_epi64(v, 32), _mm256_castpd_si256(_mm256_set1_pd(0x1.0p84)));
  const __m256i low = _mm256_or_si256(_mm256_and_si256(v, _mm256_set1_epi64x(0xffffffffLL)),
                                      _mm256_castpd_si256(_mm256_set1_pd(0x1.0p52)));
  const __m256d high_part =
      _mm256_sub_pd(_mm256_castsi256_pd(high), _mm256_set1_pd(0x1.0p84 + 0x1.0p52));
  return _mm256_add_pd(high_part, _mm256_castsi256_pd(low));
}
#endif

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
  const double z = u * kZiggurat.x[layer];
  if (under_wedge(layer, z, uniform())) return z;
  return std::numeric_limits<double>::quiet_NaN();
}

bool RandomStream::under_wedge(int layer, double z, double height) {
  // The wedge between f(x[layer]) and f(x[layer+1]): accept z if a uniform height there lies
  // under f(z). Both sides are divided by f(z), so only differences of squares appear.
  const double low = std::exp(-0.5 * (kZiggurat.x[layer] * kZiggurat.x[layer] - z * z));
  const double high = std::exp(-0.5 * (kZiggurat.x[layer + 1] * kZiggurat.x[layer + 1] - z * z));
  return low + height * (high - low) < 1.0;
}

void RandomStream::fill_normals(double* out, std::size_t count) {
  std::size_t i = 0;
#if defined(__AVX2__)
  // Draws counter_+1 … counter_+4 at once. All four in the core: store them. Otherwise keep
  // the lanes before the first one outside the core, resolve that one, and go on after it.
  const __m256i key = _mm256_set1_epi64x(static_cast<long long>(key_));
  const __m256i stride = _mm256_set1_epi64x(static_cast<long long>(4 * kGolden));
  // key + c·φ for the counters c = counter_+1 … counter_+4, as next_u64() forms it (mod 2⁶⁴).
  const auto words_after = [&](std::uint64_t counter) {
    return _mm256_add_epi64(key,
                            _mm256_set_epi64x(static_cast<long long>((counter + 4) * kGolden),
                                              static_cast<long long>((counter + 3) * kGolden),
                                              static_cast<long long>((counter + 2) * kGolden),
                                              static_cast<long long>((counter + 1) * kGolden)));
  };
  std::uint64_t counter = counter_;
  __m256i words = words_after(counter);
  while (i + 4 <= count) {
    const __m256i bits = mix64(words);
    alignas(32) std::int64_t layer[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(layer),
                       _mm256_and_si256(bits, _mm256_set1_epi64x(127)));
    const __m256d unit =
        _mm256_mul_pd(_mm256_add_pd(to_double(_mm256_srli_epi64(bits, 11)), _mm256_set1_pd(0.5)),
                      _mm256_set1_pd(0x1.0p-53));
    const __m256d u = _mm256_sub_pd(_mm256_mul_pd(_mm256_set1_pd(2.0), unit), _mm256_set1_pd(1.0));
    const __m256d ratio = _mm256_set_pd(kZiggurat.ratio[layer[3]], kZiggurat.ratio[layer[2]],
                                        kZiggurat.ratio[layer[1]], kZiggurat.ratio[layer[0]]);
    const __m256d width = _mm256_set_pd(kZiggurat.x[layer[3]], kZiggurat.x[layer[2]],
                                        kZiggurat.x[layer[1]], kZiggurat.x[layer[0]]);
    const __m256d magnitude = _mm256_andnot_pd(_mm256_set1_pd(-0.0), u);
    const int outside = ~_mm256_movemask_pd(_mm256_cmp_pd(magnitude, ratio, _CMP_LT_OQ)) & 15;
    _mm256_storeu_pd(out + i, _mm256_mul_pd(u, width));
    if (__builtin_expect(outside == 0, 1)) {
      counter += 4;
      words = _mm256_add_epi64(words, stride);
      i += 4;
      continue;
    }
    // Draw counter + 1 + first is the first outside its core; the lanes before it are done.
    const int first = __builtin_ctz(static_cast<unsigned>(outside));
    if (layer[first] == 0) {
      counter_ = counter + first;
      out[i + first] = normal();  // the tail, resolved by normal() as it would be
      counter = counter_;
      i += first + 1;
    } else {
      // A wedge: its z = u·x[layer] is in place; the next draw is its uniform height, as in
      // normal_outside_core(). Accepted: keep z. Rejected: normal() would draw again, which is
      // the stream carrying on after the height.
      counter += first + 2;
      const double height = uniform_of(mix64(key_ + counter * kGolden));
      i += first + (under_wedge(static_cast<int>(layer[first]), out[i + first], height) ? 1 : 0);
    }
    words = words_after(counter);
  }
  counter_ = counter;
#endif
  for (; i < count; ++i) {
    const Draw draw = split(next_u64());
    if (__builtin_expect(std::abs(draw.u) < kZiggurat.ratio[draw.layer], 1)) {
      out[i] = draw.u * kZiggurat.x[draw.layer];
    } else {
      --counter_;
      out[i] = normal();
    }
  }
}

}  // namespace linicl
