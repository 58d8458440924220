// Parametrizations (§3.5): views of the free parameters θ as the (P, Q) of every layer.
#pragma once

#include <Eigen/Dense>
#include <string>
#include <vector>

#include "linicl/model/model.hpp"
#include "linicl/numerics/name_table.hpp"

namespace linicl {

enum class Param { kFull, kPgd, kGdpp };
constexpr NameTable<Param, 3> name_table(Param) {
  return {{{Param::kFull, "full"}, {Param::kPgd, "pgd"}, {Param::kGdpp, "gdpp"}}};
}

// One named matrix inside θ, stored column-major at [offset, offset + rows·cols).
struct ParamBlock {
  std::string name;  // e.g. "layer1/head0/P", "layer0/head0/A", "shared/head0/B"
  Eigen::Index offset, rows, cols;
};

//   full  every entry of P and Q
//   pgd   P = [[0, 0], [0, 1]],  Q = −[[A, 0], [0, 0]];  θ holds A      (Γ = Aᵀ, §3.6)
//   gdpp  P = [[B, 0], [0, 1]],  Q = −[[A, 0], [0, 0]];  θ holds A, B
// With shared weights θ holds one layer's matrices, applied at every layer.
class Parametrization {
 public:
  Parametrization(Param param, int dim, int layers, int heads, bool shared);

  Eigen::Index size() const { return size_; }
  Param kind() const { return param_; }
  int dim() const { return dim_; }
  int layers() const { return layers_; }
  int heads() const { return heads_; }
  bool shared() const { return shared_; }
  const std::vector<ParamBlock>& blocks() const { return blocks_; }

  // θ → (P, Q). `weights` must be shaped by make_weights().
  void expand(const Eigen::VectorXd& theta, Weights& weights) const;
  Weights make_weights() const { return Weights(layers_, heads_, dim_); }
  // Chain rule through the fixed pattern: ∂ℒ/∂θ from ∂ℒ/∂P, ∂ℒ/∂Q (sums over shared layers).
  void reduce(const Weights& grad, Eigen::VectorXd& theta_grad) const;
  // The inverse of expand for (P, Q) that follow the pattern; entries outside it are ignored.
  Eigen::VectorXd project(const Weights& weights) const;

 private:
  struct HeadBlocks {  // offsets into θ of one (layer group, head)
    Eigen::Index p = -1, q = -1, a = -1, b = -1;
  };
  const HeadBlocks& head_blocks(int layer, int head) const {
    return heads_blocks_[(shared_ ? 0 : layer) * heads_ + head];
  }

  Param param_;
  int dim_, layers_, heads_;
  bool shared_;
  Eigen::Index size_ = 0;
  std::vector<ParamBlock> blocks_;
  std::vector<HeadBlocks> heads_blocks_;
};

}  // namespace linicl

namespace linicl {

// The preconditioner Γ_ℓ = Σ_h P_h[d+1,d+1]·(−Q_h[1:d,1:d])ᵀ that layer ℓ applies to the
// gradient (§3.6); for `pgd` and `gdpp` this is Σ_h A_hᵀ.
Eigen::MatrixXd effective_preconditioner(const Weights& weights, int layer);

}  // namespace linicl
