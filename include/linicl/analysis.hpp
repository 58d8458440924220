// Which algorithm does each layer implement? (DESIGN §8)
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

#include "linicl/config.hpp"
#include "linicl/h5.hpp"
#include "linicl/model.hpp"

namespace linicl {

struct AnalysisOptions {
  int prompts = 2000;              // evaluation prompts
  int calibration_prompts = 2000;  // prompts on which step sizes and scalars are fitted
  int max_steps = 64;              // K for the open-ended learners (gd, pgd-theory, newton)
  static constexpr double kRidgeFromNoise = -1.0;  // the default: σ², Bayes-optimal for
  double ridge_lambda = kRidgeFromNoise;           // w ~ N(0, I), at least 1e-8; else > 0
  std::uint64_t seed = 777;
  void check() const;  // throws std::invalid_argument naming the option
};

// One reference learner against every layer. Steps k = 1…steps; ols and ridge have one
// "step", their solution.
struct AlgorithmMatch {
  std::string name;
  std::string description;
  std::vector<double> parameters;  // fitted scalars: gd η; gdpp a_1, b_1, …; pgd-inverse a_ℓ
  // The fitted learners' loss after L steps on the calibration prompts, where their scalars were
  // fitted (NaN for the others); against loss[L], it shows whether the fit carries over.
  double calibration_loss = std::numeric_limits<double>::quiet_NaN();
  Eigen::VectorXd loss;                  // loss after step k = 0…steps (index 0: w = 0)
  Eigen::MatrixXd simw, sime;            // [L, steps]: layer ℓ = 1…L against step k = 1…steps
  std::vector<int> best_step;            // k*(ℓ): the step of highest SimE
  Eigen::VectorXd best_sime, best_simw;  // at k*(ℓ)
  int steps() const { return static_cast<int>(simw.cols()); }
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
  Eigen::VectorXd model_loss;  // after layer ℓ = 0…L
  std::vector<AlgorithmMatch> algorithms;
  std::vector<LayerWeightReport> layers;
  std::vector<std::string> notes;  // learners skipped, and fits that do not carry over
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

// Replaces /analysis under `file` with the report.
void write_analysis(const h5::Node& file, const AnalysisReport& report);

}  // namespace linicl
