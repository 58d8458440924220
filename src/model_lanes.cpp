#include "linicl/model_lanes.hpp"

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

// c = alpha·A·B (+ c when accumulate). A row of c stays in registers (M accumulators of
// kLanes each) while k runs, so the multiply-adds are independent and throughput-bound.
template <int M, class A, class B>
void product(const A& a, const B& b, double alpha, bool accumulate, double* c) {
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
      double* out = c + (i * M + j) * W;
#pragma omp simd
      for (int l = 0; l < W; ++l) out[l] = (accumulate ? out[l] : 0.0) + alpha * row[j][l];
    }
  }
}

// grad(i, j) += scale · Σ_l t(i, j)[l], the lanes summed in order.
template <int M>
void add_lane_sum(const double* t, double scale, Eigen::MatrixXd& grad) {
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < M; ++j) {
      const double* v = t + (i * M + j) * W;
      double sum = 0.0;
      for (int l = 0; l < W; ++l) sum += v[l];
      grad(i, j) += scale * sum;
    }
  }
}

void resize(std::vector<double>& v, std::size_t size) {
  if (v.size() != size) v.assign(size, 0.0);
}

template <int M>
void forward_sized(const Weights& w, const LanePrompts& prompts, LaneTape& tape, LaneWorkspace& ws,
                   double* prediction) {
  constexpr std::size_t kMat = M * M * W, kVec = M * W;
  resize(tape.gram, (w.layers + 1) * kMat);
  resize(tape.query, (w.layers + 1) * kVec);
  resize(tape.attention, w.layers * kMat);
  for (auto* v : {&ws.a, &ws.b, &ws.c}) resize(*v, kMat);
  const double inv_n = 1.0 / prompts.context;
  std::copy(prompts.gram.begin(), prompts.gram.end(), tape.gram.begin());
  std::copy(prompts.query.begin(), prompts.query.end(), tape.query.begin());
  for (int layer = 0; layer < w.layers; ++layer) {
    const double* g = &tape.gram[layer * kMat];
    double* k = &tape.attention[layer * kMat];
    // K_ℓ = (1/n) Σ_h P_h G_ℓ Q_h   (§3.2)
    for (int h = 0; h < w.heads; ++h) {
      product<M>(Shared<M, false>{w.p(layer, h).data()}, Batched<M, false>{g}, 1.0, false,
                 ws.a.data());
      product<M>(Batched<M, false>{ws.a.data()}, Shared<M, false>{w.q(layer, h).data()}, inv_n,
                 h > 0, k);
    }
    // G_{ℓ+1} = B + B Kᵀ with B = G + K G, symmetrized (as in model.cpp).
    std::copy(g, g + kMat, ws.b.begin());
    product<M>(Batched<M, false>{k}, Batched<M, false>{g}, 1.0, true, ws.b.data());
    std::copy(ws.b.begin(), ws.b.end(), ws.c.begin());
    product<M>(Batched<M, false>{ws.b.data()}, Batched<M, true>{k}, 1.0, true, ws.c.data());
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
    const double* q = &tape.query[layer * kVec];
    double* q_next = &tape.query[(layer + 1) * kVec];
    for (int i = 0; i < M; ++i) {
      double sum[W];
      std::copy_n(q + i * W, W, sum);
      for (int j = 0; j < M; ++j) {
        const double* kij = k + (i * M + j) * W;
#pragma omp simd
        for (int l = 0; l < W; ++l) sum[l] += kij[l] * q[j * W + l];
      }
      std::copy_n(sum, W, q_next + i * W);
    }
  }
  const double* q_last = &tape.query[w.layers * kVec];
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
  resize(ws.query_grad, kVec);
  resize(ws.next_query_grad, kVec);
  const double inv_n = 1.0 / prompts.context;
  std::fill(ws.query_grad.begin(), ws.query_grad.end(), 0.0);
  for (int l = 0; l < W; ++l) ws.query_grad[(M - 1) * W + l] = -dloss_dpred[l];
  bool has_gram_grad = false;
  for (int layer = w.layers - 1; layer >= 0; --layer) {
    const double* g = &tape.gram[layer * kMat];
    const double* k = &tape.attention[layer * kMat];
    const double* q = &tape.query[layer * kVec];
    // K̄ = q̄' q_ℓᵀ, plus (Ḡ' + Ḡ'ᵀ) A G_ℓ below the top layer
    for (int i = 0; i < M; ++i) {
      for (int j = 0; j < M; ++j) {
        double* out = &ws.k_grad[(i * M + j) * W];
        for (int l = 0; l < W; ++l) out[l] = ws.query_grad[i * W + l] * q[j * W + l];
      }
    }
    if (has_gram_grad) {
      const double* gg = ws.gram_grad.data();
      std::copy(g, g + kMat, ws.b.begin());
      product<M>(Batched<M, false>{k}, Batched<M, false>{g}, 1.0, true, ws.b.data());  // A G
      for (int i = 0; i < M; ++i) {
        for (int j = 0; j < M; ++j) {
          double* out = &ws.a[(i * M + j) * W];
          for (int l = 0; l < W; ++l) out[l] = gg[(i * M + j) * W + l] + gg[(j * M + i) * W + l];
        }
      }
      product<M>(Batched<M, false>{ws.a.data()}, Batched<M, false>{ws.b.data()}, 1.0, true,
                 ws.k_grad.data());
      std::copy(gg, gg + kMat, ws.c.begin());
      product<M>(Batched<M, false>{gg}, Batched<M, false>{k}, 1.0, true, ws.c.data());  // Ḡ'A
      std::copy(ws.c.begin(), ws.c.end(), ws.next_gram_grad.begin());
      product<M>(Batched<M, true>{k}, Batched<M, false>{ws.c.data()}, 1.0, true,
                 ws.next_gram_grad.data());  // Aᵀ Ḡ' A
    } else {
      std::fill(ws.next_gram_grad.begin(), ws.next_gram_grad.end(), 0.0);
    }
    for (int h = 0; h < w.heads; ++h) {
      const double* p = w.p(layer, h).data();
      const double* qh = w.q(layer, h).data();
      // P̄_h += (1/n) K̄ Q_hᵀ G_ℓ,  Q̄_h += (1/n) G_ℓ P_hᵀ K̄,  Ḡ += (1/n) P_hᵀ K̄ Q_hᵀ
      product<M>(Batched<M, false>{ws.k_grad.data()}, Shared<M, true>{qh}, 1.0, false, ws.a.data());
      product<M>(Batched<M, false>{ws.a.data()}, Batched<M, false>{g}, 1.0, false, ws.b.data());
      add_lane_sum<M>(ws.b.data(), inv_n, grad.p(layer, h));
      product<M>(Batched<M, false>{g}, Shared<M, true>{p}, 1.0, false, ws.b.data());
      product<M>(Batched<M, false>{ws.b.data()}, Batched<M, false>{ws.k_grad.data()}, 1.0, false,
                 ws.a.data());
      add_lane_sum<M>(ws.a.data(), inv_n, grad.q(layer, h));
      product<M>(Shared<M, true>{p}, Batched<M, false>{ws.k_grad.data()}, 1.0, false, ws.c.data());
      product<M>(Batched<M, false>{ws.c.data()}, Shared<M, true>{qh}, inv_n, true,
                 ws.next_gram_grad.data());
    }
    // q̄ = Aᵀ q̄'
    for (int i = 0; i < M; ++i) {
      double sum[W];
      std::copy_n(&ws.query_grad[i * W], W, sum);
      for (int j = 0; j < M; ++j) {
        const double* kji = k + (j * M + i) * W;
#pragma omp simd
        for (int l = 0; l < W; ++l) sum[l] += kji[l] * ws.query_grad[j * W + l];
      }
      std::copy_n(sum, W, &ws.next_query_grad[i * W]);
    }
    std::swap(ws.gram_grad, ws.next_gram_grad);
    std::swap(ws.query_grad, ws.next_query_grad);
    has_gram_grad = true;
  }
}

