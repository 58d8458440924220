// linicl against PyTorch autograd on the literal n×n model (§3.2), in float64.
// data/make_torch_reference.py wrote the reference, an independent program: it forms the
// (n+1)×(n+1) attention scores, differentiates by autograd, and takes Hessian–vector products
// by double backward; its docstring lists what data/torch_reference.h5 holds. Not needed here.
//
// Compared, for every case of /cases (d ∈ {2, 5, 6}, L ∈ {1, 3}, H ∈ {1, 2}, n = 4…7):
//  - the one-prompt path (embed, forward, backward; §3, §4.1): predictions, ℒ, ∂ℒ/∂(P, Q);
//  - the lane path (embed_lanes, forward_lanes, backward_lanes; §13) where has_lane_kernels(d+1)
//    (d = 2, 5): the same, kLanes prompts at a time, in full and partial lane groups;
//  - hessian_vector (§4.3): ∇²ℓ₀·dW of prompt 0's loss, and ∇²ℒ·dW summed over the batch;
//  - BatchObjective with the `full` parametrization (θ is every entry of P and Q, §3.5) on the
//    sampler's batch, which the script redrew (checked here first): evaluate()'s ℒ and gradient,
//    and hessian_times()'s ∇²ℒ·dW.
// Each path goes through one small adapter below, the only code that knows its API.
//
// Tolerance: every entry within kTolerance = 1e-12 of the largest entry of its reference (all
// P and Q of a pair, or all predictions of a batch). Both sides evaluate the same polynomial in
// float64 in different orders (Gram form against the n×n scores; §4.3's dual numbers against
// double backward), so each is off the exact value by about k·ε·Σ|terms|, k the depth of the
// chain (a few hundred operations here, k·ε ≲ 1e-13). The stored weights keep every K_ℓ of
// order one (‖K_ℓ‖₂ ≤ 3.6) and no prompt an outlier, so Σ|terms| is not much above the largest
// entry: the worst error seen is 1.4e-15 (gradients; predictions 6e-16, Hessian–vector products
// 1.0e-15, losses 4e-16), which leaves a margin of 700 for other compilers and CPUs. A wrong
// term shows far above 1e-12: every (layer, head) block of each stored tensor reaches a fifth
// of its largest entry, and the part of ∇²ℒ·dW beyond Gauss–Newton three quarters.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "fixtures.hpp"
#include "linicl/io/h5.hpp"
#include "linicl/model/gram_lsa.hpp"
#include "linicl/model/model_lanes.hpp"
#include "linicl/model/parametrization.hpp"
#include "linicl/train/objective.hpp"

using namespace linicl;
using linicl::testing::gaussian_spec;

