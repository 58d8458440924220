#include "linicl/config.hpp"
#include "linicl/require.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace linicl {

namespace {
constexpr int kMaxPrompts = 100000000;  // keeps batch sizes and chunk counts far from INT_MAX
}  // namespace

namespace {

bool finite(double x) {
  return std::isfinite(x);
}

XDist parse_x_dist(const std::string& name) {
  if (name == "uniform") return XDist::kUniform;
  if (name == "student-t") return XDist::kStudentT;
  if (name == "sphere") return XDist::kSphere;
  if (name == "gamma") return XDist::kGamma;
  require_choice(name, "--x-dist", {"gaussian", "uniform", "student-t", "sphere", "gamma"});
  return XDist::kGaussian;
}

}  // namespace

void TrainConfig::check() const {
  require(dim >= 1, "--dim", ">= 1", dim);
  require(context >= 1, "--context", ">= 1", context);
  require_choice(cov, "--cov", {"isotropic", "kappa", "spectrum", "file"});
  // Beyond 1e12 the smallest eigenvalue is lost to round-off against the largest.
  require(finite(kappa) && kappa >= 1.0 && kappa <= 1e12, "--kappa", "in [1, 1e12]", kappa);
  require_choice(kappa_shape, "--kappa-shape", {"geometric", "two-level"});
  if (cov == "spectrum") {
    require(static_cast<int>(spectrum.size()) == dim, "--spectrum", "a list of exactly d values",
            std::to_string(spectrum.size()) + " values");
    for (double v : spectrum) require(finite(v) && v > 0.0, "--spectrum", "values > 0", v);
  }
  require((cov == "file") == !cov_file.empty(), "--cov-file", "given exactly when --cov is file",
          "'" + cov_file + "' with --cov " + cov);
  require(cov == "spectrum" || spectrum.empty(), "--spectrum", "given only with --cov spectrum",
          "a list with --cov " + cov);
  parse_x_dist(x_dist);  // refuses an unknown name
  require(finite(dof) && dof > 2.0, "--dof", "> 2", dof);
  require(finite(gamma_shape) && gamma_shape > 0.0, "--gamma-shape", "> 0", gamma_shape);
  require(finite(gamma_scale) && gamma_scale > 0.0, "--gamma-scale", "> 0", gamma_scale);
  require_choice(w_cov, "--w-cov", {"identity", "inverse", "file"});
  require((w_cov == "file") == !w_cov_file.empty(), "--w-cov-file",
          "given exactly when --w-cov is file", "'" + w_cov_file + "' with --w-cov " + w_cov);
  require(finite(noise) && noise >= 0.0, "--noise", ">= 0", noise);
  require(layers >= 1, "--layers", ">= 1", layers);
  require(heads >= 1, "--heads", ">= 1", heads);
  require_choice(param, "--param", {"full", "pgd", "gdpp"});
  require(finite(init_std) && init_std >= 0.0, "--init-std", ">= 0", init_std);
  require_choice(optimizer, "--optimizer", {"adam", "adamw", "sgd"});
  require(finite(lr) && lr > 0.0, "--lr", "> 0", lr);
  require(beta1 >= 0.0 && beta1 < 1.0, "--beta1", "in [0, 1)", beta1);
  require(beta2 >= 0.0 && beta2 < 1.0, "--beta2", "in [0, 1)", beta2);
  require(finite(eps) && eps > 0.0, "--eps", "> 0", eps);
  require(momentum >= 0.0 && momentum < 1.0, "--momentum", "in [0, 1)", momentum);
  require(finite(weight_decay) && weight_decay >= 0.0, "--weight-decay", ">= 0", weight_decay);
  require(finite(clip) && clip >= 0.0, "--clip", ">= 0", clip);
  require_choice(clip_mode, "--clip-mode", {"global", "matrix"});
  require(finite(loss_cap) && loss_cap >= 0.0, "--loss-cap", ">= 0", loss_cap);
  require_choice(schedule, "--schedule", {"constant", "step", "cosine"});
  require(warmup >= 0, "--warmup", ">= 0", warmup);
  require(decay_every >= 1, "--decay-every", ">= 1", decay_every);
  require(decay_factor > 0.0 && decay_factor <= 1.0, "--decay-factor", "in (0, 1]", decay_factor);
  require(finite(min_lr) && min_lr >= 0.0, "--min-lr", ">= 0", min_lr);
  require(batch >= 1 && batch <= kMaxPrompts, "--batch", "in [1, 100000000]", batch);
  require(steps >= 1, "--steps", ">= 1", steps);
  require(resample_every >= 0, "--resample-every", ">= 0", resample_every);
  require(eval_every >= 1, "--eval-every", ">= 1", eval_every);
  require(eval_batch >= 1 && eval_batch <= kMaxPrompts, "--eval-batch", "in [1, 100000000]",
          eval_batch);
  require(checkpoint_every >= 0, "--checkpoint-every", ">= 0", checkpoint_every);
  require(track_every >= 0, "--track-every", ">= 0", track_every);
  require(track_pool >= 32 && track_pool <= kMaxPrompts, "--track-pool", "in [32, 100000000]",
          track_pool);
  require(track_batches >= 4 && track_batches <= 100000, "--track-batches", "in [4, 100000]",
          track_batches);
}

TaskSpec TrainConfig::task_spec() const {
  TaskSpec spec;
  spec.dim = dim;
  spec.context = context;
  spec.x_dist = parse_x_dist(x_dist);
  spec.dof = dof;
  spec.gamma_shape = gamma_shape;
  spec.gamma_scale = gamma_scale;
  spec.noise = noise;
  return spec;
}

CovarianceSpec TrainConfig::covariance_spec() const {
  CovarianceSpec spec;
  spec.kind = cov == "kappa"      ? CovKind::kKappa
              : cov == "spectrum" ? CovKind::kSpectrum
              : cov == "file"     ? CovKind::kFile
                                  : CovKind::kIsotropic;
  spec.kappa = kappa;
  spec.shape = kappa_shape == "two-level" ? KappaShape::kTwoLevel : KappaShape::kGeometric;
  spec.spectrum = spectrum;
  spec.rotate = rotate;
  spec.normalize = normalize;
  return spec;
}

OptimizerSpec TrainConfig::optimizer_spec() const {
  OptimizerSpec spec;
  spec.kind = parse_optimizer(optimizer);
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
  spec.kind = parse_schedule(schedule);
  spec.total_steps = steps;
  spec.warmup = warmup;
  spec.decay_every = decay_every;
  spec.decay_factor = decay_factor;
  spec.min_lr = min_lr;
  return spec;
}

Parametrization TrainConfig::parametrization() const {
  return Parametrization(parse_param(param), dim, layers, heads, share_weights);
}

}  // namespace linicl
