#include "linicl/model/small_gemm.hpp"

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace linicl {
namespace {

// The vector registers the tiles are built from: kWidth doubles each, kRegisterFile of them.
// load_first()/store_first() touch only the first `count` lanes (0 < count ≤ kWidth): the
// lanes past a matrix's last row are neither read (they load as zero) nor written.
#if defined(__AVX512F__)
using Vec = __m512d;
constexpr int kWidth = 8, kRegisterFile = 32;
inline Vec zero() {
  return _mm512_setzero_pd();
}
inline Vec load(const double* p) {
  return _mm512_loadu_pd(p);
}
inline Vec broadcast(const double* p) {
  return _mm512_set1_pd(*p);
}
inline Vec fma(Vec a, Vec b, Vec c) {
  return _mm512_fmadd_pd(a, b, c);
}
inline void store(double* p, Vec v) {
  _mm512_storeu_pd(p, v);
}
inline __mmask8 first_lanes(int count) {
  return static_cast<__mmask8>((1u << count) - 1);
}
inline Vec load_first(const double* p, int count) {
  return _mm512_maskz_loadu_pd(first_lanes(count), p);
}
inline void store_first(double* p, int count, Vec v) {
  _mm512_mask_storeu_pd(p, first_lanes(count), v);
}
// A register of a panel's rows: the lanes off `rows` load as zero and are not read, so a panel
// is read in place even where its last register runs past the matrix.
constexpr bool kMaskedRows = true;
inline Vec load_rows(const double* p, __mmask8 rows) {
  return _mm512_maskz_loadu_pd(rows, p);
}
#define LINICL_SIMD_TILES 1
#elif defined(__AVX2__) && defined(__FMA__)
using Vec = __m256d;
constexpr int kWidth = 4, kRegisterFile = 16;
inline Vec zero() {
  return _mm256_setzero_pd();
}
inline Vec load(const double* p) {
  return _mm256_loadu_pd(p);
}
inline Vec broadcast(const double* p) {
  return _mm256_broadcast_sd(p);
}
inline Vec fma(Vec a, Vec b, Vec c) {
  return _mm256_fmadd_pd(a, b, c);
}
inline void store(double* p, Vec v) {
  _mm256_storeu_pd(p, v);
}
inline __m256i first_lanes(int count) {
  return _mm256_cmpgt_epi64(_mm256_set1_epi64x(count), _mm256_set_epi64x(3, 2, 1, 0));
}
inline Vec load_first(const double* p, int count) {
  return _mm256_maskload_pd(p, first_lanes(count));
}
inline void store_first(double* p, int count, Vec v) {
  _mm256_maskstore_pd(p, first_lanes(count), v);
}
// A masked load costs more than a plain one here: a panel whose last register would run past
// the matrix is copied to a padded buffer instead, and every lane is read.
constexpr bool kMaskedRows = false;
inline Vec load_rows(const double* p, __m256i /*rows*/) {
  return load(p);
}
#define LINICL_SIMD_TILES 1
#else
constexpr int kWidth = 4, kRegisterFile = 16;  // the scalar tiles keep the same shapes
constexpr bool kMaskedRows = false;
#endif

// C is cut into register tiles of R registers of rows (kWidth rows each) by W columns, R·W
// accumulators. Two FMA pipes of 4 cycles' latency need at least 8 independent sums, and the
// register file must hold the accumulators, R registers of A and one broadcast of B.
//
// 16 registers of 4 (AVX2): tiles of 8×6 (or 8×5) and 12×3 (12×2 where n requires). Rows go in
// panels of 8; the 1–4 rows past the last full panel join it in a 12-row panel (a 4-row tile has
// 6 sums, too few to fill the pipes), 5–7 make an 8-row panel of their own, and m ≤ 4 rows one
// of 4. At 51×51: 5 panels of 8 rows by 6 of 6 and 3 of 5 columns, and one of 11 rows by 17 of
// 3; 52×51 entries are computed for 51×51 (about 5% fewer FMA issue slots than 8×6 tiles with
// 4-row and 3-column edges).
//
// 32 registers of 8 (AVX-512): tiles of 8×12, 16×12, 24×8 and 32×6 (1–4 registers, 12–24
// sums). Rows go in panels of 32 until at most 32 are left, which make one panel of 1–4
// registers. At 51×51: 32 rows by 6 of 6 and 3 of 5 columns, then 19 rows by 2 of 8 and 5 of 7;
// 56×51 entries for 51×51, the fewest whole registers that hold 51 rows. On Zen 5 the 51×51
// product ran at 76–78% of the FMA peak, against 66–74% with panels of 24 rows first.
//
// Columns go in panels of W and W − 1 that add up to n where n allows it, rather than full
// panels and a narrow rest.
constexpr int kMaxRegisters = kWidth == 8 ? 4 : 3;
constexpr int widest(int registers) {
  if (kWidth == 8) return registers <= 2 ? 12 : registers == 3 ? 8 : 6;
  return registers == 3 ? 3 : 6;
}
constexpr bool tiles_fit() {
  for (int registers = 1; registers <= kMaxRegisters; ++registers) {
    if (registers * widest(registers) + registers + 1 > kRegisterFile) return false;
  }
  return true;
}
static_assert(tiles_fit(), "every tile's accumulators, rows and broadcast fit in the registers");
// The registers of the row panel that starts with `left` rows still to go.
int panel_registers(int left) {
  if (kWidth == 8) {
    return std::min((left + kWidth - 1) / kWidth, kMaxRegisters);
  }
  return left <= 4 ? 1 : left <= 8 || left >= 13 ? 2 : 3;
}

// How a tile reads its columns of op(b): B(p, j) = b[j][p] (columns each contiguous in p) or
// B(p, j) = b[0][p·step + j] (neighbours in one row, rows `step` apart).
enum class Columns { kSeparate, kAdjacent };

// Where a tile's sums go: c(r, j) = base(r, j) + alpha·Σ_p A(r, p)·B(p, j) for r < rows, j < W,
// with base null read as zero, as one fused multiply-add where the machine has it.
struct Output {
  double alpha;
  const double* base;
  double* c;
  std::ptrdiff_t ldc;
};

// One tile: rows ≤ kWidth·R entries of W columns, each summed over p = 0 … depth−1 in order in
// one register lane, with A(r, p) = a[p·a_step + r] readable for r < kWidth·R (with masked rows,
// for r < rows only: the last register's other lanes are not read).
template <int R, int W, Columns layout>
void tile(int rows, int depth, const double* a, std::ptrdiff_t a_step, const double* const* b,
          std::ptrdiff_t b_step, const Output& out) {
  const auto column = [&](int j, std::ptrdiff_t p) -> const double* {
    return layout == Columns::kSeparate ? b[j] + p : b[0] + p * b_step + j;
  };
#if defined(LINICL_SIMD_TILES)
  // Every loop over the accumulators is unrolled before GCC decides where the arrays live,
  // so they stay in registers (a loop left rolled sends them to the stack on every step).
  Vec acc[W][R];
#pragma GCC unroll 12
  for (int j = 0; j < W; ++j) {
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) acc[j][r] = zero();
  }
  const int last = kWidth * (R - 1), tail = rows - last;  // the last register's rows
  const auto last_rows = first_lanes(tail);
  for (std::ptrdiff_t p = 0; p < depth; ++p) {
    const double* a_p = a + p * a_step;
    // The rows are loaded once into registers, not folded into every FMA: folded, a 12×3 tile
    // issues 12 loads for 9 FMAs, and two loads a cycle then bound it. (Named registers: an
    // array of them under the barrier goes to the stack.)
    const auto row = [&](int r) {
      return r < R - 1 ? load(a_p + kWidth * r) : load_rows(a_p + kWidth * r, last_rows);
    };
    Vec a0 = row(0);
    Vec a1 = R > 1 ? row(1) : a0;
    Vec a2 = R > 2 ? row(2) : a0;
    Vec a3 = R > 3 ? row(3) : a0;
    asm("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3));
#pragma GCC unroll 12
    for (int j = 0; j < W; ++j) {
      const Vec bj = broadcast(column(j, p));
      acc[j][0] = fma(a0, bj, acc[j][0]);
      if (R > 1) acc[j][1] = fma(a1, bj, acc[j][1]);
      if (R > 2) acc[j][2] = fma(a2, bj, acc[j][2]);
      if (R > 3) acc[j][3] = fma(a3, bj, acc[j][3]);
    }
  }
  const Vec scale = broadcast(&out.alpha);
#pragma GCC unroll 12
  for (int j = 0; j < W; ++j) {
    const double* in = out.base ? out.base + j * out.ldc : nullptr;
    double* c = out.c + j * out.ldc;
#pragma GCC unroll 4
    for (int r = 0; r < R - 1; ++r) {
      const Vec old = in ? load(in + kWidth * r) : zero();
      store(c + kWidth * r, fma(scale, acc[j][r], old));
    }
    if (tail == kWidth) {
      const Vec old = in ? load(in + last) : zero();
      store(c + last, fma(scale, acc[j][R - 1], old));
    } else {
      const Vec old = in ? load_first(in + last, tail) : zero();
      store_first(c + last, tail, fma(scale, acc[j][R - 1], old));
    }
  }
#else
  double acc[W][kWidth * R] = {};
  for (std::ptrdiff_t p = 0; p < depth; ++p) {
    const double* a_p = a + p * a_step;
    for (int j = 0; j < W; ++j) {
      const double bj = *column(j, p);
      for (int r = 0; r < kWidth * R; ++r) acc[j][r] += a_p[r] * bj;
    }
  }
  for (int j = 0; j < W; ++j) {
    const double* in = out.base ? out.base + j * out.ldc : nullptr;
    double* c = out.c + j * out.ldc;
    for (int r = 0; r < rows; ++r) c[r] = (in ? in[r] : 0.0) + out.alpha * acc[j][r];
  }
#endif
}

// tile<R, cols> for 1 ≤ cols ≤ widest(R), chosen at run time.
template <int R, Columns layout, int... kWidths>
void any_tile(int rows, int cols, int depth, const double* a, std::ptrdiff_t a_step,
              const double* const* b, std::ptrdiff_t b_step, const Output& out,
              std::integer_sequence<int, kWidths...>) {
  ((cols == kWidths + 1 ? tile<R, kWidths + 1, layout>(rows, depth, a, a_step, b, b_step, out)
                        : void()),
   ...);
}

// One panel of `rows` rows of op(a) (R registers) against every column panel of op(b).
template <int R>
void panel(int rows, int n, int k, const double* a_rows, std::ptrdiff_t a_step, const double* b,
           int ldb, bool trans_b, Output out) {
  // n = W·full + (W − 1)·narrow where possible (see the top of this file), else W·full + rest.
  constexpr int W = widest(R);
  const int rest = n % W;
  int narrow = rest ? W - rest : 0;
  if (n < narrow * (W - 1)) narrow = 0;
  const int full = (n - narrow * (W - 1)) / W;
  const auto widths = std::make_integer_sequence<int, W>();
  double* const c = out.c;
  const double* const base = out.base;
  for (int j0 = 0, t = 0, cols = 0; j0 < n; j0 += cols, ++t) {
    cols = t < full ? W : narrow ? W - 1 : n - j0;
    out.c = c + j0 * out.ldc;
    out.base = base ? base + j0 * out.ldc : nullptr;
    if (trans_b) {
      const double* first = b + j0;
      any_tile<R, Columns::kAdjacent>(rows, cols, k, a_rows, a_step, &first, ldb, out, widths);
    } else {
      const double* columns[W];
      for (int j = 0; j < cols; ++j) columns[j] = b + (j0 + j) * std::ptrdiff_t{ldb};
      any_tile<R, Columns::kSeparate>(rows, cols, k, a_rows, a_step, columns, 0, out, widths);
    }
  }
}

// small_gemm(), or with `lower` only the tiles that reach the lower triangle: row panel
// [i0, i0 + rows) against columns [0, i0 + rows).
void multiply(int m, int n, int k, double alpha, const double* a, int lda, bool trans_a,
              const double* b, int ldb, bool trans_b, const double* base, double* c, int ldc,
              bool lower) {
  // Rows of op(a) that cannot be read in place (aᵀ, or without masked rows a last panel of fewer
  // rows than its registers, which would run past the array) are copied to a panel buffer,
  // zero-padded where the lanes past the rows are read. One buffer per thread, grown once.
  thread_local std::vector<double> a_panel;
  if (a_panel.size() < static_cast<std::size_t>(kWidth * kMaxRegisters) * k) {
    a_panel.resize(static_cast<std::size_t>(kWidth * kMaxRegisters) * k);
  }
  for (int i0 = 0; i0 < m;) {
    const int left = m - i0;
    const int registers = panel_registers(left);
    const int rows = std::min(kWidth * registers, left), height = kWidth * registers;
    const double* a_rows = a + i0;
    std::ptrdiff_t a_step = lda;
    if (trans_a || (rows < height && !kMaskedRows)) {
      // op(a)(i0 + r, p) is a[(i0 + r)·lda + p] for aᵀ, a[i0 + r + p·lda] otherwise.
      const std::ptrdiff_t row_step = trans_a ? lda : 1, depth_step = trans_a ? 1 : lda;
      const double* first = a + i0 * row_step;
      // The padding rows zeroed in one pass (a fill per step of p compiles to a memset call
      // per step).
      if (rows < height && !kMaskedRows)
        std::fill_n(a_panel.data(), std::ptrdiff_t{height} * k, 0.0);
      for (std::ptrdiff_t p = 0; p < k; ++p) {
        double* to = a_panel.data() + p * height;
        for (int r = 0; r < rows; ++r) to[r] = first[r * row_step + p * depth_step];
      }
      a_rows = a_panel.data();
      a_step = height;
    }
    const Output out{alpha, base ? base + i0 : nullptr, c + i0, ldc};
    const int cols = lower ? std::min(n, i0 + rows) : n;
    if (registers == 1) panel<1>(rows, cols, k, a_rows, a_step, b, ldb, trans_b, out);
    if (registers == 2) panel<2>(rows, cols, k, a_rows, a_step, b, ldb, trans_b, out);
    if (registers == 3) panel<3>(rows, cols, k, a_rows, a_step, b, ldb, trans_b, out);
    if constexpr (kMaxRegisters == 4) {
      if (registers == 4) panel<4>(rows, cols, k, a_rows, a_step, b, ldb, trans_b, out);
    }
    i0 += rows;
  }
}

}  // namespace

void small_gemm(int m, int n, int k, double alpha, const double* a, int lda, bool trans_a,
                const double* b, int ldb, bool trans_b, const double* base, double* c, int ldc) {
  multiply(m, n, k, alpha, a, lda, trans_a, b, ldb, trans_b, base, c, ldc, false);
}

void small_gram(int m, int k, double alpha, const double* a, int lda, double* c, int ldc) {
  // c(i, j) and c(j, i) are the same chain (a(i, p)·a(j, p) = a(j, p)·a(i, p) exactly): the
  // tiles that reach the lower triangle, then the rest of the upper one copied from it.
  multiply(m, m, k, alpha, a, lda, false, a, lda, true, nullptr, c, ldc, true);
  for (std::ptrdiff_t j = 1; j < m; ++j) {
    for (std::ptrdiff_t i = 0; i < j; ++i) c[i + j * ldc] = c[j + i * ldc];
  }
}

}  // namespace linicl
