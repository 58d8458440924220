// Minimizing the sampled loss over a linear family of parameters θ = basis·s (§6, §7):
// the tuned GD step, GD++'s per-step scalars, and the theory families Γ_ℓ = a_ℓ Σ⁻¹.
//
// These losses are non-convex polynomials in s, symmetric under permuting commuting steps, so
// one start can stop on a saddle of the symmetric line or in a poor basin. A fit is therefore
// multi-start: every start is run to the gradient tolerance, the lowest loss on the pool is
// kept, and the fit reports its gradient norm, whether it converged, and how many starts
// reached the same loss.
#pragma once

#include <Eigen/Dense>
#include <vector>

#include "linicl/train/objective.hpp"

namespace linicl {

struct FitOptions {
  int max_iterations = 200;  // Newton iterations per start, in [1, 100000]
  // Converged when ‖basisᵀ∇ℒ‖ <= gradient_tolerance·(1 + ℒ), in (0, 1).
  double gradient_tolerance = 1e-6;
  // Two starts agree when their final losses differ by at most this·(1 + ℒ_best), in (0, 1).
  double agreement = 1e-6;
  void check() const;  // throws std::invalid_argument naming the field
};

struct FamilyFit {
  Eigen::VectorXd scalars;      // s
  Eigen::VectorXd theta;        // basis·s
  double loss = 0.0;            // the sampled loss there
  double scalar_grad_norm = 0;  // ‖basisᵀ∇ℒ(θ)‖ at the end
  int iterations = 0;           // of the kept start
  bool converged = false;       // scalar_grad_norm within the tolerance
  int starts = 1;               // starts run
  int agreeing = 1;             // starts whose loss agrees with the kept one (itself included)
};

// The basis whose column j puts `patterns[j]` (column-major, as θ stores it) into parameter
// block `blocks[j]` of the parametrization: e.g. A_ℓ = a_ℓ Σ⁻¹ for the pgd blocks ℓ.
Eigen::MatrixXd family_basis(const Parametrization& param, const std::vector<int>& blocks,
                             const std::vector<Eigen::MatrixXd>& patterns);

// Damped Newton in s from `start`, with the Hessian from central differences of the exact
// gradient basisᵀ∇ℒ and a backtracking line search, falling back to steepest descent where the
// Newton direction finds no decrease; on one fixed pool of prompts (common random numbers, so the
// objective is a deterministic function of s). Runs until the gradient is at rounding level or
// no direction decreases the loss; `converged` judges the end against the tolerance.
FamilyFit fit_family(BatchObjective& objective, const BatchSpec& pool, const Eigen::MatrixXd& basis,
                     const Eigen::VectorXd& start, const FitOptions& options = {});

// fit_family from every start; keeps the lowest loss (the first on ties).
FamilyFit fit_family(BatchObjective& objective, const BatchSpec& pool, const Eigen::MatrixXd& basis,
                     const std::vector<Eigen::VectorXd>& starts, const FitOptions& options = {});

// Starts for L per-step scalars a_ℓ around a common value `a` (with `with_b`, a second scalar
// b_ℓ per step, interleaved as a_0, b_0, a_1, b_1, … and started at 0): the symmetric point
// a_ℓ = a, the spreads from 1.5a down to 0.5a and up again (a symmetric start stays on the
// symmetric line, often a saddle), and descending spreads at half and twice the scale. For
// one step: a, a/2 and 2a.
std::vector<Eigen::VectorXd> spread_starts(int steps, double a, bool with_b = false);

}  // namespace linicl
