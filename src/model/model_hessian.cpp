// Exact Hessian–vector products of one prompt's loss: Pearlmutter's R-operator, i.e. the
// directional derivative d/dε of model.cpp's forward and backward at W + ε·dW, written out.
// With A = I + K and a dot for the derivative along dW (§3.2, §4):
//   forward   K̇ = (1/n) Σ_h (Ṗ_h G Q_h + P_h Ġ Q_h + P_h G Q̇_h)
//             Ġ' = K̇ G Aᵀ + A Ġ Aᵀ + A G K̇ᵀ,   q̇' = K̇ q + A q̇,   ŷ̇ = −[q̇_L]_{d+1}
//   seed      q̄_L = −s·2(ŷ − y) e_{d+1},   q̄̇_L = −s·2 ŷ̇ e_{d+1}   (the Gauss–Newton part)
//   backward  K̄̇ = q̄̇' qᵀ + q̄' q̇ᵀ + (Ḡ̇' + Ḡ̇'ᵀ) A G + (Ḡ' + Ḡ'ᵀ)(K̇ G + A Ġ)
//             P̄̇_h = (1/n)(K̄̇ Q_hᵀ G + K̄ Q̇_hᵀ G + K̄ Q_hᵀ Ġ)
//             Q̄̇_h = (1/n)(Ġ P_hᵀ K̄ + G Ṗ_hᵀ K̄ + G P_hᵀ K̄̇)
//             q̄̇ = K̇ᵀ q̄' + Aᵀ q̄̇',   Ḡ̇ = K̇ᵀ Ḡ' A + Aᵀ Ḡ̇' A + Aᵀ Ḡ' K̇
//                                       + (1/n) Σ_h (Ṗ_hᵀ K̄ Q_hᵀ + P_hᵀ K̄̇ Q_hᵀ + P_hᵀ K̄ Q̇_hᵀ)
// (P̄̇, Q̄̇) is exactly ∇²ℓ·dW: no finite differences, so it is linear in dW and symmetric.
#include <Eigen/Dense>
#include <type_traits>

#include "linicl/model/model.hpp"
#include "size_dispatch.hpp"

