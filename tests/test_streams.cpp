// The stream registry (§2.4): every set of prompts owns its steps, so no two sets share a prompt.
#include <catch2/catch.hpp>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "fixtures.hpp"
#include "linicl/data/streams.hpp"
#include "linicl/landscape/landscape.hpp"
#include "linicl/train/trainer.hpp"

using namespace linicl;
using namespace linicl::testing;

TEST_CASE("the prompt sets own disjoint blocks of steps", "[streams]") {
  std::vector<StepBlock> blocks;
  for (PromptSet set : kAllPromptSets) blocks.push_back(step_block(set));
  std::sort(blocks.begin(), blocks.end(),
            [](const StepBlock& a, const StepBlock& b) { return a.first < b.first; });
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    CHECK(blocks[i].size >= 1);
    CHECK(blocks[i].first + (blocks[i].size - 1) >= blocks[i].first);  // no wrap-around
    if (i + 1 < blocks.size()) CHECK(blocks[i].first + blocks[i].size <= blocks[i + 1].first);
  }
  // A prompt is keyed (seed, step, index): disjoint steps are disjoint prompts for every seed.
  for (PromptSet set : kAllPromptSets) {
    const StepBlock block = step_block(set);
    CHECK(prompt_step(set, 0) == block.first);
    CHECK(prompt_step(set, block.size - 1) == block.first + block.size - 1);
    CHECK_THROWS_AS(prompt_step(set, block.size), std::out_of_range);
  }
}

TEST_CASE("analyze's prompts are never a training batch of a run with the same seed", "[streams]") {
  // The defect this registry fixed: analysis seed 777 used steps 1 and 2, which were the
  // training batches of updates 1 and 2 of a run trained with --seed 777.
  TrainConfig config;
  config.seed = 777;
  config.eval_seed = 777;
  config.steps = 1000000;
  const TaskSampler sampler = make_sampler(config.dim, config.context);
  const Trainer trainer(config, sampler);
  const std::uint64_t analysis[] = {prompt_step(PromptSet::kAnalysisCalibration),
                                    prompt_step(PromptSet::kAnalysisEvaluation)};
  for (std::uint64_t step : analysis) {
    CHECK(step >= step_block(PromptSet::kTraining).size);
    CHECK(step != trainer.eval_batch().step);
  }
  CHECK(trainer.train_batch(2).step == 2);  // training keeps its steps: runs stay bit-identical
  Prompt train_prompt, analysis_prompt;
  sampler.sample(777, trainer.train_batch(2).step, 0, train_prompt);
  sampler.sample(777, analysis[1], 0, analysis_prompt);
  CHECK(train_prompt.x != analysis_prompt.x);
}
