#include "linicl/model/model_lanes.hpp"

#include <algorithm>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "gram_layers.hpp"
#include "lane_backend.hpp"
#include "size_dispatch.hpp"

namespace linicl {

namespace lanes {

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

}  // namespace lanes

namespace {

constexpr int W = kLanes;
using gram::size;
#if defined(__AVX__)
using lanes::transpose4;
#endif

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

// In place of ε: the labels of every lane's n columns (row d of z) and query (the target) by
// sum_labels (task.hpp), as the sampler sums them, so they are the same bit for bit; eight
// prompts at once instead of one.
template <int M>
void label_lanes(const PromptColumns* prompts, int count, int n, double* z, const double* query,
                 double* target) {
  constexpr int d = M - 1;
  double w[d][W] = {};  // lanes past count: zero, and so are their labels
  for (int l = 0; l < count; ++l) {
    for (int j = 0; j < d; ++j) w[j][l] = prompts[l].w[j];
  }
  for (int t = 0; t <= n; ++t) {
    const double* x = t < n ? z + static_cast<std::size_t>(t) * M * W : query;
    double* y = t < n ? z + (static_cast<std::size_t>(t) * M + d) * W : target;
    sum_labels<W>(
        prompts[0].noise, d, [&](int l, int j) { return x[j * W + l]; },
        [&](int l, int j) { return w[j][l]; }, [&](int l) -> double& { return y[l]; });
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
  size(out.gram, static_cast<std::size_t>(m) * m * W);
  size(out.query, static_cast<std::size_t>(m) * W);
  size(out.columns, static_cast<std::size_t>(n) * m * W);
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
      [&](auto side) {
        const LaneBackend<decltype(side)::value> be;
        gram::size_tape(be, w.layers, w.heads, tape);
        std::copy(prompts.gram.begin(), prompts.gram.end(), tape.gram.begin());
        std::copy(prompts.query.begin(), prompts.query.end(), tape.query.begin());
        gram::forward(be, w, 1.0 / prompts.context, tape, ws);
        be.predict(&tape.query[w.layers * be.vec], prediction);
      },
      no_lane_kernels);
}

void backward_lanes(const Weights& w, const LanePrompts& prompts, const LaneTape& tape,
                    const double* dloss_dpred, Weights& grad, LaneWorkspace& ws) {
  dispatch_lanes(
      w.dim + 1,
      [&](auto side) {
        const LaneBackend<decltype(side)::value> be;
        gram::backward(be, w, 1.0 / prompts.context, tape, dloss_dpred, grad, ws);
      },
      no_lane_kernels);
}

}  // namespace linicl
