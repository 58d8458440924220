#include "linicl/small_gemm.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace linicl {
namespace {

// A tile of C is up to 8 rows (two 4-wide registers) by up to 6 columns: 12 accumulators for
// a full tile. Two FMA pipes of 4 cycles' latency need at least 8 independent sums; each step
// over k loads 8 doubles of A and broadcasts 6 of B for 12 FMAs, so the loads keep up. Edge
// tiles run a kernel of their own size (one register of rows, fewer columns), so a 51×51
// product computes 52×51 entries, not 56×54.
constexpr int kRows = 8, kCols = 6;

// How a tile reads its columns of op(b): B(p, j) = b[j][p] (columns each contiguous in p) or
// B(p, j) = b[0][p·step + j] (neighbours in one row, rows `step` apart).
enum class Columns { kSeparate, kAdjacent };

// acc[j][r] = Σ_p A(r, p)·B(p, j) for p = 0 … depth−1 in order, r < 4·kRegisters, j < kUsed,
// with A(r, p) = a[p·a_step + r].
template <int kRegisters, int kUsed, Columns layout>
void tile(int depth, const double* a, std::ptrdiff_t a_step, const double* const* b,
          std::ptrdiff_t b_step, double (&acc)[kCols][kRows]) {
  const auto column = [&](int j, std::ptrdiff_t p) -> const double* {
    return layout == Columns::kSeparate ? b[j] + p : b[0] + p * b_step + j;
  };
#if defined(__AVX2__) && defined(__FMA__)
  // Every loop over the accumulators is unrolled before GCC decides where the arrays live,
  // so they stay in registers (a loop left rolled sends them to the stack on every step).
  __m256d top[kUsed], bottom[kUsed];
#pragma GCC unroll 6
  for (int j = 0; j < kUsed; ++j) top[j] = bottom[j] = _mm256_setzero_pd();
  for (std::ptrdiff_t p = 0; p < depth; ++p) {
    const double* a_p = a + p * a_step;
    const __m256d a_top = _mm256_loadu_pd(a_p);
    const __m256d a_bottom = kRegisters == 2 ? _mm256_loadu_pd(a_p + 4) : a_top;
#pragma GCC unroll 6
    for (int j = 0; j < kUsed; ++j) {
      const __m256d bj = _mm256_broadcast_sd(column(j, p));
      top[j] = _mm256_fmadd_pd(a_top, bj, top[j]);
      if (kRegisters == 2) bottom[j] = _mm256_fmadd_pd(a_bottom, bj, bottom[j]);
    }
  }
#pragma GCC unroll 6
  for (int j = 0; j < kUsed; ++j) {
    _mm256_storeu_pd(acc[j], top[j]);
    if (kRegisters == 2) _mm256_storeu_pd(acc[j] + 4, bottom[j]);
  }
#else
  for (int j = 0; j < kUsed; ++j) std::fill(acc[j], acc[j] + 4 * kRegisters, 0.0);
  for (std::ptrdiff_t p = 0; p < depth; ++p) {
    const double* a_p = a + p * a_step;
    for (int j = 0; j < kUsed; ++j) {
      const double bj = *column(j, p);
      for (int r = 0; r < 4 * kRegisters; ++r) acc[j][r] += a_p[r] * bj;
    }
  }
#endif
}

// tile<⌈rows/4⌉, cols> for 1 ≤ rows ≤ 8, 1 ≤ cols ≤ 6, chosen at run time.
template <Columns layout, int... kUsed>
void any_tile(int rows, int cols, int depth, const double* a, std::ptrdiff_t a_step,
              const double* const* b, std::ptrdiff_t b_step, double (&acc)[kCols][kRows],
              std::integer_sequence<int, kUsed...>) {
  const bool two = rows > 4;
  ((cols == kUsed + 1 ? (two ? tile<2, kUsed + 1, layout>(depth, a, a_step, b, b_step, acc)
                             : tile<1, kUsed + 1, layout>(depth, a, a_step, b, b_step, acc))
                      : void()),
   ...);
}

// The tile's first rows × cols entries into c: c(r, j) = base(r, j) + alpha·acc[j][r] (base
// null: zero), as one fused multiply-add where the machine has it.
void store_tile(const double (&acc)[kCols][kRows], int rows, int cols, double alpha,
                const double* base, double* c, std::ptrdiff_t ldc) {
  for (int j = 0; j < cols; ++j, c += ldc) {
    const double* in = base ? base + j * ldc : nullptr;
#if defined(__AVX2__) && defined(__FMA__)
    if (rows == kRows) {
      const __m256d scale = _mm256_set1_pd(alpha), zero = _mm256_setzero_pd();
      for (int r = 0; r < kRows; r += 4) {
        const __m256d old = in ? _mm256_loadu_pd(in + r) : zero;
        _mm256_storeu_pd(c + r, _mm256_fmadd_pd(scale, _mm256_loadu_pd(acc[j] + r), old));
      }
      continue;
    }
    for (int r = 0; r < rows; ++r) c[r] = std::fma(alpha, acc[j][r], in ? in[r] : 0.0);
#else
    for (int r = 0; r < rows; ++r) c[r] = (in ? in[r] : 0.0) + alpha * acc[j][r];
#endif
  }
}

}  // namespace