namespace linicl {

namespace {

void size_tangent(const Weights& w, TangentWorkspace& ws) {
  const int m = w.dim + 1;
  if (static_cast<int>(ws.attention.size()) == w.layers && ws.gram[0].rows() == m) return;
  ws.gram.assign(w.layers + 1, Eigen::MatrixXd(m, m));
  ws.gram_dot.assign(w.layers + 1, Eigen::MatrixXd(m, m));
  ws.attention.assign(w.layers, Eigen::MatrixXd(m, m));
  ws.attention_dot.assign(w.layers, Eigen::MatrixXd(m, m));
  ws.query.assign(w.layers + 1, Eigen::VectorXd(m));
  ws.query_dot.assign(w.layers + 1, Eigen::VectorXd(m));
}

// Instantiated for the kernel sizes of model.cpp, where the temporaries live on the stack.
template <int N>
double hessian_vector_sized(const Weights& w, const Weights& dw, const EmbeddedPrompt& prompt,
                            double scale, Weights& hv, TangentWorkspace& ws) {
  using Mat = Eigen::Matrix<double, N, N>;
  using Vec = Eigen::Matrix<double, N, 1>;
  using MatMap = Eigen::Map<Mat>;
  using ConstMat = Eigen::Map<const Mat>;
  using VecMap = Eigen::Map<Vec>;
  const int d = w.dim, m = d + 1;
  const double inv_n = 1.0 / prompt.context;
  const Mat identity = Mat::Identity(m, m);
  const auto weight = [m](const std::vector<Eigen::MatrixXd>& ms, int l, int heads, int h) {
    return ConstMat(ms[l * heads + h].data(), m, m);
  };

  MatMap(ws.gram[0].data(), m, m) = ConstMat(prompt.gram.data(), m, m);
  MatMap(ws.gram_dot[0].data(), m, m).setZero();
  VecMap(ws.query[0].data(), m) = Eigen::Map<const Vec>(prompt.query.data(), m);
  VecMap(ws.query_dot[0].data(), m).setZero();
  for (int l = 0; l < w.layers; ++l) {
    const ConstMat g(ws.gram[l].data(), m, m), g_dot(ws.gram_dot[l].data(), m, m);
    MatMap k(ws.attention[l].data(), m, m), k_dot(ws.attention_dot[l].data(), m, m);
    k.setZero();
    k_dot.setZero();
    for (int h = 0; h < w.heads; ++h) {
      const ConstMat p = weight(w.P, l, w.heads, h), q = weight(w.Q, l, w.heads, h);
      const ConstMat p_dot = weight(dw.P, l, w.heads, h), q_dot = weight(dw.Q, l, w.heads, h);
      const Mat gq = g * q;
      k.noalias() += p * gq;
      k_dot.noalias() += p_dot * gq + p * (g_dot * q + g * q_dot);
    }
    k *= inv_n;
    k_dot *= inv_n;
    const Mat a = identity + k;
    const Mat next = a * g * a.transpose();
    MatMap(ws.gram[l + 1].data(), m, m) = 0.5 * (next + next.transpose());  // as forward() does
    const Mat cross = k_dot * g * a.transpose();
    MatMap(ws.gram_dot[l + 1].data(), m, m) = cross + cross.transpose() + a * g_dot * a.transpose();
    const Eigen::Map<const Vec> q_l(ws.query[l].data(), m), q_l_dot(ws.query_dot[l].data(), m);
    VecMap(ws.query[l + 1].data(), m) = a * q_l;
    VecMap(ws.query_dot[l + 1].data(), m) = k_dot * q_l + a * q_l_dot;
  }
  const double prediction = -ws.query[w.layers](d);
  const double prediction_dot = -ws.query_dot[w.layers](d);

  Vec query_grad = Vec::Zero(m), query_grad_dot = Vec::Zero(m);
  query_grad(d) = -2.0 * scale * (prediction - prompt.target);
  query_grad_dot(d) = -2.0 * scale * prediction_dot;
  Mat gram_grad = Mat::Zero(m, m), gram_grad_dot = Mat::Zero(m, m);
  for (int l = w.layers - 1; l >= 0; --l) {
    const ConstMat g(ws.gram[l].data(), m, m), g_dot(ws.gram_dot[l].data(), m, m);
    const ConstMat k(ws.attention[l].data(), m, m), k_dot(ws.attention_dot[l].data(), m, m);
    const Eigen::Map<const Vec> q_l(ws.query[l].data(), m), q_l_dot(ws.query_dot[l].data(), m);
    const Mat a = identity + k;
    const Mat sym = gram_grad + gram_grad.transpose();
    const Mat sym_dot = gram_grad_dot + gram_grad_dot.transpose();
    const Mat k_grad = query_grad * q_l.transpose() + sym * a * g;
    const Mat k_grad_dot = query_grad_dot * q_l.transpose() + query_grad * q_l_dot.transpose() +
                           sym_dot * a * g + sym * (k_dot * g + a * g_dot);
    Mat next_gram_grad = a.transpose() * gram_grad * a;
    Mat next_gram_grad_dot = k_dot.transpose() * gram_grad * a + a.transpose() * gram_grad_dot * a +
                             a.transpose() * gram_grad * k_dot;
    for (int h = 0; h < w.heads; ++h) {
      const ConstMat p = weight(w.P, l, w.heads, h), q = weight(w.Q, l, w.heads, h);
      const ConstMat p_dot = weight(dw.P, l, w.heads, h), q_dot = weight(dw.Q, l, w.heads, h);
      MatMap(hv.p(l, h).data(), m, m) +=
          inv_n * (k_grad_dot * q.transpose() * g + k_grad * q_dot.transpose() * g +
                   k_grad * q.transpose() * g_dot);
      MatMap(hv.q(l, h).data(), m, m) +=
          inv_n * (g_dot * p.transpose() * k_grad + g * p_dot.transpose() * k_grad +
                   g * p.transpose() * k_grad_dot);
      next_gram_grad.noalias() += inv_n * (p.transpose() * k_grad * q.transpose());
      next_gram_grad_dot.noalias() += inv_n * (p_dot.transpose() * k_grad * q.transpose() +
                                               p.transpose() * k_grad_dot * q.transpose() +
                                               p.transpose() * k_grad * q_dot.transpose());
    }
    query_grad_dot = k_dot.transpose() * query_grad + a.transpose() * query_grad_dot;
    query_grad = a.transpose() * query_grad;
    gram_grad = next_gram_grad;
    gram_grad_dot = next_gram_grad_dot;
  }
  return prediction;
}

}  // namespace

double hessian_vector(const Weights& w, const Weights& dw, const EmbeddedPrompt& prompt,
                      double scale, Weights& hv, TangentWorkspace& ws) {
  size_tangent(w, ws);
  const auto sized = [&](auto size) {
    return hessian_vector_sized<decltype(size)::value>(w, dw, prompt, scale, hv, ws);
  };
  return dispatch_kernel_size(w.dim + 1, sized,
                              [&] { return sized(std::integral_constant<int, Eigen::Dynamic>()); });
}

}  // namespace linicl
