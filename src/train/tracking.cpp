#include "linicl/train/tracking.hpp"
#include "linicl/data/streams.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "linicl/numerics/curvature.hpp"
#include "linicl/numerics/spectrum.hpp"
#include "linicl/train/config.hpp"

namespace linicl {

namespace {

template <class T>
void keep_rows(std::vector<T>& column, std::size_t keep) {
  if (column.size() > keep) column.resize(keep);
}

}  // namespace

GradientNoise gradient_noise(const std::vector<Eigen::VectorXd>& grads) {
  const int batches = static_cast<int>(grads.size());
  if (batches < 4) throw std::invalid_argument("gradient_noise: needs at least 4 batches");
  GradientNoise out;
  out.mean = Eigen::VectorXd::Zero(grads.front().size());
  for (const Eigen::VectorXd& g : grads) out.mean += g;
  out.mean /= batches;
  out.norms.resize(batches);
  const double bessel = std::sqrt(batches / (batches - 1.0));
  for (int j = 0; j < batches; ++j) out.norms[j] = bessel * (grads[j] - out.mean).norm();

  // The tail: noise samples must be independent and share one law within each block of the
  // estimator. Differences of disjoint pairs of batches, (g_2i − g_2i+1)/√2, are exactly
  // centred (∇ℒ cancels), independent, and keep the noise's tail index (a difference of two
  // i.i.d. α-stable variables is α-stable). One coordinate's J/2 differences make one block,
  // so noise scales, which differ by orders of magnitude between parameters, never mix
  // (pooling them would make Gaussian noise look heavy-tailed: a scale mixture of Gaussians
  // is), and batches are never mixed with coordinates of the same batch, which share prompts.
  const int pairs = batches / 2;
  std::vector<double> samples, block(pairs);
  for (Eigen::Index c = 0; c < out.mean.size(); ++c) {
    double sum = 0.0;
    bool usable = true;
    for (int i = 0; i < pairs; ++i) {
      block[i] = (grads[2 * i][c] - grads[2 * i + 1][c]) * M_SQRT1_2;
      sum += block[i];
      usable = usable && block[i] != 0.0;  // exactly no noise: a parameter ℒ ignores
    }
    if (usable && sum != 0.0) samples.insert(samples.end(), block.begin(), block.end());
  }
  out.tail_index = samples.size() >= 16 ? stable_tail_index(samples, pairs)
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
      pool_{config.eval_seed, prompt_step(PromptSet::kLandscapePool), config.track_pool},
      objective_(sampler, param) {}

void Tracker::record(std::int64_t step, const Eigen::VectorXd& theta, const Eigen::VectorXd& update,
                     TrackSeries& out) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  // Tracking only observes training: where the statistics cannot be computed (a non-finite
  // Hessian product or noise sample near a divergence), the row is NaN and training goes on.
  Curvature curvature;
  curvature.sharpness = curvature.median = curvature.robust_condition = kNaN;
  double smoothness = kNaN;  // also when there is no update (lr = 0): no direction u
  GradientNoise noise{Eigen::VectorXd::Constant(theta.size(), kNaN),
                      Eigen::VectorXd::Constant(batches_, kNaN), kNaN};
  try {
    const SymmetricOperator hessian = [&](const Eigen::VectorXd& v, Eigen::VectorXd& out) {
      objective_.hessian_times(theta, v, pool_, out);
    };
    curvature =
        measure_curvature(hessian, theta.size(), CurvatureOptions(), curvature_streams(seed_));
    if (update.norm() > 0.0) {
      const Eigen::VectorXd u = update.normalized();
      Eigen::VectorXd hu;
      objective_.hessian_times(theta, u, pool_, hu);
      smoothness = u.dot(hu);
    }
    // Stochastic-gradient noise: `batches` independent training-size batches.
    std::vector<Eigen::VectorXd> grads(batches_);
    for (int j = 0; j < batches_; ++j) {
      const BatchSpec batch{
          seed_,
          prompt_step(PromptSet::kTrackingNoise, static_cast<std::uint64_t>(step) * batches_ + j),
          batch_};
      objective_.evaluate(theta, batch, &grads[j]);
    }
    noise = gradient_noise(grads);
  } catch (const std::invalid_argument&) {
    // The spectrum and tail-index routines refuse non-finite input with invalid_argument;
    // anything else (out of memory, a logic error) is not ours to hide.
  }

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