namespace {

constexpr double kTolerance = 1e-12;
using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A [L, H, d+1, d+1] row-major array as the L·H matrices of Weights::P or Weights::Q.
std::vector<Eigen::MatrixXd> read_blocks(const h5::File& file, const std::string& name) {
  std::vector<std::size_t> dims;
  const std::vector<double> values = file.read_array(name, dims);
  REQUIRE(dims.size() == 4);
  const Eigen::Index side = static_cast<Eigen::Index>(dims[2]);
  std::vector<Eigen::MatrixXd> blocks;
  for (std::size_t m = 0; m < dims[0] * dims[1]; ++m) {
    blocks.push_back(Eigen::Map<const RowMajor>(values.data() + m * side * side, side, side));
  }
  return blocks;
}

// One case of /cases, as make_torch_reference.py's docstring describes it.
struct Case {
  std::string name;
  int dim = 0, context = 0, layers = 0, heads = 0;
  std::uint64_t seed = 0, step = 0;
  double noise = 0.0, loss = 0.0;
  std::vector<PromptColumns> prompts;  // z = [x; y] column by column, labelled
  std::vector<double> predictions;
  Weights weights, gradient, direction, hessian, prompt_hessian;
};

// A [2, L, H, d+1, d+1] pair (P, then Q) as Weights.
Weights read_pair(const h5::Node& group, const std::string& name, int layers, int heads, int dim) {
  std::vector<std::size_t> dims;
  const std::vector<double> values = group.read_array(name, dims);
  const std::size_t side = static_cast<std::size_t>(dim) + 1;
  REQUIRE(dims == std::vector<std::size_t>{2, static_cast<std::size_t>(layers),
                                           static_cast<std::size_t>(heads), side, side});
  Weights w(layers, heads, dim);
  const std::size_t block = side * side, blocks = w.P.size();
  for (std::size_t k = 0; k < blocks; ++k) {
    const Eigen::Index s = static_cast<Eigen::Index>(side);
    w.P[k] = Eigen::Map<const RowMajor>(values.data() + k * block, s, s);
    w.Q[k] = Eigen::Map<const RowMajor>(values.data() + (blocks + k) * block, s, s);
  }
  return w;
}

std::vector<Case> read_cases() {
  const h5::File file = h5::File::open(LINICL_DATA_DIR "/torch_reference.h5");
  const h5::Node cases = file.group("cases");
  std::vector<Case> out;
  for (const std::string& name : cases.children()) {
    const h5::Node g = cases.group(name);
    Case c;
    c.name = name;
    c.dim = static_cast<int>(g.attr_int("dim"));
    c.context = static_cast<int>(g.attr_int("context"));
    c.layers = static_cast<int>(g.attr_int("layers"));
    c.heads = static_cast<int>(g.attr_int("heads"));
    c.seed = static_cast<std::uint64_t>(g.attr_int("seed"));
    c.step = static_cast<std::uint64_t>(g.attr_int("step"));
    c.noise = g.attr_double("noise");
    c.loss = g.attr_double("loss");
    const auto batch = static_cast<std::size_t>(g.attr_int("prompts"));
    std::vector<std::size_t> x_dims, y_dims;
    const std::vector<double> x = g.read_array("x", x_dims);  // [B, n+1, d]
    const std::vector<double> y = g.read_array("y", y_dims);  // [B, n+1]
    const std::size_t columns = static_cast<std::size_t>(c.context) + 1, d = c.dim;
    REQUIRE(x_dims == std::vector<std::size_t>{batch, columns, d});
    REQUIRE(y_dims == std::vector<std::size_t>{batch, columns});
    c.prompts.resize(batch);
    for (std::size_t b = 0; b < batch; ++b) {
      PromptColumns& p = c.prompts[b];
      p.z.resize(c.dim + 1, c.context + 1);
      for (std::size_t i = 0; i < columns; ++i) {
        for (std::size_t j = 0; j < d; ++j) p.z(j, i) = x[(b * columns + i) * d + j];
        p.z(c.dim, i) = y[b * columns + i];
      }
    }
    c.predictions = g.read_series("prediction");
    REQUIRE(c.predictions.size() == batch);
    c.weights = read_pair(g, "weights", c.layers, c.heads, c.dim);
    c.gradient = read_pair(g, "gradient", c.layers, c.heads, c.dim);
    c.direction = read_pair(g, "direction", c.layers, c.heads, c.dim);
    c.hessian = read_pair(g, "hessian_vector", c.layers, c.heads, c.dim);
    c.prompt_hessian = read_pair(g, "prompt_hessian_vector", c.layers, c.heads, c.dim);
    out.push_back(std::move(c));
  }
  REQUIRE(out.size() == 12);
  return out;
}

// max |got − expected| over every entry, relative to the largest |expected|.
double relative_error(const Weights& got, const Weights& expected) {
  double error = 0.0, scale = 0.0;
  for (std::size_t k = 0; k < expected.P.size(); ++k) {
    error = std::max({error, (got.P[k] - expected.P[k]).cwiseAbs().maxCoeff(),
                      (got.Q[k] - expected.Q[k]).cwiseAbs().maxCoeff()});
    scale =
        std::max({scale, expected.P[k].cwiseAbs().maxCoeff(), expected.Q[k].cwiseAbs().maxCoeff()});
  }
  return error / scale;
}

double relative_error(const std::vector<double>& got, const std::vector<double>& expected) {
  double error = 0.0, scale = 0.0;
  for (std::size_t b = 0; b < expected.size(); ++b) {
    error = std::max(error, std::abs(got[b] - expected[b]));
    scale = std::max(scale, std::abs(expected[b]));
  }
  return error / scale;
}

// What a forward and backward pass over the batch gives: ŷ_b, ℒ and ∂ℒ/∂(P, Q).
struct Evaluation {
  std::vector<double> predictions;
  double loss = 0.0;
  Weights gradient;
};

// Adapter: the one-prompt model (model.hpp), seeded with ∂ℒ/∂ŷ_b = 2(ŷ_b − y_b)/B (§4).
Evaluation one_prompt_path(const Weights& w, const std::vector<PromptColumns>& prompts) {
  const double batch = static_cast<double>(prompts.size());
  Evaluation out{{}, 0.0, Weights(w.layers, w.heads, w.dim)};
  out.gradient.set_zero();
  EmbeddedPrompt embedded;
  Tape tape;
  Workspace ws;
  for (const PromptColumns& prompt : prompts) {
    embed(prompt, embedded);
    const double prediction = forward(w, embedded, tape, ws);
    const double residual = prediction - embedded.target;
    out.predictions.push_back(prediction);
    out.loss += residual * residual / batch;
    backward(w, embedded, tape, 2.0 * residual / batch, out.gradient, ws);
  }
  return out;
}

// Adapter: the lane kernels (model_lanes.hpp), kLanes prompts at a time, the last group partial
// when B is not a multiple of kLanes.
Evaluation lane_path(const Weights& w, const std::vector<PromptColumns>& prompts) {
  const int batch = static_cast<int>(prompts.size());
  Evaluation out{{}, 0.0, Weights(w.layers, w.heads, w.dim)};
  out.gradient.set_zero();
  LanePrompts lanes;
  LaneTape tape;
  LaneWorkspace ws;
  for (int first = 0; first < batch; first += kLanes) {
    const int count = std::min(kLanes, batch - first);
    embed_lanes(prompts.data() + first, count, lanes);
    double prediction[kLanes], dloss[kLanes] = {};
    forward_lanes(w, lanes, tape, ws, prediction);
    for (int l = 0; l < count; ++l) {
      const double residual = prediction[l] - lanes.target[l];
      out.predictions.push_back(prediction[l]);
      out.loss += residual * residual / batch;
      dloss[l] = 2.0 * residual / batch;
    }
    backward_lanes(w, lanes, tape, dloss, out.gradient, ws);
  }
  return out;
}

// Adapter: ∇²·dW of Σ_b scale·(ŷ_b − y_b)² over the given prompts by hessian_vector (§4.3).
Weights prompt_hessian_path(const Weights& w, const Weights& dw, const PromptColumns* prompts,
                            int count, double scale) {
  Weights hv(w.layers, w.heads, w.dim);
  hv.set_zero();
  EmbeddedPrompt embedded;
  TangentWorkspace ws;
  for (int b = 0; b < count; ++b) {
    embed(prompts[b], embedded);
    hessian_vector(w, dw, embedded, scale, hv, ws);
  }
  return hv;
}

// The sampler the script copied: Gaussian x, Σ = Σ_w = I, the case's d, n and noise.
TaskSampler case_sampler(const Case& c) {
  const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(c.dim, c.dim);
  return TaskSampler(gaussian_spec(c.dim, c.context, c.noise), identity, identity);
}

// What BatchObjective gives on the case's batch, in (P, Q).
struct ObjectiveResult {
  double loss = 0.0;
  Weights gradient, hessian;
};

// Adapter: BatchObjective with the `full` parametrization on the batch (seed, step, B) of the
// case's sampler: θ = project(W), v = project(dW), the results expanded back to (P, Q).
ObjectiveResult objective_path(const Case& c) {
  const TaskSampler sampler = case_sampler(c);
  const Parametrization param(Param::kFull, c.dim, c.layers, c.heads, false);
  BatchObjective objective(sampler, param);
  const BatchSpec batch{c.seed, c.step, static_cast<int>(c.prompts.size())};
  const Eigen::VectorXd theta = param.project(c.weights);
  const Eigen::VectorXd v = param.project(c.direction);
  Eigen::VectorXd gradient, hv;
  ObjectiveResult out;
  out.loss = objective.evaluate(theta, batch, &gradient);
  objective.hessian_times(theta, v, batch, hv);
  // θ-space vectors as (P, Q): `full` expands linearly (no fixed entries to remove).
  out.gradient = param.make_weights();
  out.hessian = param.make_weights();
  param.expand(gradient, out.gradient);
  param.expand(hv, out.hessian);
  return out;
}

// Requires that the sampler still draws the stored prompts, to the last bits: bit for bit where
// the build targets FMA, as the script's labels assume (§2.1), else the sums round differently.
void check_sampler_draws(const Case& c) {
  const TaskSampler sampler = case_sampler(c);
  PromptColumns drawn;
  for (std::size_t b = 0; b < c.prompts.size(); ++b) {
    sampler.sample_columns(c.seed, c.step, b, drawn);
    const Eigen::MatrixXd& stored = c.prompts[b].z;
    INFO("prompt " << b << " of (seed " << c.seed << ", step " << c.step << ")");
    REQUIRE((drawn.z - stored).cwiseAbs().maxCoeff() <= 1e-14 * stored.cwiseAbs().maxCoeff());
  }
}

}  // namespace

