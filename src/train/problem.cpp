#include "linicl/train/problem.hpp"

#include <stdexcept>

#include "linicl/data/covariance.hpp"

namespace linicl {

Problem make_problem(const TrainConfig& config, const CovarianceReader& read) {
  config.check();
  const int d = config.dim;
  // Files are io's to read: a caller that wants them passes the reader.
  const auto read_file = [&](const std::string& path, std::initializer_list<const char*> datasets,
                             const std::string& what) {
    if (!read) throw std::logic_error("make_problem: " + what + " needs a CovarianceReader");
    return read(path, datasets, d, what);
  };
  Eigen::MatrixXd sigma = config.cov == CovKind::kFile
                              ? read_file(config.cov_file, {"/data/Sigma", "/Sigma"}, "--cov-file")
                              : make_covariance(config.covariance_spec(), d, config.seed);
  // Gamma covariates have covariance kθ·Σ (k, θ of the radial Gamma law); the run keeps the
  // covariance of x itself, so every formula downstream sees the true second moment.
  if (config.x_dist == XDist::kGamma) sigma *= config.gamma_shape * config.gamma_scale;
  Eigen::MatrixXd sigma_w;
  switch (config.w_cov) {
    case WCovKind::kIdentity:
      sigma_w = Eigen::MatrixXd::Identity(d, d);
      break;
    case WCovKind::kInverse:
      sigma_w = spd_roots(sigma).inverse;
      break;
    case WCovKind::kFile:
      sigma_w =
          read_file(config.w_cov_file, {"/data/Sigma_w", "/Sigma_w", "/Sigma"}, "--w-cov-file");
      break;
  }
  TaskSampler sampler(config.task_spec(), sigma, sigma_w);
  return {std::move(sigma), std::move(sigma_w), std::move(sampler)};
}

}  // namespace linicl
