// Optimizers, learning-rate schedules and gradient clipping (§5) against hand-written
// reference formulas.
#include "linicl/train/optimizer.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

using namespace linicl;
using Catch::Contains;

namespace {

const double kPi = std::acos(-1.0);

// A fixed sequence of three gradients for a 3-parameter θ.
std::vector<Eigen::VectorXd> gradients() {
  return {Eigen::Vector3d(0.5, -1.25, 2.0), Eigen::Vector3d(-0.75, 0.3, 1.5),
          Eigen::Vector3d(0.2, 0.9, -0.4)};
}

Eigen::VectorXd theta0() {
  return Eigen::Vector3d(1.0, -2.0, 3.5);
}

void check_close(const Eigen::VectorXd& actual, const std::vector<double>& expected, double rel) {
  REQUIRE(actual.size() == static_cast<Eigen::Index>(expected.size()));
  for (Eigen::Index i = 0; i < actual.size(); ++i) {
    INFO("entry " << i << ": " << actual[i] << " vs " << expected[i]);
    CHECK(std::abs(actual[i] - expected[i]) <= rel * std::abs(expected[i]));
  }
}

// Runs the optimizer over gradients() and compares with a scalar reference after every step.
// `reference(g, theta, m, v, t)` updates one coordinate; m, v are its optimizer state.
template <typename Reference>
void run_and_compare(const OptimizerSpec& spec, double lr, double rel, Reference reference) {
  Eigen::VectorXd theta = theta0();
  OptimizerState state;
  std::vector<double> want(theta.data(), theta.data() + theta.size()), m(3, 0.0), v(3, 0.0);
  int t = 0;
  for (const Eigen::VectorXd& g : gradients()) {
    optimizer_step(spec, lr, g, theta, state);
    ++t;
    for (int i = 0; i < 3; ++i) reference(g[i], want[i], m[i], v[i], t);
    check_close(theta, want, rel);
    CHECK(state.steps == t);
  }
}

OptimizerSpec sgd(double momentum, bool nesterov, double weight_decay = 0.0) {
  OptimizerSpec spec;
  spec.kind = OptimizerKind::kSgd;
  spec.momentum = momentum;
  spec.nesterov = nesterov;
  spec.weight_decay = weight_decay;
  return spec;
}

}  // namespace

TEST_CASE("SGD plain, heavy-ball and Nesterov follow the documented updates", "[optimizer]") {
  const double lr = 0.1, mu = 0.9, wd = 0.05;
  run_and_compare(sgd(0.0, false), lr, 1e-15,
                  [&](double g, double& th, double&, double&, int) { th -= lr * g; });
  run_and_compare(sgd(mu, false), lr, 1e-15, [&](double g, double& th, double& v, double&, int) {
    v = mu * v + g;
    th -= lr * v;
  });
  run_and_compare(sgd(mu, true), lr, 1e-15, [&](double g, double& th, double& v, double&, int) {
    v = mu * v + g;
    th -= lr * (g + mu * v);
  });
  // L2 weight decay: g ← g + λθ before the momentum update.
  run_and_compare(sgd(mu, true, wd), lr, 1e-15, [&](double g, double& th, double& v, double&, int) {
    const double gd = g + wd * th;
    v = mu * v + gd;
    th -= lr * (gd + mu * v);
  });
}