TEST_CASE("predictions, loss and gradients match PyTorch autograd on the n x n model",
          "[model][torch]") {
  const h5::File file = h5::File::open(LINICL_DATA_DIR "/torch_reference.h5");
  const std::vector<std::size_t> shape = file.shape("P");
  Weights weights(static_cast<int>(shape[0]), static_cast<int>(shape[1]),
                  static_cast<int>(shape[2]) - 1);
  Weights expected_grad = weights;
  weights.P = read_blocks(file, "P");
  weights.Q = read_blocks(file, "Q");
  expected_grad.P = read_blocks(file, "dP");
  expected_grad.Q = read_blocks(file, "dQ");

  std::vector<std::size_t> x_dims, y_dims;
  const std::vector<double> x = file.read_array("x", x_dims);  // [B, n+1, d]
  const std::vector<double> y = file.read_array("y", y_dims);  // [B, n+1]
  const std::vector<double> predictions = file.read_series("prediction");
  const double loss = file.read_series("loss").at(0);
  const std::size_t batch = x_dims[0], columns = x_dims[1], d = x_dims[2];
  REQUIRE(d == static_cast<std::size_t>(weights.dim));

  Weights grad(weights.layers, weights.heads, weights.dim);
  grad.set_zero();
  Tape tape;
  Workspace ws;
  double total = 0.0;
  for (std::size_t b = 0; b < batch; ++b) {
    Prompt prompt;
    prompt.x.resize(d, columns);
    prompt.y.resize(columns);
    for (std::size_t i = 0; i < columns; ++i) {
      for (std::size_t j = 0; j < d; ++j) prompt.x(j, i) = x[(b * columns + i) * d + j];
      prompt.y(i) = y[b * columns + i];
    }
    EmbeddedPrompt embedded;
    embed(prompt, embedded);
    const double prediction = forward(weights, embedded, tape, ws);
    CHECK(prediction == Approx(predictions[b]).epsilon(1e-12).margin(1e-14));
    const double residual = prediction - embedded.target;
    total += residual * residual / batch;
    backward(weights, embedded, tape, 2.0 * residual / batch, grad, ws);
  }
  CHECK(total == Approx(loss).epsilon(1e-12));
  for (std::size_t m = 0; m < grad.P.size(); ++m) {
    INFO("layer " << m / weights.heads << ", head " << m % weights.heads);
    const double scale = expected_grad.P[m].norm() + expected_grad.Q[m].norm();
    CHECK((grad.P[m] - expected_grad.P[m]).norm() <= 1e-12 * scale);
    CHECK((grad.Q[m] - expected_grad.Q[m]).norm() <= 1e-12 * scale);
  }
}

