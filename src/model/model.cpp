#include "linicl/model/model.hpp"

#include <stdexcept>
#include <type_traits>
#include <utility>

#include "linicl/model/small_gemm.hpp"
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

namespace {

// body(std::integral_constant<int, m>()) where the model has a compiled-size kernel for
// m = d + 1, else body(std::integral_constant<int, Eigen::Dynamic>()).
template <class Body>
decltype(auto) dispatch_model_size(int m, Body&& body) {
  return dispatch_kernel_size(m, body,
                              [&] { return body(std::integral_constant<int, Eigen::Dynamic>()); });
}

// Sizes `out` for d + 1 = m and n context columns, and sets its query x_{n+1} (the m − 1
// entries at `query`), its target and n.
void embed_query(Eigen::Index m, Eigen::Index n, const double* query, double target,
                 EmbeddedPrompt& out) {
  out.gram.resize(m, m);
  out.query.resize(m);
  out.query.head(m - 1) = Eigen::Map<const Eigen::VectorXd>(query, m - 1);
  out.query(m - 1) = 0.0;
  out.target = target;
  out.context = static_cast<int>(n);
}

}  // namespace

// G_0 = Σ_{i≤n} z_i z_iᵀ with z_i = [x_i; y_i]: the query column is masked out (M in §3.2).
// Every entry is one chain of fused multiply-adds over i in order (small_gram, small_gemm), in
// both overloads, so that they agree bit for bit: from the columns one Gram product; from x and
// y the blocks XXᵀ, Xy and yᵀy, the same chains (a product x·y is exact whichever comes first).
void embed(const PromptColumns& prompt, EmbeddedPrompt& out) {
  if (!prompt.labelled) {
    throw std::logic_error("embed: the prompt is unlabelled (sample it with labelled = true)");
  }
  const Eigen::Index m = prompt.z.rows(), n = prompt.z.cols() - 1;
  const double* z = prompt.z.data();
  embed_query(m, n, z + n * m, z[n * m + m - 1], out);
  const int size = static_cast<int>(m), depth = static_cast<int>(n);
  small_gram(size, depth, 1.0, z, size, out.gram.data(), size);
}

void embed(const Prompt& prompt, EmbeddedPrompt& out) {
  const Eigen::Index d = prompt.x.rows(), n = prompt.x.cols() - 1;
  embed_query(d + 1, n, prompt.x.col(n).data(), prompt.y(n), out);
  const int rows = static_cast<int>(d), depth = static_cast<int>(n), ld = rows + 1;
  const int stride = static_cast<int>(prompt.x.outerStride());
  const double *x = prompt.x.data(), *y = prompt.y.data();
  double* gram = out.gram.data();
  small_gram(rows, depth, 1.0, x, stride, gram, ld);
  small_gemm(rows, 1, depth, 1.0, x, stride, false, y, depth, false, nullptr, gram + d * ld, ld);
  small_gemm(1, 1, depth, 1.0, y, depth, true, y, depth, false, nullptr, gram + d * ld + d, ld);
  out.gram.bottomLeftCorner(1, d) = out.gram.topRightCorner(d, 1).transpose();
}

