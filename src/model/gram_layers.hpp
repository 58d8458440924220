// The Gram-form model's forward and backward (§3.2, §4.1), written once over a back end.
//
// A back end says how the (d+1)×(d+1) quantities of a block of prompts are stored and
// multiplied; this file says what is computed, in which order. Three back ends instantiate it:
//   PromptBackend (prompt_backend.hpp)   one prompt, any size, products by small_gemm
//   LaneBackend   (lane_backend.hpp)     kLanes prompts at once, SIMD across prompts, small sizes
//   TangentBackend (prompt_backend.hpp)  one prompt carrying a derivative along dW beside every
//                                        value: forward-mode (dual-number) differentiation of
//                                        this very code, which makes the backward's derivative
//                                        the exact Hessian–vector product (§4.3)
// A back end B provides the scalar buffer type B::Buffer, the sizes mat and vec of one matrix
// and one vector of the block, operand makers batched(ptr, transposed) and weight(matrix,
// transposed), and these ops (c may equal base, never an operand):
//   product(a, b, α, base, c)      c = base + α·a·b          (base null: 0)
//   times_vector(a, v, α, base, c) c = base + α·a·v
//   outer(x, y, α, base, c)        c = base + α·x·yᵀ
//   add_product(a, v, c)           c = v + a·v
//   symmetrize(x, c)               c = (x + xᵀ)/2
//   sum_transpose(x, c)            c = x + xᵀ
//   accumulate(x, α, grad)         grad += α·Σ_prompts x
//   predict(q, ŷ) and seed(∂ℒ/∂ŷ, q̄): the readout ŷ = −[q_L]_{d+1} (§3.3) and its transpose.
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

#include "linicl/model/gram_lsa.hpp"

