// Up-front estimates of what a command will need, memory and arithmetic, so that absurd sizes
// are refused with one clear message before any work starts (a std::bad_alloc inside an OpenMP
// region terminates the process, and a run of 1e18 steps never ends).
//
// Memory counts the largest allocations, each within a small factor; work counts the
// floating-point operations of the Gram-form model (docs/math.md §13), sampling and the
// learners. Both are for refusing what cannot fit or finish, not for planning.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "linicl/analysis/analysis.hpp"
#include "linicl/landscape/landscape.hpp"
#include "linicl/train/config.hpp"

namespace linicl {

// One part of a command's needs: what it is, the options that size it (as the user gave them,
// for the message), the bytes it holds at once and the floating-point operations it does.
struct ResourcePart {
  std::string what;     // "each thread's prompt buffers"
  std::string options;  // "--context 2000000000 with --dim 5 and 2 threads"
  double bytes = 0.0;
  double flops = 0.0;
};

struct ResourceEstimate {
  std::vector<ResourcePart> parts;
  double bytes() const;  // all parts together
  double flops() const;
};

// More work than this is refused: about 12 days at 1e11 flop/s, weeks at the rates linicl
// reaches on two cores. The default run needs 2e11 (closing analysis included) and 3,000 steps
// at d = 50, n = 400, L = 8 (1.5 s a step) 6e14.
inline constexpr double kMaxFlops = 1e17;

struct ResourceLimits {
  double bytes = 0.0;  // memory the command may use
  double flops = kMaxFlops;
};

// The memory this process can use now: /proc/meminfo's MemAvailable (physical memory where it
// is missing), capped by a cgroup v2 memory.max and by RLIMIT_AS when they are set.
double available_memory();
ResourceLimits machine_limits();

// Throws std::invalid_argument when the estimate exceeds a limit, naming the part that needs the
// most and its options: "--context 2000000000 with --dim 5 and 2 threads needs about 2.3 TB for
// each thread's prompt buffers; this machine has 23 GB available".
void check_resources(const ResourceEstimate& estimate, const ResourceLimits& limits);

// Floating-point operations for one prompt of a d-dimensional, n-context, L-layer, H-head
// model (docs/math.md §13): drawing it, the forward pass alone, forward and backward (a
// gradient), and a Hessian-vector product (dual numbers: about three gradients).
struct PromptCost {
  double sample = 0.0, forward = 0.0, gradient = 0.0, hessian_vector = 0.0;
};
PromptCost prompt_cost(double dim, double context, double layers, double heads);

// `linicl train` from step `first_step` to `stop_step` (a new run: 0 and --steps) on `threads`
// threads, with the closing analysis on `closing_prompts` prompts (0: none). The config must
// have passed TrainConfig::check().
ResourceEstimate estimate_training(const TrainConfig& config, std::int64_t first_step,
                                   std::int64_t stop_step, int threads, int closing_prompts);

// `linicl analyze` of a run trained under `config`; the options must have passed check().
ResourceEstimate estimate_analysis(const TrainConfig& config, const AnalysisOptions& options,
                                   int threads);

// `linicl landscape` of a run trained under `config` in `mode` (exact | curvature | slice |
// critical), a slice having `grid_points` points in all; the options must have passed check().
ResourceEstimate estimate_landscape(const TrainConfig& config, const LandscapeOptions& options,
                                    const std::string& mode, double grid_points, int threads);

}  // namespace linicl
