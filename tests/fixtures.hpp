// Small problems and random weights shared by the numerical tests.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "linicl/analysis/analysis.hpp"
#include "linicl/analysis/theory.hpp"
#include "linicl/data/covariance.hpp"
#include "linicl/data/task.hpp"
#include "linicl/model/gram_lsa.hpp"
#include "linicl/model/parametrization.hpp"
#include "linicl/numerics/rng.hpp"
#include "linicl/train/objective.hpp"

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

// Gaussian x with d = dim, n = context and label-noise std `noise`; the rest at its defaults.
inline TaskSpec gaussian_spec(int dim, int context, double noise = 0.0) {
  TaskSpec spec;
  spec.dim = dim;
  spec.context = context;
  spec.noise = noise;
  return spec;
}

// One pgd layer, one head on Gaussian x with Σ = rotated_covariance(d, kappa), Σ_w = I: the
// sampled objective beside the closed-form theory it is checked against.
struct OnePgdLayer {
  OnePgdLayer(int d, int n, double kappa, double noise)
      : sigma(rotated_covariance(d, kappa)),
        spec(gaussian_spec(d, n, noise)),
        sampler(spec, sigma, Eigen::MatrixXd::Identity(d, d)),
        theory(spec, sigma, Eigen::MatrixXd::Identity(d, d)),
        param(Param::kPgd, d, 1, 1, false),
        objective(sampler, param) {}
  Eigen::MatrixXd sigma;
  TaskSpec spec;
  TaskSampler sampler;
  OneLayerTheory theory;
  Parametrization param;
  BatchObjective objective;
};

inline TaskSampler make_sampler(int dim, int context, double noise = 0.0, double kappa = 1.0) {
  return TaskSampler(gaussian_spec(dim, context, noise), rotated_covariance(dim, kappa),
                     Eigen::MatrixXd::Identity(dim, dim));
}

// The squared error (ŷ_b − y_b)² of every prompt of the batch, one prompt at a time through
// gram_lsa.hpp's forward and backward. With `grad`, adds ∂/∂(P, Q) of Σ_b keep(b)·(ŷ_b − y_b)²/B (a
// prompt is kept when keep is null or returns true for its squared error).
inline std::vector<double> prompt_errors(const TaskSampler& sampler, const Weights& w,
                                         const BatchSpec& batch, Weights* grad = nullptr,
                                         const std::function<bool(double)>& keep = {}) {
  std::vector<double> errors;
  PromptColumns columns;
  EmbeddedPrompt embedded;
  Tape tape;
  Workspace ws;
  for (int b = 0; b < batch.size; ++b) {
    sampler.sample_columns(batch.seed, batch.step, static_cast<std::uint64_t>(b), columns);
    embed(columns, embedded);
    const double r = forward(w, embedded, tape, ws) - embedded.target;
    errors.push_back(r * r);
    if (grad && (!keep || keep(r * r))) {
      backward(w, embedded, tape, 2.0 * r / batch.size, *grad, ws);
    }
  }
  return errors;
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
