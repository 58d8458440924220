#include "linicl/model/model_lanes.hpp"

#if defined(__AVX__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "size_dispatch.hpp"

namespace linicl {

namespace {

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

// out = v + A v (T: v + Aᵀ v) for batched A (M×M) and v (M), each out_i summed from v_i.
template <int M, bool T>
void add_product(const double* a, const double* v, double* out) {
  double sum[M][W];
  for (int i = 0; i < M; ++i) std::copy_n(v + i * W, W, sum[i]);
  accumulate_product<M>(Batched<M, T>{a}, v, sum);
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
void lane_sums(const double* t, std::size_t count, double* sums) {
  std::size_t e = 0;
#if defined(__AVX__)
  static_assert(W == 8, "two registers of four lanes per element");
  for (; e + 4 <= count; e += 4) {
    __m256d acc = _mm256_setzero_pd();
    for (int half = 0; half < 2; ++half) {  // lanes 0-3, then 4-7
      const double* v = t + e * W + 4 * half;
      __m256d rows[4], lanes[4];  // four elements' lanes; then lane k of the four elements
      for (int k = 0; k < 4; ++k) rows[k] = _mm256_loadu_pd(v + k * W);
      transpose4(rows, lanes);
      for (int k = 0; k < 4; ++k) acc = _mm256_add_pd(acc, lanes[k]);  // lanes in order
    }
    _mm256_storeu_pd(sums + e, acc);
  }
#endif
  for (; e < count; ++e) {
    double sum = 0.0;
    for (int l = 0; l < W; ++l) sum += t[e * W + l];
    sums[e] = sum;
  }
}

// grad(i, j) += scale · Σ_l t(i, j)[l], the lanes summed in order.
template <int M>
void add_lane_sum(const double* t, double scale, Eigen::MatrixXd& grad) {
  double sums[M * M];
  lane_sums(t, M * M, sums);
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < M; ++j) grad(i, j) += scale * sums[i * M + j];
  }
}

void resize(LaneBuffer& v, std::size_t size) {
  if (v.size() != size) v.assign(size, 0.0);
}

template <int M>
void forward_sized(const Weights& w, const LanePrompts& prompts, LaneTape& tape, LaneWorkspace& ws,
                   double* prediction) {
  constexpr std::size_t kMat = M * M * W, kVec = M * W;
  const int top = w.layers - 1;
  resize(tape.gram, w.layers * kMat);
  resize(tape.query, (w.layers + 1) * kVec);
  resize(tape.attention, top * kMat);
  resize(tape.top_keys, w.heads * kVec);
  resize(tape.top_values, w.heads * kVec);
  for (auto* v : {&ws.a, &ws.b, &ws.c}) resize(*v, kMat);
  const double inv_n = 1.0 / prompts.context;
  std::copy(prompts.gram.begin(), prompts.gram.end(), tape.gram.begin());
  std::copy(prompts.query.begin(), prompts.query.end(), tape.query.begin());
  for (int layer = 0; layer < top; ++layer) {
    const double* g = &tape.gram[layer * kMat];
    double* k = &tape.attention[layer * kMat];
    // K_ℓ = (1/n) Σ_h P_h G_ℓ Q_h   (§3.2)
    for (int h = 0; h < w.heads; ++h) {
      product<M>(Shared<M, false>{w.p(layer, h).data()}, Batched<M, false>{g}, 1.0, nullptr,
                 ws.a.data());
      product<M>(Batched<M, false>{ws.a.data()}, Shared<M, false>{w.q(layer, h).data()}, inv_n,
                 h > 0 ? k : nullptr, k);
    }
    // G_{ℓ+1} = B + B Kᵀ with B = G + K G, symmetrized (as in model.cpp).
    product<M>(Batched<M, false>{k}, Batched<M, false>{g}, 1.0, g, ws.b.data());
    product<M>(Batched<M, false>{ws.b.data()}, Batched<M, true>{k}, 1.0, ws.b.data(), ws.c.data());
    double* next = &tape.gram[(layer + 1) * kMat];
    for (int i = 0; i < M; ++i) {
      for (int j = 0; j < M; ++j) {
        const double* cij = &ws.c[(i * M + j) * W];
        const double* cji = &ws.c[(j * M + i) * W];
        double* out = next + (i * M + j) * W;
        for (int l = 0; l < W; ++l) out[l] = 0.5 * (cij[l] + cji[l]);
      }
    }
    // q_{ℓ+1} = q_ℓ + K_ℓ q_ℓ
    add_product<M, false>(k, &tape.query[layer * kVec], &tape.query[(layer + 1) * kVec]);
  }
  // The top layer (as in model.cpp): q_L = q + (1/n) Σ_h P_h v_h, v_h = G u_h, u_h = Q_h q.
  const double* g = &tape.gram[top * kMat];
  const double* q = &tape.query[top * kVec];
  double* q_last = &tape.query[w.layers * kVec];
  for (int h = 0; h < w.heads; ++h) {
    double* u = &tape.top_keys[h * kVec];
    double* v = &tape.top_values[h * kVec];
    times_vector<M>(Shared<M, false>{w.q(top, h).data()}, q, 1.0, nullptr, u);
    times_vector<M>(Batched<M, false>{g}, u, 1.0, nullptr, v);
    times_vector<M>(Shared<M, false>{w.p(top, h).data()}, v, inv_n, h > 0 ? q_last : q, q_last);
  }
  for (int l = 0; l < W; ++l) prediction[l] = -q_last[(M - 1) * W + l];  // ŷ = −[q_L]_{d+1}
}

// Reverse mode as backward() in model.cpp (the formulas are derived there).
template <int M>
void backward_sized(const Weights& w, const LanePrompts& prompts, const LaneTape& tape,
                    const double* dloss_dpred, Weights& grad, LaneWorkspace& ws) {
  constexpr std::size_t kMat = M * M * W, kVec = M * W;
  for (auto* v : {&ws.a, &ws.b, &ws.c, &ws.gram_grad, &ws.next_gram_grad, &ws.k_grad}) {
    resize(*v, kMat);
  }
  for (auto* v : {&ws.query_grad, &ws.next_query_grad, &ws.top_r, &ws.top_s}) {
    resize(*v, kVec);
  }
  const double inv_n = 1.0 / prompts.context;
  std::fill(ws.query_grad.begin(), ws.query_grad.end(), 0.0);
  for (int l = 0; l < W; ++l) ws.query_grad[(M - 1) * W + l] = -dloss_dpred[l];

  // The top layer, K̄ = q̄' qᵀ of rank one: with r_h = P_hᵀ q̄' and s_h = G r_h,
  //   P̄_h += (1/n) q̄' v_hᵀ,  Q̄_h += (1/n) s_h qᵀ,  Ḡ = (1/n) Σ_h r_h u_hᵀ,
  //   q̄ = q̄' + (1/n) Σ_h Q_hᵀ s_h.
  const int top = w.layers - 1;
  const bool below_top = top > 0;
  {
    const double* g = &tape.gram[top * kMat];
    const double* q = &tape.query[top * kVec];
    double *r = ws.top_r.data(), *s = ws.top_s.data();
    for (int h = 0; h < w.heads; ++h) {
      const double* p = w.p(top, h).data();
      const double* qh = w.q(top, h).data();
      times_vector<M>(Shared<M, true>{p}, ws.query_grad.data(), 1.0, nullptr, r);
      times_vector<M>(Batched<M, false>{g}, r, 1.0, nullptr, s);
      outer_product<M>(ws.query_grad.data(), &tape.top_values[h * kVec], 1.0, nullptr, ws.a.data());
      add_lane_sum<M>(ws.a.data(), inv_n, grad.p(top, h));
      outer_product<M>(s, q, 1.0, nullptr, ws.a.data());
      add_lane_sum<M>(ws.a.data(), inv_n, grad.q(top, h));
      if (!below_top) continue;
      outer_product<M>(r, &tape.top_keys[h * kVec], inv_n, h > 0 ? ws.gram_grad.data() : nullptr,
                       ws.gram_grad.data());
      times_vector<M>(Shared<M, true>{qh}, s, inv_n,
                      h > 0 ? ws.next_query_grad.data() : ws.query_grad.data(),
                      ws.next_query_grad.data());
    }
    if (!below_top) return;
    std::swap(ws.query_grad, ws.next_query_grad);
  }

  for (int layer = top - 1; layer >= 0; --layer) {
    const bool below = layer > 0;  // whether the layer below needs Ḡ_ℓ and q̄_ℓ
    const double* g = &tape.gram[layer * kMat];
    const double* k = &tape.attention[layer * kMat];
    const double* q = &tape.query[layer * kVec];
    const double* gg = ws.gram_grad.data();
    // K̄ = q̄' q_ℓᵀ + (Ḡ' + Ḡ'ᵀ) A G_ℓ
    outer_product<M>(ws.query_grad.data(), q, 1.0, nullptr, ws.k_grad.data());
    product<M>(Batched<M, false>{k}, Batched<M, false>{g}, 1.0, g, ws.b.data());  // A G
    for (int i = 0; i < M; ++i) {
      for (int j = 0; j < M; ++j) {
        double* out = &ws.a[(i * M + j) * W];
        for (int l = 0; l < W; ++l) out[l] = gg[(i * M + j) * W + l] + gg[(j * M + i) * W + l];
      }
    }
    product<M>(Batched<M, false>{ws.a.data()}, Batched<M, false>{ws.b.data()}, 1.0,
               ws.k_grad.data(), ws.k_grad.data());
    if (below) {
      product<M>(Batched<M, false>{gg}, Batched<M, false>{k}, 1.0, gg, ws.c.data());  // Ḡ'A
      product<M>(Batched<M, true>{k}, Batched<M, false>{ws.c.data()}, 1.0, ws.c.data(),
                 ws.next_gram_grad.data());  // Aᵀ Ḡ' A
    }
    for (int h = 0; h < w.heads; ++h) {
      const double* p = w.p(layer, h).data();
      const double* qh = w.q(layer, h).data();
      // P̄_h += (1/n) K̄ Q_hᵀ G_ℓ,  Q̄_h += (1/n) G_ℓ P_hᵀ K̄,  Ḡ += (1/n) P_hᵀ K̄ Q_hᵀ
      product<M>(Batched<M, false>{ws.k_grad.data()}, Shared<M, true>{qh}, 1.0, nullptr,
                 ws.a.data());
      product<M>(Batched<M, false>{ws.a.data()}, Batched<M, false>{g}, 1.0, nullptr, ws.b.data());
      add_lane_sum<M>(ws.b.data(), inv_n, grad.p(layer, h));
      product<M>(Batched<M, false>{g}, Shared<M, true>{p}, 1.0, nullptr, ws.b.data());
      product<M>(Batched<M, false>{ws.b.data()}, Batched<M, false>{ws.k_grad.data()}, 1.0, nullptr,
                 ws.a.data());
      add_lane_sum<M>(ws.a.data(), inv_n, grad.q(layer, h));
      if (!below) continue;
      product<M>(Shared<M, true>{p}, Batched<M, false>{ws.k_grad.data()}, 1.0, nullptr,
                 ws.c.data());
      product<M>(Batched<M, false>{ws.c.data()}, Shared<M, true>{qh}, inv_n,
                 ws.next_gram_grad.data(), ws.next_gram_grad.data());
    }
    if (!below) break;
    // q̄ = Aᵀ q̄'
    add_product<M, true>(k, ws.query_grad.data(), ws.next_query_grad.data());
    std::swap(ws.gram_grad, ws.next_gram_grad);
    std::swap(ws.query_grad, ws.next_query_grad);
  }
}

// The sides with lane kernels: body(std::integral_constant<int, M>()) for them, else
// fallback().
[[noreturn]] void no_lane_kernels() {
  throw std::logic_error("no lane kernels for this size");
}

template <class Body, class Fallback>
decltype(auto) dispatch_lanes(int side, Body&& body, Fallback&& fallback) {
  return dispatch_kernel_size(side, std::forward<Body>(body), std::forward<Fallback>(fallback));
}

}  // namespace