TEST_CASE("Adam with bias correction, L2 decay, and AdamW decoupled decay", "[optimizer]") {
  const double lr = 0.01, b1 = 0.8, b2 = 0.95, eps = 1e-3, wd = 0.2;
  // Adam step for one coordinate on gradient g (steps t ≥ 1) with bias-corrected m̂, v̂.
  auto adam = [&](double g, double& m, double& v, int t) {
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const double m_hat = m / (1 - std::pow(b1, t)), v_hat = v / (1 - std::pow(b2, t));
    return m_hat / (std::sqrt(v_hat) + eps);
  };
  OptimizerSpec spec;
  spec.beta1 = b1;
  spec.beta2 = b2;
  spec.eps = eps;
  SECTION("plain Adam; the first step moves every coordinate by about lr") {
    spec.kind = OptimizerKind::kAdam;
    run_and_compare(spec, lr, 1e-14, [&](double g, double& th, double& m, double& v, int t) {
      th -= lr * adam(g, m, v, t);
    });
    Eigen::VectorXd theta = theta0();
    OptimizerState state;
    optimizer_step(spec, lr, gradients()[0], theta, state);
    const Eigen::VectorXd moved = (theta0() - theta).cwiseAbs();
    CHECK(moved.maxCoeff() <= lr);
    CHECK(moved.minCoeff() >= 0.99 * lr);
  }
  SECTION("Adam with L2 weight decay adds λθ to the gradient") {
    spec.kind = OptimizerKind::kAdam;
    spec.weight_decay = wd;
    run_and_compare(spec, lr, 1e-14, [&](double g, double& th, double& m, double& v, int t) {
      th -= lr * adam(g + wd * th, m, v, t);
    });
  }
  SECTION("AdamW decays θ by lr·λ·θ (pre-step θ) outside the moments") {
    spec.kind = OptimizerKind::kAdamW;
    spec.weight_decay = wd;
    run_and_compare(spec, lr, 1e-14, [&](double g, double& th, double& m, double& v, int t) {
      th = th - lr * wd * th - lr * adam(g, m, v, t);
    });
  }
}

TEST_CASE("Learning-rate schedules: constant, step decay, cosine with warm-up", "[optimizer]") {
  const double base = 0.1;
  auto lr = [&](const ScheduleSpec& s, std::int64_t step) { return learning_rate(s, base, step); };
  ScheduleSpec spec;
  SECTION("constant, with and without a linear warm-up from lr/warmup to lr") {
    CHECK(lr(spec, 0) == base);
    CHECK(lr(spec, 12345) == base);
    spec.warmup = 4;
    CHECK(lr(spec, 0) == Approx(base / 4).epsilon(1e-15));
    CHECK(lr(spec, 1) == Approx(base * 2 / 4).epsilon(1e-15));
    CHECK(lr(spec, 3) == Approx(base).epsilon(1e-15));
    CHECK(lr(spec, 4) == base);
  }
  SECTION("step decay counts decay_every from the end of the warm-up") {
    spec.kind = ScheduleKind::kStep;
    spec.decay_every = 5;
    spec.decay_factor = 0.5;
    for (std::int64_t step = 0; step < 23; ++step) {
      CHECK(lr(spec, step) == Approx(base * std::pow(0.5, step / 5)).epsilon(1e-15));
    }
    spec.warmup = 3;
    CHECK(lr(spec, 0) == Approx(base / 3).epsilon(1e-15));
    CHECK(lr(spec, 7) == Approx(base).epsilon(1e-15));
    CHECK(lr(spec, 8) == Approx(base * 0.5).epsilon(1e-15));
    CHECK(lr(spec, 18) == Approx(base * 0.125).epsilon(1e-15));
  }
  SECTION("cosine from lr to min_lr over total_steps − warmup") {
    spec.kind = ScheduleKind::kCosine;
    spec.total_steps = 110;
    spec.warmup = 10;
    spec.min_lr = 0.01;
    CHECK(lr(spec, 0) == Approx(base / 10).epsilon(1e-15));
    CHECK(lr(spec, 9) == Approx(base).epsilon(1e-15));    // end of warm-up
    CHECK(lr(spec, 10) == Approx(base).epsilon(1e-15));   // start of the cosine
    CHECK(lr(spec, 60) == Approx(0.055).epsilon(1e-14));  // halfway: (lr + min_lr) / 2
    const double at_85 = 0.01 + 0.5 * (base - 0.01) * (1 + std::cos(0.75 * kPi));
    CHECK(lr(spec, 85) == Approx(at_85).epsilon(1e-14));
    const double last = 0.01 + 0.5 * (base - 0.01) * (1 + std::cos(kPi * 99.0 / 100.0));
    CHECK(lr(spec, 109) == Approx(last).epsilon(1e-12));  // last update
    CHECK(lr(spec, 110) == Approx(0.01).epsilon(1e-14));
    CHECK(lr(spec, 500) == Approx(0.01).epsilon(1e-14));  // clamped past the end
  }
}