TEST_CASE("the one-prompt path matches PyTorch autograd for d = 2, 5, 6, L = 1, 3, H = 1, 2",
          "[model][torch]") {
  for (const Case& c : read_cases()) {
    INFO(c.name << ", B = " << c.prompts.size() << ", n = " << c.context);
    const Evaluation got = one_prompt_path(c.weights, c.prompts);
    CHECK(relative_error(got.predictions, c.predictions) <= kTolerance);
    CHECK(std::abs(got.loss - c.loss) <= kTolerance * c.loss);
    CHECK(relative_error(got.gradient, c.gradient) <= kTolerance);
  }
}

TEST_CASE("the lane path matches PyTorch autograd in full and partial lane groups",
          "[model][torch]") {
  int full_groups = 0, partial_groups = 0, without_lanes = 0;
  for (const Case& c : read_cases()) {
    if (!has_lane_kernels(c.dim + 1)) {
      ++without_lanes;
      continue;
    }
    const int batch = static_cast<int>(c.prompts.size());
    full_groups += batch / kLanes;
    partial_groups += batch % kLanes != 0;
    INFO(c.name << ", B = " << batch << ", n = " << c.context);
    const Evaluation got = lane_path(c.weights, c.prompts);
    CHECK(relative_error(got.predictions, c.predictions) <= kTolerance);
    CHECK(std::abs(got.loss - c.loss) <= kTolerance * c.loss);
    CHECK(relative_error(got.gradient, c.gradient) <= kTolerance);
  }
  // The file was made for d = 2, 5 with lane kernels and d = 6 without: had that changed, the
  // lane path would silently be checked less (or the one-prompt path less), so regenerate it.
  CHECK(full_groups == 6);
  CHECK(partial_groups == 6);
  CHECK(without_lanes == 4);
}

