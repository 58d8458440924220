// One-prompt back ends of gram_layers.hpp, for any d: matrices column-major, products by
// small_gemm. Private to src/model/.
//
// TangentBackend runs the same code on dual numbers a + ε·ȧ (ε² = 0) stored as two halves, the
// values and then the derivatives along a direction dW of the weights: every op applies the
// product rule, (ab)˙ = ȧb + aḃ. Forward then yields ŷ and ŷ̇, and backward, seeded with the
// derivative of ∂ℓ/∂ŷ, yields the derivative of the gradient along dW: ∇²ℓ·dW exactly (§4.3).
#pragma once

#include <Eigen/Dense>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "linicl/model/gram_lsa.hpp"
#include "linicl/model/small_gemm.hpp"

namespace linicl {

// A matrix operand: op(A) = A or Aᵀ, column-major m×m.
struct PromptOperand {
  const double* data;
  bool transposed;
};

class PromptBackend {
 public:
  using Buffer = std::vector<double>;
  explicit PromptBackend(int m) : mat(std::size_t(m) * m), vec(m), m_(m) {}
  const std::size_t mat, vec;  // elements of a matrix and of a vector

  template <bool T>
  static PromptOperand batched(const double* data, std::bool_constant<T>) {
    return {data, T};
  }
  template <bool T>
  static PromptOperand weight(const Eigen::MatrixXd& matrix, std::bool_constant<T>) {
    return {matrix.data(), T};
  }
  void product(const PromptOperand& a, const PromptOperand& b, double alpha, const double* base,
               double* c) const {
    small_gemm(m_, m_, m_, alpha, a.data, m_, a.transposed, b.data, m_, b.transposed, base, c, m_);
  }
  void times_vector(const PromptOperand& a, const double* v, double alpha, const double* base,
                    double* out) const {
    small_gemm(m_, 1, m_, alpha, a.data, m_, a.transposed, v, m_, false, base, out, m_);
  }
  void outer(const double* x, const double* y, double alpha, const double* base,
             double* out) const {
    for (int j = 0; j < m_; ++j) {
      for (int i = 0; i < m_; ++i) {
        const int e = i + j * m_;
        out[e] = (base ? base[e] : 0.0) + alpha * (x[i] * y[j]);
      }
    }
  }
  void add_product(const PromptOperand& a, const double* v, double* out) const {
    times_vector(a, v, 1.0, v, out);
  }
  void symmetrize(const double* x, double* out) const { transpose_sum(x, 0.5, out); }
  void sum_transpose(const double* x, double* out) const { transpose_sum(x, 1.0, out); }
  void accumulate(const double* x, double alpha, Eigen::MatrixXd& grad) const {
    grad += alpha * Eigen::Map<const Eigen::MatrixXd>(x, m_, m_);
  }
  void predict(const double* q_last, double& prediction) const { prediction = -q_last[m_ - 1]; }
  void seed(double dloss_dpred, double* query_grad) const {
    std::fill(query_grad, query_grad + m_, 0.0);
    query_grad[m_ - 1] = -dloss_dpred;
  }

 protected:
  const int m_;  // d + 1
  void transpose_sum(const double* x, double scale, double* out) const {
    for (int j = 0; j < m_; ++j) {
      for (int i = 0; i < m_; ++i) out[i + j * m_] = scale * (x[i + j * m_] + x[j + i * m_]);
    }
  }
};

// A value and its derivative along dW.
struct Dual {
  double value = 0.0, tangent = 0.0;
};

// The weights W + ε·dW of TangentBackend: p(l, h) and q(l, h) are (value, direction) pairs.
struct TangentWeights {
  const Weights& value;
  const Weights& direction;
  int layers, heads;
  TangentWeights(const Weights& w, const Weights& dw)
      : value(w), direction(dw), layers(w.layers), heads(w.heads) {}
  std::pair<const Eigen::MatrixXd&, const Eigen::MatrixXd&> p(int l, int h) const {
    return {value.p(l, h), direction.p(l, h)};
  }
  std::pair<const Eigen::MatrixXd&, const Eigen::MatrixXd&> q(int l, int h) const {
    return {value.q(l, h), direction.q(l, h)};
  }
};

class TangentBackend : private PromptBackend {
 public:
  using Buffer = std::vector<double>;
  explicit TangentBackend(int m) : PromptBackend(m), mat(2 * PromptBackend::mat), vec(2 * m) {}
  const std::size_t mat, vec;  // values and derivatives

  // A matrix operand and its derivative.
  struct Operand {
    PromptOperand value, tangent;
  };
  template <bool T>
  Operand batched(const double* data, std::bool_constant<T>) const {
    return {{data, T}, {data + half_mat(), T}};
  }
  template <bool T>
  static Operand weight(const std::pair<const Eigen::MatrixXd&, const Eigen::MatrixXd&>& w,
                        std::bool_constant<T>) {
    return {{w.first.data(), T}, {w.second.data(), T}};
  }
  // (c, ċ) = (base + α·a·b, ḃase + α·(a·ḃ + ȧ·b))
  void product(const Operand& a, const Operand& b, double alpha, const double* base,
               double* c) const {
    const std::size_t h = half_mat();
    PromptBackend::product(a.value, b.value, alpha, base, c);
    PromptBackend::product(a.value, b.tangent, alpha, base ? base + h : nullptr, c + h);
    PromptBackend::product(a.tangent, b.value, alpha, c + h, c + h);
  }
  void times_vector(const Operand& a, const double* v, double alpha, const double* base,
                    double* out) const {
    const int h = m_;
    PromptBackend::times_vector(a.value, v, alpha, base, out);
    PromptBackend::times_vector(a.value, v + h, alpha, base ? base + h : nullptr, out + h);
    PromptBackend::times_vector(a.tangent, v, alpha, out + h, out + h);
  }
  void outer(const double* x, const double* y, double alpha, const double* base,
             double* out) const {
    const std::size_t h = half_mat();
    const int hv = m_;
    PromptBackend::outer(x, y, alpha, base, out);
    PromptBackend::outer(x, y + hv, alpha, base ? base + h : nullptr, out + h);
    PromptBackend::outer(x + hv, y, alpha, out + h, out + h);
  }
  void add_product(const Operand& a, const double* v, double* out) const {
    times_vector(a, v, 1.0, v, out);
  }
  void symmetrize(const double* x, double* out) const {
    PromptBackend::symmetrize(x, out);
    PromptBackend::symmetrize(x + half_mat(), out + half_mat());
  }
  void sum_transpose(const double* x, double* out) const {
    PromptBackend::sum_transpose(x, out);
    PromptBackend::sum_transpose(x + half_mat(), out + half_mat());
  }
  // Only the derivative of the gradient is kept: hv += α·ẋ.
  void accumulate(const double* x, double alpha, Eigen::MatrixXd& hv) const {
    PromptBackend::accumulate(x + half_mat(), alpha, hv);
  }
  void predict(const double* q_last, Dual& prediction) const {
    PromptBackend::predict(q_last, prediction.value);
    PromptBackend::predict(q_last + m_, prediction.tangent);
  }
  void seed(const Dual& dloss_dpred, double* query_grad) const {
    PromptBackend::seed(dloss_dpred.value, query_grad);
    PromptBackend::seed(dloss_dpred.tangent, query_grad + m_);
  }

 private:
  std::size_t half_mat() const { return PromptBackend::mat; }
};

}  // namespace linicl
