#include "linicl/numerics/rng.hpp"

#include <algorithm>
#include <limits>

// The sampler's vector passes: groups of eight draws with AVX-512 (F and DQ: 64-bit multiplies,
// conversions and compression), of four with AVX2 and FMA; neither, one draw at a time.
#if defined(__AVX512F__) && defined(__AVX512DQ__)
#define LINICL_NORMALS_512 1
#include <immintrin.h>
#elif defined(__AVX2__) && defined(__FMA__)
#define LINICL_NORMALS_256 1
#include <immintrin.h>
#endif

namespace linicl {

namespace {

// r and v for 1,024 layers: the tail start and the common area of each layer (Marsaglia &
// Tsang, 2000), for the unnormalized density f(x) = exp(−x²/2). Solved in 40-digit arithmetic
// so that the top layer's area x·(1 − f(x)), x = x[1023] from the recursion, is v.
constexpr double kTailStart = 4.0388498461095045227;
constexpr double kLayerArea = 1.2263246463530880729e-3;

double density(double x) {
  return std::exp(-0.5 * x * x);
}

#if defined(LINICL_NORMALS_512)
// Eight lanes of the scalar arithmetic of next_u64() and split(), each giving the same result bit
// for bit (see fill_normals()).
constexpr std::size_t kGroup = 8;

__m512i mix64(__m512i z) {
  z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)),
                         _mm512_set1_epi64(static_cast<long long>(kMixMultiplier1)));
  z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)),
                         _mm512_set1_epi64(static_cast<long long>(kMixMultiplier2)));
  return _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
}

// The words of draws counter + 1 … counter + size (size a multiple of 8), eight at a time: word
// c hashes key + c·φ, as next_u64() does (mod 2⁶⁴).
void hash_words(std::uint64_t key, std::uint64_t counter, std::size_t size, std::uint64_t* bits) {
  const __m512i stride = _mm512_set1_epi64(static_cast<long long>(8 * kGolden));
  __m512i words =
      _mm512_add_epi64(_mm512_set1_epi64(static_cast<long long>(key + counter * kGolden)),
                       _mm512_mullo_epi64(_mm512_set_epi64(8, 7, 6, 5, 4, 3, 2, 1),
                                          _mm512_set1_epi64(static_cast<long long>(kGolden))));
  for (std::size_t c = 0; c < size; c += 8, words = _mm512_add_epi64(words, stride)) {
    _mm512_store_si512(bits + c, mix64(words));
  }
}

// The 16 bytes at each of p0, p1, p2, p3, in that order, as one register.
__m512d load_pairs(const double* p0, const double* p1, const double* p2, const double* p3) {
  const __m512d low =
      _mm512_insertf64x2(_mm512_castpd128_pd512(_mm_load_pd(p0)), _mm_load_pd(p1), 1);
  return _mm512_insertf64x2(_mm512_insertf64x2(low, _mm_load_pd(p2), 2), _mm_load_pd(p3), 3);
}

// Drops values[p] for every bit p of `removed` (removed ≠ 0; size a multiple of 8) and closes the
// gaps, keeping the order; returns how many values are left. In place: the kept values of a
// group go to offset k ≤ its own, after the group is loaded and before any later one is.
std::size_t drop_removed(double* values, std::size_t size, std::uint64_t removed) {
  std::size_t group = static_cast<std::size_t>(__builtin_ctzll(removed)) & ~std::size_t{7};
  std::size_t k = group;
  for (; group < size; group += 8) {
    const auto keep = static_cast<__mmask8>(~(removed >> group) & 255);
    _mm512_storeu_pd(values + k, _mm512_maskz_compress_pd(keep, _mm512_loadu_pd(values + group)));
    k += static_cast<std::size_t>(__builtin_popcount(keep));
  }
  return k;
}

#elif defined(LINICL_NORMALS_256)
// Four lanes of the scalar arithmetic of next_u64() and split(), each giving the same result bit
// for bit: the hash operation for operation, and u with the roundings split() makes (see
// fill_normals()).
constexpr std::size_t kGroup = 4;

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

// The 16 bytes at `low` into the low half of a register, those at `high` into the high half.
__m256d load_pair(const double& low, const double& high) {
  return _mm256_insertf128_pd(_mm256_castpd128_pd256(_mm_load_pd(&low)), _mm_load_pd(&high), 1);
}

