// The O(n·d²) model against the literal §3.2 form, and the facts of §3.6.
#include <catch2/catch.hpp>

#include "fixtures.hpp"
#include "linicl/model/gram_lsa.hpp"
#include "linicl/model/parametrization.hpp"
#include "reference_model.hpp"

using namespace linicl;
using namespace linicl::testing;

namespace {

double relative_error(double a, double b) {
  return std::abs(a - b) / std::max(std::abs(b), 1e-300);
}

}  // namespace

TEST_CASE("forward equals the literal attention form for any depth and head count") {
  const TaskSampler sampler = make_sampler(4, 9, 0.3, 5.0);
  Prompt prompt;
  for (int layers = 1; layers <= 4; ++layers) {
    for (int heads = 1; heads <= 2; ++heads) {
      const Weights w = random_weights(layers, heads, 4, 10 * layers + heads);
      for (int b = 0; b < 3; ++b) {
        sampler.sample(1, 0, b, prompt);
        const double expected = reference_prediction(w, prompt);
        INFO("L = " << layers << ", H = " << heads << ", prompt " << b);
        CHECK(relative_error(model_prediction(w, prompt), expected) < 1e-12);
      }
    }
  }
}

TEST_CASE("a tape and workspace reused across depths and head counts give fresh results") {
  // The tape is sized by depth and head count (the top layer keeps one u_h, v_h per head).
  Tape reused_tape;
  Workspace reused_ws;
  const int shapes[][3] = {{3, 1, 4}, {1, 1, 4}, {1, 2, 4}, {2, 2, 4},
                           {2, 1, 4}, {3, 2, 6}, {2, 1, 6}};
  for (const auto& shape : shapes) {
    const int layers = shape[0], heads = shape[1], d = shape[2];
    INFO("L = " << layers << ", H = " << heads << ", d = " << d);
    const TaskSampler sampler = make_sampler(d, 7, 0.2, 4.0);
    const Weights w = random_weights(layers, heads, d, 3 * layers + heads + d);
    Prompt prompt;
    sampler.sample(2, 1, 0, prompt);
    EmbeddedPrompt e;
    embed(prompt, e);
    Tape tape;
    Workspace ws;
    Weights fresh(layers, heads, d), reused(layers, heads, d);
    fresh.set_zero();
    reused.set_zero();
    const double expected = forward(w, e, tape, ws);
    backward(w, e, tape, 0.7, fresh, ws);
    CHECK(forward(w, e, reused_tape, reused_ws) == expected);
    backward(w, e, reused_tape, 0.7, reused, reused_ws);
    for (std::size_t i = 0; i < fresh.P.size(); ++i) {
      CHECK(reused.P[i] == fresh.P[i]);
      CHECK(reused.Q[i] == fresh.Q[i]);
    }
  }
}

TEST_CASE("the query never influences the context: predictions are linear in x_{n+1}") {
  const TaskSampler sampler = make_sampler(3, 7);
  Prompt prompt;
  sampler.sample(2, 0, 0, prompt);
  const Weights w = random_weights(3, 2, 3, 4);
  const Eigen::VectorXd xq = prompt.x.col(7);
  const double base = model_prediction(w, prompt);
  prompt.x.col(7) = 2.5 * xq;
  CHECK(relative_error(model_prediction(w, prompt), 2.5 * base) < 1e-12);
}

TEST_CASE("induced weights reproduce the prediction after every layer") {
  const TaskSampler sampler = make_sampler(5, 12, 0.5, 10.0);
  Prompt prompt;
  sampler.sample(3, 1, 2, prompt);
  EmbeddedPrompt embedded;
  embed(prompt, embedded);
  const Weights w = random_weights(4, 2, 5, 8);
  const Eigen::MatrixXd induced = induced_weights(w, embedded);
  REQUIRE(induced.cols() == 5);
  CHECK(induced.col(0).norm() == 0.0);
  const auto zs = reference_forward(w, prompt);
  for (int l = 0; l <= 4; ++l) {
    const double from_model = -zs[l](5, 12);
    const double from_weights = induced.col(l).dot(prompt.x.col(12));
    INFO("layer " << l);
    CHECK(relative_error(from_weights, from_model) < 1e-12);
  }
}

