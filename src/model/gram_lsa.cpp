#include "linicl/model/gram_lsa.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

#include "gram_layers.hpp"
#include "linicl/model/model_lanes.hpp"
#include "linicl/model/small_gemm.hpp"
#include "prompt_backend.hpp"

namespace linicl {

namespace {

// Sizes `out` for d + 1 = m and n context columns, and sets its query x_{n+1} (the m − 1
// entries at `query`), its target and n.
void embed_query(Eigen::Index m, Eigen::Index n, const double* query, double target,
                 EmbeddedPrompt& out) {
  out.gram.resize(m, m);
  out.query.resize(m);
  out.query.head(m - 1) = Eigen::Map<const Eigen::VectorXd>(query, m - 1);
  out.query(m - 1) = 0.0;
  out.target = target;
  out.context = static_cast<int>(n);
}

}  // namespace

// G_0 = Σ_{i≤n} z_i z_iᵀ with z_i = [x_i; y_i]: the query column is masked out (M in §3.2).
// Every entry is one chain of fused multiply-adds over i in order (small_gram, small_gemm), in
// both overloads, so that they agree bit for bit: from the columns one Gram product; from x and
// y the blocks XXᵀ, Xy and yᵀy, the same chains (a product x·y is exact whichever comes first).
void embed(const PromptColumns& prompt, EmbeddedPrompt& out) {
  if (!prompt.labelled) {
    throw std::logic_error("embed: the prompt is unlabelled (sample it with labelled = true)");
  }
  const Eigen::Index m = prompt.z.rows(), n = prompt.z.cols() - 1;
  const double* z = prompt.z.data();
  embed_query(m, n, z + n * m, z[n * m + m - 1], out);
  const int size = static_cast<int>(m), depth = static_cast<int>(n);
  small_gram(size, depth, 1.0, z, size, out.gram.data(), size);
}

void embed(const Prompt& prompt, EmbeddedPrompt& out) {
  const Eigen::Index d = prompt.x.rows(), n = prompt.x.cols() - 1;
  embed_query(d + 1, n, prompt.x.col(n).data(), prompt.y(n), out);
  const int rows = static_cast<int>(d), depth = static_cast<int>(n), ld = rows + 1;
  const int stride = static_cast<int>(prompt.x.outerStride());
  const double *x = prompt.x.data(), *y = prompt.y.data();
  double* gram = out.gram.data();
  small_gram(rows, depth, 1.0, x, stride, gram, ld);
  small_gemm(rows, 1, depth, 1.0, x, stride, false, y, depth, false, nullptr, gram + d * ld, ld);
  small_gemm(1, 1, depth, 1.0, y, depth, true, y, depth, false, nullptr, gram + d * ld + d, ld);
  out.gram.bottomLeftCorner(1, d) = out.gram.topRightCorner(d, 1).transpose();
}

namespace {

// G_0 and q_0 of the prompt into the start of the tape, for a back end whose buffers hold
// `copies` blocks (the values, then for TangentBackend zero derivatives: the data do not move
// with the weights).
template <class Backend>
void load_prompt(const Backend& be, const EmbeddedPrompt& prompt, int layers, int heads,
                 GramTape<std::vector<double>>& tape) {
  gram::size_tape(be, layers, heads, tape);
  std::fill(tape.gram.begin(), tape.gram.begin() + be.mat, 0.0);
  std::fill(tape.query.begin(), tape.query.begin() + be.vec, 0.0);
  std::copy_n(prompt.gram.data(), prompt.gram.size(), tape.gram.begin());
  std::copy_n(prompt.query.data(), prompt.query.size(), tape.query.begin());
}

}  // namespace

double forward(const Weights& w, const EmbeddedPrompt& prompt, Tape& tape, Workspace& ws) {
  const PromptBackend be(w.dim + 1);
  load_prompt(be, prompt, w.layers, w.heads, tape);
  gram::forward(be, w, 1.0 / prompt.context, tape, ws);
  double prediction;
  be.predict(&tape.query[w.layers * be.vec], prediction);
  return prediction;
}

void backward(const Weights& w, const EmbeddedPrompt& prompt, const Tape& tape, double dloss_dpred,
              Weights& grad, Workspace& ws) {
  gram::backward(PromptBackend(w.dim + 1), w, 1.0 / prompt.context, tape, dloss_dpred, grad, ws);
}

// Forward and backward on dual numbers (prompt_backend.hpp): the derivative along dW of the
// gradient of scale·ℓ, whose seed scale·∂ℓ/∂ŷ has derivative scale·∂²ℓ/∂ŷ²·ŷ̇.
double hessian_vector(const Weights& w, const Weights& dw, const EmbeddedPrompt& prompt,
                      double scale, Weights& hv, TangentWorkspace& ws) {
  const TangentBackend be(w.dim + 1);
  const TangentWeights weights(w, dw);
  load_prompt(be, prompt, w.layers, w.heads, ws.tape);
  gram::forward(be, weights, 1.0 / prompt.context, ws.tape, ws.ws);
  Dual prediction;
  be.predict(&ws.tape.query[w.layers * be.vec], prediction);
  const Dual seed{scale * SquaredLoss::derivative(prediction.value - prompt.target),
                  scale * SquaredLoss::second_derivative() * prediction.tangent};
  gram::backward(be, weights, 1.0 / prompt.context, ws.tape, seed, hv, ws.ws);
  return prediction.value;
}

std::vector<Eigen::MatrixXd> query_maps(const Weights& w, const EmbeddedPrompt& prompt) {
  Tape tape;
  Workspace ws;
  forward(w, prompt, tape, ws);
  const int d = w.dim;
  std::vector<Eigen::MatrixXd> maps;
  Eigen::MatrixXd transfer = Eigen::MatrixXd::Identity(d + 1, d + 1);  // T_ℓ
  for (int l = 0; l < w.layers; ++l) {
    maps.push_back(transfer.leftCols(d));
    if (l + 1 < w.layers) {
      const Eigen::Map<const Eigen::MatrixXd> k(&tape.attention[l * (d + 1) * (d + 1)], d + 1,
                                                d + 1);
      transfer += k * transfer;
      continue;
    }
    // The top layer's K = (1/n) Σ_h P_h G Q_h (§3.2), which forward() does not form.
    Eigen::MatrixXd k = Eigen::MatrixXd::Zero(d + 1, d + 1);
    const Eigen::Map<const Eigen::MatrixXd> g(&tape.gram[l * (d + 1) * (d + 1)], d + 1, d + 1);
    for (int h = 0; h < w.heads; ++h) k.noalias() += w.p(l, h) * g * w.q(l, h);
    transfer += (k / prompt.context) * transfer;
  }
  maps.push_back(transfer.leftCols(d));
  return maps;
}

Eigen::MatrixXd induced_weights(const Weights& w, const EmbeddedPrompt& prompt) {
  return readout_weights(query_maps(w, prompt));
}

namespace {

// What one thread of GramLsa keeps between predict() and add_gradient(). On cache lines of its
// own: the threads' scratch is allocated together, and two threads writing next to each other's
// targets would share a line.
struct alignas(64) GramScratch : Model::Scratch {
  std::array<PromptColumns, kLanes> columns;  // inline: written at every prompt
  EmbeddedPrompt embedded;                    // one prompt at a time
  Tape tape;
  Workspace ws;
  LanePrompts lanes;  // kLanes at a time
  LaneTape lane_tape;
  LaneWorkspace lane_ws;
  TangentWorkspace tangent;
};

}  // namespace

GramLsa::GramLsa(int dim) : lanes_(has_lane_kernels(dim + 1)), block_(lanes_ ? kLanes : 1) {}

std::unique_ptr<Model::Scratch> GramLsa::make_scratch() const {
  return std::make_unique<GramScratch>();
}

void GramLsa::predict(const Weights& w, const PromptBlock& block, double* prediction,
                      double* target, Scratch& scratch) const {
  auto& s = static_cast<GramScratch&>(scratch);
  if (!lanes_) {
    block.sampler.sample_columns(block.seed, block.step, block.first, s.columns[0]);
    embed(s.columns[0], s.embedded);  // straight from the columns as drawn, without unpacking
    prediction[0] = forward(w, s.embedded, s.tape, s.ws);
    target[0] = s.embedded.target;
    return;
  }
  for (int b = 0; b < block.count; ++b) {
    // Unlabelled: embed_lanes() labels all eight at once.
    block.sampler.sample_columns(block.seed, block.step, block.first + b, s.columns[b], false);
  }
  embed_lanes(s.columns.data(), block.count, s.lanes);
  double lane_prediction[kLanes];
  forward_lanes(w, s.lanes, s.lane_tape, s.lane_ws, lane_prediction);
  std::copy_n(lane_prediction, block.count, prediction);
  std::copy_n(s.lanes.target, block.count, target);
}

void GramLsa::add_gradient(const Weights& w, const double* dloss, const bool* kept, Weights& grad,
                           Scratch& scratch) const {
  auto& s = static_cast<GramScratch&>(scratch);
  if (!lanes_) {
    if (kept[0]) backward(w, s.embedded, s.tape, dloss[0], grad, s.ws);
    return;
  }
  double lane_dloss[kLanes] = {};
  for (int b = 0; b < s.lanes.count; ++b) {
    if (kept[b]) {
      lane_dloss[b] = dloss[b];
    } else {
      clear_lane(s.lanes, s.lane_tape, b);  // its forward may hold inf or NaN, and 0·inf is NaN
    }
  }
  backward_lanes(w, s.lanes, s.lane_tape, lane_dloss, grad, s.lane_ws);
}

void GramLsa::hessian_vector(const Weights& w, const Weights& dw, const PromptBlock& block,
                             double scale, Weights& hv, Scratch& scratch) const {
  auto& s = static_cast<GramScratch&>(scratch);
  for (int b = 0; b < block.count; ++b) {
    block.sampler.sample_columns(block.seed, block.step, block.first + b, s.columns[0]);
    embed(s.columns[0], s.embedded);
    linicl::hessian_vector(w, dw, s.embedded, scale, hv, s.tangent);
  }
}

std::vector<Eigen::MatrixXd> GramLsa::query_maps(const Weights& w, const Prompt& prompt) const {
  EmbeddedPrompt embedded;
  embed(prompt, embedded);
  return linicl::query_maps(w, embedded);
}

}  // namespace linicl
