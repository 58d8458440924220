// The batch loss ℒ(θ) = (1/B) Σ_b (ŷ_b − y_b)² (§3.4) and its gradient, over prompts drawn
// from counter-based streams, in parallel over prompts with a fixed-order reduction.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "linicl/data/task.hpp"
#include "linicl/model/loss.hpp"
#include "linicl/model/model.hpp"
#include "linicl/model/parametrization.hpp"

namespace linicl {

// Which prompts make a batch: prompt b is sampler.sample(seed, step, b), b < size.
struct BatchSpec {
  std::uint64_t seed = 0;
  std::uint64_t step = 0;
  int size = 0;
};

// Owns the model (model.hpp: today always GramLsa), the per-thread scratch and the per-chunk
// partial gradients, so repeated calls allocate nothing. Borrows the sampler and
// parametrization, which must outlive it. Not for concurrent calls.
class BatchObjective {
 public:
  // Prompts are summed in chunks of this many, each chunk by one thread, the chunks then
  // added in index order: the result is bit-identical for any thread count.
  static constexpr int kChunk = 32;

  BatchObjective(const TaskSampler& sampler, const Parametrization& param);

  // ℒ(θ), and ∂ℒ/∂θ into *grad when grad is not null.
  // With a loss cap C > 0 this is the truncated loss (1/B) Σ_b min((ŷ_b − y_b)², C) (§5.3):
  // a prompt above C (or not finite) adds C and no gradient.
  double evaluate(const Eigen::VectorXd& theta, const BatchSpec& batch, Eigen::VectorXd* grad);

  // The same for given (P, Q) (used by analyses that work on the full weights).
  double evaluate_weights(const Weights& weights, const BatchSpec& batch, Weights* grad);

  // The cap of evaluate() (0: none, the default); estimate() never caps. Number of prompts the
  // last evaluate() capped.
  void set_loss_cap(double cap) { loss_.cap = cap; }
  int last_capped() const { return last_capped_; }

  // ℒ(θ) on a batch used as a fixed sample of the population (common random numbers when the
  // same batch is reused), with the standard error of the mean over its prompts and, when
  // asked, the median prompt's loss (robust where a few prompts dominate the mean; NaN if not).
  struct Estimate {
    double mean = 0.0, standard_error = 0.0;
    double median = std::numeric_limits<double>::quiet_NaN();
  };
  Estimate estimate(const Eigen::VectorXd& theta, const BatchSpec& batch, bool median = false);

  // The standard error of the gradient the last evaluate() returned, by batch means over its
  // chunks: with chunk sums s_c of b_c prompts and ḡ their total,
  //   SE² = C/(C−1) · Σ_c ‖s_c − (b_c/B) ḡ‖²   (the sampling noise of ḡ as an estimate of ∇f).
  // Throws std::logic_error unless that call asked for the gradient over at least 2 chunks.
  double gradient_standard_error() const;

  // ∇²ℒ(θ)·v on the batch, exact (dual numbers through the model's backward, §4.3): linear in v,
  // symmetric, and bit-identical for any thread count.
  void hessian_times(const Eigen::VectorXd& theta, const Eigen::VectorXd& v, const BatchSpec& batch,
                     Eigen::VectorXd& out);

 private:
  // What one thread works in, reused from chunk to chunk. This and ChunkSums start on cache
  // lines of their own: two threads writing next to each other's would share a line.
  struct alignas(64) ThreadScratch {
    std::unique_ptr<Model::Scratch> model;
  };
  // What one chunk adds up, kept until the chunks are summed in order. Reset by the thread that
  // fills it, in its own cache (zeroing all chunks before the loop took 35 µs of a 1.2 ms step
  // at d = 5 on 2 threads, on one thread).
  struct alignas(64) ChunkSums {
    Weights grad;
    double loss = 0.0, loss_squares = 0.0;  // Σ (ŷ − y)², Σ (ŷ − y)⁴, each capped at `cap`
    int capped = 0;
    void reset(bool with_grad) {
      if (with_grad) grad.set_zero();
      loss = loss_squares = 0.0;
      capped = 0;
    }
    // Adds a prompt's squared error; false (and C added) when the loss's cap C truncates it.
    bool add(double squared, const SquaredLoss& rule) {
      const bool keep = rule.kept(squared);
      if (!keep) {
        squared = rule.cap;
        ++capped;
      }
      loss += squared;
      loss_squares += squared * squared;
      return keep;
    }
  };
  // Adds the loss (and gradient) of prompts [begin, end) of the batch to a chunk's sums, a block
  // of the model's block size at a time. With `errors`, prompt b's (ŷ − y)² also goes to
  // errors[b].
  void add_prompts(const Weights& weights, const BatchSpec& batch, int begin, int end, double scale,
                   bool with_grad, ThreadScratch& t, ChunkSums& sums, double* errors) const;
  // Sizes the thread scratch and, when `with_grad`, the chunks' buffers like `shape` (outside the
  // parallel region, so that running out of memory is an exception the caller sees rather
  // than std::terminate inside OpenMP); returns the number of chunks.
  int prepare_chunks(const Weights& shape, const BatchSpec& batch, bool with_grad);
  // Adds the first `num_chunks` chunks in index order into *grad (when given); returns Σ loss.
  double sum_chunks(int num_chunks, Weights* grad);
  const TaskSampler& sampler_;
  const Parametrization& param_;
  std::unique_ptr<Model> model_;
  Weights weights_, weights_grad_;
  Weights offset_, direction_;  // expand(0) (pgd's fixed entries) and the (P, Q) of a direction
  std::vector<ThreadScratch> threads_;
  std::vector<ChunkSums> chunks_;
  double last_loss_squares_ = 0.0;  // Σ (ŷ − y)⁴ of the last evaluation
  SquaredLoss loss_;
  int last_capped_ = 0;
  std::vector<double> errors_;  // per-prompt (ŷ − y)², kept by estimate(…, true)
  bool keep_errors_ = false;
  int last_batch_ = 0, last_chunks_ = 0;
  bool last_had_grad_ = false;
};

}  // namespace linicl