bool has_lane_kernels(int side) {
  return dispatch_lanes(
      side, [](auto) { return true; }, [] { return false; });
}

namespace {

// Row I of G_0 = Σ_{t<n} z_t z_tᵀ (the query is masked out) over the columns z_t = [x_t; y_t]
// of every lane, z stored [n][M][kLanes]: the upper-triangle elements (I, j ≥ I) stay in
// registers while t runs (I is a constant, so the j loop unrolls), each summed over t in
// order; they are mirrored into the lower triangle.
template <int M, int I>
void gram_row_lanes(const double* z, int n, double* gram) {
  double row[M - I][W] = {};
  for (int t = 0; t < n; ++t) {
    const double* zt = z + static_cast<std::size_t>(t) * M * W;
    for (int j = I; j < M; ++j) {
#pragma omp simd
      for (int l = 0; l < W; ++l) row[j - I][l] += zt[I * W + l] * zt[j * W + l];
    }
  }
  for (int j = I; j < M; ++j) {
    std::copy_n(row[j - I], W, gram + (I * M + j) * W);
    std::copy_n(row[j - I], W, gram + (j * M + I) * W);
  }
}

// The columns z_t = [x_t; y_t] (t < n) of every lane into z[n][M][kLanes], lane-innermost: a
// transpose of kLanes contiguous runs of n·M numbers, four by four where AVX is there. The query
// [x_{n+1}; 0] goes into query[M][kLanes]; lanes past count are zero.
template <int M>
void columns_lanes(const PromptColumns* prompts, int count, int n, double* z, double* query,
                   double* target) {
  constexpr int d = M - 1;
  const std::size_t size = static_cast<std::size_t>(n) * M;
  const double* lane_z[W];
  for (int l = 0; l < W; ++l) lane_z[l] = l < count ? prompts[l].z.data() : nullptr;
  std::size_t e = 0;
#if defined(__AVX__)
  for (; e + 4 <= size; e += 4) {
    for (int l = 0; l < W; l += 4) {
      __m256d runs[4], columns[4];  // four lanes' runs e…e+3; then element e + k of the four
      for (int k = 0; k < 4; ++k) {
        runs[k] = lane_z[l + k] ? _mm256_loadu_pd(lane_z[l + k] + e) : _mm256_setzero_pd();
      }
      transpose4(runs, columns);
      for (int k = 0; k < 4; ++k) _mm256_storeu_pd(z + (e + k) * W + l, columns[k]);
    }
  }
#endif
  for (; e < size; ++e) {
    for (int l = 0; l < W; ++l) z[e * W + l] = lane_z[l] ? lane_z[l][e] : 0.0;
  }
  for (int l = 0; l < W; ++l) {
    const double* last = lane_z[l] ? lane_z[l] + size : nullptr;  // the query column
    for (int i = 0; i < d; ++i) query[i * W + l] = last ? last[i] : 0.0;
    query[d * W + l] = 0.0;
    target[l] = last ? last[d] : 0.0;
  }
}

// In place of ε: y = σ·ε + Σ_j w_j x_j for every lane's n columns (row d of z) and query (the
// target), summed as the sampler sums them (from σ·ε, over j in order, one fused_multiply_add
// per term), so the labels are the same bit for bit; eight prompts at once instead of one.
template <int M>
void label_lanes(const PromptColumns* prompts, int count, int n, double* z, const double* query,
                 double* target) {
  constexpr int d = M - 1;
  double w[d][W] = {};  // lanes past count: zero, and so are their labels
  for (int l = 0; l < count; ++l) {
    for (int j = 0; j < d; ++j) w[j][l] = prompts[l].w[j];
  }
  const double noise = prompts[0].noise;
  for (int t = 0; t <= n; ++t) {
    const double* x = t < n ? z + static_cast<std::size_t>(t) * M * W : query;
    double* y = t < n ? z + (static_cast<std::size_t>(t) * M + d) * W : target;
    double sum[W];
#pragma omp simd
    for (int l = 0; l < W; ++l) sum[l] = noise * y[l];
    for (int j = 0; j < d; ++j) {
#pragma omp simd
      for (int l = 0; l < W; ++l) sum[l] = fused_multiply_add(x[j * W + l], w[j][l], sum[l]);
    }
    std::copy_n(sum, W, y);
  }
}

template <int M, int... I>
void gram_lanes(const double* z, int n, double* gram, std::integer_sequence<int, I...>) {
  (gram_row_lanes<M, I>(z, n, gram), ...);
}

}  // namespace

