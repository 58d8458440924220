// The training loop (§5): batches, optimizer, schedule, evaluation, divergence stop.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "linicl/data/task.hpp"
#include "linicl/model/parametrization.hpp"
#include "linicl/train/config.hpp"
#include "linicl/train/objective.hpp"
#include "linicl/train/optimizer.hpp"
#include "linicl/train/tracking.hpp"

namespace linicl {

struct Curves {
  std::vector<std::int64_t> train_step;  // step t: loss at θ_t before update t
  std::vector<double> train_loss, grad_norm, lr;
  std::vector<double> train_capped;  // share of the batch above --loss-cap (0 without one)
  std::vector<std::int64_t> eval_step;
  std::vector<double> eval_loss;         // mean of (ŷ − y)² over the evaluation set
  std::vector<double> eval_loss_se;      // its standard error (NaN in files that predate it)
  std::vector<double> eval_loss_median;  // the median prompt's (ŷ − y)², robust to heavy tails
  TrackSeries track;                     // with --track-every
  void drop_from(std::int64_t step);     // removes every row at step ≥ `step`
};

// Everything needed to continue a run bit-exactly: the prompts of step t are a pure function
// of (seed, t), so no random-generator state is kept.
struct TrainState {
  Eigen::VectorXd theta;
  OptimizerState optimizer;
  std::int64_t step = 0;  // updates applied so far
  Curves curves;
};

enum class TrainStatus { kCompleted, kStopped, kDiverged };
const char* status_name(TrainStatus status);

struct TrainOutcome {
  TrainStatus status = TrainStatus::kCompleted;
  std::string reason;  // for kDiverged: what was not finite, and where
};

// Hooks for the caller: progress display and checkpoint writing stay outside the numerics.
class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  virtual void on_step(const TrainState& /*state*/) {}
  virtual void on_checkpoint(const TrainState& /*state*/) {}
};

// Borrows the sampler (which must outlive it); owns the parametrization and the objective.
class Trainer {
 public:
  Trainer(const TrainConfig& config, const TaskSampler& sampler);

  // θ ~ N(0, init_std²) from the seed's init stream, or the given θ; step 0, empty curves.
  TrainState initial_state(const Eigen::VectorXd* theta = nullptr) const;

  // Trains from state.step up to update `stop_step` (≤ config.steps). On a non-finite loss,
  // gradient or update, `state` is rolled back to the last step whose loss was finite.
  TrainOutcome run(TrainState& state, std::int64_t stop_step, TrainObserver& observer);

  BatchObjective::Estimate eval_loss(const Eigen::VectorXd& theta);
  // Appends the evaluation at `step` to the curves; false when its mean is not finite (with
  // --loss-cap: its median, since a few overflowing prompts are what the cap is for).
  bool record_eval(std::int64_t step, const Eigen::VectorXd& theta, Curves& curves);
  const Parametrization& parametrization() const { return param_; }

  // The batch of update t: a fresh one each step, or a pool redrawn every resample_every.
  BatchSpec train_batch(std::int64_t step) const;
  BatchSpec eval_batch() const;

 private:
  TrainConfig config_;
  Parametrization param_;
  BatchObjective objective_;
  Eigen::VectorXd grad_;
  std::unique_ptr<Tracker> tracker_;  // with --track-every
};

}  // namespace linicl
