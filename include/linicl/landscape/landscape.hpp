// Landscape analyses of a run's model (§9): curvature, slices and critical points of
// the population loss, sampled on a fixed pool of prompts (common random numbers, so the
// sampled loss is one smooth deterministic function of θ) and exact where §7.1 applies.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "linicl/analysis/family_fit.hpp"
#include "linicl/analysis/theory.hpp"
#include "linicl/data/streams.hpp"
#include "linicl/data/task.hpp"
#include "linicl/model/parametrization.hpp"
#include "linicl/numerics/curvature.hpp"
#include "linicl/train/objective.hpp"

namespace linicl {

struct LandscapeOptions {
  int pool = 4000;             // prompts of the fixed evaluation pool, in [32, 1e8]
  std::uint64_t seed = 4242;   // the pool's seed (its own prompts, not the training ones), and
                               // of the curvature's random vectors (curvature_streams)
  CurvatureOptions curvature;  // curvature.hpp; full_limit in [1, 20000]
  void check() const;          // throws std::invalid_argument naming the option
};

// Borrows the sampler and parametrization, which must outlive it. Not for concurrent calls.
class Landscape {
 public:
  Landscape(const TaskSampler& sampler, const Parametrization& param,
            const LandscapeOptions& options);

  const TaskSampler& sampler() const { return sampler_; }
  const Parametrization& parametrization() const { return param_; }
  const LandscapeOptions& options() const { return options_; }
  const BatchSpec& pool() const { return pool_; }
  // The pool never repeats a training batch, even under the training seed (streams.hpp); the
  // check pool is a second independent pool for checking a point fitted on the first.
  BatchSpec check_pool() const {
    return {options_.seed, prompt_step(PromptSet::kLandscapeCheck), options_.pool};
  }

  BatchObjective::Estimate loss(const Eigen::VectorXd& theta);
  // ∇ℒ on `batch` (the pool by default), with its batch-means standard error.
  Eigen::VectorXd gradient(const Eigen::VectorXd& theta, double* standard_error = nullptr);
  Eigen::VectorXd gradient(const Eigen::VectorXd& theta, const BatchSpec& batch,
                           double* standard_error);
  void hessian_times(const Eigen::VectorXd& theta, const Eigen::VectorXd& v, Eigen::VectorXd& out);
  // ∇²ℒ on the pool, measured by measure_curvature (curvature.hpp).
  Curvature curvature(const Eigen::VectorXd& theta);
  // Minimizes the pool's loss over θ = basis·s from every start (family_fit.hpp).
  FamilyFit fit(const Eigen::MatrixXd& basis, const std::vector<Eigen::VectorXd>& starts);

  // The exact one-layer loss f (§7.1) applies when the model is one pgd or gdpp layer with one
  // head (B does not reach the prediction after one layer); null otherwise, or when the
  // covariate law has no finite fourth moment.
  const OneLayerTheory* theory() const { return theory_.get(); }
  // Γ = Σ_h A_hᵀ of layer 0, the argument of f.
  Eigen::MatrixXd gamma(const Eigen::VectorXd& theta) const;

