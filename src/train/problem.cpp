#include "linicl/train/problem.hpp"

#include <stdexcept>

#include "linicl/data/covariance.hpp"
#include "linicl/io/h5.hpp"

namespace linicl {

Eigen::MatrixXd read_covariance_file(const std::string& path,
                                     std::initializer_list<const char*> datasets, int dim,
                                     const std::string& what) {
  if (!h5::is_hdf5(path)) {
    throw std::invalid_argument(what + ": '" + path + "' is missing or not an HDF5 file");
  }
  const h5::File file = h5::File::open(path);
  std::string tried;
  for (const char* name : datasets) {
    if (file.exists(name)) {
      Eigen::MatrixXd m = file.read_matrix(name);
      check_covariance(m, dim, what + " (" + path + ":" + name + ")");
      return m;
    }
    tried += (tried.empty() ? "" : " or ") + std::string(name);
  }
  throw std::invalid_argument(what + ": '" + path + "' has no dataset " + tried);
}

Problem make_problem(const TrainConfig& config) {
  config.check();
  const int d = config.dim;
  Eigen::MatrixXd sigma =
      config.cov == CovKind::kFile
          ? read_covariance_file(config.cov_file, {"/data/Sigma", "/Sigma"}, d, "--cov-file")
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
      sigma_w = read_covariance_file(config.w_cov_file, {"/data/Sigma_w", "/Sigma_w", "/Sigma"}, d,
                                     "--w-cov-file");
      break;
  }
  TaskSampler sampler(config.task_spec(), sigma, sigma_w);
  return {std::move(sigma), std::move(sigma_w), std::move(sampler)};
}

}  // namespace linicl
