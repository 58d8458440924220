// The lane back end of gram_layers.hpp: the (d+1)×(d+1) products of kLanes prompts at once,
// stored lane-innermost so that every multiply-add runs on kLanes prompts in one SIMD
// instruction (model_lanes.hpp, §13). Private to src/model/.
#pragma once

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include <Eigen/Dense>
#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "linicl/model/model_lanes.hpp"

namespace linicl {
namespace lanes {

constexpr int W = kLanes;

// Operands of a product of M×M matrices. A batched one holds kLanes values per element;
// a shared one (a weight matrix, Eigen's column-major storage) the same value for all lanes.
// `T` reads the matrix transposed.
template <int M, bool T>
struct Batched {
  const double* data;
  const double* at(int i, int k) const { return data + (T ? k * M + i : i * M + k) * W; }
};
template <int M, bool T>
struct Shared {
  const double* data;
  double at(int i, int k) const { return T ? data[i * M + k] : data[k * M + i]; }
};

template <class X>
inline double lane(const X& x, int l) {
  if constexpr (std::is_pointer_v<X>) {
    return x[l];
  } else {
    return x;
  }
}

// c = base + alpha·A·B, base = 0 when null (base may be c itself, not A or B). A row of c
// stays in registers (M accumulators of kLanes each) while k runs, so the multiply-adds are
// independent and throughput-bound.
template <int M, class A, class B>
void product(const A& a, const B& b, double alpha, const double* base, double* c) {
  for (int i = 0; i < M; ++i) {
    double row[M][W] = {};
    for (int k = 0; k < M; ++k) {
      const auto x = a.at(i, k);
      for (int j = 0; j < M; ++j) {
        const auto y = b.at(k, j);
#pragma omp simd
        for (int l = 0; l < W; ++l) row[j][l] += lane(x, l) * lane(y, l);
      }
    }
    for (int j = 0; j < M; ++j) {
      const double* in = base ? base + (i * M + j) * W : nullptr;
      double* out = c + (i * M + j) * W;
#pragma omp simd
      for (int l = 0; l < W; ++l) out[l] = (in ? in[l] : 0.0) + alpha * row[j][l];
    }
  }
}

// sum_i += Σ_j A(i, j)·v_j for A (M×M, batched or shared) and batched v (M), j in order. All
// rows at once: their M·kLanes sums are independent chains, where one row at a time waited on M
// multiply-adds in a row.
template <int M, class A>
void accumulate_product(const A& a, const double* v, double (&sum)[M][W]) {
  for (int j = 0; j < M; ++j) {
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const auto aij = a.at(i, j);
#pragma omp simd
      for (int l = 0; l < W; ++l) sum[i][l] += lane(aij, l) * v[j * W + l];
    }
  }
}

// out = v + A v for A (M×M, batched) and v (M), each out_i summed from v_i.
template <int M, class A>
void add_product(const A& a, const double* v, double* out) {
  double sum[M][W];
  for (int i = 0; i < M; ++i) std::copy_n(v + i * W, W, sum[i]);
  accumulate_product<M>(a, v, sum);
  for (int i = 0; i < M; ++i) std::copy_n(sum[i], W, out + i * W);
}

// out = base + alpha·A v for A (M×M, batched or shared) and batched v (M), base = 0 when null
// (base may be out, not v).
template <int M, class A>
void times_vector(const A& a, const double* v, double alpha, const double* base, double* out) {
  double sum[M][W] = {};
  accumulate_product<M>(a, v, sum);
  for (int i = 0; i < M; ++i) {
#pragma omp simd
    for (int l = 0; l < W; ++l) {
      out[i * W + l] = (base ? base[i * W + l] : 0.0) + alpha * sum[i][l];
    }
  }
}

// t = base + alpha·x yᵀ in every lane (x, y batched vectors of M), base = 0 when null (base may
// be t).
template <int M>
void outer_product(const double* x, const double* y, double alpha, const double* base, double* t) {
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < M; ++j) {
      const std::size_t e = (i * M + j) * W;
#pragma omp simd
      for (int l = 0; l < W; ++l) {
        t[e + l] = (base ? base[e + l] : 0.0) + alpha * (x[i * W + l] * y[j * W + l]);
      }
    }
  }
}