TEST_CASE("hessian_vector matches PyTorch's double backward, per prompt and over a batch",
          "[hessian][torch]") {
  for (const Case& c : read_cases()) {
    const int batch = static_cast<int>(c.prompts.size());
    INFO(c.name << ", B = " << batch << ", n = " << c.context);
    const Weights one = prompt_hessian_path(c.weights, c.direction, c.prompts.data(), 1, 1.0);
    CHECK(relative_error(one, c.prompt_hessian) <= kTolerance);
    const Weights all =
        prompt_hessian_path(c.weights, c.direction, c.prompts.data(), batch, 1.0 / batch);
    CHECK(relative_error(all, c.hessian) <= kTolerance);
  }
}

TEST_CASE("BatchObjective's loss, gradient and hessian_times match PyTorch on the sampler's batch",
          "[hessian][torch]") {
  for (const Case& c : read_cases()) {
    INFO(c.name << ", B = " << c.prompts.size() << ", n = " << c.context);
    check_sampler_draws(c);
    const ObjectiveResult got = objective_path(c);
    CHECK(std::abs(got.loss - c.loss) <= kTolerance * c.loss);
    CHECK(relative_error(got.gradient, c.gradient) <= kTolerance);
    CHECK(relative_error(got.hessian, c.hessian) <= kTolerance);
  }
}
