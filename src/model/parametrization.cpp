#include "linicl/model/parametrization.hpp"

#include <stdexcept>

namespace linicl {

Parametrization::Parametrization(Param param, int dim, int layers, int heads, bool shared)
    : param_(param), dim_(dim), layers_(layers), heads_(heads), shared_(shared) {
  const int groups = shared ? 1 : layers;
  auto add = [this](const std::string& name, Eigen::Index rows) {
    blocks_.push_back({name, size_, rows, rows});
    size_ += rows * rows;
    return blocks_.back().offset;
  };
  for (int g = 0; g < groups; ++g) {
    for (int h = 0; h < heads; ++h) {
      const std::string prefix = (shared ? std::string("shared") : "layer" + std::to_string(g)) +
                                 "/head" + std::to_string(h) + "/";
      HeadBlocks hb;
      if (param == Param::kFull) {
        hb.p = add(prefix + "P", dim + 1);
        hb.q = add(prefix + "Q", dim + 1);
      } else {
        hb.a = add(prefix + "A", dim);
        if (param == Param::kGdpp) hb.b = add(prefix + "B", dim);
      }
      heads_blocks_.push_back(hb);
    }
  }
}

void Parametrization::expand(const Eigen::VectorXd& theta, Weights& weights) const {
  const int m = dim_ + 1;
  for (int l = 0; l < layers_; ++l) {
    for (int h = 0; h < heads_; ++h) {
      const HeadBlocks& hb = head_blocks(l, h);
      Eigen::MatrixXd& p = weights.p(l, h);
      Eigen::MatrixXd& q = weights.q(l, h);
      if (param_ == Param::kFull) {
        p = Eigen::Map<const Eigen::MatrixXd>(theta.data() + hb.p, m, m);
        q = Eigen::Map<const Eigen::MatrixXd>(theta.data() + hb.q, m, m);
        continue;
      }
      p.setZero();
      p(dim_, dim_) = 1.0;
      if (param_ == Param::kGdpp) {
        p.topLeftCorner(dim_, dim_) =
            Eigen::Map<const Eigen::MatrixXd>(theta.data() + hb.b, dim_, dim_);
      }
      q.setZero();
      q.topLeftCorner(dim_, dim_) =
          -Eigen::Map<const Eigen::MatrixXd>(theta.data() + hb.a, dim_, dim_);
    }
  }
}

void Parametrization::reduce(const Weights& grad, Eigen::VectorXd& theta_grad) const {
  const int m = dim_ + 1;
  theta_grad.setZero(size_);
  for (int l = 0; l < layers_; ++l) {
    for (int h = 0; h < heads_; ++h) {
      const HeadBlocks& hb = head_blocks(l, h);
      if (param_ == Param::kFull) {
        Eigen::Map<Eigen::MatrixXd>(theta_grad.data() + hb.p, m, m) += grad.p(l, h);
        Eigen::Map<Eigen::MatrixXd>(theta_grad.data() + hb.q, m, m) += grad.q(l, h);
        continue;
      }
      Eigen::Map<Eigen::MatrixXd>(theta_grad.data() + hb.a, dim_, dim_) -=
          grad.q(l, h).topLeftCorner(dim_, dim_);
      if (param_ == Param::kGdpp) {
        Eigen::Map<Eigen::MatrixXd>(theta_grad.data() + hb.b, dim_, dim_) +=
            grad.p(l, h).topLeftCorner(dim_, dim_);
      }
    }
  }
}

Eigen::VectorXd Parametrization::project(const Weights& weights) const {
  const int m = dim_ + 1;
  Eigen::VectorXd theta(size_);
  // With shared weights the last layer's copy wins; expand() makes them all equal anyway.
  for (int l = 0; l < layers_; ++l) {
    for (int h = 0; h < heads_; ++h) {
      const HeadBlocks& hb = head_blocks(l, h);
      if (param_ == Param::kFull) {
        Eigen::Map<Eigen::MatrixXd>(theta.data() + hb.p, m, m) = weights.p(l, h);
        Eigen::Map<Eigen::MatrixXd>(theta.data() + hb.q, m, m) = weights.q(l, h);
        continue;
      }
      Eigen::Map<Eigen::MatrixXd>(theta.data() + hb.a, dim_, dim_) =
          -weights.q(l, h).topLeftCorner(dim_, dim_);
      if (param_ == Param::kGdpp) {
        Eigen::Map<Eigen::MatrixXd>(theta.data() + hb.b, dim_, dim_) =
            weights.p(l, h).topLeftCorner(dim_, dim_);
      }
    }
  }
  return theta;
}

}  // namespace linicl

namespace linicl {

Eigen::MatrixXd effective_preconditioner(const Weights& weights, int layer) {
  const int d = weights.dim;
  Eigen::MatrixXd gamma = Eigen::MatrixXd::Zero(d, d);
  for (int h = 0; h < weights.heads; ++h) {
    gamma -= weights.p(layer, h)(d, d) * weights.q(layer, h).topLeftCorner(d, d).transpose();
  }
  return gamma;
}

}  // namespace linicl
