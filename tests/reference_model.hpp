// The model exactly as §3.2 writes it, with the (n+1)×(n+1) attention matrix formed:
// Z_{ℓ+1} = Z_ℓ + (1/n) Σ_h P_h Z_ℓ M Z_ℓᵀ Q_h Z_ℓ. Slow and obvious; the tests hold the
// O(n·d²) implementation to it.
#pragma once

#include <Eigen/Dense>
#include <vector>

#include "linicl/data/task.hpp"
#include "linicl/model/gram_lsa.hpp"

namespace linicl::testing {

// Z_0: column i is [x_i; y_i] for i ≤ n, the query column is [x_{n+1}; 0] (§3.1).
inline Eigen::MatrixXd embedding_matrix(const Prompt& prompt) {
  const Eigen::Index d = prompt.x.rows(), n = prompt.x.cols() - 1;
  Eigen::MatrixXd z(d + 1, n + 1);
  z.topRows(d) = prompt.x;
  z.bottomRows(1) = prompt.y.transpose();
  z(d, n) = 0.0;
  return z;
}

// Z_0, Z_1, …, Z_L.
inline std::vector<Eigen::MatrixXd> reference_forward(const Weights& w, const Prompt& prompt) {
  std::vector<Eigen::MatrixXd> zs = {embedding_matrix(prompt)};
  const Eigen::Index n = prompt.x.cols() - 1;
  Eigen::MatrixXd mask = Eigen::MatrixXd::Identity(n + 1, n + 1);
  mask(n, n) = 0.0;  // the query is no key
  for (int l = 0; l < w.layers; ++l) {
    const Eigen::MatrixXd& z = zs.back();
    Eigen::MatrixXd next = z;
    for (int h = 0; h < w.heads; ++h) {
      const Eigen::MatrixXd scores = mask * z.transpose() * w.q(l, h) * z;  // (n+1)×(n+1)
      next += (w.p(l, h) * z * scores) / static_cast<double>(n);
    }
    zs.push_back(next);
  }
  return zs;
}

inline double reference_prediction(const Weights& w, const Prompt& prompt) {
  const Eigen::MatrixXd z = reference_forward(w, prompt).back();
  return -z(z.rows() - 1, z.cols() - 1);
}

// The implementation under test, on the same footing: embed, then forward.
inline double model_prediction(const Weights& w, const Prompt& prompt) {
  EmbeddedPrompt embedded;
  embed(prompt, embedded);
  Tape tape;
  Workspace ws;
  return forward(w, embedded, tape, ws);
}

}  // namespace linicl::testing