namespace {

void size_tape(const Weights& w, Tape& tape) {
  const int m = w.dim + 1;
  if (static_cast<int>(tape.gram.size()) == w.layers &&
      static_cast<int>(tape.top_keys.size()) == w.heads && tape.gram[0].rows() == m)
    return;
  tape.gram.assign(w.layers, Eigen::MatrixXd(m, m));
  tape.attention.assign(w.layers - 1, Eigen::MatrixXd(m, m));
  tape.query.assign(w.layers + 1, Eigen::VectorXd(m));
  tape.top_keys.assign(w.heads, Eigen::VectorXd(m));
  tape.top_values.assign(w.heads, Eigen::VectorXd(m));
}

void size_workspace(int m, Workspace& ws) {
  if (ws.a.rows() == m) return;
  for (auto* mat : {&ws.a, &ws.b, &ws.c, &ws.gram_grad, &ws.next_gram_grad, &ws.k_grad}) {
    mat->resize(m, m);
  }
  for (auto* vec : {&ws.query_grad, &ws.next_query_grad, &ws.top_r, &ws.top_s}) {
    vec->resize(m);
  }
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

// The products of forward and backward: c = base + scale·op(a)·op(b), with op(a)·op(b) one of
// a·b, a·bᵀ, aᵀ·b; base null (none), c itself, or a matrix apart from c; scale null (1); a and
// b must not overlap c (Eigen's noalias() and small_gemm both assume it). Compiled sizes
// evaluate Eigen's fixed-size expression (c = base, then c += op(a)·op(b) or
// c += scale·(op(a)·op(b))); run-time sizes go to small_gemm in one pass.
enum class Form { kAB, kABt, kAtB };
template <int N, Form form>
void multiply(Eigen::Index m, const double* a, const double* b, const double* base, double* c,
              const double* scale = nullptr) {
  if constexpr (N == Eigen::Dynamic) {
    const int size = static_cast<int>(m);
    small_gemm(size, size, size, scale ? *scale : 1.0, a, size, form == Form::kAtB, b, size,
               form == Form::kABt, base, c, size);
  } else {
    using S = Sized<N>;
    typename S::MatMap out(c, m, m);
    const typename S::ConstMatMap lhs(a, m, m), rhs(b, m, m);
    const auto update = [&](const auto& product) {
      if (!base) {
        if (scale) {
          out.noalias() = *scale * product;
        } else {
          out.noalias() = product;
        }
        return;
      }
      if (base != c) out = typename S::ConstMatMap(base, m, m);
      if (scale) {
        out.noalias() += *scale * product;
      } else {
        out.noalias() += product;
      }
    };
    if constexpr (form == Form::kAB) update(lhs * rhs);
    if constexpr (form == Form::kABt) update(lhs * rhs.transpose());
    if constexpr (form == Form::kAtB) update(lhs.transpose() * rhs);
  }
}

template <int N>
double forward_sized(const Weights& w, const EmbeddedPrompt& prompt, Tape& tape, Workspace& ws) {
  using S = Sized<N>;
  const Eigen::Index m = w.dim + 1;
  const double inv_n = 1.0 / prompt.context;
  typename S::MatMap a(ws.a.data(), m, m), b(ws.b.data(), m, m), c(ws.c.data(), m, m);
  typename S::MatMap(tape.gram[0].data(), m, m) = typename S::ConstMatMap(prompt.gram.data(), m, m);
  typename S::VecMap(tape.query[0].data(), m) = typename S::ConstVecMap(prompt.query.data(), m);
  const int top = w.layers - 1;
  for (int l = 0; l < top; ++l) {
    const typename S::ConstMatMap g(tape.gram[l].data(), m, m);
    typename S::MatMap k(tape.attention[l].data(), m, m), next(tape.gram[l + 1].data(), m, m);
    // K_ℓ = (1/n) Σ_h P_h G_ℓ Q_h   (§3.2)
    k.setZero();
    for (int h = 0; h < w.heads; ++h) {
      multiply<N, Form::kAB>(m, w.p(l, h).data(), g.data(), nullptr, a.data());
      multiply<N, Form::kAB>(m, a.data(), w.q(l, h).data(), k.data(), k.data());
    }
    k *= inv_n;
    // G_{ℓ+1} = (I+K) G (I+K)ᵀ = B + B Kᵀ with B = G + K G; symmetrized so that backward may
    // treat every G_ℓ as exactly symmetric.
    multiply<N, Form::kAB>(m, k.data(), g.data(), g.data(), b.data());
    multiply<N, Form::kABt>(m, b.data(), k.data(), b.data(), c.data());
    next = 0.5 * (c + c.transpose());
    typename S::VecMap q_next(tape.query[l + 1].data(), m);
    const typename S::ConstVecMap q(tape.query[l].data(), m);
    q_next = q;
    q_next.noalias() += k * q;
  }
  // The top layer: q_L = q + K q = q + (1/n) Σ_h P_h (G (Q_h q)), three products with a vector
  // per head.
  const typename S::ConstMatMap g(tape.gram[top].data(), m, m);
  const typename S::ConstVecMap q(tape.query[top].data(), m);
  typename S::VecMap q_last(tape.query[w.layers].data(), m);
  q_last = q;
  for (int h = 0; h < w.heads; ++h) {
    typename S::VecMap u(tape.top_keys[h].data(), m), v(tape.top_values[h].data(), m);
    u.noalias() = typename S::ConstMatMap(w.q(top, h).data(), m, m) * q;
    v.noalias() = g * u;
    q_last.noalias() += inv_n * (typename S::ConstMatMap(w.p(top, h).data(), m, m) * v);
  }
  return -tape.query[w.layers](w.dim);
}

// out += scale·Mᵀv, a dot product per column of M. (Eigen's AVX-512 product of a transposed
// run-time-size map with a vector sets off GCC 12's -Wuninitialized inside Eigen.)
template <class Matrix, class Vector, class Out>
void add_transposed_product(const Matrix& mat, const Vector& v, double scale, Out& out) {
  for (Eigen::Index j = 0; j < mat.cols(); ++j) out(j) += scale * mat.col(j).dot(v);
}

// Reverse mode through one layer, with Ḡ' = ∂ℒ/∂G_{ℓ+1}, q̄' = ∂ℒ/∂q_{ℓ+1}, A = I + K:
//   K̄ = q̄' q_ℓᵀ + (Ḡ' + Ḡ'ᵀ) A G_ℓ        (from q' = A q and G' = A G Aᵀ, G symmetric)
//   P̄_h = (1/n) K̄ Q_hᵀ G_ℓ,  Q̄_h = (1/n) G_ℓ P_hᵀ K̄                      (§4.1)
//   q̄ = Aᵀ q̄',   Ḡ = Aᵀ Ḡ' A + (1/n) Σ_h P_hᵀ K̄ Q_hᵀ
// At the top layer Ḡ' = 0, since the readout sees only q_L, so K̄ = q̄' qᵀ has rank one; with
// u_h = Q_h q and v_h = G u_h from forward, r_h = P_hᵀ q̄' and s_h = G r_h (G symmetric):
//   P̄_h = (1/n) q̄' v_hᵀ,  Q̄_h = (1/n) s_h qᵀ,  Ḡ = (1/n) Σ_h r_h u_hᵀ,
//   q̄ = q̄' + (1/n) Σ_h Q_hᵀ s_h   (Kᵀ = (1/n) Σ_h Q_hᵀ G P_hᵀ).
// At the bottom layer Ḡ and q̄ are not formed, since no parameter lies below.
template <int N>
void backward_sized(const Weights& w, const EmbeddedPrompt& prompt, const Tape& tape,
                    double dloss_dpred, Weights& grad, Workspace& ws) {
  using S = Sized<N>;
  using ConstVec = typename S::ConstVecMap;
  const int d = w.dim;
  const Eigen::Index m = d + 1;
  const double inv_n = 1.0 / prompt.context;
  typename S::MatMap a(ws.a.data(), m, m), b(ws.b.data(), m, m), c(ws.c.data(), m, m);
  typename S::MatMap k_grad(ws.k_grad.data(), m, m);
  typename S::VecMap query_grad(ws.query_grad.data(), m),
      next_query_grad(ws.next_query_grad.data(), m);
  query_grad.setZero();
  query_grad(d) = -dloss_dpred;  // ŷ = −[q_L]_{d+1}  (§3.3)

  const int top = w.layers - 1;
  const bool below_top = top > 0;
  {
    const typename S::ConstMatMap g(tape.gram[top].data(), m, m);
    const ConstVec q(tape.query[top].data(), m);
    typename S::VecMap r(ws.top_r.data(), m), s(ws.top_s.data(), m);
    typename S::MatMap gram_grad(ws.gram_grad.data(), m, m);  // Ḡ_{L−1}
    if (below_top) {
      gram_grad.setZero();
      next_query_grad = query_grad;
    }
    for (int h = 0; h < w.heads; ++h) {
      const typename S::ConstMatMap p(w.p(top, h).data(), m, m), qh(w.q(top, h).data(), m, m);
      typename S::MatMap p_grad(grad.p(top, h).data(), m, m);
      typename S::MatMap q_grad(grad.q(top, h).data(), m, m);
      r.setZero();
      add_transposed_product(p, query_grad, 1.0, r);
      s.noalias() = g * r;
      p_grad.noalias() += (inv_n * query_grad) * ConstVec(tape.top_values[h].data(), m).transpose();
      q_grad.noalias() += (inv_n * s) * q.transpose();
      if (!below_top) continue;
      gram_grad.noalias() += (inv_n * r) * ConstVec(tape.top_keys[h].data(), m).transpose();
      add_transposed_product(qh, s, inv_n, next_query_grad);
    }
    if (!below_top) return;
    query_grad.swap(next_query_grad);
  }

  for (int l = top - 1; l >= 0; --l) {
    const typename S::ConstMatMap g(tape.gram[l].data(), m, m), k(tape.attention[l].data(), m, m);
    typename S::MatMap gram_grad(ws.gram_grad.data(), m, m);
    typename S::MatMap next_gram_grad(ws.next_gram_grad.data(), m, m);
    const bool below = l > 0;  // whether the layer below needs Ḡ_ℓ and q̄_ℓ
    k_grad.noalias() = query_grad * ConstVec(tape.query[l].data(), m).transpose();
    multiply<N, Form::kAB>(m, k.data(), g.data(), g.data(), b.data());  // A G_ℓ
    a = gram_grad + gram_grad.transpose();
    multiply<N, Form::kAB>(m, a.data(), b.data(), k_grad.data(), k_grad.data());
    if (below) {
      multiply<N, Form::kAB>(m, gram_grad.data(), k.data(), gram_grad.data(), c.data());  // Ḡ' A
      multiply<N, Form::kAtB>(m, k.data(), c.data(), c.data(), next_gram_grad.data());  // Aᵀ Ḡ' A
    }
    for (int h = 0; h < w.heads; ++h) {
      const typename S::ConstMatMap p(w.p(l, h).data(), m, m), q(w.q(l, h).data(), m, m);
      typename S::MatMap p_grad(grad.p(l, h).data(), m, m), q_grad(grad.q(l, h).data(), m, m);
      multiply<N, Form::kABt>(m, k_grad.data(), q.data(), nullptr, a.data());
      multiply<N, Form::kAB>(m, a.data(), g.data(), p_grad.data(), p_grad.data(), &inv_n);
      multiply<N, Form::kABt>(m, g.data(), p.data(), nullptr, b.data());
      multiply<N, Form::kAB>(m, b.data(), k_grad.data(), q_grad.data(), q_grad.data(), &inv_n);
      if (!below) continue;
      multiply<N, Form::kAtB>(m, p.data(), k_grad.data(), nullptr, c.data());
      multiply<N, Form::kABt>(m, c.data(), q.data(), next_gram_grad.data(), next_gram_grad.data(),
                              &inv_n);
    }
    if (!below) break;
    next_query_grad = query_grad;
    add_transposed_product(k, query_grad, 1.0, next_query_grad);
    std::swap(ws.gram_grad, ws.next_gram_grad);
    query_grad.swap(next_query_grad);
  }
}

}  // namespace

double forward(const Weights& w, const EmbeddedPrompt& prompt, Tape& tape, Workspace& ws) {
  size_tape(w, tape);
  size_workspace(w.dim + 1, ws);
  return dispatch_model_size(w.dim + 1, [&](auto size) {
    return forward_sized<decltype(size)::value>(w, prompt, tape, ws);
  });
}

void backward(const Weights& w, const EmbeddedPrompt& prompt, const Tape& tape, double dloss_dpred,
              Weights& grad, Workspace& ws) {
  size_workspace(w.dim + 1, ws);
  dispatch_model_size(w.dim + 1, [&](auto size) {
    backward_sized<decltype(size)::value>(w, prompt, tape, dloss_dpred, grad, ws);
  });
}

std::vector<Eigen::MatrixXd> query_maps(const Weights& w, const EmbeddedPrompt& prompt) {
  Tape tape;
  Workspace ws;
  forward(w, prompt, tape, ws);
  const int d = w.dim;
  std::vector<Eigen::MatrixXd> maps;
  Eigen::MatrixXd transfer = Eigen::MatrixXd::Identity(d + 1, d + 1);  // T_ℓ
  for (int l = 0; l < w.layers; ++l) {
    maps.push_back(transfer.leftCols(d));
    if (l + 1 < w.layers) {
      transfer += tape.attention[l] * transfer;
      continue;
    }
    // The top layer's K = (1/n) Σ_h P_h G Q_h (§3.2), which forward() does not form.
    Eigen::MatrixXd k = Eigen::MatrixXd::Zero(d + 1, d + 1);
    for (int h = 0; h < w.heads; ++h) k.noalias() += w.p(l, h) * tape.gram[l] * w.q(l, h);
    transfer += (k / prompt.context) * transfer;
  }
  maps.push_back(transfer.leftCols(d));
  return maps;
}

Eigen::MatrixXd induced_weights(const Weights& w, const EmbeddedPrompt& prompt) {
  const std::vector<Eigen::MatrixXd> maps = query_maps(w, prompt);
  const int d = w.dim;
  Eigen::MatrixXd weights(d, w.layers + 1);
  for (int l = 0; l <= w.layers; ++l) weights.col(l) = -maps[l].row(d).transpose();
  return weights;
}

}  // namespace linicl