// The words of draws counter + 1 … counter + size (size a multiple of 4), four at a time: word c
// hashes key + c·φ, as next_u64() does (mod 2⁶⁴).
void hash_words(std::uint64_t key, std::uint64_t counter, std::size_t size, std::uint64_t* bits) {
  const __m256i stride = _mm256_set1_epi64x(static_cast<long long>(4 * kGolden));
  __m256i words =
      _mm256_add_epi64(_mm256_set1_epi64x(static_cast<long long>(key)),
                       _mm256_set_epi64x(static_cast<long long>((counter + 4) * kGolden),
                                         static_cast<long long>((counter + 3) * kGolden),
                                         static_cast<long long>((counter + 2) * kGolden),
                                         static_cast<long long>((counter + 1) * kGolden)));
  for (std::size_t c = 0; c < size; c += 4, words = _mm256_add_epi64(words, stride)) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(bits + c), mix64(words));
  }
}

// For each 4-bit mask of the lanes to keep: vpermd indices that move those lanes to the front,
// in order, and how many they are.
struct KeptLanes {
  alignas(32) std::int32_t index[16][8] = {};
  std::size_t count[16] = {};
  constexpr KeptLanes() {
    for (unsigned keep = 0; keep < 16; ++keep) {
      std::size_t k = 0;
      for (std::int32_t lane = 0; lane < 4; ++lane) {
        if ((keep >> lane & 1) == 0) continue;
        index[keep][2 * k] = 2 * lane;
        index[keep][2 * k + 1] = 2 * lane + 1;
        ++k;
      }
      count[keep] = k;
    }
  }
};
constexpr KeptLanes kKeptLanes;  // constant-initialized: ready before any dynamic initializer

// Drops values[p] for every bit p of `removed` (removed ≠ 0; size a multiple of 4) and closes the
// gaps, keeping the order; returns how many values are left. In place: the kept values of a
// group go to offset k ≤ its own, after the group is loaded and before any later one is.
std::size_t drop_removed(double* values, std::size_t size, std::uint64_t removed) {
  std::size_t group = static_cast<std::size_t>(__builtin_ctzll(removed)) & ~std::size_t{3};
  std::size_t k = group;
  for (; group < size; group += 4) {
    const auto keep = static_cast<unsigned>(~(removed >> group) & 15);
    const __m256i lanes =
        _mm256_load_si256(reinterpret_cast<const __m256i*>(kKeptLanes.index[keep]));
    const __m256i group_values = _mm256_castpd_si256(_mm256_loadu_pd(values + group));
    _mm256_storeu_pd(values + k,
                     _mm256_castsi256_pd(_mm256_permutevar8x32_epi32(group_values, lanes)));
    k += kKeptLanes.count[keep];
  }
  return k;
}
#endif

}  // namespace

