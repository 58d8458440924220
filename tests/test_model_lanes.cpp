// The lane-batched model against the one-prompt model, tensor by tensor.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>

#include "fixtures.hpp"
#include "linicl/model/model_lanes.hpp"

using namespace linicl;
using namespace linicl::testing;

TEST_CASE("kLanes prompts at once give each prompt's prediction and gradient", "[model]") {
  for (int d : {1, 2, 3, 4, 5, 10}) {
    REQUIRE(has_lane_kernels(d + 1));
    for (int layers : {1, 2, 3}) {
      for (int heads : {1, 2}) {
        for (int n : {1, 11}) {  // n = 1, d = 1: fewer columns than one four-wide transpose
          // Reused from full to partial batches: lanes past count must be zeroed, not left over.
          LanePrompts lanes;
          for (int count : {kLanes, 1, 5}) {
            INFO("d = " << d << ", n = " << n << ", L = " << layers << ", H = " << heads
                        << ", prompts " << count);
            const TaskSampler sampler = make_sampler(d, n, 0.3, 6.0);
            const Weights w = random_weights(layers, heads, d, 7 * d + layers, 0.3);
            std::vector<Prompt> prompts(count);
            std::vector<PromptColumns> columns(count);
            for (int b = 0; b < count; ++b) {
              sampler.sample(4, 2, b, prompts[b]);
              sampler.sample_columns(4, 2, b, columns[b]);
            }
            double dloss[kLanes] = {};
            for (int b = 0; b < count; ++b) dloss[b] = 0.3 * (b + 1) - 1.0;

            // One prompt at a time.
            Weights expected(layers, heads, d);
            expected.set_zero();
            std::vector<double> expected_prediction(count);
            Tape tape;
            Workspace ws;
            for (int b = 0; b < count; ++b) {
              EmbeddedPrompt e;
              embed(prompts[b], e);
              expected_prediction[b] = forward(w, e, tape, ws);
              backward(w, e, tape, dloss[b], expected, ws);
            }
            // All at once.
            embed_lanes(columns.data(), count, lanes);
            for (int l = count; l < kLanes; ++l) {
              for (std::size_t e = l; e < lanes.gram.size(); e += kLanes)
                CHECK(lanes.gram[e] == 0.0);
              for (std::size_t e = l; e < lanes.query.size(); e += kLanes) {
                CHECK(lanes.query[e] == 0.0);
              }
              for (std::size_t e = l; e < lanes.columns.size(); e += kLanes) {
                CHECK(lanes.columns[e] == 0.0);
              }
              CHECK(lanes.target[l] == 0.0);
            }
            LaneTape lane_tape;
            LaneWorkspace lane_ws;
            double prediction[kLanes];
            forward_lanes(w, lanes, lane_tape, lane_ws, prediction);
            Weights grad(layers, heads, d);
            grad.set_zero();
            backward_lanes(w, lanes, lane_tape, dloss, grad, lane_ws);
            // Every buffer starts a cache line (LineAligned), so no load straddles two.
            for (const LaneBuffer* buffer :
                 {&lanes.gram, &lanes.query, &lanes.columns, &lane_tape.gram, &lane_tape.query,
                  &lane_tape.attention, &lane_tape.top_keys, &lane_tape.top_values, &lane_ws.a,
                  &lane_ws.gram_grad, &lane_ws.query_grad, &lane_ws.top_r, &lane_ws.top_s}) {
              CHECK(reinterpret_cast<std::uintptr_t>(buffer->data()) % 64 == 0);
            }

            for (int b = 0; b < count; ++b) {
              CHECK(prediction[b] == Approx(expected_prediction[b]).epsilon(1e-12).margin(1e-12));
            }
            for (int b = count; b < kLanes; ++b) CHECK(prediction[b] == 0.0);
            for (std::size_t i = 0; i < grad.P.size(); ++i) {
              const double scale = expected.P[i].norm() + expected.Q[i].norm();
              CHECK((grad.P[i] - expected.P[i]).norm() <= 1e-12 * scale);
              CHECK((grad.Q[i] - expected.Q[i]).norm() <= 1e-12 * scale);
            }
          }
        }
      }
    }
  }
  CHECK_FALSE(has_lane_kernels(7));
}

TEST_CASE("embed_lanes() labels unlabelled prompts as the sampler does, bit for bit", "[model]") {
  for (int d : {1, 2, 5, 10}) {
    for (const double noise : {0.0, 0.7}) {
      for (int count : {kLanes, 3}) {
        INFO("d = " << d << ", noise " << noise << ", prompts " << count);
        const TaskSampler sampler = make_sampler(d, 9, noise, 4.0);
        std::vector<PromptColumns> labelled(count), unlabelled(count);
        for (int b = 0; b < count; ++b) {
          sampler.sample_columns(3, 1, b, labelled[b]);
          sampler.sample_columns(3, 1, b, unlabelled[b], false);
          REQUIRE_FALSE(unlabelled[b].labelled);
        }
        LanePrompts expected, got;
        embed_lanes(labelled.data(), count, expected);
        embed_lanes(unlabelled.data(), count, got);
        CHECK(got.columns == expected.columns);
        CHECK(got.gram == expected.gram);
        CHECK(got.query == expected.query);
        for (int l = 0; l < kLanes; ++l) CHECK(got.target[l] == expected.target[l]);
        if (noise > 0) CHECK(got.target[0] != unlabelled[0].z(d, 9));  // ε was replaced
        std::swap(labelled[0], unlabelled[0]);
        CHECK_THROWS_AS(embed_lanes(unlabelled.data(), count, got), std::logic_error);
      }
    }
  }
}

TEST_CASE("a cleared lane adds nothing to the gradient, even after overflowing", "[model]") {
  const int d = 4, count = 5, bad = 2;
  const TaskSampler sampler = make_sampler(d, 6, 0.3);
  const Weights w = random_weights(3, 1, d, 5, 0.3);
  std::vector<PromptColumns> columns(count);
  for (int b = 0; b < count; ++b) sampler.sample_columns(1, 1, b, columns[b]);
  double dloss[kLanes] = {0.5, -0.25, 0.0, 0.75, 1.0};
  auto gradient = [&](bool poison) {
    LanePrompts lanes;
    LaneTape tape;
    LaneWorkspace ws;
    embed_lanes(columns.data(), count, lanes);
    if (poison) {  // what a prompt whose forward pass overflowed leaves behind
      for (std::size_t e = bad; e < lanes.gram.size(); e += kLanes)
        lanes.gram[e] = std::numeric_limits<double>::quiet_NaN();
      lanes.query[bad] = std::numeric_limits<double>::infinity();
    }
    double prediction[kLanes];
    forward_lanes(w, lanes, tape, ws, prediction);
    if (poison) {
      CHECK(std::isnan(prediction[bad]));
      clear_lane(lanes, tape, bad);
    }
    Weights grad(3, 1, d);
    grad.set_zero();
    backward_lanes(w, lanes, tape, dloss, grad, ws);
    return grad;
  };
  const Weights clean = gradient(false), cleared = gradient(true);
  for (std::size_t i = 0; i < clean.P.size(); ++i) {
    CHECK(cleared.P[i] == clean.P[i]);  // bitwise: the cleared lane adds exact zeros
    CHECK(cleared.Q[i] == clean.Q[i]);
  }
}
