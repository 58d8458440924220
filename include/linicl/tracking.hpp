// Landscape statistics recorded along training (DESIGN §9): sharpness, robust condition
// number, directional smoothness along the update, gradient norm, and stochastic-gradient
// noise with its tail index, every `track-every` steps of `linicl train`.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <memory>
#include <vector>

#include "linicl/landscape.hpp"

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
  std::vector<double> noise_mean;  // mean over batches of ‖g_j − ḡ‖
  std::vector<double> tail_index;  // α̂ of the coordinates of g_j − ḡ (spectrum.hpp)
  std::vector<Eigen::VectorXd> noise_norms;  // ‖g_j − ḡ‖ for each batch j
  void drop_from(std::int64_t step);         // removes every row at step ≥ `step`
  bool empty() const { return step.empty(); }
};

// Owns its landscape (the tracking pool) and borrows the sampler and parametrization.
class Tracker {
 public:
  Tracker(const TrainConfig& config, const TaskSampler& sampler, const Parametrization& param);
  // Appends the row of step t, at θ_t, with update = θ_{t+1} − θ_t.
  void record(std::int64_t step, const Eigen::VectorXd& theta, const Eigen::VectorXd& update,
              TrackSeries& out);

 private:
  std::uint64_t seed_;
  int batch_, batches_;
  Landscape landscape_;
};

}  // namespace linicl
