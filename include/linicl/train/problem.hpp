// A run's data distribution, resolved from its config: Σ, Σ_w and the prompt sampler (§2).
#pragma once

#include <Eigen/Dense>
#include <string>

#include "linicl/data/task.hpp"
#include "linicl/train/config.hpp"

namespace linicl {

struct Problem {
  Eigen::MatrixXd sigma, sigma_w;
  TaskSampler sampler;
};

// Builds Σ (from the spec, or read from --cov-file) and Σ_w (I, Σ⁻¹ or read from
// --w-cov-file). Throws std::invalid_argument naming the option on bad values or files.
Problem make_problem(const TrainConfig& config);

// Reads the first of `datasets` that `path` holds as a d×d SPD matrix; errors start with `what`.
Eigen::MatrixXd read_covariance_file(const std::string& path,
                                     std::initializer_list<const char*> datasets, int dim,
                                     const std::string& what);

}  // namespace linicl
