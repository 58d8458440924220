// Every option of `linicl train` that defines a run (§11), with its default and help.
//
// One table, `visit_options`, drives the command line, config files, the /config attributes
// of the run file and their reading back, so a new option is added in exactly one place.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "linicl/data/covariance.hpp"
#include "linicl/data/task.hpp"
#include "linicl/model/parametrization.hpp"
#include "linicl/train/optimizer.hpp"

namespace linicl {

// Where a config came from, for check()'s messages: an option is named as the user can change
// it, "--eval-every" on the command line and in --config files (which share those names),
// "/config attribute 'eval-every'" in a run file.
enum class ConfigSource { kCommandLine, kRunFile };
std::string option_label(const std::string& name, ConfigSource source);

// An option that a spec also holds takes the spec's default: one source for both, so that
// task_spec() and the others of a default config are the specs' defaults.
struct TrainConfig {
  // Task (§2)
  int dim = TaskSpec{}.dim;
  int context = TaskSpec{}.context;
  CovKind cov = CovarianceSpec{}.kind;
  double kappa = CovarianceSpec{}.kappa;
  KappaShape kappa_shape = CovarianceSpec{}.shape;
  std::vector<double> spectrum;
  bool rotate = CovarianceSpec{}.rotate;
  bool normalize = CovarianceSpec{}.normalize;
  std::string cov_file;
  XDist x_dist = TaskSpec{}.x_dist;
  double dof = TaskSpec{}.dof;
  double gamma_shape = TaskSpec{}.gamma_shape;
  double gamma_scale = TaskSpec{}.gamma_scale;
  WCovKind w_cov = WCovKind::kIdentity;
  std::string w_cov_file;
  double noise = TaskSpec{}.noise;
  // Model (§3)
  int layers = 3;
  int heads = 1;
  Param param = Param::kFull;
  bool share_weights = false;
  double init_std = 0.05;
  std::string init;
  // Optimization (§5)
  // The defaults are the field's reference recipe (AdamW, lr 0.02, β₁ = β₂ = 0.9, init std
  // 0.05, clipping at 1, constant rate): in the default budget a 3-layer `full` model reaches
  // 0.0018–0.0038 over seeds 0–3 (the earlier Adam 0.002/0.999, cosine, warm-up 200 recipe
  // ended at 0.20), L = 1 reaches Γ*'s 1.14 and L = 6 0.0006. β₂ = 0.9 forgets the gradient
  // spikes of rare prompts (the model is a polynomial of degree 3^L in the data) quickly, and
  // clipping bounds the step they cause. The optimizer's and the schedule's part of it are
  // OptimizerSpec's and ScheduleSpec's defaults.
  OptimizerKind optimizer = OptimizerSpec{}.kind;
  double lr = 2e-2;
  double beta1 = OptimizerSpec{}.beta1;
  double beta2 = OptimizerSpec{}.beta2;
  double eps = OptimizerSpec{}.eps;
  double momentum = OptimizerSpec{}.momentum;
  bool nesterov = OptimizerSpec{}.nesterov;
  double weight_decay = OptimizerSpec{}.weight_decay;
  double clip = 1.0;
  ClipMode clip_mode = ClipMode::kGlobal;
  double loss_cap = 0.0;  // train on the truncated loss min((ŷ − y)², C) (§5.3); 0: off
  ScheduleKind schedule = ScheduleSpec{}.kind;
  std::int64_t warmup = ScheduleSpec{}.warmup;
  std::int64_t decay_every = ScheduleSpec{}.decay_every;
  double decay_factor = ScheduleSpec{}.decay_factor;
  double min_lr = ScheduleSpec{}.min_lr;
  int batch = 1000;
  std::int64_t steps = 3000;
  std::int64_t resample_every = 0;
  // Evaluation, checkpoints, randomness
  std::int64_t eval_every = 100;
  int eval_batch = 4000;
  std::int64_t checkpoint_every = 500;
  std::int64_t track_every = 0;  // landscape statistics every k steps (tracking.hpp); 0: off
  int track_pool = 1000;
  int track_batches = 32;
  std::uint64_t seed = 0;
  std::uint64_t eval_seed = 1000003;

  // Throws std::invalid_argument("<option> must be ... (got ...)") for the first bad option,
  // named by option_label: every option with a range is checked (an enum option's name was
  // checked against its table when it was read).
  void check(ConfigSource source = ConfigSource::kCommandLine) const;

