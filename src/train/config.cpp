#include "linicl/train/config.hpp"
#include "linicl/numerics/require.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace linicl {

namespace {

constexpr int kMaxPrompts = 100000000;  // keeps batch sizes and chunk counts far from INT_MAX

bool finite(double x) {
  return std::isfinite(x);
}

}  // namespace

std::string option_label(const std::string& name, ConfigSource source) {
  return source == ConfigSource::kRunFile ? "/config attribute '" + name + "'" : option_flag(name);
}

void TrainConfig::check(ConfigSource source) const {
  // The specs check their fields under the names of this config's options (the command
  // line's, or the run file's attributes); the rest are rules of the config itself.
  const FieldLabel label = [source](const std::string& name) { return option_label(name, source); };
  task_spec().check(label);
  covariance_spec().check(dim, label);
  require((cov == CovKind::kFile) == !cov_file.empty(), label("cov-file"),
          "given exactly when " + label("cov") + " is file",
          "'" + cov_file + "' with " + label("cov") + " " + name_of(cov));
  require((w_cov == WCovKind::kFile) == !w_cov_file.empty(), label("w-cov-file"),
          "given exactly when " + label("w-cov") + " is file",
          "'" + w_cov_file + "' with " + label("w-cov") + " " + name_of(w_cov));
  require(layers >= 1, label("layers"), ">= 1", layers);
  require(heads >= 1, label("heads"), ">= 1", heads);
  require(finite(init_std) && init_std >= 0.0, label("init-std"), ">= 0", init_std);
  optimizer_spec().check(label);
  require(finite(lr) && lr > 0.0, label("lr"), "> 0", lr);
  require(finite(clip) && clip >= 0.0, label("clip"), ">= 0", clip);
  require(finite(loss_cap) && loss_cap >= 0.0, label("loss-cap"), ">= 0", loss_cap);
  schedule_spec().check(label);
  require(batch >= 1 && batch <= kMaxPrompts, label("batch"), "in [1, 100000000]", batch);
  require(resample_every >= 0, label("resample-every"), ">= 0", resample_every);
  require(eval_every >= 1, label("eval-every"), ">= 1", eval_every);
  require(eval_batch >= 1 && eval_batch <= kMaxPrompts, label("eval-batch"), "in [1, 100000000]",
          eval_batch);
  require(checkpoint_every >= 0, label("checkpoint-every"), ">= 0", checkpoint_every);
  require(track_every >= 0, label("track-every"), ">= 0", track_every);
  require(track_pool >= 32 && track_pool <= kMaxPrompts, label("track-pool"), "in [32, 100000000]",
          track_pool);
  require(track_batches >= 4 && track_batches <= 100000, label("track-batches"), "in [4, 100000]",
          track_batches);
}

TaskSpec TrainConfig::task_spec() const {
  TaskSpec spec;
  spec.dim = dim;
  spec.context = context;
  spec.x_dist = x_dist;
  spec.dof = dof;
  spec.gamma_shape = gamma_shape;
  spec.gamma_scale = gamma_scale;
  spec.noise = noise;
  return spec;
}

CovarianceSpec TrainConfig::covariance_spec() const {
  CovarianceSpec spec;
  spec.kind = cov;
  spec.kappa = kappa;
  spec.shape = kappa_shape;
  spec.spectrum = spectrum;
  spec.rotate = rotate;
  spec.normalize = normalize;
  return spec;
}

OptimizerSpec TrainConfig::optimizer_spec() const {
  OptimizerSpec spec;
  spec.kind = optimizer;
  spec.beta1 = beta1;
  spec.beta2 = beta2;
  spec.eps = eps;
  spec.momentum = momentum;
  spec.nesterov = nesterov;
  spec.weight_decay = weight_decay;
  return spec;
}

ScheduleSpec TrainConfig::schedule_spec() const {
  ScheduleSpec spec;
  spec.kind = schedule;
  spec.total_steps = steps;
  spec.warmup = warmup;
  spec.decay_every = decay_every;
  spec.decay_factor = decay_factor;
  spec.min_lr = min_lr;
  return spec;
}

Parametrization TrainConfig::parametrization() const {
  return Parametrization(param, dim, layers, heads, share_weights);
}

}  // namespace linicl
