// Landscape statistics recorded along training (§9): sharpness, robust condition
// number, directional smoothness along the update, gradient norm, and stochastic-gradient
// noise with its tail index, every `track-every` steps of `linicl train`.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <memory>
#include <vector>

#include "linicl/data/task.hpp"
#include "linicl/model/parametrization.hpp"
#include "linicl/train/objective.hpp"

namespace linicl {

struct TrainConfig;

// One row per tracked step t, all measured at θ_t (before update t).
struct TrackSeries {
  std::vector<std::int64_t> step;
  std::vector<double> sharpness;         // λ_max of ∇²ℒ on the tracking pool
  std::vector<double> median;            // λ_median (a quadrature estimate beyond full_limit)
  std::vector<double> robust_condition;  // λ_max / λ_median
  std::vector<std::int64_t> negative;    // negative eigenvalues (−1 when not computed in full)
  std::vector<double> directional_smoothness;  // uᵀ∇²ℒ u, u = update t / ‖update t‖
  std::vector<double> grad_norm;   // ‖ḡ‖, ḡ the mean of the noise batches' gradients
  std::vector<double> noise_mean;  // mean over batches of the noise norms
  std::vector<double> tail_index;  // GradientNoise::tail_index
  std::vector<Eigen::VectorXd> noise_norms;  // GradientNoise::norms
  void drop_from(std::int64_t step);         // removes every row at step ≥ `step`
  bool empty() const { return step.empty(); }
};

// The noise batches of tracked step t are offsets t·J + j (j < J) of PromptSet::kTrackingNoise
// (streams.hpp) under the evaluation seed: never a training batch, the evaluation set or a pool.

// Stochastic-gradient noise of J >= 4 gradients g_j of independent batches at one θ.
struct GradientNoise {
  Eigen::VectorXd mean;  // ḡ, the large-batch gradient
  // √(J/(J−1))·‖g_j − ḡ‖: g_j − ḡ has (J−1)/J of the variance of g_j − ∇ℒ, so the squares
  // are unbiased for E‖g_j − ∇ℒ‖².
  Eigen::VectorXd norms;
  // α̂ (spectrum.hpp) of the pair differences (g_2i − g_2i+1)/√2, one block per coordinate
  // (NaN when fewer than 16 samples; coordinates without noise are left out): 1/α̂ averages
  // the coordinates' 1/α. Exact in its logs for stable noise; for other laws the blocks of
  // J/2 bias it toward heavier tails (Laplace noise reads about 1.7 at J = 32), so compare
  // values at equal --track-batches.
  double tail_index;
};
GradientNoise gradient_noise(const std::vector<Eigen::VectorXd>& grads);

// Owns its objective on the tracking pool (the landscape's pool under the evaluation seed) and
// measures with the curvature instrument (curvature.hpp, the landscape's default options and
// streams); borrows the sampler and parametrization.
class Tracker {
 public:
  Tracker(const TrainConfig& config, const TaskSampler& sampler, const Parametrization& param);
  // Appends the row of step t, at θ_t, with update = θ_{t+1} − θ_t; NaN entries (negative
  // −1) where the statistics cannot be computed (non-finite Hessian products or noise).
  void record(std::int64_t step, const Eigen::VectorXd& theta, const Eigen::VectorXd& update,
              TrackSeries& out);

 private:
  std::uint64_t seed_;
  int batch_, batches_;
  BatchSpec pool_;
  BatchObjective objective_;
};

}  // namespace linicl