 private:
  const TaskSampler& sampler_;
  const Parametrization& param_;
  LandscapeOptions options_;
  BatchSpec pool_;
  BatchObjective objective_;
  std::unique_ptr<OneLayerTheory> theory_;
};

// ---- Slices -------------------------------------------------------------------------------

// A Gaussian direction (RandomStream(seed, kLandscape, 0x511ce, index)) with every parameter
// block rescaled to the Frobenius norm of θ's block: filter normalization (Li et al. 2018) with
// one matrix as the filter, so that a step of 1 changes every matrix by its own size. Blocks
// where θ is zero stay zero. With layer >= 0 only that layer's blocks are non-zero (a shared
// block belongs to every layer).
Eigen::VectorXd filter_normalized_direction(const Parametrization& param,
                                            const Eigen::VectorXd& theta, std::uint64_t seed,
                                            int index, int layer = -1);

// The loss at origin + α u (+ β v) on a grid. `exact` holds f where the landscape has the
// closed form, NaN elsewhere. For a 1-D slice beta is empty and the matrices have one column.
struct Slice {
  Eigen::VectorXd alpha, beta;
  Eigen::MatrixXd loss, standard_error, exact;  // [alpha.size(), max(1, beta.size())]
};
Slice compute_slice(Landscape& landscape, const Eigen::VectorXd& origin, const Eigen::VectorXd& u,
                    const Eigen::VectorXd& alpha, const Eigen::VectorXd* v = nullptr,
                    const Eigen::VectorXd& beta = {});

// ---- Critical points ----------------------------------------------------------------------

struct CriticalPoint {
  std::string family;              // what was fitted, in words
  Eigen::VectorXd scalars, theta;  // the fitted scalars and the point
  BatchObjective::Estimate loss;   // sampled, on the pool
  double exact_loss = 0.0;         // f there when the closed form applies (NaN otherwise)
  double exact_gradient_norm = 0.0;
  // ‖∇ℒ‖ on the independent check pool and its sampling noise (batch-means standard error):
  // at a critical point of the population loss the ratio is about 1.
  double gradient_norm = 0.0, gradient_noise = 0.0;
  Curvature curvature;
  int iterations = 0;            // Newton iterations of the kept start
  int starts = 1, agreeing = 1;  // starts run, and those reaching the kept loss
  bool converged = true;         // the fit's gradient within its tolerance (family_fit.hpp)
};

// The §7 family Γ_ℓ = a_ℓ Σ⁻¹ (θ's A_ℓ = a_ℓ Σ⁻¹ on head 0), with B_ℓ = b_ℓ I for gdpp, one
// scalar per layer (per model with shared weights), fitted on the pool by minimizing the
// sampled loss. Throws std::invalid_argument for the full parametrization.
CriticalPoint fit_theory_family(Landscape& landscape, const Eigen::MatrixXd& sigma);

// One layer's global minimum Γ* (§7.1), with its exact gradient; needs landscape.theory().
CriticalPoint one_layer_minimum(Landscape& landscape);

// θ of a pgd/gdpp model whose layer-0 head-0 Γ is `gamma` and everything else zero.
Eigen::VectorXd theta_for_gamma(const Parametrization& param, const Eigen::MatrixXd& gamma);

// The theory's point in a run's parametrization (for slices "to the theory"): Γ* when one
// layer has the closed form, else the fitted §7 family Γ_ℓ = a_ℓ Σ⁻¹ (B_ℓ = b_ℓ I for gdpp);
// for `full`, that pgd point embedded through the pattern P = [[0, 0], [0, 1]], Q = −[[A, 0],
// [0, 0]].
Eigen::VectorXd theory_point(const TaskSampler& sampler, const Parametrization& param,
                             const LandscapeOptions& options);

// ---- The modes of `linicl landscape` ------------------------------------------------------

// exact: the one-layer closed form at the run's Γ (§7.1, §9.1); needs landscape.theory().
struct ExactReport {
  Eigen::MatrixXd gamma, gradient;      // Γ and ∇f(Γ)
  double loss = 0.0;                    // f(Γ)
  BatchObjective::Estimate sampled;     // ℒ on the pool
  double sampled_deviation = 0.0;       // (ℒ − f)/(its standard error)
  double gradient_norm = 0.0;           // ‖∇f(Γ)‖_F
  double loss_star = 0.0;               // f(Γ*)
  Eigen::MatrixXd gamma_star, h;        // Γ* and H
  double distance_to_star = 0.0;        // ‖Γ − Γ*‖_F/‖Γ*‖_F
  Eigen::VectorXd hessian_eigenvalues;  // of 2 H ⊗ Σ, ascending
};
ExactReport exact_report(Landscape& landscape, const Eigen::VectorXd& theta);

// slice: compute_slice, the loss at the origin and the grid point where the sampled loss is
// lowest. Throws std::invalid_argument when u is zero.
struct SliceReport {
  Eigen::VectorXd origin, u, v;  // v empty for a 1-D slice
  Slice slice;
  double origin_loss = 0.0;
  Eigen::Index lowest_alpha = 0, lowest_beta = 0;  // indices into slice.alpha, slice.beta
};
SliceReport slice_report(Landscape& landscape, const Eigen::VectorXd& origin,
                         const Eigen::VectorXd& u, const Eigen::VectorXd& alpha,
                         const Eigen::VectorXd* v = nullptr, const Eigen::VectorXd& beta = {});

// `points` values evenly over range = {lo, hi}, or without a range over [−1, 1] along a random
// direction and [−0.25, 1.25] along a line to a point (0 the origin, 1 the point).
Eigen::VectorXd slice_grid(int points, const std::vector<double>& range, bool line);

// critical: Γ* as "one_layer_minimum" when one layer has the closed form, then the fitted §7
// family as "family".
std::vector<std::pair<std::string, CriticalPoint>> critical_points(Landscape& landscape,
                                                                   const Eigen::MatrixXd& sigma);

}  // namespace linicl
