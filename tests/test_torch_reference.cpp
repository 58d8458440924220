// linicl's forward and hand-derived backward against PyTorch autograd on the literal n×n
// model (data/make_torch_reference.py wrote the reference; it is an independent program).
#include <catch2/catch.hpp>

#include "linicl/io/h5.hpp"
#include "linicl/model/gram_lsa.hpp"

using namespace linicl;

namespace {

// A [L, H, d+1, d+1] row-major array as the L·H matrices of Weights::P or Weights::Q.
std::vector<Eigen::MatrixXd> read_blocks(const h5::File& file, const std::string& name) {
  std::vector<std::size_t> dims;
  const std::vector<double> values = file.read_array(name, dims);
  REQUIRE(dims.size() == 4);
  const Eigen::Index side = static_cast<Eigen::Index>(dims[2]);
  std::vector<Eigen::MatrixXd> blocks;
  for (std::size_t m = 0; m < dims[0] * dims[1]; ++m) {
    using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    blocks.push_back(Eigen::Map<const RowMajor>(values.data() + m * side * side, side, side));
  }
  return blocks;
}

}  // namespace

TEST_CASE("predictions, loss and gradients match PyTorch autograd on the n x n model", "[model]") {
  const h5::File file = h5::File::open(LINICL_DATA_DIR "/torch_reference.h5");
  const std::vector<std::size_t> shape = file.shape("P");
  Weights weights(static_cast<int>(shape[0]), static_cast<int>(shape[1]),
                  static_cast<int>(shape[2]) - 1);
  Weights expected_grad = weights;
  weights.P = read_blocks(file, "P");
  weights.Q = read_blocks(file, "Q");
  expected_grad.P = read_blocks(file, "dP");
  expected_grad.Q = read_blocks(file, "dQ");

  std::vector<std::size_t> x_dims, y_dims;
  const std::vector<double> x = file.read_array("x", x_dims);  // [B, n+1, d]
  const std::vector<double> y = file.read_array("y", y_dims);  // [B, n+1]
  const std::vector<double> predictions = file.read_series("prediction");
  const double loss = file.read_series("loss").at(0);
  const std::size_t batch = x_dims[0], columns = x_dims[1], d = x_dims[2];
  REQUIRE(d == static_cast<std::size_t>(weights.dim));

  Weights grad(weights.layers, weights.heads, weights.dim);
  grad.set_zero();
  Tape tape;
  Workspace ws;
  double total = 0.0;
  for (std::size_t b = 0; b < batch; ++b) {
    Prompt prompt;
    prompt.x.resize(d, columns);
    prompt.y.resize(columns);
    for (std::size_t i = 0; i < columns; ++i) {
      for (std::size_t j = 0; j < d; ++j) prompt.x(j, i) = x[(b * columns + i) * d + j];
      prompt.y(i) = y[b * columns + i];
    }
    EmbeddedPrompt embedded;
    embed(prompt, embedded);
    const double prediction = forward(weights, embedded, tape, ws);
    CHECK(prediction == Approx(predictions[b]).epsilon(1e-12).margin(1e-14));
    const double residual = prediction - embedded.target;
    total += residual * residual / batch;
    backward(weights, embedded, tape, 2.0 * residual / batch, grad, ws);
  }
  CHECK(total == Approx(loss).epsilon(1e-12));
  for (std::size_t m = 0; m < grad.P.size(); ++m) {
    INFO("layer " << m / weights.heads << ", head " << m % weights.heads);
    const double scale = expected_grad.P[m].norm() + expected_grad.Q[m].norm();
    CHECK((grad.P[m] - expected_grad.P[m]).norm() <= 1e-12 * scale);
    CHECK((grad.Q[m] - expected_grad.Q[m]).norm() <= 1e-12 * scale);
  }
}
