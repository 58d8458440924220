// Minimizing the sampled loss over a linear family of parameters θ = basis·s (DESIGN §6, §7):
// the tuned GD step, GD++'s per-step scalars, and the theory families Γ_ℓ = a_ℓ Σ⁻¹.
#pragma once

#include <Eigen/Dense>
#include <vector>

#include "linicl/objective.hpp"

namespace linicl {

struct FamilyFit {
  Eigen::VectorXd scalars;      // s
  Eigen::VectorXd theta;        // basis·s
  double loss = 0.0;            // the sampled loss there
  double scalar_grad_norm = 0;  // ‖basisᵀ∇ℒ(θ)‖ at the end
  int iterations = 0;
};

// The basis whose column j puts `patterns[j]` (column-major, as θ stores it) into parameter
// block `blocks[j]` of the parametrization: e.g. A_ℓ = a_ℓ Σ⁻¹ for the pgd blocks ℓ.
Eigen::MatrixXd family_basis(const Parametrization& param, const std::vector<int>& blocks,
                             const std::vector<Eigen::MatrixXd>& patterns);

// Damped Newton in s, with the Hessian from central differences of the exact gradient
// basisᵀ∇ℒ and a backtracking line search, on one fixed pool of prompts (common random
// numbers, so the objective is a deterministic function of s). Starts from `start`.
FamilyFit fit_family(BatchObjective& objective, const BatchSpec& pool, const Eigen::MatrixXd& basis,
                     const Eigen::VectorXd& start, int max_iterations = 60);

}  // namespace linicl
