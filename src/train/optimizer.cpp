#include "linicl/train/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace linicl {

namespace {
constexpr double kPi = 3.14159265358979323846;
}  // namespace

void OptimizerSpec::check(const FieldLabel& label) const {
  require(beta1 >= 0.0 && beta1 < 1.0, label("beta1"), "in [0, 1)", beta1);
  require(beta2 >= 0.0 && beta2 < 1.0, label("beta2"), "in [0, 1)", beta2);
  require(std::isfinite(eps) && eps > 0.0, label("eps"), "> 0", eps);
  require(momentum >= 0.0 && momentum < 1.0, label("momentum"), "in [0, 1)", momentum);
  require(std::isfinite(weight_decay) && weight_decay >= 0.0, label("weight-decay"), ">= 0",
          weight_decay);
}

void ScheduleSpec::check(const FieldLabel& label) const {
  require(total_steps >= 1, label("steps"), ">= 1", total_steps);
  require(warmup >= 0, label("warmup"), ">= 0", warmup);
  require(decay_every >= 1, label("decay-every"), ">= 1", decay_every);
  require(decay_factor > 0.0 && decay_factor <= 1.0, label("decay-factor"), "in (0, 1]",
          decay_factor);
  require(std::isfinite(min_lr) && min_lr >= 0.0, label("min-lr"), ">= 0", min_lr);
}

void optimizer_step(const OptimizerSpec& spec, double lr, const Eigen::VectorXd& grad,
                    Eigen::VectorXd& theta, OptimizerState& state) {
  if (state.first.size() != theta.size()) state.first.setZero(theta.size());
  ++state.steps;
  if (spec.kind == OptimizerKind::kSgd) {
    Eigen::VectorXd& velocity = state.first;
    velocity = spec.momentum * velocity + grad + spec.weight_decay * theta;
    if (spec.nesterov) {
      theta -= lr * (grad + spec.weight_decay * theta + spec.momentum * velocity);
    } else {
      theta -= lr * velocity;
    }
    return;
  }
  if (state.second.size() != theta.size()) state.second.setZero(theta.size());
  const double l2 = spec.kind == OptimizerKind::kAdam ? spec.weight_decay : 0.0;
  const double c1 = 1.0 - std::pow(spec.beta1, static_cast<double>(state.steps));
  const double c2 = 1.0 - std::pow(spec.beta2, static_cast<double>(state.steps));
  if (spec.kind == OptimizerKind::kAdamW) theta *= 1.0 - lr * spec.weight_decay;
  for (Eigen::Index i = 0; i < theta.size(); ++i) {
    const double g = grad[i] + l2 * theta[i];
    state.first[i] = spec.beta1 * state.first[i] + (1.0 - spec.beta1) * g;
    state.second[i] = spec.beta2 * state.second[i] + (1.0 - spec.beta2) * g * g;
    theta[i] -= lr * (state.first[i] / c1) / (std::sqrt(state.second[i] / c2) + spec.eps);
  }
}

double learning_rate(const ScheduleSpec& spec, double base_lr, std::int64_t step) {
  if (step < spec.warmup) return base_lr * static_cast<double>(step + 1) / spec.warmup;
  const double after = static_cast<double>(step - spec.warmup);
  switch (spec.kind) {
    case ScheduleKind::kConstant:
      return base_lr;
    case ScheduleKind::kStep:
      return base_lr * std::pow(spec.decay_factor, std::floor(after / spec.decay_every));
    case ScheduleKind::kCosine: {
      const double span =
          std::max<double>(1.0, static_cast<double>(spec.total_steps - spec.warmup));
      const double progress = std::min(1.0, after / span);
      return spec.min_lr + 0.5 * (base_lr - spec.min_lr) * (1.0 + std::cos(kPi * progress));
    }
  }
  return base_lr;
}

double clip_gradient(Eigen::VectorXd& grad, double max_norm, ClipMode mode,
                     const std::vector<ParamBlock>& blocks) {
  const double norm = grad.norm();
  if (max_norm <= 0.0) return norm;
  if (mode == ClipMode::kGlobal) {
    if (norm > max_norm) grad *= max_norm / norm;
    return norm;
  }
  for (const ParamBlock& block : blocks) {
    auto segment = grad.segment(block.offset, block.rows * block.cols);
    const double block_norm = segment.norm();
    if (block_norm > max_norm) segment *= max_norm / block_norm;
  }
  return norm;
}

}  // namespace linicl