  TaskSpec task_spec() const;
  CovarianceSpec covariance_spec() const;
  OptimizerSpec optimizer_spec() const;
  ScheduleSpec schedule_spec() const;
  Parametrization parametrization() const;
};

// Calls visit(name, field, help) for every option, in a fixed order. `name` is the long
// option name without dashes (e.g. "share-weights"); the field type is one of int,
// std::int64_t, std::uint64_t, double, bool, std::string, std::vector<double>, or an enum with
// a name table (numerics/name_table.hpp), whose help leaves the choices to the table.
template <class Config, class Visitor>
void visit_options(Config& c, Visitor&& visit) {
  visit("dim", c.dim, "covariate dimension d (>= 1)");
  visit("context", c.context, "context length n (>= 1)");
  visit("cov", c.cov, "covariance of x");
  visit("kappa", c.kappa, "condition number of Sigma for --cov kappa (>= 1)");
  visit("kappa-shape", c.kappa_shape, "spectrum for --cov kappa");
  visit("spectrum", c.spectrum, "the d eigenvalues of Sigma for --cov spectrum (> 0)");
  visit("rotate", c.rotate, "rotate Sigma's eigenbasis by a seeded Haar-random orthogonal U");
  visit("normalize", c.normalize, "rescale Sigma so that tr Sigma = d");
  visit("cov-file", c.cov_file, "HDF5 file holding Sigma (dataset /data/Sigma or /Sigma)");
  visit("x-dist", c.x_dist, "covariate law");
  visit("dof", c.dof, "Student-t degrees of freedom nu (> 2)");
  visit("gamma-shape", c.gamma_shape, "gamma covariates: shape k of the radial scale (> 0)");
  visit("gamma-scale", c.gamma_scale, "gamma covariates: scale theta (> 0); Cov x = k theta Sigma");
  visit("w-cov", c.w_cov, "covariance of the task weights w");
  visit("w-cov-file", c.w_cov_file, "HDF5 file holding Sigma_w (dataset /Sigma_w or /Sigma)");
  visit("noise", c.noise, "label-noise standard deviation sigma (>= 0)");
  visit("layers", c.layers, "number of layers L (>= 1)");
  visit("heads", c.heads, "attention heads per layer (>= 1)");
  visit("param", c.param, "parametrization");
  visit("share-weights", c.share_weights, "one (P, Q) applied at every layer");
  visit("init-std", c.init_std, "standard deviation of the N(0, s^2) initialization (>= 0)");
  visit("init", c.init, "start from the final weights of this run file instead");
  visit("optimizer", c.optimizer, "optimizer");
  visit("lr", c.lr, "base learning rate (> 0)");
  visit("beta1", c.beta1, "Adam beta1 in [0, 1)");
  visit("beta2", c.beta2, "Adam beta2 in [0, 1)");
  visit("eps", c.eps, "Adam epsilon (> 0)");
  visit("momentum", c.momentum, "SGD momentum in [0, 1)");
  visit("nesterov", c.nesterov, "Nesterov momentum for SGD");
  visit("weight-decay", c.weight_decay, "weight decay (>= 0): decoupled for adamw, L2 otherwise");
  visit("clip", c.clip, "clip gradients to this norm (0: off)");
  visit("clip-mode", c.clip_mode, "clip the global norm or each matrix");
  visit("loss-cap", c.loss_cap,
        "train on the truncated loss: a prompt whose squared error exceeds this adds it and no "
        "gradient (0: off; for deep models, see the README)");
  visit("schedule", c.schedule, "learning-rate schedule");
  visit("warmup", c.warmup, "linear warm-up steps (>= 0)");
  visit("decay-every", c.decay_every, "step schedule: decay every this many steps (>= 1)");
  visit("decay-factor", c.decay_factor, "step schedule: multiply lr by this (in (0, 1])");
  visit("min-lr", c.min_lr, "cosine schedule: final learning rate (>= 0)");
  visit("batch", c.batch, "prompts per step (>= 1)");
  visit("steps", c.steps, "optimizer steps (>= 1)");
  visit("resample-every", c.resample_every,
        "draw a new pool of --batch prompts every k steps (0: a fresh batch every step)");
  visit("eval-every", c.eval_every, "score the fixed evaluation set every k steps (>= 1)");
  visit("eval-batch", c.eval_batch, "size of the fixed evaluation set (>= 1)");
  visit("checkpoint-every", c.checkpoint_every, "save the run file every k steps (0: at the end)");
  visit("track-every", c.track_every,
        "record sharpness, robust condition number, directional smoothness and gradient "
        "noise every k steps into /track (0: off)");
  visit("track-pool", c.track_pool, "tracking: prompts of the fixed Hessian pool (>= 32)");
  visit("track-batches", c.track_batches,
        "tracking: batches of --batch prompts for the gradient noise (>= 4)");
  visit("seed", c.seed, "seed of the training prompts, rotation and initialization");
  visit("eval-seed", c.eval_seed, "seed of the evaluation set");
}

}  // namespace linicl
