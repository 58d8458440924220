#include "linicl/tracking.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "linicl/config.hpp"
#include "linicl/spectrum.hpp"

namespace linicl {

namespace {

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

GradientNoise gradient_noise(const std::vector<Eigen::VectorXd>& grads) {
  const int batches = static_cast<int>(grads.size());
  if (batches < 3) throw std::invalid_argument("gradient_noise: needs at least 3 batches");
  GradientNoise out;
  out.mean = Eigen::VectorXd::Zero(grads.front().size());
  for (const Eigen::VectorXd& g : grads) out.mean += g;
  out.mean /= batches;
  out.norms.resize(batches);
  const double bessel = std::sqrt(batches / (batches - 1.0));
  for (int j = 0; j < batches; ++j) out.norms[j] = bessel * (grads[j] - out.mean).norm();

  // Pooling raw coordinates would mix noise scales that differ by orders of magnitude, and a
  // scale mixture of Gaussians is itself heavy-tailed: α̂ would drop below 2 for Gaussian
  // noise. So each g_jc is centred and scaled by the mean and spread of the other batches in
  // coordinate c; these are independent of g_jc, so z_jc keeps g_jc's tail (a spread that
  // included g_jc would bound |z_jc| by (J−1)/√J and push α̂ toward 2).
  const Eigen::Index coordinates = out.mean.size();
  Eigen::MatrixXd z(coordinates, batches);  // NaN: no noise in that coordinate
  std::vector<double> others(batches - 1);
  for (Eigen::Index c = 0; c < coordinates; ++c) {
    for (int j = 0; j < batches; ++j) {
      for (int k = 0, m = 0; k < batches; ++k) {
        if (k != j) others[m++] = grads[k][c];
      }
      double centre = 0.0, spread = 0.0;
      for (double x : others) centre += x;
      centre /= batches - 1;
      for (double x : others) spread += (x - centre) * (x - centre);
      spread = std::sqrt(spread / (batches - 2));
      const double deviation = grads[j][c] - centre;
      // A coordinate the loss does not depend on has exactly no noise and no tail.
      z(c, j) = spread > 0.0 && deviation != 0.0 ? deviation / spread
                                                 : std::numeric_limits<double>::quiet_NaN();
    }
  }
  // Batch by batch: the estimator sums consecutive samples in blocks, and the deviations of
  // one coordinate across the batches nearly cancel (unscaled, they sum to exactly zero), so
  // a block must run across coordinates, not across batches.
  std::vector<double> standardized;
  for (int j = 0; j < batches; ++j) {
    for (Eigen::Index c = 0; c < coordinates; ++c) {
      if (!std::isnan(z(c, j))) standardized.push_back(z(c, j));
    }
  }
  out.tail_index = standardized.size() >= 16 ? stable_tail_index(standardized)
                                             : std::numeric_limits<double>::quiet_NaN();
  return out;
}

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

  // Stochastic-gradient noise: `batches` independent training-size batches.
  std::vector<Eigen::VectorXd> grads(batches_);
  for (int j = 0; j < batches_; ++j) {
    const BatchSpec batch{seed_, kTrackNoiseStep + static_cast<std::uint64_t>(step) * batches_ + j,
                          batch_};
    grads[j] = landscape_.gradient(theta, batch, nullptr);
  }
  const GradientNoise noise = gradient_noise(grads);

  out.step.push_back(step);
  out.sharpness.push_back(curvature.sharpness);
  out.median.push_back(curvature.median);
  out.robust_condition.push_back(curvature.robust_condition);
  out.negative.push_back(curvature.negative);
  out.directional_smoothness.push_back(smoothness);
  out.grad_norm.push_back(noise.mean.norm());
  out.noise_mean.push_back(noise.norms.mean());
  out.tail_index.push_back(noise.tail_index);
  out.noise_norms.push_back(noise.norms);
}

}  // namespace linicl
