#include "linicl/train/trainer.hpp"
#include "linicl/data/streams.hpp"

#include <cmath>
#include <string>

#include "linicl/numerics/rng.hpp"

namespace linicl {

namespace {

template <class T>
void drop_rows(std::vector<T>& column, std::size_t keep) {
  if (column.size() > keep) column.resize(keep);
}

std::size_t rows_before(const std::vector<std::int64_t>& steps, std::int64_t step) {
  std::size_t keep = 0;
  while (keep < steps.size() && steps[keep] < step) ++keep;
  return keep;
}

}  // namespace

void Curves::drop_from(std::int64_t step) {
  const std::size_t train_keep = rows_before(train_step, step);
  drop_rows(train_step, train_keep);
  drop_rows(train_loss, train_keep);
  drop_rows(grad_norm, train_keep);
  drop_rows(lr, train_keep);
  drop_rows(train_capped, train_keep);
  const std::size_t eval_keep = rows_before(eval_step, step);
  drop_rows(eval_step, eval_keep);
  drop_rows(eval_loss, eval_keep);
  drop_rows(eval_loss_se, eval_keep);
  drop_rows(eval_loss_median, eval_keep);
  track.drop_from(step);
}

const char* status_name(TrainStatus status) {
  switch (status) {
    case TrainStatus::kCompleted:
      return "completed";
    case TrainStatus::kStopped:
      return "stopped";
    case TrainStatus::kDiverged:
      return "diverged";
  }
  return "?";
}

Trainer::Trainer(const TrainConfig& config, const TaskSampler& sampler)
    : config_(config), param_(config.parametrization()), objective_(sampler, param_) {
  objective_.set_loss_cap(config.loss_cap);
  if (config.track_every > 0) tracker_ = std::make_unique<Tracker>(config, sampler, param_);
}

TrainState Trainer::initial_state(const Eigen::VectorXd* theta) const {
  TrainState state;
  if (theta) {
    state.theta = *theta;
  } else {
    RandomStream rs = make_stream(config_.seed, Purpose::kInit, StreamKey::kInitialization);
    state.theta.resize(param_.size());
    for (Eigen::Index i = 0; i < state.theta.size(); ++i) {
      state.theta[i] = config_.init_std * rs.normal();
    }
  }
  return state;
}

BatchSpec Trainer::train_batch(std::int64_t step) const {
  const std::int64_t pool = config_.resample_every > 0 ? config_.resample_every : 1;
  return {config_.seed,
          prompt_step(PromptSet::kTraining, static_cast<std::uint64_t>(step / pool * pool)),
          config_.batch};
}

BatchSpec Trainer::eval_batch() const {
  return {config_.eval_seed, prompt_step(PromptSet::kEvaluation), config_.eval_batch};
}

BatchObjective::Estimate Trainer::eval_loss(const Eigen::VectorXd& theta) {
  return objective_.estimate(theta, eval_batch(), true);
}

bool Trainer::record_eval(std::int64_t step, const Eigen::VectorXd& theta, Curves& curves) {
  const BatchObjective::Estimate e = eval_loss(theta);
  curves.eval_step.push_back(step);
  curves.eval_loss.push_back(e.mean);
  curves.eval_loss_se.push_back(e.standard_error);
  curves.eval_loss_median.push_back(e.median);
  return std::isfinite(config_.loss_cap > 0.0 ? e.median : e.mean);
}

TrainOutcome Trainer::run(TrainState& state, std::int64_t stop_step, TrainObserver& observer) {
  const OptimizerSpec opt = config_.optimizer_spec();
  const ScheduleSpec schedule = config_.schedule_spec();
  Curves& curves = state.curves;
  curves.drop_from(state.step);  // a resumed run recomputes the closing evaluation row
  // The last state whose loss was finite, with its optimizer state: where a divergence
  // rolls back to (the curves are cut back to it as well).
  Eigen::VectorXd good_theta = state.theta;
  OptimizerState good_optimizer = state.optimizer;
  std::int64_t good_step = state.step;

  auto diverge = [&](const std::string& what, std::int64_t step) {
    state.theta = std::move(good_theta);
    state.optimizer = std::move(good_optimizer);
    state.step = good_step;
    curves.drop_from(good_step);
    return TrainOutcome{TrainStatus::kDiverged, what + " at step " + std::to_string(step) +
                                                    "; rolled back to step " +
                                                    std::to_string(good_step)};
  };

  const char* eval_failure =
      config_.loss_cap > 0.0 ? "non-finite median evaluation loss" : "non-finite evaluation loss";
  for (std::int64_t t = state.step; t < stop_step; ++t) {
    if (t % config_.eval_every == 0 && !record_eval(t, state.theta, curves)) {
      return diverge(eval_failure, t);
    }
    const double loss = objective_.evaluate(state.theta, train_batch(t), &grad_);
    if (!std::isfinite(loss)) return diverge("non-finite training loss", t);
    if (!grad_.allFinite()) return diverge("non-finite gradient", t);
    const double capped = static_cast<double>(objective_.last_capped()) / config_.batch;
    if (capped > 0.5) return diverge("more than half of the batch above --loss-cap", t);
    good_theta = state.theta;
    good_optimizer = state.optimizer;
    good_step = t;

    const double lr = learning_rate(schedule, config_.lr, t);
    const double grad_norm = clip_gradient(grad_, config_.clip, config_.clip_mode, param_.blocks());
    curves.train_step.push_back(t);
    curves.train_loss.push_back(loss);
    curves.grad_norm.push_back(grad_norm);
    curves.lr.push_back(lr);
    curves.train_capped.push_back(capped);

    optimizer_step(opt, lr, grad_, state.theta, state.optimizer);
    state.step = t + 1;
    if (!state.theta.allFinite()) return diverge("non-finite weights after the update", t);
    if (tracker_ && t % config_.track_every == 0) {
      tracker_->record(t, good_theta, state.theta - good_theta, curves.track);
    }
    observer.on_step(state);
    if (config_.checkpoint_every > 0 && state.step % config_.checkpoint_every == 0 &&
        state.step < stop_step) {
      observer.on_checkpoint(state);
    }
  }
  if (state.step < config_.steps) return {TrainStatus::kStopped, ""};
  if (!record_eval(state.step, state.theta, curves)) {
    return diverge(eval_failure, state.step);
  }
  return {TrainStatus::kCompleted, ""};
}

}  // namespace linicl
