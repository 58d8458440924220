// Which algorithm does each layer implement? (§8)
//
// On a fixed evaluation set, every layer's induced weights w_ℓ (§3.6) are compared with the
// iterates w_{alg,k} of the reference learners of §6. Losses are exact given each context:
// a query x ~ D_x gives E[(wᵀx − y)²] = (w − w*)ᵀΣ(w − w*) + σ², with w* the prompt's task.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "linicl/analysis/algorithms.hpp"
#include "linicl/analysis/family_fit.hpp"
#include "linicl/model/model.hpp"
#include "linicl/train/config.hpp"

namespace linicl {

struct AnalysisOptions {
  int prompts = 2000;              // evaluation prompts
  int calibration_prompts = 2000;  // prompts on which step sizes, scalars and probes are fitted
  int max_steps = 64;              // K for the open-ended learners (gd, pgd-theory, newton)
  static constexpr double kRidgeFromNoise = -1.0;  // the default: σ², Bayes-optimal for
  double ridge_lambda = kRidgeFromNoise;           // w ~ N(0, I), at least 1e-8; else > 0
  NewtonStart newton_start = NewtonStart::kSpectral;
  FitOptions fit;  // the fitted learners' multi-start fits
  std::uint64_t seed = 777;
  void check() const;  // throws std::invalid_argument naming the option
};

// A loss over prompts: the mean, its standard error, and the median (of the first
// kMedianPrompts prompts; NaN where not kept). Every loss includes σ² (the query's noise).
struct LossStats {
  Eigen::VectorXd mean, standard_error, median;
};
constexpr int kMedianPrompts = 1000000;

// One readout of the layers against a learner's steps: SimW and SimE of layer ℓ = 1…L with
// step k = 1…steps, and the best step k*(ℓ) by SimE.
struct StepMatch {
  Eigen::MatrixXd simw, sime;  // [L, steps]
  std::vector<int> best_step;  // k*(ℓ)
  Eigen::VectorXd best_sime, best_simw;
};

// The fit behind a fitted learner (family_fit.hpp): its scalars, loss after L steps on the
// calibration prompts, gradient, convergence and agreeing starts; not `fitted` for the others.
struct FitSummary {
  bool fitted = false;
  FamilyFit result;
  double calibration_loss() const {
    return fitted ? result.loss : std::numeric_limits<double>::quiet_NaN();
  }
};

// One reference learner against every layer. Steps k = 1…steps; ols and ridge have one
// "step", their solution.
struct AlgorithmMatch {
  std::string name;
  std::string description;
  std::vector<double> parameters;  // fitted scalars: gd η; gdpp a_1, b_1, …; pgd-inverse a_ℓ
  FitSummary fit;
  LossStats loss;          // after step k = 0…steps (index 0: w = 0); median for k <= L only
  StepMatch fixed, probe;  // the layers read by the model's readout and by the probes
  int steps() const { return static_cast<int>(fixed.simw.cols()); }
};

// Per layer: the weights against the pgd pattern and the theory (§8, last bullet).
struct LayerWeightReport {
  Eigen::MatrixXd gamma;             // effective preconditioner Γ_ℓ
  double outside_pattern = 0.0;      // ‖(P, Q) outside the pgd pattern‖_F / ‖(P, Q)‖_F
  double distance_gamma_star = 0.0;  // ‖Γ_ℓ − Γ*‖_F/‖Γ*‖_F (NaN without a closed form)
  double best_inverse_scale = 0.0;       // a minimizing ‖Γ_ℓ − aΣ⁻¹‖_F
  double distance_scaled_inverse = 0.0;  // ‖Γ_ℓ − aΣ⁻¹‖_F/‖Γ_ℓ‖_F
  double commutator = 0.0;               // ‖Γ_ℓΣ − ΣΓ_ℓ‖_F/(‖Γ_ℓ‖_F‖Σ‖_F)
  double eig_min = 0.0, eig_max = 0.0;   // extreme real parts of the eigenvalues of Γ_ℓΣ
};

struct AnalysisReport {
  AnalysisOptions options;
  // After layer ℓ = 0…L, read by the model's readout ŷ = −[q_ℓ]_{d+1} and by a probe
  // ŷ = v_ℓᵀ q_ℓ, v_ℓ fitted by least squares on the calibration prompts (§8).
  LossStats model_loss, probe_loss;
  Eigen::MatrixXd probes;  // [L+1, d+1]: row ℓ is v_ℓ
  std::vector<AlgorithmMatch> algorithms;
  std::vector<LayerWeightReport> layers;
  std::vector<std::string> notes;  // learners skipped, fits that do not carry over, heavy tails
};

// Analyzes a model with final weights `weights` trained under `config` on Σ, Σ_w.
AnalysisReport analyze(const TrainConfig& config, const Eigen::MatrixXd& sigma,
                       const Eigen::MatrixXd& sigma_w, const Weights& weights,
                       const AnalysisOptions& options);

// For a fitted learner (finite calibration_loss), a note when its loss after L steps on the
// evaluation prompts is not finite, or is more than kOverfitRatio times its loss on the
// calibration prompts where its scalars were fitted (a poor local optimum of a non-convex fit,
// or a pool too small for its heavy tail); else empty. Differences within kOverfitFloor of the
// zero predictor's loss `zero_loss` are rounding, not a fit that fails (σ = 0, exact fits). Both
// losses include σ², so when the noise dominates a bad fit can stay under the ratio.
constexpr double kOverfitRatio = 2.0, kOverfitFloor = 1e-6;
std::string overfit_note(const std::string& learner, double eval_loss, double calibration_loss,
                         double zero_loss);

// A note when the standard error of a reported mean loss exceeds kHeavyTailRatio of the mean's
// excess over σ²: the mean then rests on a few prompts, and the median is the steadier figure.
constexpr double kHeavyTailRatio = 0.1;

// The highest power of one context covariate vector in a prompt's squared error (§3.6): the
// prediction of L pgd layers has degree 2L in one x_i, that of full and gdpp layers 3^L − 1
// (every layer multiplies a column's degree by 3), so the squared error has degree 4L and
// 2(3^L − 1). The population loss is finite only if the covariates have finite moments of this
// order (returned as a double: 3^L overflows an int).
double loss_moment_order(Param param, int layers);

// Non-empty when the run's covariate law has no finite moment of that order (student-t with
// ν <= it): then the population loss is infinite for generic weights, and sampled means grow
// with the number of prompts.
std::string infinite_loss_note(const TrainConfig& config);

}  // namespace linicl
