// Optimizers, learning-rate schedules and gradient clipping (§5).
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <string>
#include <vector>

#include "linicl/model/parametrization.hpp"
#include "linicl/numerics/name_table.hpp"
#include "linicl/numerics/require.hpp"

namespace linicl {

enum class OptimizerKind { kSgd, kAdam, kAdamW };
constexpr NameTable<OptimizerKind, 3> name_table(OptimizerKind) {
  return {{{OptimizerKind::kAdam, "adam"},
           {OptimizerKind::kAdamW, "adamw"},
           {OptimizerKind::kSgd, "sgd"}}};
}

enum class ScheduleKind { kConstant, kStep, kCosine };
constexpr NameTable<ScheduleKind, 3> name_table(ScheduleKind) {
  return {{{ScheduleKind::kConstant, "constant"},
           {ScheduleKind::kStep, "step"},
           {ScheduleKind::kCosine, "cosine"}}};
}

enum class ClipMode { kGlobal, kMatrix };
constexpr NameTable<ClipMode, 2> name_table(ClipMode) {
  return {{{ClipMode::kGlobal, "global"}, {ClipMode::kMatrix, "matrix"}}};
}

// The defaults are those of `linicl train`, the reference recipe of TrainConfig (config.hpp).
struct OptimizerSpec {
  OptimizerKind kind = OptimizerKind::kAdamW;
  double beta1 = 0.9, beta2 = 0.9, eps = 1e-8;  // Adam, AdamW
  double momentum = 0.9;                        // SGD heavy ball μ
  bool nesterov = false;                        // SGD
  double weight_decay = 0.0;  // AdamW: decoupled; SGD and Adam: added to the gradient (L2)

  // Throws std::invalid_argument naming the first bad field (as `label` names it) and its
  // range.
  void check(const FieldLabel& label = option_flag) const;
};

// Everything an optimizer carries between steps, saved in checkpoints for bit-exact resume.
struct OptimizerState {
  Eigen::VectorXd first, second;  // SGD: velocity in `first`; Adam: m and v
  std::int64_t steps = 0;         // updates applied so far (Adam's bias correction)
};

// One update θ ← θ − step(g) with learning rate lr:
//   SGD       v ← μv + g;  θ ← θ − lr·(Nesterov ? g + μv : v)
//   Adam      m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − lr·m̂/(√v̂ + ε)
//   AdamW     θ ← (1 − lr·λ)θ, then the Adam step on g (decay decoupled from the gradient)
void optimizer_step(const OptimizerSpec& spec, double lr, const Eigen::VectorXd& grad,
                    Eigen::VectorXd& theta, OptimizerState& state);

struct ScheduleSpec {
  ScheduleKind kind = ScheduleKind::kConstant;
  std::int64_t total_steps = 1;
  std::int64_t warmup = 0;         // linear ramp from lr/warmup to lr over these steps
  std::int64_t decay_every = 500;  // step: multiply by decay_factor every this many steps
  double decay_factor = 0.1;
  double min_lr = 0.0;  // cosine: the value reached at total_steps

  // Throws std::invalid_argument naming the first bad field (total_steps as "steps", as `label`
  // names it) and its range.
  void check(const FieldLabel& label = option_flag) const;
};

// The learning rate for update `step` (0-based).
double learning_rate(const ScheduleSpec& spec, double base_lr, std::int64_t step);

// Clips g in place to norm ≤ max_norm, as a whole (global) or block by block (matrix), and
// returns the global norm before clipping. max_norm ≤ 0 disables clipping.
double clip_gradient(Eigen::VectorXd& grad, double max_norm, ClipMode mode,
                     const std::vector<ParamBlock>& blocks);

}  // namespace linicl