TEST_CASE("clip_gradient: global and per-matrix clipping, disabled by max_norm <= 0",
          "[optimizer]") {
  // Blocks: a 2×1 matrix [3, 4] (norm 5) and a 1×2 matrix [0, 12] (norm 12); global norm 13.
  const Eigen::VectorXd original = (Eigen::VectorXd(4) << 3.0, 4.0, 0.0, 12.0).finished();
  const std::vector<ParamBlock> blocks = {{"a", 0, 2, 1}, {"b", 2, 1, 2}};
  Eigen::VectorXd grad = original;
  SECTION("global mode scales the whole vector to max_norm") {
    CHECK(clip_gradient(grad, 6.5, ClipMode::kGlobal, blocks) == Approx(13.0).epsilon(1e-15));
    check_close(grad, {1.5, 2.0, 0.0, 6.0}, 1e-15);
    CHECK(grad.norm() == Approx(6.5).epsilon(1e-15));
  }
  SECTION("matrix mode clips each block on its own and returns the global pre-clip norm") {
    CHECK(clip_gradient(grad, 6.0, ClipMode::kMatrix, blocks) == Approx(13.0).epsilon(1e-15));
    check_close(grad, {3.0, 4.0, 0.0, 6.0}, 1e-15);  // block a (norm 5) is under the limit
    grad = original;
    clip_gradient(grad, 2.5, ClipMode::kMatrix, blocks);
    check_close(grad, {1.5, 2.0, 0.0, 2.5}, 1e-15);
  }
  SECTION("a gradient under the limit, or max_norm <= 0, is left unchanged") {
    for (ClipMode mode : {ClipMode::kGlobal, ClipMode::kMatrix}) {
      for (double max_norm : {13.5, 0.0, -1.0}) {
        grad = original;
        CHECK(clip_gradient(grad, max_norm, mode, blocks) == Approx(13.0).epsilon(1e-15));
        CHECK((grad.array() == original.array()).all());
      }
    }
  }
}

TEST_CASE("Optimizer, schedule and clip-mode names parse or throw naming the option",
          "[optimizer]") {
  CHECK(parse<OptimizerKind>("adam", "--optimizer") == OptimizerKind::kAdam);
  CHECK(parse<OptimizerKind>("adamw", "--optimizer") == OptimizerKind::kAdamW);
  CHECK(parse<OptimizerKind>("sgd", "--optimizer") == OptimizerKind::kSgd);
  CHECK(parse<ScheduleKind>("constant", "--schedule") == ScheduleKind::kConstant);
  CHECK(parse<ScheduleKind>("step", "--schedule") == ScheduleKind::kStep);
  CHECK(parse<ScheduleKind>("cosine", "--schedule") == ScheduleKind::kCosine);
  CHECK(parse<ClipMode>("global", "--clip-mode") == ClipMode::kGlobal);
  CHECK(parse<ClipMode>("matrix", "--clip-mode") == ClipMode::kMatrix);
  CHECK_THROWS_AS(parse<OptimizerKind>("rmsprop", "--optimizer"), std::invalid_argument);
  CHECK_THROWS_WITH(parse<OptimizerKind>("rmsprop", "--optimizer"),
                    Contains("--optimizer") && Contains("rmsprop"));
  CHECK_THROWS_WITH(parse<OptimizerKind>("Adam", "--optimizer"), Contains("--optimizer"));
  CHECK_THROWS_AS(parse<ScheduleKind>("linear", "--schedule"), std::invalid_argument);
  CHECK_THROWS_WITH(parse<ScheduleKind>("linear", "--schedule"),
                    Contains("--schedule") && Contains("linear"));
  CHECK_THROWS_AS(parse<ClipMode>("layer", "--clip-mode"), std::invalid_argument);
  CHECK_THROWS_WITH(parse<ClipMode>("layer", "--clip-mode"),
                    Contains("--clip-mode") && Contains("layer"));
}
