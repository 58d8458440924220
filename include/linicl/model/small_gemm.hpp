// Products of small dense matrices for the prompt-by-prompt model (§13).
//
// At run-time sizes (d + 1 without a compile-time kernel, d = 50 say) a training step is almost
// all (d+1)×(d+1) products (§13). Eigen's general product handles the ragged edges of a
// 51×51 matrix with slower paths; here C is cut into tiles of up to 12 rows (AVX2) or 32 (AVX-512),
// each summed in vector registers and written from them, sized so that every tile keeps the FMA
// pipes busy (small_gemm.cpp).
#pragma once

namespace linicl {

// c = base + alpha·op(a)·op(b), all column-major: op(a) is m×k (a, or aᵀ if trans_a), op(b) is
// k×n, c is m×n. `base` (laid out as c) may be null, read as zero, or equal to c; a and b must
// not overlap c.
// Each element is summed over k in order, in one register lane, and added to base as
// base + alpha·sum (one fused multiply-add where the build has FMA): the result depends on the
// operands only, never on threads or on how C is tiled.
void small_gemm(int m, int n, int k, double alpha, const double* a, int lda, bool trans_a,
                const double* b, int ldb, bool trans_b, const double* base, double* c, int ldc);

// c = alpha·a·aᵀ for a m×k (column-major, leading dimension lda; c m×m, ldc): the same numbers
// as small_gemm(m, m, k, alpha, a, lda, false, a, lda, true, nullptr, c, ldc), bit for bit,
// for about half the work (the tiles below the diagonal, then a copy).
void small_gram(int m, int k, double alpha, const double* a, int lda, double* c, int ldc);

}  // namespace linicl