namespace linicl {

constexpr std::false_type kPlain{};
constexpr std::true_type kTransposed{};

namespace gram {

template <class Buffer>
void size(Buffer& buffer, std::size_t elements) {
  if (buffer.size() != elements) buffer.assign(elements, 0.0);
}

// Sizes the tape for `layers` × `heads`; the caller then writes G_0 and q_0 at its start.
template <class B>
void size_tape(const B& be, int layers, int heads, GramTape<typename B::Buffer>& tape) {
  size(tape.gram, layers * be.mat);
  size(tape.query, (layers + 1) * be.vec);
  size(tape.attention, (layers - 1) * be.mat);
  size(tape.top_keys, heads * be.vec);
  size(tape.top_values, heads * be.vec);
}

// q_L (ŷ = −[q_L]_{d+1}, B::predict) from G_0, q_0 at the start of the tape; Weights has
// p(l, h), q(l, h), layers and heads.
template <class B, class Weights>
void forward(const B& be, const Weights& w, double inv_n, GramTape<typename B::Buffer>& tape,
             GramWorkspace<typename B::Buffer>& ws) {
  for (auto* v : {&ws.a, &ws.b, &ws.c}) size(*v, be.mat);
  const std::size_t mat = be.mat, vec = be.vec;
  const int top = w.layers - 1;
  for (int l = 0; l < top; ++l) {
    const auto* g = &tape.gram[l * mat];
    auto* k = &tape.attention[l * mat];
    // K_ℓ = (1/n) Σ_h P_h G_ℓ Q_h   (§3.2)
    for (int h = 0; h < w.heads; ++h) {
      be.product(be.weight(w.p(l, h), kPlain), be.batched(g, kPlain), 1.0, nullptr, ws.a.data());
      be.product(be.batched(ws.a.data(), kPlain), be.weight(w.q(l, h), kPlain), inv_n,
                 h > 0 ? k : nullptr, k);
    }
    // G_{ℓ+1} = (I+K) G (I+K)ᵀ = B + B Kᵀ with B = G + K G; symmetrized so that backward may
    // treat every G_ℓ as exactly symmetric.
    be.product(be.batched(k, kPlain), be.batched(g, kPlain), 1.0, g, ws.b.data());
    be.product(be.batched(ws.b.data(), kPlain), be.batched(k, kTransposed), 1.0, ws.b.data(),
               ws.c.data());
    be.symmetrize(ws.c.data(), &tape.gram[(l + 1) * mat]);
    be.add_product(be.batched(k, kPlain), &tape.query[l * vec], &tape.query[(l + 1) * vec]);
  }
  // The top layer: q_L = q + (1/n) Σ_h P_h v_h, v_h = G u_h, u_h = Q_h q.
  const auto* g = &tape.gram[top * mat];
  const auto* q = &tape.query[top * vec];
  auto* q_last = &tape.query[w.layers * vec];
  for (int h = 0; h < w.heads; ++h) {
    auto* u = &tape.top_keys[h * vec];
    auto* v = &tape.top_values[h * vec];
    be.times_vector(be.weight(w.q(top, h), kPlain), q, 1.0, nullptr, u);
    be.times_vector(be.batched(g, kPlain), u, 1.0, nullptr, v);
    be.times_vector(be.weight(w.p(top, h), kPlain), v, inv_n, h > 0 ? q_last : q, q_last);
  }
}

// Reverse mode through every layer (§4.1), with Ḡ' = ∂ℒ/∂G_{ℓ+1}, q̄' = ∂ℒ/∂q_{ℓ+1}, A = I + K:
//   K̄ = q̄' q_ℓᵀ + (Ḡ' + Ḡ'ᵀ) A G_ℓ        (from q' = A q and G' = A G Aᵀ, G symmetric)
//   P̄_h = (1/n) K̄ Q_hᵀ G_ℓ,  Q̄_h = (1/n) G_ℓ P_hᵀ K̄,
//   q̄ = Aᵀ q̄',   Ḡ = Aᵀ Ḡ' A + (1/n) Σ_h P_hᵀ K̄ Q_hᵀ.
// At the top layer Ḡ' = 0 (the readout sees only q_L), so K̄ = q̄' qᵀ has rank one; with
// r_h = P_hᵀ q̄' and s_h = G r_h:
//   P̄_h = (1/n) q̄' v_hᵀ,  Q̄_h = (1/n) s_h qᵀ,  Ḡ = (1/n) Σ_h r_h u_hᵀ,
//   q̄ = q̄' + (1/n) Σ_h Q_hᵀ s_h   (Kᵀ = (1/n) Σ_h Q_hᵀ G P_hᵀ).
// At the bottom layer Ḡ and q̄ are not formed, since no parameter lies below. Adds into grad,
// from ∂ℒ/∂ŷ of every prompt of the block (B::seed).
template <class B, class Weights, class Grad, class Seed>
void backward(const B& be, const Weights& w, double inv_n, const GramTape<typename B::Buffer>& tape,
              const Seed& dloss_dpred, Grad& grad, GramWorkspace<typename B::Buffer>& ws) {
  for (auto* v : {&ws.a, &ws.b, &ws.c, &ws.gram_grad, &ws.next_gram_grad, &ws.k_grad}) {
    size(*v, be.mat);
  }
  for (auto* v : {&ws.query_grad, &ws.next_query_grad, &ws.top_r, &ws.top_s}) size(*v, be.vec);
  const std::size_t mat = be.mat, vec = be.vec;
  be.seed(dloss_dpred, ws.query_grad.data());

  const int top = w.layers - 1;
  const bool below_top = top > 0;
  {
    const auto* g = &tape.gram[top * mat];
    const auto* q = &tape.query[top * vec];
    auto *r = ws.top_r.data(), *s = ws.top_s.data();
    for (int h = 0; h < w.heads; ++h) {
      be.times_vector(be.weight(w.p(top, h), kTransposed), ws.query_grad.data(), 1.0, nullptr, r);
      be.times_vector(be.batched(g, kPlain), r, 1.0, nullptr, s);
      be.outer(ws.query_grad.data(), &tape.top_values[h * vec], 1.0, nullptr, ws.a.data());
      be.accumulate(ws.a.data(), inv_n, grad.p(top, h));
      be.outer(s, q, 1.0, nullptr, ws.a.data());
      be.accumulate(ws.a.data(), inv_n, grad.q(top, h));
      if (!below_top) continue;
      be.outer(r, &tape.top_keys[h * vec], inv_n, h > 0 ? ws.gram_grad.data() : nullptr,
               ws.gram_grad.data());
      be.times_vector(be.weight(w.q(top, h), kTransposed), s, inv_n,
                      h > 0 ? ws.next_query_grad.data() : ws.query_grad.data(),
                      ws.next_query_grad.data());
    }
    if (!below_top) return;
    std::swap(ws.query_grad, ws.next_query_grad);
  }

  for (int l = top - 1; l >= 0; --l) {
    const bool below = l > 0;  // whether the layer below needs Ḡ_ℓ and q̄_ℓ
    const auto* g = &tape.gram[l * mat];
    const auto* k = &tape.attention[l * mat];
    const auto* q = &tape.query[l * vec];
    const auto* gram_grad = ws.gram_grad.data();
    auto *a = ws.a.data(), *b = ws.b.data(), *c = ws.c.data(), *k_grad = ws.k_grad.data();
    // K̄ = q̄' q_ℓᵀ + (Ḡ' + Ḡ'ᵀ) A G_ℓ
    be.outer(ws.query_grad.data(), q, 1.0, nullptr, k_grad);
    be.product(be.batched(k, kPlain), be.batched(g, kPlain), 1.0, g, b);  // A G
    be.sum_transpose(gram_grad, a);
    be.product(be.batched(a, kPlain), be.batched(b, kPlain), 1.0, k_grad, k_grad);
    if (below) {
      be.product(be.batched(gram_grad, kPlain), be.batched(k, kPlain), 1.0, gram_grad, c);  // Ḡ'A
      be.product(be.batched(k, kTransposed), be.batched(c, kPlain), 1.0, c,
                 ws.next_gram_grad.data());  // Aᵀ Ḡ' A
    }
    for (int h = 0; h < w.heads; ++h) {
      be.product(be.batched(k_grad, kPlain), be.weight(w.q(l, h), kTransposed), 1.0, nullptr, a);
      be.product(be.batched(a, kPlain), be.batched(g, kPlain), 1.0, nullptr, b);
      be.accumulate(b, inv_n, grad.p(l, h));
      be.product(be.batched(g, kPlain), be.weight(w.p(l, h), kTransposed), 1.0, nullptr, b);
      be.product(be.batched(b, kPlain), be.batched(k_grad, kPlain), 1.0, nullptr, a);
      be.accumulate(a, inv_n, grad.q(l, h));
      if (!below) continue;
      be.product(be.weight(w.p(l, h), kTransposed), be.batched(k_grad, kPlain), 1.0, nullptr, c);
      be.product(be.batched(c, kPlain), be.weight(w.q(l, h), kTransposed), inv_n,
                 ws.next_gram_grad.data(), ws.next_gram_grad.data());
    }
    if (!below) break;
    // q̄ = Aᵀ q̄' = q̄' + Kᵀ q̄'
    be.add_product(be.batched(k, kTransposed), ws.query_grad.data(), ws.next_query_grad.data());
    std::swap(ws.gram_grad, ws.next_gram_grad);
    std::swap(ws.query_grad, ws.next_query_grad);
  }
}

}  // namespace gram
}  // namespace linicl
