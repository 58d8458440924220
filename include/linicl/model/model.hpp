// What the loss, the trainer, the analyses and the landscape need of a model (§3–§4), and
// nothing of how it computes: predictions of blocks of prompts, the gradient from ∂ℒ/∂ŷ, exact
// Hessian–vector products, and the linear map from the query to each layer's query column.
// GramLsa (gram_lsa.hpp), the linear transformer in Gram form, is the first implementation.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <memory>
#include <vector>

#include "linicl/data/task.hpp"
#include "linicl/model/loss.hpp"

namespace linicl {

// P and Q of every layer and head, each (d+1)×(d+1); index l·heads + h.
struct Weights {
  Weights() = default;
  Weights(int layers, int heads, int dim);
  int layers = 0, heads = 0, dim = 0;
  std::vector<Eigen::MatrixXd> P, Q;

  Eigen::MatrixXd& p(int l, int h) { return P[l * heads + h]; }
  Eigen::MatrixXd& q(int l, int h) { return Q[l * heads + h]; }
  const Eigen::MatrixXd& p(int l, int h) const { return P[l * heads + h]; }
  const Eigen::MatrixXd& q(int l, int h) const { return Q[l * heads + h]; }
  void set_zero();
  Weights& operator+=(const Weights& other);
};

// Prompts first … first + count − 1 of one step of a sampler's stream (task.hpp).
struct PromptBlock {
  const TaskSampler& sampler;
  std::uint64_t seed = 0, step = 0, first = 0;
  int count = 0;
};

class Model {
 public:
  // Prompts per call: a model may compute a block at once (GramLsa's SIMD lanes).
  static constexpr int kBlock = 8;

  virtual ~Model() = default;
  // Prompts the model computes at once (≤ kBlock); a block of prompts is at most this long.
  virtual int block_size() const = 0;

  // A thread's tape and scratch, reused from call to call.
  struct Scratch {
    virtual ~Scratch() = default;
  };
  virtual std::unique_ptr<Scratch> make_scratch() const = 0;

  // For every prompt b of the block (count ≤ block_size()): ŷ_b, then seed(b, ŷ_b, y_b, dloss)
  // gives ∂ℒ/∂ŷ_b in dloss and returns whether the prompt adds a gradient; with grad, adds Σ_b
  // dloss_b·∂ŷ_b/∂W into it. `Seed` is any callable (int, double, double, double&) → bool.
  template <class Seed>
  void gradient(const Weights& w, const PromptBlock& block, Seed&& seed, Weights* grad,
                Scratch& scratch) const {
    double prediction[kBlock], target[kBlock], dloss[kBlock] = {};
    bool kept[kBlock] = {};
    predict(w, block, prediction, target, scratch);
    for (int b = 0; b < block.count; ++b) kept[b] = seed(b, prediction[b], target[b], dloss[b]);
    if (grad) add_gradient(w, dloss, kept, *grad, scratch);
  }

  // Adds Σ_b scale·∇²ℓ_b·dW into hv, exactly, for ℓ_b = (ŷ_b − y_b)² (loss.hpp, uncapped) of
  // every prompt of the block. dW is a direction in (P, Q), not a point.
  virtual void hessian_vector(const Weights& w, const Weights& dw, const PromptBlock& block,
                              double scale, Weights& hv, Scratch& scratch) const = 0;

  // ∂q_ℓ/∂x_{n+1} for ℓ = 0…L: how the query column after ℓ layers moves with the query. Every
  // linear readout of q_ℓ (the model's own ŷ_ℓ = −[q_ℓ]_{d+1}, a probe) is then a linear
  // predictor of x_{n+1} (§8.3); for linear attention the map is exact, not a linearization.
  virtual std::vector<Eigen::MatrixXd> query_maps(const Weights& w, const Prompt& prompt) const = 0;
  // The implicit weights (§3.6): column ℓ is −(row d+1 of query_maps[ℓ])ᵀ, the w_ℓ with
  // ŷ_ℓ ≈ w_ℓᵀ x_{n+1} after ℓ layers (exactly, for linear attention: the induced weights).
  Eigen::MatrixXd implicit_weights(const Weights& w, const Prompt& prompt) const;

 protected:
  // ŷ_b and y_b of every prompt of the block, keeping what add_gradient() needs in scratch.
  virtual void predict(const Weights& w, const PromptBlock& block, double* prediction,
                       double* target, Scratch& scratch) const = 0;
  // Adds Σ_b dloss_b·∂ŷ_b/∂W for the prompts of the last predict() with kept[b].
  virtual void add_gradient(const Weights& w, const double* dloss, const bool* kept, Weights& grad,
                            Scratch& scratch) const = 0;
};

// The model of a run of covariate dimension d: today the Gram-form linear transformer
// (gram_lsa.hpp) for every configuration.
std::unique_ptr<Model> make_model(int dim);

// −(row d+1 of each query map)ᵀ: the weights of the readouts ŷ_ℓ = −[q_ℓ]_{d+1} (§3.3, §3.6).
Eigen::MatrixXd readout_weights(const std::vector<Eigen::MatrixXd>& query_maps);

}  // namespace linicl
