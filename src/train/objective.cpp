#include "linicl/train/objective.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "linicl/numerics/statistics.hpp"

namespace linicl {

BatchObjective::BatchObjective(const TaskSampler& sampler, const Parametrization& param)
    : sampler_(sampler),
      param_(param),
      model_(make_model(param.dim())),
      weights_(param.make_weights()),
      weights_grad_(param.make_weights()),
      offset_(param.make_weights()),
      direction_(param.make_weights()) {
  param_.expand(Eigen::VectorXd::Zero(param_.size()), offset_);
}

double BatchObjective::evaluate(const Eigen::VectorXd& theta, const BatchSpec& batch,
                                Eigen::VectorXd* grad) {
  param_.expand(theta, weights_);
  const double loss = evaluate_weights(weights_, batch, grad ? &weights_grad_ : nullptr);
  if (grad) param_.reduce(weights_grad_, *grad);
  return loss;
}

double BatchObjective::evaluate_weights(const Weights& weights, const BatchSpec& batch,
                                        Weights* grad) {
  const int num_chunks = prepare_chunks(weights, batch, grad != nullptr);
  const double scale = 1.0 / batch.size;
  double* errors = nullptr;
  if (keep_errors_) {
    errors_.resize(batch.size);  // outside the parallel region: a bad_alloc reaches the caller
    errors = errors_.data();
  }
  // Guided: each thread takes runs of neighbouring chunks (63, 31, 16, … of 125 at two threads),
  // and a thread that starts late still gets its share. One chunk at a time cost 0.09 ms of the
  // 2-thread step at d = 5, n = 20, L = 1 (0.55 against 0.45 ms, medians of 15 alternating runs),
  // probably chunk buffers moving between cores. The sums do not depend on the schedule.
#pragma omp parallel for schedule(guided)
  for (int c = 0; c < num_chunks; ++c) {
    ChunkSums& sums = chunks_[c];
    sums.reset(grad != nullptr);
    ThreadScratch& t = threads_[omp_get_thread_num()];
    const int begin = c * kChunk, end = std::min(batch.size, (c + 1) * kChunk);
    add_prompts(weights, batch, begin, end, scale, grad != nullptr, t, sums, errors);
  }
  last_batch_ = batch.size;
  last_chunks_ = num_chunks;
  last_had_grad_ = grad != nullptr;
  return sum_chunks(num_chunks, grad) * scale;
}

void BatchObjective::hessian_times(const Eigen::VectorXd& theta, const Eigen::VectorXd& v,
                                   const BatchSpec& batch, Eigen::VectorXd& out) {
  param_.expand(theta, weights_);
  // expand is affine (pgd fixes entries of P): its linear part maps v to (P, Q) directions.
  param_.expand(v, direction_);
  for (std::size_t i = 0; i < direction_.P.size(); ++i) {
    direction_.P[i] -= offset_.P[i];
    direction_.Q[i] -= offset_.Q[i];
  }
  const int num_chunks = prepare_chunks(weights_, batch, true);
  const double scale = 1.0 / batch.size;
#pragma omp parallel for schedule(guided)  // as in evaluate_weights()
  for (int c = 0; c < num_chunks; ++c) {
    ChunkSums& sums = chunks_[c];
    sums.reset(true);
    ThreadScratch& t = threads_[omp_get_thread_num()];
    const int begin = c * kChunk, end = std::min(batch.size, (c + 1) * kChunk);
    const PromptBlock block{sampler_, batch.seed, batch.step, static_cast<std::uint64_t>(begin),
                            end - begin};
    model_->hessian_vector(weights_, direction_, block, scale, sums.grad, *t.model);
  }
  last_had_grad_ = false;  // the chunks now hold Hessian products, not gradients
  sum_chunks(num_chunks, &weights_grad_);
  param_.reduce(weights_grad_, out);
}

double BatchObjective::gradient_standard_error() const {
  if (!last_had_grad_ || last_chunks_ < 2) {
    throw std::logic_error(
        "gradient_standard_error needs a preceding evaluate() with a gradient over >= 2 chunks");
  }
  Eigen::VectorXd total = Eigen::VectorXd::Zero(param_.size()), chunk;
  for (int c = 0; c < last_chunks_; ++c) {
    param_.reduce(chunks_[c].grad, chunk);
    total += chunk;
  }
  double sum = 0.0;
  for (int c = 0; c < last_chunks_; ++c) {
    const int size = std::min(last_batch_, (c + 1) * kChunk) - c * kChunk;
    param_.reduce(chunks_[c].grad, chunk);
    sum += (chunk - (static_cast<double>(size) / last_batch_) * total).squaredNorm();
  }
  return std::sqrt(sum * last_chunks_ / (last_chunks_ - 1.0));
}

int BatchObjective::prepare_chunks(const Weights& shape, const BatchSpec& batch, bool with_grad) {
  const int num_chunks = (batch.size + kChunk - 1) / kChunk;
  if (static_cast<int>(chunks_.size()) < num_chunks) chunks_.resize(num_chunks);
  while (static_cast<int>(threads_.size()) < omp_get_max_threads()) {
    threads_.emplace_back().model = model_->make_scratch();
  }
  for (int c = 0; c < num_chunks; ++c) {
    Weights& g = chunks_[c].grad;
    if (with_grad && (g.layers != shape.layers || g.dim != shape.dim || g.heads != shape.heads)) {
      g = Weights(shape.layers, shape.heads, shape.dim);
    }
  }
  return num_chunks;
}

double BatchObjective::sum_chunks(int num_chunks, Weights* grad) {
  double loss = 0.0;
  last_loss_squares_ = 0.0;
  last_capped_ = 0;
  if (grad) grad->set_zero();
  for (int c = 0; c < num_chunks; ++c) {
    loss += chunks_[c].loss;
    last_capped_ += chunks_[c].capped;
    last_loss_squares_ += chunks_[c].loss_squares;
    if (grad) *grad += chunks_[c].grad;
  }
  return loss;
}

BatchObjective::Estimate BatchObjective::estimate(const Eigen::VectorXd& theta,
                                                  const BatchSpec& batch, bool median) {
  keep_errors_ = median;
  const double cap = loss_.cap;
  loss_.cap = 0.0;
  const double mean = evaluate(theta, batch, nullptr);
  loss_.cap = cap;
  keep_errors_ = false;
  const double b = batch.size;
  Estimate e{mean, standard_error(mean * b, last_loss_squares_, b)};
  if (median) e.median = linicl::median(errors_);
  return e;
}

void BatchObjective::add_prompts(const Weights& weights, const BatchSpec& batch, int begin, int end,
                                 double scale, bool with_grad, ThreadScratch& t, ChunkSums& sums,
                                 double* errors) const {
  const int block_size = model_->block_size();
  for (int first = begin; first < end; first += block_size) {
    const PromptBlock block{sampler_, batch.seed, batch.step, static_cast<std::uint64_t>(first),
                            std::min(block_size, end - first)};
    const auto seed = [&](int b, double prediction, double target, double& dloss) {
      const double residual = prediction - target, squared = SquaredLoss::value(residual);
      if (errors) errors[first + b] = squared;
      if (!sums.add(squared, loss_)) return false;
      dloss = SquaredLoss::derivative(residual) * scale;  // ∂ℒ/∂ŷ_b of the batch mean (§4)
      return true;
    };
    model_->gradient(weights, block, seed, with_grad ? &sums.grad : nullptr, *t.model);
  }
}

}  // namespace linicl
