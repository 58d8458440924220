// Reference in-context learners (§6). Each works on one prompt's context, X (d×n, the
// columns x_i) and y (n), and returns its weight vector after every step: column k of the
// d×(K+1) result is w_k, starting from w_0 = 0, so a prediction for any query is w_kᵀx.
#pragma once

#include <Eigen/Dense>
#include <vector>

namespace linicl {

// R(w) = (1/2n) Σ_i (x_iᵀw − y_i)², the in-context least-squares risk.
double empirical_risk(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const Eigen::VectorXd& w);

// w_{k+1} = w_k − η ∇R(w_k), ∇R(w) = (1/n) X (Xᵀw − y).
Eigen::MatrixXd gd_iterates(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, double step,
                            int steps);

// 2/(λ_max + λ_min) of S = XXᵀ/n (λ_min the smallest non-zero eigenvalue): the fixed step
// with the fastest worst-mode contraction (§6.2). Steps up to 2/λ_max still descend; beyond,
// the top mode grows. `gd-capped` caps a step tuned across prompts here per context, which
// makes it a data-dependent learner, unlike `gd`.
double gd_step_limit(const Eigen::MatrixXd& x);

// w_{k+1} = w_k − Γ_k ∇R(w_k), one Γ_k per step (steps = gammas.size()).
Eigen::MatrixXd pgd_iterates(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                             const std::vector<Eigen::MatrixXd>& gammas);

// GD++: the gdpp layer of §3.6 with A = a_k I, B = b_k I. With the current context covariates
// X_k (d×n), residual labels r (r_0 = y) and S_k = X_k X_kᵀ/n, step k computes
// u_k = (a_k/n) X_k r, then updates r_j ← r_j − x_jᵀu_k and every covariate, the query
// included, x ← (I − a_k b_k S_k) x (both from the old values). The prediction for the query
// is Σ_{m<k} u_mᵀ T_m x_{n+1} with T_m = (I − a_{m−1}b_{m−1}S_{m−1})⋯(I − a_0 b_0 S_0), so the
// induced weights are w_k = Σ_{m<k} T_mᵀ u_m. With b = 0 this is GD with steps a_k.
Eigen::MatrixXd gdpp_iterates(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                              const std::vector<double>& a, const std::vector<double>& b);

// Iterative Newton (Newton–Schulz) for S⁻¹, S = XXᵀ/n: M_{k+1} = M_k (2I − S M_k) from
// M_0 = αS, and w_k = M_{k−1} X y/n. Column 0 is w_0 = 0, so column k is the estimate after k
// products with S, M_0's included: a count one above the convention that calls M_k "k steps"
// (M_0 step 0). The start α:
//   kSpectral:  2/(λ_max² + λ_min²) of S (λ_min the smallest non-zero eigenvalue), the α with
//               the fastest worst-mode contraction |1 − αλ²|;
//   kFrobenius: 1/‖S S‖_F, the start of the second-order-methods literature's reference code
//               (which applies it to the unnormalized XXᵀ; the same M_k b either way).
enum class NewtonStart { kSpectral, kFrobenius };
Eigen::MatrixXd newton_iterates(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, int steps,
                                NewtonStart start = NewtonStart::kSpectral);

// The minimum-norm least-squares solution (pseudo-inverse), and ridge (XXᵀ + λI)⁻¹ X y.
Eigen::VectorXd ols(const Eigen::MatrixXd& x, const Eigen::VectorXd& y);
Eigen::VectorXd ridge(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, double lambda);

}  // namespace linicl