#if defined(__AVX__)
// The 4×4 transpose of four registers: out[k] holds element k of in[0], …, in[3].
inline void transpose4(const __m256d in[4], __m256d out[4]) {
  const __m256d even01 = _mm256_unpacklo_pd(in[0], in[1]), odd01 = _mm256_unpackhi_pd(in[0], in[1]);
  const __m256d even23 = _mm256_unpacklo_pd(in[2], in[3]), odd23 = _mm256_unpackhi_pd(in[2], in[3]);
  out[0] = _mm256_permute2f128_pd(even01, even23, 0x20);
  out[1] = _mm256_permute2f128_pd(odd01, odd23, 0x20);
  out[2] = _mm256_permute2f128_pd(even01, even23, 0x31);
  out[3] = _mm256_permute2f128_pd(odd01, odd23, 0x31);
}
#endif

// sums[e] = Σ_l t[e][l] for the `count` elements of t ([count][kLanes]), each summed in lane
// order starting from 0.0. With AVX, four elements at a time: a 4×4 transpose puts lane l of
// the four into one register, and the adds run in the same order as the scalar loop's.
// (model_lanes.cpp; out of line, where GCC does not misread the tail loop for a constant count)
void lane_sums(const double* t, std::size_t count, double* sums);

// grad(i, j) += scale · Σ_l t(i, j)[l], the lanes summed in order.
template <int M>
void add_lane_sum(const double* t, double scale, Eigen::MatrixXd& grad) {
  double sums[M * M];
  lane_sums(t, M * M, sums);
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < M; ++j) grad(i, j) += scale * sums[i * M + j];
  }
}

// The back end of gram_layers.hpp for kLanes prompts of side M = d + 1: element (i, j) of
// prompt l at [(i·M + j)·kLanes + l].
template <int M>
struct LaneBackend {
  using Buffer = LaneBuffer;
  static constexpr std::size_t mat = M * M * W, vec = M * W;
  template <bool T>
  static Batched<M, T> batched(const double* data, std::bool_constant<T>) {
    return {data};
  }
  template <bool T>
  static Shared<M, T> weight(const Eigen::MatrixXd& matrix, std::bool_constant<T>) {
    return {matrix.data()};
  }
  template <class A, class B>
  static void product(const A& a, const B& b, double alpha, const double* base, double* c) {
    lanes::product<M>(a, b, alpha, base, c);
  }
  template <class A>
  static void times_vector(const A& a, const double* v, double alpha, const double* base,
                           double* out) {
    lanes::times_vector<M>(a, v, alpha, base, out);
  }
  static void outer(const double* x, const double* y, double alpha, const double* base,
                    double* out) {
    outer_product<M>(x, y, alpha, base, out);
  }
  template <class A>
  static void add_product(const A& a, const double* v, double* out) {
    lanes::add_product<M>(a, v, out);
  }
  // out = (x + xᵀ)/2 and out = x + xᵀ, element by element in every lane.
  static void symmetrize(const double* x, double* out) { transpose_sum(x, 0.5, out); }
  static void sum_transpose(const double* x, double* out) { transpose_sum(x, 1.0, out); }
  static void transpose_sum(const double* x, double scale, double* out) {
    for (int i = 0; i < M; ++i) {
      for (int j = 0; j < M; ++j) {
        const double *xij = x + (i * M + j) * W, *xji = x + (j * M + i) * W;
        double* o = out + (i * M + j) * W;
        for (int l = 0; l < W; ++l) o[l] = scale * (xij[l] + xji[l]);
      }
    }
  }
  static void accumulate(const double* x, double alpha, Eigen::MatrixXd& grad) {
    add_lane_sum<M>(x, alpha, grad);
  }
  static void predict(const double* q_last, double* prediction) {
    for (int l = 0; l < W; ++l) prediction[l] = -q_last[(M - 1) * W + l];  // ŷ = −[q_L]_{d+1}
  }
  static void seed(const double* dloss_dpred, double* query_grad) {
    std::fill(query_grad, query_grad + vec, 0.0);
    for (int l = 0; l < W; ++l) query_grad[(M - 1) * W + l] = -dloss_dpred[l];
  }
};

}  // namespace lanes

using lanes::LaneBackend;

}  // namespace linicl