RandomStream::Ziggurat::Ziggurat() {
  x[0] = kLayerArea / density(kTailStart);
  x[1] = kTailStart;
  for (int i = 2; i < kLayers; ++i) {
    x[i] = std::sqrt(-2.0 * std::log(density(x[i - 1]) + kLayerArea / x[i - 1]));
  }
  x[kLayers] = 0.0;
  for (int i = 0; i < kLayers; ++i) core[i] = {x[i + 1] / x[i], x[i]};
  // In layer i ≥ 1 the exponents s of under_wedge() lie within w = (x[i]² − x[i+1]²)/2 of zero
  // (|z| between x[i+1] and x[i], widened for roundings), where the Taylor remainder is at most
  // w⁷/7!·e^w for each exponential; the guess, a convex combination of the two, is then within
  // that of the exact rule's value. Twice it, plus 1e-13 for roundings on either side, is the
  // margin: 8.3e-5 in layer 1, the widest wedge, and within 1e-15 of 1e-13 in 973 of the 1,023.
  wedge_margin[0] = 0.0;  // the base layer has a tail, not a wedge
  for (int i = 1; i < kLayers; ++i) {
    const double w = 0.5 * (x[i] * x[i] - x[i + 1] * x[i + 1]) * (1 + 1e-12) + 1e-15;
    wedge_margin[i] = 2.0 * std::pow(w, 7) / 5040.0 * std::exp(w) + 1e-13;
  }
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

namespace {

// The exponents of the wedge rule: e^s_low = f(x[layer])/f(z) and e^s_high = f(x[layer+1])/f(z).
struct WedgeExponents {
  double low, high;
};
WedgeExponents wedge_exponents(double x_low, double x_high, double z) {
  return {-0.5 * (x_low * x_low - z * z), -0.5 * (x_high * x_high - z * z)};
}

// e^s to degree 6 of its Taylor series, |s| < 1 here.
double taylor_exp(double s) {
  return 1.0 +
         s * (1.0 + s * (0.5 + s * (1.0 / 6 + s * (1.0 / 24 + s * (1.0 / 120 + s * (1.0 / 720))))));
}

}  // namespace

bool RandomStream::under_wedge_exact(int layer, double z, double height) {
  const auto s = wedge_exponents(kZiggurat.x[layer], kZiggurat.x[layer + 1], z);
  const double low = std::exp(s.low), high = std::exp(s.high);
  return low + height * (high - low) < 1.0;
}

bool RandomStream::under_wedge(int layer, double z, double height) {
  // The rule's value low + height·(high − low) from polynomials in place of the exponentials:
  // a guess farther than the layer's margin from 1 falls on the same side as the exact value.
  // Only the rare guess within the margin pays for two exps. Both sides of the guess give a
  // result without a branch, which a wedge's accept-or-reject would mispredict half the time.
  const auto s = wedge_exponents(kZiggurat.x[layer], kZiggurat.x[layer + 1], z);
  const double low = taylor_exp(s.low);
  const double guess = low + height * (taylor_exp(s.high) - low);
  if (__builtin_expect(std::abs(guess - 1.0) <= kZiggurat.wedge_margin[layer], 0)) {
    return under_wedge_exact(layer, z, height);
  }
  return guess < 1.0;
}

void RandomStream::fill_normals(double* out, std::size_t count) {
  std::size_t i = 0;
#if defined(LINICL_NORMALS_512) || defined(LINICL_NORMALS_256)
  // Blocks of up to kBlock words, in passes over the whole block; only the few draws outside the
  // core are visited one by one:
  //  1. the words are hashed (a loop of its own, so that the next pass starts from loads and its
  //     groups overlap: hashing inside it made it latency-bound);
  //  2. every word's core value u·x[layer] is formed and stored, and the words outside their
  //     core, about 0.43% (0.27 a block), are marked;
  //  3. those are resolved in stream order as normal() resolves them: a wedge takes the next
  //     word as its uniform height and stays if under the curve; a tail draw ends the block
  //     there, and normal() draws it after the block's values;
  //  4. the heights, the rejected wedges and the words from a tail draw on are dropped, the
  //     other values closed up.
  // Breaking out of pass 2 at each draw outside the core instead took 8–11% longer from 131 draws
  // up, as long at 50, and less below 20 (AVX2 on Zen 3, 128 layers with 2.8% outside the core:
  // 3.9 against 4.2 ns a normal at 10).
  constexpr std::size_t kBlock = 64;  // a bit per word in one std::uint64_t
  alignas(64) std::uint64_t bits[kBlock];
  while (count - i >= kGroup) {
    const std::size_t need = count - i;
    // Whole groups, no more than `need`, so that the values go straight to out. What a block
    // leaves short (its heights and rejections, and the last values short of a group) goes to
    // the next block or the scalar loop below.
    const std::size_t size = std::min(kBlock, need & ~(kGroup - 1));
    hash_words(key_, counter_, size, bits);
    double* const values = out + i;
    std::uint64_t outside = 0;
    for (std::size_t c = 0; c < size; c += kGroup) {
      const std::uint64_t* draw = bits + c;
#if defined(LINICL_NORMALS_512)
      const __m512i word = _mm512_load_si512(draw);
      // u = 2·((m + ½)·2⁻⁵³) − 1 as split() forms it; 2·2⁻⁵³ = 2⁻⁵² scales exactly, so one
      // fused multiply-add rounds as split()'s last subtraction does (m < 2⁵³ converts exactly).
      const __m512d u = _mm512_fmadd_pd(
          _mm512_add_pd(_mm512_cvtepu64_pd(_mm512_srli_epi64(word, 11)), _mm512_set1_pd(0.5)),
          _mm512_set1_pd(0x1.0p-52), _mm512_set1_pd(-1.0));
      // (ratio, width) of lanes 0, 2, 4, 6 and of 1, 3, 5, 7; then the ratios and the widths.
      // Loaded pair by pair: two gathers of eight took 1.46 ns a normal against 1.10 (128 layers).
      const auto core = [&](int lane) { return &kZiggurat.core[draw[lane] & kLayerMask].ratio; };
      const __m512d even = load_pairs(core(0), core(2), core(4), core(6));
      const __m512d odd = load_pairs(core(1), core(3), core(5), core(7));
      const __m512d ratio = _mm512_unpacklo_pd(even, odd);
      const __m512d width = _mm512_unpackhi_pd(even, odd);
      const __mmask8 inside = _mm512_cmp_pd_mask(_mm512_abs_pd(u), ratio, _CMP_LT_OQ);
      outside |= std::uint64_t{static_cast<std::uint8_t>(~inside)} << c;
      _mm512_storeu_pd(values + c, _mm512_mul_pd(u, width));
#else
      const __m256i word = _mm256_load_si256(reinterpret_cast<const __m256i*>(draw));
      // u as above; to_double() converts m < 2⁵³ exactly.
      const __m256d u = _mm256_fmadd_pd(
          _mm256_add_pd(to_double(_mm256_srli_epi64(word, 11)), _mm256_set1_pd(0.5)),
          _mm256_set1_pd(0x1.0p-52), _mm256_set1_pd(-1.0));
      // (ratio, width) of lanes 0 and 2, 1 and 3; then the ratios and the widths.
      const __m256d cores02 = load_pair(kZiggurat.core[draw[0] & kLayerMask].ratio,
                                        kZiggurat.core[draw[2] & kLayerMask].ratio);
      const __m256d cores13 = load_pair(kZiggurat.core[draw[1] & kLayerMask].ratio,
                                        kZiggurat.core[draw[3] & kLayerMask].ratio);
      const __m256d ratio = _mm256_unpacklo_pd(cores02, cores13);
      const __m256d width = _mm256_unpackhi_pd(cores02, cores13);
      const __m256d magnitude = _mm256_andnot_pd(_mm256_set1_pd(-0.0), u);
      const auto inside =
          static_cast<unsigned>(_mm256_movemask_pd(_mm256_cmp_pd(magnitude, ratio, _CMP_LT_OQ)));
      outside |= std::uint64_t{~inside & 15u} << c;
      _mm256_storeu_pd(values + c, _mm256_mul_pd(u, width));
#endif
    }
    // Pass 3. `removed` marks the words that give no value; `used` counts the words the block
    // takes (one past it for a wedge on its last word).
    std::uint64_t removed = 0;
    std::size_t tail = size, used = size;  // tail: where a tail draw ends the block
    for (std::uint64_t pending = outside; pending != 0;) {
      const auto p = static_cast<std::size_t>(__builtin_ctzll(pending));
      const int layer = static_cast<int>(bits[p] & kLayerMask);
      if (layer == 0) {
        tail = used = p;
        removed |= ~std::uint64_t{0} << p;
        break;
      }
      std::uint64_t height;
      if (p + 1 < size) {
        height = bits[p + 1];
        removed |= std::uint64_t{2} << p;
        pending &= ~(std::uint64_t{3} << p);  // the height is not a draw, wherever it falls
      } else {
        height = mix64(key_ + (counter_ + size + 1) * kGolden);  // the word after the block
        used = size + 1;
        pending = 0;
      }
      removed |= std::uint64_t{!under_wedge(layer, values[p], uniform_of(height))} << p;
    }
    i += removed == 0 ? size : drop_removed(values, size, removed);
    counter_ += used;
    if (tail < size) out[i++] = normal();  // from the tail draw's word on, as normal() would
  }
#endif
  for (; i < count; ++i) {
    const Draw draw = split(next_u64());
    const Core& core = kZiggurat.core[draw.layer];
    if (__builtin_expect(std::abs(draw.u) < core.ratio, 1)) {
      out[i] = draw.u * core.width;
    } else {
      --counter_;
      out[i] = normal();
    }
  }
}

}  // namespace linicl
