#include "linicl/tracking.hpp"

#include <cmath>
#include <limits>

#include "linicl/config.hpp"
#include "linicl/spectrum.hpp"

namespace linicl {

namespace {

// The noise batches of tracked step t are steps kNoiseStep + t·batches + j of the evaluation
// seed: never a training batch, the evaluation set or a landscape pool.
constexpr std::uint64_t kNoiseStep = std::uint64_t{1} << 61;

LandscapeOptions tracking_options(const TrainConfig& config) {
  LandscapeOptions options;
  options.pool = config.track_pool;
  options.seed = config.eval_seed;
  return options;
}

template <class T>
void keep_rows(std::vector<T>& column, std::size_t keep) {
  if (column.size() > keep) column.resize(keep);
}

}  // namespace

void TrackSeries::drop_from(std::int64_t from) {
  std::size_t keep = 0;
  while (keep < step.size() && step[keep] < from) ++keep;
  keep_rows(step, keep);
  keep_rows(sharpness, keep);
  keep_rows(median, keep);
  keep_rows(robust_condition, keep);
  keep_rows(negative, keep);
  keep_rows(directional_smoothness, keep);
  keep_rows(grad_norm, keep);
  keep_rows(noise_mean, keep);
  keep_rows(tail_index, keep);
  keep_rows(noise_norms, keep);
}

Tracker::Tracker(const TrainConfig& config, const TaskSampler& sampler,
                 const Parametrization& param)
    : seed_(config.eval_seed),
      batch_(config.batch),
      batches_(config.track_batches),
      landscape_(sampler, param, tracking_options(config)) {}

void Tracker::record(std::int64_t step, const Eigen::VectorXd& theta, const Eigen::VectorXd& update,
                     TrackSeries& out) {
  const Curvature curvature = landscape_.curvature(theta);
  double smoothness = std::numeric_limits<double>::quiet_NaN();  // no update (lr = 0): no u
  if (update.norm() > 0.0) {
    const Eigen::VectorXd u = update.normalized();
    Eigen::VectorXd hu;
    landscape_.hessian_times(theta, u, hu);
    smoothness = u.dot(hu);
  }

  // Stochastic-gradient noise: `batches` independent training-size batches against their mean.
  std::vector<Eigen::VectorXd> grads(batches_);
  Eigen::VectorXd mean = Eigen::VectorXd::Zero(theta.size());
  for (int j = 0; j < batches_; ++j) {
    const BatchSpec batch{seed_, kNoiseStep + static_cast<std::uint64_t>(step) * batches_ + j,
                          batch_};
    grads[j] = landscape_.gradient(theta, batch, nullptr);
    mean += grads[j];
  }
  mean /= batches_;
  Eigen::VectorXd norms(batches_);
  std::vector<double> coordinates;
  for (int j = 0; j < batches_; ++j) {
    const Eigen::VectorXd noise = grads[j] - mean;
    norms[j] = noise.norm();
    // Entries the loss does not depend on have exactly zero noise; they carry no tail.
    for (Eigen::Index i = 0; i < noise.size(); ++i) {
      if (noise[i] != 0.0) coordinates.push_back(noise[i]);
    }
  }
  const double tail = coordinates.size() >= 16 ? stable_tail_index(coordinates)
                                               : std::numeric_limits<double>::quiet_NaN();

  out.step.push_back(step);
  out.sharpness.push_back(curvature.sharpness);
  out.median.push_back(curvature.median);
  out.robust_condition.push_back(curvature.robust_condition);
  out.negative.push_back(curvature.negative);
  out.directional_smoothness.push_back(smoothness);
  out.grad_norm.push_back(mean.norm());
  out.noise_mean.push_back(norms.mean());
  out.tail_index.push_back(tail);
  out.noise_norms.push_back(norms);
}

}  // namespace linicl
