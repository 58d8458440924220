#include "linicl/model/model.hpp"

#include "linicl/model/gram_lsa.hpp"

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

std::unique_ptr<Model> make_model(int dim) {
  return std::make_unique<GramLsa>(dim);
}

Eigen::MatrixXd readout_weights(const std::vector<Eigen::MatrixXd>& maps) {
  const Eigen::Index d = maps.front().cols();
  Eigen::MatrixXd weights(d, maps.size());
  for (std::size_t l = 0; l < maps.size(); ++l) weights.col(l) = -maps[l].row(d).transpose();
  return weights;
}

Eigen::MatrixXd Model::implicit_weights(const Weights& w, const Prompt& prompt) const {
  return readout_weights(query_maps(w, prompt));
}

}  // namespace linicl
