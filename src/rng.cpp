#include "linicl/rng.hpp"

#include <algorithm>
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
  // The words of up to kBlock draws ahead are hashed first, in a loop of its own: the core test
  // below then starts from a load, and its chain of dependent operations is short enough for
  // the CPU to overlap consecutive groups. (Hashing inside that loop made it latency-bound, at
  // about 30 cycles per four draws.) A wedge draw moves the next group to any offset in the
  // block, whose words are already there; a tail draw goes to normal(), and the block is
  // hashed again after it.
  constexpr std::size_t kBlock = 64;
  alignas(32) std::uint64_t bits[kBlock];
  const __m256i stride = _mm256_set1_epi64x(static_cast<long long>(4 * kGolden));
  while (i + 4 <= count) {
    // Words of draws counter_ + 1 + c, c < size: the rest's whole groups of four, and one group
    // more for the words that wedge heights and redraws take (the scalar loop below does any
    // last one to three draws).
    const std::size_t size = std::min(kBlock, ((count - i) & ~std::size_t{3}) + 4);
    // key + c·φ for the counters c = counter_+1 … counter_+4, as next_u64() forms it (mod 2⁶⁴).
    __m256i words =
        _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(key_)),
                         _mm256_set_epi64x(static_cast<long long>((counter_ + 4) * kGolden),
                                           static_cast<long long>((counter_ + 3) * kGolden),
                                           static_cast<long long>((counter_ + 2) * kGolden),
                                           static_cast<long long>((counter_ + 1) * kGolden)));
    for (std::size_t c = 0; c < size; c += 4, words = _mm256_add_epi64(words, stride)) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(bits + c), mix64(words));
    }
    // Four draws at a time from offset c. All four in the core: store them. Otherwise keep the
    // lanes before the first one outside the core, resolve that one, and go on after it.
    std::size_t c = 0;
    bool moved_counter = false;  // by normal(), for a tail draw
    while (c + 4 <= size && i + 4 <= count) {
      const std::uint64_t* draw = bits + c;
      const __m256i word = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(draw));
      const __m256d unit =
          _mm256_mul_pd(_mm256_add_pd(to_double(_mm256_srli_epi64(word, 11)), _mm256_set1_pd(0.5)),
                        _mm256_set1_pd(0x1.0p-53));
      const __m256d u =
          _mm256_sub_pd(_mm256_mul_pd(_mm256_set1_pd(2.0), unit), _mm256_set1_pd(1.0));
      const __m256d ratio =
          _mm256_set_pd(kZiggurat.ratio[draw[3] & 127], kZiggurat.ratio[draw[2] & 127],
                        kZiggurat.ratio[draw[1] & 127], kZiggurat.ratio[draw[0] & 127]);
      const __m256d width = _mm256_set_pd(kZiggurat.x[draw[3] & 127], kZiggurat.x[draw[2] & 127],
                                          kZiggurat.x[draw[1] & 127], kZiggurat.x[draw[0] & 127]);
      const __m256d magnitude = _mm256_andnot_pd(_mm256_set1_pd(-0.0), u);
      const int outside = ~_mm256_movemask_pd(_mm256_cmp_pd(magnitude, ratio, _CMP_LT_OQ)) & 15;
      _mm256_storeu_pd(out + i, _mm256_mul_pd(u, width));
      if (__builtin_expect(outside == 0, 1)) {
        c += 4;
        i += 4;
        continue;
      }
      // Draw c + first is the first outside its core; the lanes before it are done.
      const auto first = static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(outside)));
      const int layer = static_cast<int>(draw[first] & 127);
      if (layer == 0) {
        counter_ += c + first;
        out[i + first] = normal();  // the tail, resolved by normal() as it would be
        i += first + 1;
        moved_counter = true;
        break;
      }
      // A wedge: its z = u·x[layer] is in place; the next draw is its uniform height, as in
      // normal_outside_core(). Accepted: keep z. Rejected: normal() would draw again, which is
      // the stream carrying on after the height.
      const std::size_t height = c + first + 1;
      const std::uint64_t height_bits =
          height < size ? bits[height] : mix64(key_ + (counter_ + height + 1) * kGolden);
      i += first + (under_wedge(layer, out[i + first], uniform_of(height_bits)) ? 1 : 0);
      c = height + 1;
    }
    if (!moved_counter) counter_ += c;
  }
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
