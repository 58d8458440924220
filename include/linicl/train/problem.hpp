// A run's data distribution, resolved from its config: Σ, Σ_w and the prompt sampler (§2).
#pragma once

#include <Eigen/Dense>
#include <functional>
#include <initializer_list>
#include <string>

#include "linicl/data/task.hpp"
#include "linicl/train/config.hpp"

namespace linicl {

struct Problem {
  Eigen::MatrixXd sigma, sigma_w;
  TaskSampler sampler;
};

// Reads the first of `datasets` that `path` holds as a d×d SPD matrix; errors start with
// `what`. io's read_covariance_file (covariance_file.hpp) is the one the command line passes.
using CovarianceReader = std::function<Eigen::MatrixXd(const std::string& path,
                                                       std::initializer_list<const char*> datasets,
                                                       int dim, const std::string& what)>;

// Builds Σ (from the spec, or read from --cov-file) and Σ_w (I, Σ⁻¹ or read from
// --w-cov-file); files through `read`, which a config without them does not need (else
// std::logic_error). Throws std::invalid_argument naming the option on bad values or files.
Problem make_problem(const TrainConfig& config, const CovarianceReader& read = {});

}  // namespace linicl
