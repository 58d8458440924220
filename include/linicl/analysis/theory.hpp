// Closed forms for one `pgd` layer (§7.1).
#pragma once

#include <Eigen/Dense>
#include <string>

#include "linicl/data/task.hpp"
#include "linicl/train/config.hpp"

namespace linicl {

// E[(xᵀ C x) x xᵀ] for x = Σ^{1/2}u drawn as in TaskSampler and C symmetric. With
// B = Σ^{1/2} C Σ^{1/2} it is Σ^{1/2} (c (tr B·I + 2B) + e·Diag(B)) Σ^{1/2}, where
// c = E‖u‖⁴/(d(d+2)) for the spherically symmetric laws (gaussian 1, sphere d/(d+2),
// gamma d(k+1)/(k(d+2)), student-t (ν−2)/(ν−4)) and uniform has c = 1, e = κ₄ − 3 = −6/5.
// Throws std::invalid_argument for student-t with ν ≤ 4 (infinite fourth moment).
Eigen::MatrixXd weighted_fourth_moment(const TaskSpec& spec, const Eigen::MatrixXd& sigma,
                                       const Eigen::MatrixXd& c);

// f(Γ) = tr(Γ H Γᵀ Σ) − 2 tr(Γ Σ Σ_w Σ) + tr(Σ_w Σ) + σ², the exact population loss of one
// `pgd` layer with preconditioner Γ, where H = E[S Σ_w S] + (σ²/n) Σ and
// E[S Σ_w S] = (1/n) E[(xᵀΣ_w x) x xᵀ] + (1 − 1/n) Σ Σ_w Σ.
class OneLayerTheory {
 public:
  OneLayerTheory(const TaskSpec& spec, const Eigen::MatrixXd& sigma,
                 const Eigen::MatrixXd& sigma_w);
  double loss(const Eigen::MatrixXd& gamma) const;
  Eigen::MatrixXd gradient(const Eigen::MatrixXd& gamma) const;  // ∇f = 2(ΣΓH − ΣΣ_wΣ)
  // f is quadratic: ∇²f[Δ] = 2ΣΔH for every Γ, and on vec(Γ) (column-major) ∇²f = 2 H ⊗ Σ,
  // positive definite whenever Σ and H are.
  Eigen::MatrixXd hessian_times(const Eigen::MatrixXd& delta) const;
  Eigen::MatrixXd hessian() const;
  const Eigen::MatrixXd& gamma_star() const { return gamma_star_; }  // Γ* = Σ_w Σ H⁻¹
  double loss_star() const { return loss_star_; }
  const Eigen::MatrixXd& h() const { return h_; }

 private:
  Eigen::MatrixXd sigma_, sigma_w_, h_, cross_;  // cross_ = Σ Σ_w Σ
  double baseline_;                              // tr(Σ_w Σ) + σ²
  Eigen::MatrixXd gamma_star_;
  double loss_star_;
};

// ‖A − B‖_F / ‖B‖_F.
double relative_distance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b);

// What the closed forms say of a trained run, for `linicl train` to print (§11): the loss of
// predicting 0, and for one pgd layer its Γ against Γ* (§7.1).
struct TheoryReport {
  double zero_loss = 0.0;       // tr(Σ_w Σ) + σ², the population loss of ŷ = 0
  bool one_pgd_layer = false;   // the config is one pgd layer, which §7.1 covers
  std::string no_closed_form;   // one pgd layer, but Γ* does not exist (e.g. student-t, ν ≤ 4)
  double gamma_distance = 0.0;  // ‖Γ − Γ*‖_F / ‖Γ*‖_F of the learned Γ
  double gamma_loss = 0.0;      // f(Γ), its exact population loss
  double loss_star = 0.0;       // f(Γ*)
};
TheoryReport theory_report(const TrainConfig& config, const Eigen::MatrixXd& sigma,
                           const Eigen::MatrixXd& sigma_w, const Eigen::VectorXd& theta);

}  // namespace linicl
