#include "linicl/model.hpp"

#include <type_traits>
#include <utility>

#include "size_dispatch.hpp"

namespace linicl {

Weights::Weights(int layers_, int heads_, int dim_) : layers(layers_), heads(heads_), dim(dim_) {
  const int size = layers * heads;
  P.assign(size, Eigen::MatrixXd::Zero(dim + 1, dim + 1));
  Q.assign(size, Eigen::MatrixXd::Zero(dim + 1, dim + 1));
}

void Weights::set_zero() {
  for (auto& m : P) m.setZero();
  for (auto& m : Q) m.setZero();
}

Weights& Weights::operator+=(const Weights& other) {
  for (std::size_t i = 0; i < P.size(); ++i) {
    P[i] += other.P[i];
    Q[i] += other.Q[i];
  }
  return *this;
}

void embed(const Prompt& prompt, EmbeddedPrompt& out) {
  const Eigen::Index d = prompt.x.rows();
  const Eigen::Index n = prompt.x.cols() - 1;
  const auto x = prompt.x.leftCols(n);
  const auto y = prompt.y.head(n);
  out.gram.resize(d + 1, d + 1);
  // G_0 = Σ_{i≤n} z_i z_iᵀ with z_i = [x_i; y_i]: the query column is masked out (M in §3.2).
  out.gram.topLeftCorner(d, d).noalias() = x * x.transpose();
  out.gram.topRightCorner(d, 1).noalias() = x * y;
  out.gram.bottomLeftCorner(1, d) = out.gram.topRightCorner(d, 1).transpose();
  out.gram(d, d) = y.squaredNorm();
  out.query.resize(d + 1);
  out.query.head(d) = prompt.x.col(n);
  out.query(d) = 0.0;
  out.target = prompt.y(n);
  out.context = static_cast<int>(n);
}

namespace {

void size_tape(const Weights& w, Tape& tape) {
  const int m = w.dim + 1;
  if (static_cast<int>(tape.attention.size()) == w.layers && tape.gram[0].rows() == m) return;
  tape.gram.assign(w.layers + 1, Eigen::MatrixXd(m, m));
  tape.attention.assign(w.layers, Eigen::MatrixXd(m, m));
  tape.query.assign(w.layers + 1, Eigen::VectorXd(m));
}

void size_workspace(int m, Workspace& ws) {
  if (ws.a.rows() == m) return;
  for (auto* mat : {&ws.a, &ws.b, &ws.c, &ws.gram_grad, &ws.next_gram_grad, &ws.k_grad}) {
    mat->resize(m, m);
  }
  ws.query_grad.resize(m);
  ws.next_query_grad.resize(m);
}

// The kernels are written once over Eigen maps of the (d+1)×(d+1) buffers and instantiated
// for small compile-time sizes, where Eigen unrolls and vectorizes every product, with a
// dynamic-size fallback (size_dispatch.hpp). Buffers stay MatrixXd, so nothing else changes.
template <int N>
struct Sized {
  using Mat = Eigen::Matrix<double, N, N>;
  using Vec = Eigen::Matrix<double, N, 1>;
  using MatMap = Eigen::Map<Mat>;
  using ConstMatMap = Eigen::Map<const Mat>;
  using VecMap = Eigen::Map<Vec>;
  using ConstVecMap = Eigen::Map<const Vec>;
};

template <int N>
double forward_sized(const Weights& w, const EmbeddedPrompt& prompt, Tape& tape, Workspace& ws) {
  using S = Sized<N>;
  const Eigen::Index m = w.dim + 1;
  const double inv_n = 1.0 / prompt.context;
  typename S::MatMap a(ws.a.data(), m, m), b(ws.b.data(), m, m), c(ws.c.data(), m, m);
  typename S::MatMap(tape.gram[0].data(), m, m) = typename S::ConstMatMap(prompt.gram.data(), m, m);
  typename S::VecMap(tape.query[0].data(), m) = typename S::ConstVecMap(prompt.query.data(), m);
  for (int l = 0; l < w.layers; ++l) {
    const typename S::ConstMatMap g(tape.gram[l].data(), m, m);
    typename S::MatMap k(tape.attention[l].data(), m, m), next(tape.gram[l + 1].data(), m, m);
    // K_ℓ = (1/n) Σ_h P_h G_ℓ Q_h   (§3.2)
    k.setZero();
    for (int h = 0; h < w.heads; ++h) {
      a.noalias() = typename S::ConstMatMap(w.p(l, h).data(), m, m) * g;
      k.noalias() += a * typename S::ConstMatMap(w.q(l, h).data(), m, m);
    }
    k *= inv_n;
    // G_{ℓ+1} = (I+K) G (I+K)ᵀ = B + B Kᵀ with B = G + K G; symmetrized so that backward may
    // treat every G_ℓ as exactly symmetric.
    b = g;
    b.noalias() += k * g;
    c = b;
    c.noalias() += b * k.transpose();
    next = 0.5 * (c + c.transpose());
    typename S::VecMap q_next(tape.query[l + 1].data(), m);
    const typename S::ConstVecMap q(tape.query[l].data(), m);
    q_next = q;
    q_next.noalias() += k * q;
  }
  return -tape.query[w.layers](w.dim);
}

// Reverse mode through one layer, with Ḡ' = ∂ℒ/∂G_{ℓ+1}, q̄' = ∂ℒ/∂q_{ℓ+1}, A = I + K:
//   K̄ = q̄' q_ℓᵀ + (Ḡ' + Ḡ'ᵀ) A G_ℓ        (from q' = A q and G' = A G Aᵀ, G symmetric)
//   P̄_h = (1/n) K̄ Q_hᵀ G_ℓ,  Q̄_h = (1/n) G_ℓ P_hᵀ K̄                      (§4.1)
//   q̄ = Aᵀ q̄',   Ḡ = Aᵀ Ḡ' A + (1/n) Σ_h P_hᵀ K̄ Q_hᵀ
// At the top layer Ḡ' = 0, since the readout sees only q_L.
template <int N>
void backward_sized(const Weights& w, const EmbeddedPrompt& prompt, const Tape& tape,
                    double dloss_dpred, Weights& grad, Workspace& ws) {
  using S = Sized<N>;
  const int d = w.dim;
  const Eigen::Index m = d + 1;
  const double inv_n = 1.0 / prompt.context;
  typename S::MatMap a(ws.a.data(), m, m), b(ws.b.data(), m, m), c(ws.c.data(), m, m);
  typename S::MatMap k_grad(ws.k_grad.data(), m, m);
  typename S::VecMap query_grad(ws.query_grad.data(), m),
      next_query_grad(ws.next_query_grad.data(), m);
  query_grad.setZero();
  query_grad(d) = -dloss_dpred;  // ŷ = −[q_L]_{d+1}  (§3.3)
  bool has_gram_grad = false;
  for (int l = w.layers - 1; l >= 0; --l) {
    const typename S::ConstMatMap g(tape.gram[l].data(), m, m), k(tape.attention[l].data(), m, m);
    typename S::MatMap gram_grad(ws.gram_grad.data(), m, m);
    typename S::MatMap next_gram_grad(ws.next_gram_grad.data(), m, m);
    k_grad.noalias() = query_grad * typename S::ConstVecMap(tape.query[l].data(), m).transpose();
    if (has_gram_grad) {
      b = g;
      b.noalias() += k * g;  // A G_ℓ
      a = gram_grad + gram_grad.transpose();
      k_grad.noalias() += a * b;
      c = gram_grad;
      c.noalias() += gram_grad * k;  // Ḡ' A
      next_gram_grad = c;
      next_gram_grad.noalias() += k.transpose() * c;  // Aᵀ Ḡ' A
    } else {
      next_gram_grad.setZero();
    }
    for (int h = 0; h < w.heads; ++h) {
      const typename S::ConstMatMap p(w.p(l, h).data(), m, m), q(w.q(l, h).data(), m, m);
      typename S::MatMap p_grad(grad.p(l, h).data(), m, m), q_grad(grad.q(l, h).data(), m, m);
      a.noalias() = k_grad * q.transpose();
      p_grad.noalias() += inv_n * (a * g);
      b.noalias() = g * p.transpose();
      q_grad.noalias() += inv_n * (b * k_grad);
      c.noalias() = p.transpose() * k_grad;
      next_gram_grad.noalias() += inv_n * (c * q.transpose());
    }
    next_query_grad = query_grad;
    next_query_grad.noalias() += k.transpose() * query_grad;
    std::swap(ws.gram_grad, ws.next_gram_grad);
    query_grad.swap(next_query_grad);
    has_gram_grad = true;
  }
}

}  // namespace

double forward(const Weights& w, const EmbeddedPrompt& prompt, Tape& tape, Workspace& ws) {
  size_tape(w, tape);
  size_workspace(w.dim + 1, ws);
  const auto sized = [&](auto size) {
    return forward_sized<decltype(size)::value>(w, prompt, tape, ws);
  };
  return dispatch_size<2, 3, 4, 5, 6, 11, 21>(
      w.dim + 1, sized, [&] { return sized(std::integral_constant<int, Eigen::Dynamic>()); });
}

void backward(const Weights& w, const EmbeddedPrompt& prompt, const Tape& tape, double dloss_dpred,
              Weights& grad, Workspace& ws) {
  size_workspace(w.dim + 1, ws);
  const auto sized = [&](auto size) {
    backward_sized<decltype(size)::value>(w, prompt, tape, dloss_dpred, grad, ws);
  };
  dispatch_size<2, 3, 4, 5, 6, 11, 21>(
      w.dim + 1, sized, [&] { sized(std::integral_constant<int, Eigen::Dynamic>()); });
}

Eigen::MatrixXd induced_weights(const Weights& w, const EmbeddedPrompt& prompt) {
  Tape tape;
  Workspace ws;
  forward(w, prompt, tape, ws);
  const int d = w.dim;
  Eigen::MatrixXd weights(d, w.layers + 1);
  Eigen::MatrixXd transfer = Eigen::MatrixXd::Identity(d + 1, d + 1);  // T_ℓ
  for (int l = 0; l <= w.layers; ++l) {
    weights.col(l) = -transfer.row(d).head(d).transpose();
    if (l < w.layers) transfer += tape.attention[l] * transfer;
  }
  return weights;
}

}  // namespace linicl
