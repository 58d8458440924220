#include "linicl/objective.hpp"

#include <omp.h>

namespace linicl {

BatchObjective::BatchObjective(const TaskSampler& sampler, const Parametrization& param)
    : sampler_(sampler),
      param_(param),
      weights_(param.make_weights()),
      weights_grad_(param.make_weights()) {}

double BatchObjective::evaluate(const Eigen::VectorXd& theta, const BatchSpec& batch,
                                Eigen::VectorXd* grad) {
  param_.expand(theta, weights_);
  const double loss = evaluate_weights(weights_, batch, grad ? &weights_grad_ : nullptr);
  if (grad) param_.reduce(weights_grad_, *grad);
  return loss;
}

double BatchObjective::evaluate_weights(const Weights& weights, const BatchSpec& batch,
                                        Weights* grad) {
  const int num_chunks = (batch.size + kChunk - 1) / kChunk;
  if (static_cast<int>(chunks_.size()) < num_chunks) chunks_.resize(num_chunks);
  const double scale = 1.0 / batch.size;

  // Partial gradients are allocated here, outside the parallel region, so that running out
  // of memory is an exception the caller sees rather than std::terminate inside OpenMP.
  for (int c = 0; grad && c < num_chunks; ++c) {
    Weights& g = chunks_[c].grad;
    if (g.layers != weights.layers || g.dim != weights.dim || g.heads != weights.heads) {
      g = Weights(weights.layers, weights.heads, weights.dim);
    }
  }

#pragma omp parallel for schedule(dynamic, 1)
  for (int c = 0; c < num_chunks; ++c) {
    ChunkScratch& s = chunks_[c];
    if (grad) s.grad.set_zero();
    s.loss = 0.0;
    const int end = std::min(batch.size, (c + 1) * kChunk);
    for (int b = c * kChunk; b < end; ++b) {
      sampler_.sample(batch.seed, batch.step, static_cast<std::uint64_t>(b), s.prompt);
      embed(s.prompt, s.embedded);
      const double residual = forward(weights, s.embedded, s.tape, s.ws) - s.embedded.target;
      s.loss += residual * residual;
      // ∂ℒ/∂ŷ_b = 2(ŷ_b − y_b)/B for the batch mean (§4).
      if (grad) backward(weights, s.embedded, s.tape, 2.0 * residual * scale, s.grad, s.ws);
    }
  }

  double loss = 0.0;
  if (grad) grad->set_zero();
  for (int c = 0; c < num_chunks; ++c) {
    loss += chunks_[c].loss;
    if (grad) *grad += chunks_[c].grad;
  }
  return loss * scale;
}

}  // namespace linicl