// The sides with lane kernels: body(std::integral_constant<int, M>()) for them, else
// fallback().
[[noreturn]] void no_lane_kernels() {
  throw std::logic_error("no lane kernels for this size");
}

template <class Body, class Fallback>
decltype(auto) dispatch_lanes(int side, Body&& body, Fallback&& fallback) {
  return dispatch_size<2, 3, 4, 5, 6, 11>(side, std::forward<Body>(body),
                                          std::forward<Fallback>(fallback));
}

}  // namespace

bool has_lane_kernels(int side) {
  return dispatch_lanes(
      side, [](auto) { return true; }, [] { return false; });
}

void embed_lanes(const Prompt* prompts, int count, LanePrompts& out) {
  const int d = static_cast<int>(prompts[0].x.rows());
  const int n = static_cast<int>(prompts[0].x.cols()) - 1;
  const int m = d + 1;
  out.dim = d;
  out.context = n;
  out.count = count;
  out.gram.assign(static_cast<std::size_t>(m) * m * W, 0.0);
  out.query.assign(static_cast<std::size_t>(m) * W, 0.0);
  std::fill(out.target, out.target + W, 0.0);
  // z_t = [x_t; y_t] of every lane, lane-innermost, then G_0 = Σ_{t≤n} z_t z_tᵀ (the query
  // is masked out) in SIMD lanes: the upper triangle, then mirrored.
  out.columns.assign(static_cast<std::size_t>(n) * m * W, 0.0);
  for (int l = 0; l < count; ++l) {
    const Prompt& p = prompts[l];
    for (int t = 0; t < n; ++t) {
      double* z = &out.columns[static_cast<std::size_t>(t) * m * W + l];
      for (int i = 0; i < d; ++i) z[i * W] = p.x(i, t);
      z[d * W] = p.y(t);
    }
    for (int i = 0; i < d; ++i) out.query[static_cast<std::size_t>(i) * W + l] = p.x(i, n);
    out.target[l] = p.y(n);
  }
  for (int i = 0; i < m; ++i) {
    for (int j = i; j < m; ++j) {
      double sum[W] = {};
      for (int t = 0; t < n; ++t) {
        const double* z = &out.columns[static_cast<std::size_t>(t) * m * W];
#pragma omp simd
        for (int l = 0; l < W; ++l) sum[l] += z[i * W + l] * z[j * W + l];
      }
      std::copy_n(sum, W, &out.gram[static_cast<std::size_t>(i * m + j) * W]);
      std::copy_n(sum, W, &out.gram[static_cast<std::size_t>(j * m + i) * W]);
    }
  }
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
