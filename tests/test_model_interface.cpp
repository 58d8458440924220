// The Model interface (model.hpp) as its users see it, against the one-prompt functions of
// gram_lsa.hpp: blocks of prompts, dropped prompts, Hessian–vector products and implicit weights.
#include <catch2/catch.hpp>

#include "fixtures.hpp"
#include "linicl/model/gram_lsa.hpp"
#include "linicl/model/loss.hpp"
#include "linicl/model/model_lanes.hpp"

using namespace linicl;
using namespace linicl::testing;

namespace {

double max_difference(const Weights& a, const Weights& b) {
  double worst = 0.0;
  for (std::size_t i = 0; i < a.P.size(); ++i) {
    worst = std::max(
        {worst, (a.P[i] - b.P[i]).cwiseAbs().maxCoeff(), (a.Q[i] - b.Q[i]).cwiseAbs().maxCoeff()});
  }
  return worst;
}

double max_entry(const Weights& a) {
  double largest = 0.0;
  for (std::size_t i = 0; i < a.P.size(); ++i) {
    largest = std::max({largest, a.P[i].cwiseAbs().maxCoeff(), a.Q[i].cwiseAbs().maxCoeff()});
  }
  return largest;
}

}  // namespace

TEST_CASE("Model::gradient over blocks equals forward and backward prompt by prompt", "[model]") {
  // d = 5 runs in lanes (blocks of 8), d = 7 one prompt at a time; 13 prompts make a full and a
  // partial block. Every third prompt is dropped: it must add nothing.
  for (const int d : {5, 7}) {
    const int layers = 3, heads = 2, count = 13;
    INFO("d = " << d);
    const TaskSampler sampler = make_sampler(d, 9, 0.3, 4.0);
    const Weights w = random_weights(layers, heads, d, 77 + d);
    const std::unique_ptr<Model> model = make_model(d);
    CHECK(model->block_size() == (has_lane_kernels(d + 1) ? kLanes : 1));
    const std::unique_ptr<Model::Scratch> scratch = model->make_scratch();

    Weights grad(layers, heads, d), expected(layers, heads, d);
    std::vector<double> predictions(count);
    for (int first = 0; first < count; first += model->block_size()) {
      const PromptBlock block{sampler, 3, 4, static_cast<std::uint64_t>(first),
                              std::min(model->block_size(), count - first)};
      model->gradient(
          w, block,
          [&](int b, double prediction, double target, double& dloss) {
            predictions[first + b] = prediction;
            dloss = SquaredLoss::derivative(prediction - target);
            return (first + b) % 3 != 0;
          },
          &grad, *scratch);
    }
    PromptColumns columns;
    EmbeddedPrompt embedded;
    Tape tape;
    Workspace ws;
    for (int b = 0; b < count; ++b) {
      sampler.sample_columns(3, 4, b, columns);
      embed(columns, embedded);
      const double prediction = forward(w, embedded, tape, ws);
      CHECK(std::abs(predictions[b] - prediction) <= 1e-12 * std::abs(prediction));
      if (b % 3 == 0) continue;
      backward(w, embedded, tape, SquaredLoss::derivative(prediction - embedded.target), expected,
               ws);
    }
    CHECK(max_difference(grad, expected) <= 1e-12 * max_entry(expected));
  }
}

TEST_CASE("Model::hessian_vector sums the one-prompt products of its block", "[model]") {
  const int d = 4, layers = 2, heads = 1, count = 5;
  const TaskSampler sampler = make_sampler(d, 6, 0.1, 2.0);
  const Weights w = random_weights(layers, heads, d, 5), dw = random_weights(layers, heads, d, 6);
  const std::unique_ptr<Model> model = make_model(d);
  const std::unique_ptr<Model::Scratch> scratch = model->make_scratch();
  Weights hv(layers, heads, d), expected(layers, heads, d);
  model->hessian_vector(w, dw, {sampler, 1, 2, 0, count}, 0.25, hv, *scratch);
  PromptColumns columns;
  EmbeddedPrompt embedded;
  TangentWorkspace tangent;
  for (int b = 0; b < count; ++b) {
    sampler.sample_columns(1, 2, b, columns);
    embed(columns, embedded);
    hessian_vector(w, dw, embedded, 0.25, expected, tangent);
  }
  CHECK(max_difference(hv, expected) == 0.0);  // the same calls in the same order
}

TEST_CASE("implicit weights of the linear model are its induced weights, exactly", "[model]") {
  const int d = 3;
  const TaskSampler sampler = make_sampler(d, 8, 0.0, 3.0);
  const Weights w = random_weights(3, 2, d, 11);
  Prompt prompt;
  sampler.sample(9, 0, 0, prompt);
  EmbeddedPrompt embedded;
  embed(prompt, embedded);
  const Eigen::MatrixXd implicit = make_model(d)->implicit_weights(w, prompt);
  CHECK(implicit == induced_weights(w, embedded));
  CHECK(implicit.cols() == 4);
}
