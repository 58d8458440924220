// The linear self-attention model, forward and hand-derived backward (§3, §4).
//
// Every column of Z_ℓ, the query included, is mapped by the same matrix: Z_{ℓ+1} = (I + K_ℓ) Z_ℓ
// (§3.2). So the model never needs the (d+1)×(n+1) activations themselves, only
//     G_ℓ = Z_ℓ M Z_ℓᵀ   and   q_ℓ = Z_ℓ e_{n+1}   (the query column),
// which evolve as G_{ℓ+1} = (I+K_ℓ) G_ℓ (I+K_ℓ)ᵀ and q_{ℓ+1} = (I+K_ℓ) q_ℓ. A prompt costs
// O(n·d²) once, for G_0, O(H·d³) per layer below the top one and O(H·d²) for the top one;
// nothing n×n, nor n×d per layer, is formed.
// The result is the same function as §3.2, so §4's gradients carry over with G_ℓ, q_ℓ in the
// place of Z_ℓ (§4.1; the code is gram_layers.hpp).
//
// GramLsa is this model behind the Model interface (model.hpp).
#pragma once

#include <Eigen/Dense>
#include <memory>
#include <vector>

#include "linicl/data/task.hpp"
#include "linicl/model/model.hpp"

namespace linicl {

// What the model sees of a prompt (§3.1): G_0 = Σ_{i≤n} z_i z_iᵀ, the query column
// z_{n+1} = [x_{n+1}; 0], and the target y_{n+1} (kept for the loss only).
struct EmbeddedPrompt {
  Eigen::MatrixXd gram;
  Eigen::VectorXd query;
  double target = 0.0;
  int context = 0;
};
// From the prompt as drawn (labelled; no unpacking into x and y), or unpacked; the same
// numbers bit for bit.
void embed(const PromptColumns& prompt, EmbeddedPrompt& out);
void embed(const Prompt& prompt, EmbeddedPrompt& out);

// Activations kept for backward: G_ℓ (ℓ ≤ L−1), K_ℓ (ℓ < L−1), q_ℓ (ℓ = 0…L), and per head the
// top layer's u_h = Q_h q_{L−1} and v_h = G_{L−1} u_h. The readout sees only
// q_L = q_{L−1} + (1/n) Σ_h P_h v_h, so neither K_{L−1} nor G_L is formed: the top layer costs
// O(H·d²), not O(H·d³). Element ℓ of a list starts at ℓ·mat (matrices) or ℓ·vec (vectors).
template <class Buffer>
struct GramTape {
  Buffer gram, query, attention, top_keys, top_values;
};
// Scratch of forward and backward; r_h = P_hᵀ q̄' and s_h = G r_h of the top layer's backward.
template <class Buffer>
struct GramWorkspace {
  Buffer a, b, c, gram_grad, next_gram_grad, k_grad, query_grad, next_query_grad, top_r, top_s;
};

// One prompt's tape and scratch (std::vector<double>, column-major matrices).
using Tape = GramTape<std::vector<double>>;
using Workspace = GramWorkspace<std::vector<double>>;

// ŷ = −[q_L]_{d+1} (§3.3), recording the tape.
double forward(const Weights& w, const EmbeddedPrompt& prompt, Tape& tape, Workspace& ws);

// Adds ∂ℒ/∂P and ∂ℒ/∂Q into `grad` for ℒ with ∂ℒ/∂ŷ = dloss_dpred, from a tape of forward.
void backward(const Weights& w, const EmbeddedPrompt& prompt, const Tape& tape, double dloss_dpred,
              Weights& grad, Workspace& ws);

// Forward and backward of one prompt with a derivative along dW beside every value (each
// buffer holds the values, then the derivatives); one per thread.
struct TangentWorkspace {
  Tape tape;
  Workspace ws;
};

// Adds ∇²ℓ·dW into `hv` for one prompt's loss ℓ = scale·(ŷ − y)² (loss.hpp), exactly: forward
// and backward run on dual numbers (§4.3, prompt_backend.hpp). dW is a direction in (P, Q), not
// a point. Returns ŷ.
double hessian_vector(const Weights& w, const Weights& dw, const EmbeddedPrompt& prompt,
                      double scale, Weights& hv, TangentWorkspace& ws);

// The query column after ℓ layers as a function of the query: q_ℓ = T_ℓ [x_{n+1}; 0] with
// T_ℓ = (I+K_{ℓ−1})⋯(I+K_0), so element ℓ = 0…L is the (d+1)×d map T_ℓ [I_d; 0]. Every readout
// of q_ℓ that is linear (the model's own, a probe) is a linear predictor of x_{n+1}.
std::vector<Eigen::MatrixXd> query_maps(const Weights& w, const EmbeddedPrompt& prompt);

// Induced weights (§3.6): column ℓ is w_ℓ with ŷ_ℓ = w_ℓᵀ x_{n+1} after ℓ layers (ℓ = 0…L),
// w_ℓᵀ = −e_{d+1}ᵀ T_ℓ [I_d; 0], T_ℓ = (I+K_{ℓ−1})⋯(I+K_0). Exact, no probing.
Eigen::MatrixXd induced_weights(const Weights& w, const EmbeddedPrompt& prompt);

// The model behind the Model interface: blocks of kLanes prompts in SIMD lanes where d + 1 has
// lane kernels (model_lanes.hpp), else one prompt at a time.
class GramLsa final : public Model {
 public:
  explicit GramLsa(int dim);
  int block_size() const override { return block_; }
  std::unique_ptr<Scratch> make_scratch() const override;
  void hessian_vector(const Weights& w, const Weights& dw, const PromptBlock& block, double scale,
                      Weights& hv, Scratch& scratch) const override;
  std::vector<Eigen::MatrixXd> query_maps(const Weights& w, const Prompt& prompt) const override;

 protected:
  void predict(const Weights& w, const PromptBlock& block, double* prediction, double* target,
               Scratch& scratch) const override;
  void add_gradient(const Weights& w, const double* dloss, const bool* kept, Weights& grad,
                    Scratch& scratch) const override;

 private:
  bool lanes_;
  int block_;
};

}  // namespace linicl