void small_gemm(int m, int n, int k, double alpha, const double* a, int lda, bool trans_a,
                const double* b, int ldb, bool trans_b, const double* base, double* c, int ldc) {
  // Rows of op(a) that cannot be read in place (aᵀ, or a last panel of fewer than 8 rows,
  // which would run past the array) are copied 8 to a step, zero-padded; the columns of a
  // last panel of bᵀ narrower than 6 are copied 6 to a step (the unused slots are never
  // read). Buffers per thread, grown once.
  thread_local std::vector<double> a_panel, b_panel;
  const auto grow = [](std::vector<double>& buffer, std::size_t size) {
    if (buffer.size() < size) buffer.resize(size);
  };
  grow(a_panel, static_cast<std::size_t>(kRows) * k);
  grow(b_panel, static_cast<std::size_t>(kCols) * k);
  double acc[kCols][kRows];
  const auto widths = std::make_integer_sequence<int, kCols>();
  for (int i0 = 0; i0 < m; i0 += kRows) {
    const int rows = std::min(kRows, m - i0);
    const double* a_rows = a + i0;
    std::ptrdiff_t a_step = lda;
    if (trans_a || rows < kRows) {
      for (std::ptrdiff_t p = 0; p < k; ++p) {
        for (int r = 0; r < kRows; ++r) {
          a_panel[p * kRows + r] = r >= rows ? 0.0
                                   : trans_a ? a[p + (i0 + r) * std::ptrdiff_t{lda}]
                                             : a[i0 + r + p * lda];
        }
      }
      a_rows = a_panel.data();
      a_step = kRows;
    }
    for (int j0 = 0; j0 < n; j0 += kCols) {
      const int cols = std::min(kCols, n - j0);
      const double* b_columns[kCols];
      if (!trans_b) {
        for (int j = 0; j < cols; ++j) b_columns[j] = b + (j0 + j) * std::ptrdiff_t{ldb};
        any_tile<Columns::kSeparate>(rows, cols, k, a_rows, a_step, b_columns, 0, acc, widths);
      } else if (cols == kCols) {
        b_columns[0] = b + j0;
        any_tile<Columns::kAdjacent>(rows, cols, k, a_rows, a_step, b_columns, ldb, acc, widths);
      } else {
        for (std::ptrdiff_t p = 0; p < k; ++p) {
          for (int j = 0; j < cols; ++j) b_panel[p * kCols + j] = b[j0 + j + p * ldb];
        }
        b_columns[0] = b_panel.data();
        any_tile<Columns::kAdjacent>(rows, cols, k, a_rows, a_step, b_columns, kCols, acc, widths);
      }
      const std::ptrdiff_t corner = j0 * std::ptrdiff_t{ldc} + i0;
      store_tile(acc, rows, cols, alpha, base ? base + corner : nullptr, c + corner, ldc);
    }
  }
}

}  // namespace linicl