TEST_CASE("L pgd layers are exactly L steps of preconditioned gradient descent (§3.6)") {
  const int d = 4, n = 10, layers = 3;
  const TaskSampler sampler = make_sampler(d, n, 0.2, 4.0);
  Prompt prompt;
  sampler.sample(4, 0, 0, prompt);
  const Parametrization param(Param::kPgd, d, layers, 1, false);
  RandomStream rs(11, Purpose::kTest);
  const Eigen::VectorXd theta = random_matrix(param.size(), 1, rs, 0.4);
  Weights w = param.make_weights();
  param.expand(theta, w);

  // w_{ℓ+1} = w_ℓ − Γ_ℓ ∇R(w_ℓ), ∇R(w) = (1/n) Σ_i x_i (x_iᵀw − y_i), Γ_ℓ = A_ℓᵀ.
  const Eigen::MatrixXd x = prompt.x.leftCols(n);
  const Eigen::VectorXd y = prompt.y.head(n);
  std::vector<Eigen::VectorXd> iterates = {Eigen::VectorXd::Zero(d)};
  for (int l = 0; l < layers; ++l) {
    const Eigen::VectorXd grad = x * (x.transpose() * iterates.back() - y) / n;
    iterates.push_back(iterates.back() - effective_preconditioner(w, l) * grad);
  }
  EmbeddedPrompt embedded;
  embed(prompt, embedded);
  const Eigen::MatrixXd induced = induced_weights(w, embedded);
  const auto zs = reference_forward(w, prompt);
  for (int l = 0; l <= layers; ++l) {
    INFO("layer " << l);
    CHECK((induced.col(l) - iterates[l]).norm() <= 1e-12 * iterates[layers].norm());
    // The y-row holds the residuals y_i − x_iᵀw_ℓ and, at the query, −x_{n+1}ᵀw_ℓ.
    Eigen::VectorXd expected_row(n + 1);
    expected_row.head(n) = y - x.transpose() * iterates[l];
    expected_row(n) = -prompt.x.col(n).dot(iterates[l]);
    CHECK((zs[l].row(d).transpose() - expected_row).norm() <= 1e-12 * expected_row.norm());
  }
}

TEST_CASE("gdpp layers move the covariates by (I − B S A) (§3.6)") {
  const int d = 3, n = 8;
  const TaskSampler sampler = make_sampler(d, n, 0.0, 3.0);
  Prompt prompt;
  sampler.sample(5, 0, 0, prompt);
  const Parametrization param(Param::kGdpp, d, 1, 1, false);
  RandomStream rs(12, Purpose::kTest);
  const Eigen::VectorXd theta = random_matrix(param.size(), 1, rs, 0.5);
  Weights w = param.make_weights();
  param.expand(theta, w);
  const Eigen::MatrixXd a = -w.q(0, 0).topLeftCorner(d, d);
  const Eigen::MatrixXd b = w.p(0, 0).topLeftCorner(d, d);
  const Eigen::MatrixXd s = prompt.x.leftCols(n) * prompt.x.leftCols(n).transpose() / n;
  const Eigen::MatrixXd expected =
      (Eigen::MatrixXd::Identity(d, d) - b * s * a) * prompt.x;  // all n+1 columns
  const Eigen::MatrixXd moved = reference_forward(w, prompt)[1].topRows(d);
  CHECK((moved - expected).norm() <= 1e-12 * expected.norm());
}

TEST_CASE("(cP, Q/c) leaves every head unchanged") {
  const TaskSampler sampler = make_sampler(3, 6);
  Prompt prompt;
  sampler.sample(6, 0, 0, prompt);
  Weights w = random_weights(2, 2, 3, 21);
  const double before = model_prediction(w, prompt);
  w.p(1, 0) *= 3.0;
  w.q(1, 0) /= 3.0;
  w.p(0, 1) *= -0.5;
  w.q(0, 1) /= -0.5;
  CHECK(relative_error(model_prediction(w, prompt), before) < 1e-12);
}

TEST_CASE(
    "embed gives G_0 = sum of z_i z_i^T over the context from the columns as drawn and "
    "from x and y, bit for bit") {
  for (const int d : {1, 4, 10, 13, 50}) {
    const TaskSampler sampler = make_sampler(d, 3 * d + 2, 0.4, 3.0);
    Prompt prompt;
    sampler.sample(9, 1, d, prompt);
    EmbeddedPrompt from_prompt, from_columns;
    embed(prompt, from_prompt);
    embed(prompt.columns, from_columns);
    INFO("d = " << d);
    CHECK(from_columns.gram == from_prompt.gram);
    CHECK(from_columns.query == from_prompt.query);
    CHECK(from_columns.target == from_prompt.target);
    CHECK(from_columns.context == from_prompt.context);
    // Against the definition, in long double.
    const int n = 3 * d + 2;
    for (int i = 0; i <= d; ++i) {
      for (int j = 0; j <= d; ++j) {
        long double sum = 0, magnitude = 0;
        for (int t = 0; t < n; ++t) {
          const long double term =
              static_cast<long double>(prompt.columns.z(i, t)) * prompt.columns.z(j, t);
          sum += term;
          magnitude += std::abs(term);
        }
        CHECK(std::abs(from_columns.gram(i, j) - static_cast<double>(sum)) <=
              (n + 1) * 1.2e-16 * static_cast<double>(magnitude));
      }
    }
    CHECK(from_columns.gram == from_columns.gram.transpose());
    CHECK(from_prompt.query.head(d) == prompt.x.col(n));
    CHECK(from_prompt.query(d) == 0.0);
    CHECK(from_prompt.target == prompt.y(n));
  }
  const TaskSampler sampler = make_sampler(3, 5);
  PromptColumns unlabelled;
  sampler.sample_columns(1, 0, 0, unlabelled, false);
  EmbeddedPrompt embedded;
  CHECK_THROWS_AS(embed(unlabelled, embedded), std::logic_error);
}
