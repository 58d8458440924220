#include "linicl/data/streams.hpp"

#include <stdexcept>
#include <string>

namespace linicl {

namespace {
constexpr std::uint64_t kBit61 = std::uint64_t{1} << 61, kBit62 = std::uint64_t{1} << 62,
                        kBit63 = std::uint64_t{1} << 63;
}  // namespace

// Training and tracking keep the steps they always had (runs stay bit-identical), as do the
// landscape pools and the evaluation set; the analysis prompts moved from steps 2 and 1, which
// were training batches of a run with the analysis seed, to their own steps.
StepBlock step_block(PromptSet set) {
  switch (set) {
    case PromptSet::kTraining:
      return {0, kBit61};
    case PromptSet::kTrackingNoise:
      return {kBit61, kBit61};
    case PromptSet::kLandscapePool:
      return {kBit62, 1};
    case PromptSet::kLandscapeCheck:
      return {kBit62 + 1, 1};
    case PromptSet::kAnalysisCalibration:
      return {kBit62 + 2, 1};
    case PromptSet::kAnalysisEvaluation:
      return {kBit62 + 3, 1};
    case PromptSet::kEvaluation:
      return {kBit63, 1};
  }
  throw std::logic_error("step_block: unknown prompt set");
}

std::uint64_t prompt_step(PromptSet set, std::uint64_t offset) {
  const StepBlock block = step_block(set);
  if (offset >= block.size) {
    throw std::out_of_range("prompt set " + std::to_string(static_cast<int>(set)) +
                            " has no step " + std::to_string(offset));
  }
  return block.first + offset;
}

}  // namespace linicl
