// Small problems and random weights shared by the numerical tests.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "linicl/analysis.hpp"
#include "linicl/covariance.hpp"
#include "linicl/model.hpp"
#include "linicl/rng.hpp"
#include "linicl/task.hpp"

namespace linicl::testing {

inline Eigen::MatrixXd random_matrix(Eigen::Index rows, Eigen::Index cols, RandomStream& rs,
                                     double scale = 1.0) {
  Eigen::MatrixXd m(rows, cols);
  for (Eigen::Index j = 0; j < cols; ++j) {
    for (Eigen::Index i = 0; i < rows; ++i) m(i, j) = scale * rs.normal();
  }
  return m;
}

inline Weights random_weights(int layers, int heads, int dim, std::uint64_t seed,
                              double scale = 0.3) {
  RandomStream rs(seed, Purpose::kInit, 99);
  Weights w(layers, heads, dim);
  for (auto& m : w.P) m = random_matrix(dim + 1, dim + 1, rs, scale);
  for (auto& m : w.Q) m = random_matrix(dim + 1, dim + 1, rs, scale);
  return w;
}

// A rotated covariance with condition number κ (tr Σ = d).
inline Eigen::MatrixXd rotated_covariance(int dim, double kappa, std::uint64_t seed = 5) {
  CovarianceSpec spec;
  spec.kind = CovKind::kKappa;
  spec.kappa = kappa;
  spec.rotate = true;
  return make_covariance(spec, dim, seed);
}

inline TaskSampler make_sampler(int dim, int context, double noise = 0.0, double kappa = 1.0) {
  TaskSpec spec;
  spec.dim = dim;
  spec.context = context;
  spec.noise = noise;
  return TaskSampler(spec, rotated_covariance(dim, kappa), Eigen::MatrixXd::Identity(dim, dim));
}

// Analysis options on small prompt sets.
inline AnalysisOptions analysis_options(int prompts, int calibration, int max_steps) {
  AnalysisOptions options;
  options.prompts = prompts;
  options.calibration_prompts = calibration;
  options.max_steps = max_steps;
  return options;
}

// The learner `name` of a report; throws if there is none.
inline const AlgorithmMatch& find_learner(const AnalysisReport& report, const std::string& name) {
  for (const AlgorithmMatch& m : report.algorithms) {
    if (m.name == name) return m;
  }
  throw std::logic_error("no learner " + name);
}

}  // namespace linicl::testing
