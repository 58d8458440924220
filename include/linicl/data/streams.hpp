// Every use of random numbers in linicl, named in one place (§2.4).
//
// A stream is RandomStream(seed, purpose, a, b). Prompts are purpose kPrompt with (a, b) =
// (step, index); each set of prompts owns a block of step indices, and the blocks are disjoint,
// so no two sets share a prompt whatever seeds the user picks (an analysis with seed 777 of a
// run trained with --seed 777 included). Other purposes take a sub-key from `StreamKey`.
#pragma once

#include <cstdint>

#include "linicl/numerics/curvature.hpp"
#include "linicl/numerics/rng.hpp"

namespace linicl {

enum class PromptSet {
  kTraining,             // batch (or pool) of update t: step t
  kTrackingNoise,        // gradient-noise batch j of tracked step t: offset t·J + j
  kLandscapePool,        // the landscape's fixed pool
  kLandscapeCheck,       // a second pool, for checking what was fitted on the first
  kEvaluation,           // the training run's fixed evaluation set
  kAnalysisCalibration,  // analyze: where learners and probes are fitted
  kAnalysisEvaluation,   // analyze: where layers and learners are compared
};
constexpr PromptSet kAllPromptSets[] = {
    PromptSet::kTraining,          PromptSet::kTrackingNoise, PromptSet::kLandscapePool,
    PromptSet::kLandscapeCheck,    PromptSet::kEvaluation,    PromptSet::kAnalysisCalibration,
    PromptSet::kAnalysisEvaluation};

// Steps [first, first + size) belong to the set.
struct StepBlock {
  std::uint64_t first = 0, size = 0;
};
StepBlock step_block(PromptSet set);

// The step index `offset` of the set's block; throws std::out_of_range past the block's end.
std::uint64_t prompt_step(PromptSet set, std::uint64_t offset = 0);

// Sub-keys (the `a` of RandomStream) of the streams that are not prompts.
enum class StreamKey : std::uint64_t {
  kInitialization = 0,      // Purpose::kInit: θ₀ ~ N(0, s²)
  kRotation = 0,            // Purpose::kRotation: the Haar rotation U of Σ
  kActiveProbe = 0xac71e,   // Purpose::kLandscape: finds the active parameters of H
  kDirection = 0x511ce,     // Purpose::kLandscape, b = index: random slice directions
  kLanczosStart = 0x1a9c2,  // Purpose::kLandscape: Lanczos start vector
  kTraceProbe = 0x51a,      // Purpose::kLandscape, b = probe: Hutchinson/quadrature probes
};

inline RandomStream make_stream(std::uint64_t seed, Purpose purpose, StreamKey key,
                                std::uint64_t index = 0) {
  return RandomStream(seed, purpose, static_cast<std::uint64_t>(key), index);
}

// The streams (seed, purpose, key, b) for b = 0, 1, ….
inline StreamFamily make_family(std::uint64_t seed, Purpose purpose, StreamKey key) {
  return {seed, purpose, static_cast<std::uint64_t>(key)};
}

// The random vectors of a curvature measurement under `seed`: the landscape's and the tracker's.
inline CurvatureStreams curvature_streams(std::uint64_t seed) {
  return {make_stream(seed, Purpose::kLandscape, StreamKey::kActiveProbe),
          make_stream(seed, Purpose::kLandscape, StreamKey::kLanczosStart),
          make_family(seed, Purpose::kLandscape, StreamKey::kTraceProbe)};
}

}  // namespace linicl
