#include "linicl/model.hpp"

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

}  // namespace

double forward(const Weights& w, const EmbeddedPrompt& prompt, Tape& tape, Workspace& ws) {
  size_tape(w, tape);
  size_workspace(w.dim + 1, ws);
  const double inv_n = 1.0 / prompt.context;
  tape.gram[0] = prompt.gram;
  tape.query[0] = prompt.query;
  for (int l = 0; l < w.layers; ++l) {
    const Eigen::MatrixXd& g = tape.gram[l];
    Eigen::MatrixXd& k = tape.attention[l];
    // K_ℓ = (1/n) Σ_h P_h G_ℓ Q_h   (§3.2)
    k.setZero();
    for (int h = 0; h < w.heads; ++h) {
      ws.a.noalias() = w.p(l, h) * g;
      k.noalias() += ws.a * w.q(l, h);
    }
    k *= inv_n;
    // G_{ℓ+1} = (I+K) G (I+K)ᵀ = B + B Kᵀ with B = G + K G; symmetrized so that backward may
    // treat every G_ℓ as exactly symmetric.
    ws.b = g;
    ws.b.noalias() += k * g;
    ws.c = ws.b;
    ws.c.noalias() += ws.b * k.transpose();
    tape.gram[l + 1] = 0.5 * (ws.c + ws.c.transpose());
    tape.query[l + 1] = tape.query[l];
    tape.query[l + 1].noalias() += k * tape.query[l];
  }
  return -tape.query[w.layers](w.dim);
}

// Reverse mode through one layer, with Ḡ' = ∂ℒ/∂G_{ℓ+1}, q̄' = ∂ℒ/∂q_{ℓ+1}, A = I + K:
//   K̄ = q̄' q_ℓᵀ + (Ḡ' + Ḡ'ᵀ) A G_ℓ        (from q' = A q and G' = A G Aᵀ, G symmetric)
//   P̄_h = (1/n) K̄ Q_hᵀ G_ℓ,  Q̄_h = (1/n) G_ℓ P_hᵀ K̄                      (§4.1)
//   q̄ = Aᵀ q̄',   Ḡ = Aᵀ Ḡ' A + (1/n) Σ_h P_hᵀ K̄ Q_hᵀ
// At the top layer Ḡ' = 0, since the readout sees only q_L.
void backward(const Weights& w, const EmbeddedPrompt& prompt, const Tape& tape, double dloss_dpred,
              Weights& grad, Workspace& ws) {
  const int d = w.dim;
  const double inv_n = 1.0 / prompt.context;
  ws.query_grad.setZero();
  ws.query_grad(d) = -dloss_dpred;  // ŷ = −[q_L]_{d+1}  (§3.3)
  bool has_gram_grad = false;
  for (int l = w.layers - 1; l >= 0; --l) {
    const Eigen::MatrixXd& g = tape.gram[l];
    const Eigen::MatrixXd& k = tape.attention[l];
    ws.k_grad.noalias() = ws.query_grad * tape.query[l].transpose();
    if (has_gram_grad) {
      ws.b = g;
      ws.b.noalias() += k * g;  // A G_ℓ
      ws.a = ws.gram_grad + ws.gram_grad.transpose();
      ws.k_grad.noalias() += ws.a * ws.b;
      ws.c = ws.gram_grad;
      ws.c.noalias() += ws.gram_grad * k;  // Ḡ' A
      ws.next_gram_grad = ws.c;
      ws.next_gram_grad.noalias() += k.transpose() * ws.c;  // Aᵀ Ḡ' A
    } else {
      ws.next_gram_grad.setZero();
    }
    for (int h = 0; h < w.heads; ++h) {
      ws.a.noalias() = ws.k_grad * w.q(l, h).transpose();
      grad.p(l, h).noalias() += inv_n * (ws.a * g);
      ws.b.noalias() = g * w.p(l, h).transpose();
      grad.q(l, h).noalias() += inv_n * (ws.b * ws.k_grad);
      ws.c.noalias() = w.p(l, h).transpose() * ws.k_grad;
      ws.next_gram_grad.noalias() += inv_n * (ws.c * w.q(l, h).transpose());
    }
    ws.next_query_grad = ws.query_grad;
    ws.next_query_grad.noalias() += k.transpose() * ws.query_grad;
    std::swap(ws.gram_grad, ws.next_gram_grad);
    std::swap(ws.query_grad, ws.next_query_grad);
    has_gram_grad = true;
  }
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
