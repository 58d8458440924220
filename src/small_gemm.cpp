#include "linicl/small_gemm.hpp"

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace linicl {
namespace {

// C is cut into register tiles of R 4-wide registers of rows by W columns, R·W accumulators.
// Two FMA pipes of 4 cycles' latency need at least 8 independent sums, and 16 registers must
// hold the accumulators, R registers of A and one broadcast of B: hence tiles of 8×6 (or
// 8×5) and 12×3 (12×2 where n requires). Rows go in panels of 8; the 1–4 rows past the last
// full panel join it in a 12-row panel (a 4-row tile has 6 sums, too few to fill the pipes),
// 5–7 make an 8-row panel of their own, and m ≤ 4 rows one of 4. Columns go in panels of W and W −
// 1 that add up to n where n allows it, rather than full panels and a narrow rest. At 51×51: 5
// panels of 8 rows by 6 of 6 and 3 of 5 columns, and one of 11 rows by 17 of 3; 52×51 entries are
// computed for 51×51, and every tile keeps both pipes busy (about 5% fewer cycles than 8×6 tiles
// with 4-row and 3-column edges, by the count of FMA issue slots).
constexpr int kMaxRegisters = 3;
constexpr int widest(int registers) {
  return registers == 3 ? 3 : 6;
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

// One tile: rows ≤ 4·R entries of W columns, each summed over p = 0 … depth−1 in order in one
// register lane, with A(r, p) = a[p·a_step + r] readable for r < 4·R.
template <int R, int W, Columns layout>
void tile(int rows, int depth, const double* a, std::ptrdiff_t a_step, const double* const* b,
          std::ptrdiff_t b_step, const Output& out) {
  const auto column = [&](int j, std::ptrdiff_t p) -> const double* {
    return layout == Columns::kSeparate ? b[j] + p : b[0] + p * b_step + j;
  };
#if defined(__AVX2__) && defined(__FMA__)
  // Every loop over the accumulators is unrolled before GCC decides where the arrays live,
  // so they stay in registers (a loop left rolled sends them to the stack on every step).
  __m256d acc[W][R];
#pragma GCC unroll 6
  for (int j = 0; j < W; ++j) {
#pragma GCC unroll 3
    for (int r = 0; r < R; ++r) acc[j][r] = _mm256_setzero_pd();
  }
  for (std::ptrdiff_t p = 0; p < depth; ++p) {
    const double* a_p = a + p * a_step;
    // The rows are loaded once into registers, not folded into every FMA: folded, a 12×3 tile
    // issues 12 loads for 9 FMAs, and two 32-byte loads a cycle then bound it. (Named
    // registers: an array of them under the barrier goes to the stack.)
    __m256d a0 = _mm256_loadu_pd(a_p);
    __m256d a1 = R > 1 ? _mm256_loadu_pd(a_p + 4) : a0;
    __m256d a2 = R > 2 ? _mm256_loadu_pd(a_p + 8) : a0;
    asm("" : "+x"(a0), "+x"(a1), "+x"(a2));
#pragma GCC unroll 6
    for (int j = 0; j < W; ++j) {
      const __m256d bj = _mm256_broadcast_sd(column(j, p));
      acc[j][0] = _mm256_fmadd_pd(a0, bj, acc[j][0]);
      if (R > 1) acc[j][1] = _mm256_fmadd_pd(a1, bj, acc[j][1]);
      if (R > 2) acc[j][2] = _mm256_fmadd_pd(a2, bj, acc[j][2]);
    }
  }
  // The last register may hold fewer than 4 rows: its lanes past `rows` are neither read
  // from base nor written.
  const int tail = rows - 4 * (R - 1);
  const __m256i lanes = _mm256_set_epi64x(3, 2, 1, 0);
  const __m256i in_tail = _mm256_cmpgt_epi64(_mm256_set1_epi64x(tail), lanes);
  const __m256d scale = _mm256_set1_pd(out.alpha), zero = _mm256_setzero_pd();
#pragma GCC unroll 6
  for (int j = 0; j < W; ++j) {
    const double* in = out.base ? out.base + j * out.ldc : nullptr;
    double* c = out.c + j * out.ldc;
#pragma GCC unroll 3
    for (int r = 0; r < R - 1; ++r) {
      const __m256d old = in ? _mm256_loadu_pd(in + 4 * r) : zero;
      _mm256_storeu_pd(c + 4 * r, _mm256_fmadd_pd(scale, acc[j][r], old));
    }
    const int last = 4 * (R - 1);
    if (tail == 4) {
      const __m256d old = in ? _mm256_loadu_pd(in + last) : zero;
      _mm256_storeu_pd(c + last, _mm256_fmadd_pd(scale, acc[j][R - 1], old));
    } else {
      const __m256d old = in ? _mm256_maskload_pd(in + last, in_tail) : zero;
      _mm256_maskstore_pd(c + last, in_tail, _mm256_fmadd_pd(scale, acc[j][R - 1], old));
    }
  }
#else
  double acc[W][4 * R] = {};
  for (std::ptrdiff_t p = 0; p < depth; ++p) {
    const double* a_p = a + p * a_step;
    for (int j = 0; j < W; ++j) {
      const double bj = *column(j, p);
      for (int r = 0; r < 4 * R; ++r) acc[j][r] += a_p[r] * bj;
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
  // Rows of op(a) that cannot be read in place (aᵀ, or a last panel of fewer rows than its
  // registers, which would run past the array) are copied to a panel buffer, zero-padded.
  // One buffer per thread, grown once.
  thread_local std::vector<double> a_panel;
  if (a_panel.size() < static_cast<std::size_t>(4 * kMaxRegisters) * k) {
    a_panel.resize(static_cast<std::size_t>(4 * kMaxRegisters) * k);
  }
  for (int i0 = 0; i0 < m;) {
    const int left = m - i0;
    const int registers = left <= 4 ? 1 : left <= 8 || left >= 13 ? 2 : 3;
    const int rows = std::min(4 * registers, left), height = 4 * registers;
    const double* a_rows = a + i0;
    std::ptrdiff_t a_step = lda;
    if (trans_a || rows < height) {
      // op(a)(i0 + r, p) is a[(i0 + r)·lda + p] for aᵀ, a[i0 + r + p·lda] otherwise.
      const std::ptrdiff_t row_step = trans_a ? lda : 1, depth_step = trans_a ? 1 : lda;
      const double* first = a + i0 * row_step;
      // The padding rows zeroed in one pass (a fill per step of p compiles to a memset call
      // per step).
      if (rows < height) std::fill_n(a_panel.data(), std::ptrdiff_t{height} * k, 0.0);
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