void clear_lane(LanePrompts& prompts, LaneTape& tape, int lane) {
  for (LaneBuffer* buffer : {&prompts.gram, &prompts.query, &prompts.columns, &tape.gram,
                             &tape.query, &tape.attention, &tape.top_keys, &tape.top_values}) {
    for (std::size_t i = lane; i < buffer->size(); i += kLanes) (*buffer)[i] = 0.0;
  }
  prompts.target[lane] = 0.0;
}

void embed_lanes(const PromptColumns* prompts, int count, LanePrompts& out) {
  for (int l = 1; l < count; ++l) {
    if (prompts[l].labelled != prompts[0].labelled) {
      throw std::logic_error("embed_lanes: labelled and unlabelled prompts mixed");
    }
  }
  const int d = static_cast<int>(prompts[0].z.rows()) - 1;
  const int n = static_cast<int>(prompts[0].z.cols()) - 1;
  const int m = d + 1;
  out.dim = d;
  out.context = n;
  out.count = count;
  resize(out.gram, static_cast<std::size_t>(m) * m * W);
  resize(out.query, static_cast<std::size_t>(m) * W);
  resize(out.columns, static_cast<std::size_t>(n) * m * W);
  dispatch_lanes(
      m,
      [&](auto side) {
        constexpr int M = decltype(side)::value;
        columns_lanes<M>(prompts, count, n, out.columns.data(), out.query.data(), out.target);
        if (!prompts[0].labelled) {
          label_lanes<M>(prompts, count, n, out.columns.data(), out.query.data(), out.target);
        }
        gram_lanes<M>(out.columns.data(), n, out.gram.data(), std::make_integer_sequence<int, M>());
      },
      no_lane_kernels);
}

void forward_lanes(const Weights& w, const LanePrompts& prompts, LaneTape& tape, LaneWorkspace& ws,
                   double* prediction) {
  dispatch_lanes(
      w.dim + 1,
      [&](auto side) { forward_sized<decltype(side)::value>(w, prompts, tape, ws, prediction); },
      no_lane_kernels);
}

void backward_lanes(const Weights& w, const LanePrompts& prompts, const LaneTape& tape,
                    const double* dloss_dpred, Weights& grad, LaneWorkspace& ws) {
  dispatch_lanes(
      w.dim + 1,
      [&](auto side) {
        backward_sized<decltype(side)::value>(w, prompts, tape, dloss_dpred, grad, ws);
      },
      no_lane_kernels);
}

}  // namespace linicl
