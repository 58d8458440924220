// The per-prompt loss ℓ(ŷ, y) = (ŷ − y)² (§3.4), optionally truncated at a cap C > 0 to
// min(ℓ, C) (§5.3): one definition for training, evaluation and Hessian products.
#pragma once

namespace linicl {

struct SquaredLoss {
  double cap = 0.0;  // 0: no cap

  static double value(double residual) { return residual * residual; }
  // Whether a prompt with ℓ = squared keeps its gradient: with a cap, false when the cap
  // truncates ℓ or ℓ is not finite (the prompt then counts as C).
  bool kept(double squared) const { return cap <= 0.0 || squared <= cap; }
  // ∂ℓ/∂ŷ and ∂²ℓ/∂ŷ² at ŷ − y = residual (untruncated).
  static double derivative(double residual) { return 2.0 * residual; }
  static double second_derivative() { return 2.0; }
};

}  // namespace linicl
