// The run file (§10): one HDF5 file per run, rewritten whole through a temporary file
// and a rename, so a reader never sees a half-written run.
#pragma once

#include <Eigen/Dense>
#include <functional>
#include <string>

#include "linicl/io/atomic_file.hpp"
#include "linicl/io/h5.hpp"
#include "linicl/train/config.hpp"
#include "linicl/train/trainer.hpp"

namespace linicl {

inline constexpr const char* kRunFormat = "linicl-run";
inline constexpr std::int64_t kRunFormatVersion = 1;

struct RunRecord {
  TrainConfig config;
  Eigen::MatrixXd sigma, sigma_w;
  TrainState state;
  std::string status = "running";  // running | completed | stopped | diverged
  std::string reason;              // why a run stopped early
  std::string command;             // the command line that made it
};

// Writes `run` to `path`, replacing it atomically (temporary file in the same folder, then
// rename). The caller decides whether replacing an existing file is allowed.
void save_run(const std::string& path, const RunRecord& run);

// Reads a run file, checking every part before anything uses it: the /config attributes
// (TrainConfig::check), shapes and series lengths against each other and the config, the
// weights as the expansion of θ, finiteness where NaN makes no sense (weights, θ, Σ, Σ_w and
// the optimizer state; losses may be NaN), Σ and Σ_w symmetric positive definite, the step
// counters. Throws std::runtime_error naming the file when it is missing, not HDF5 or not a
// linicl run, and "run file '<path>': <object> ..." when a part is missing or damaged.
RunRecord load_run(const std::string& path);

// Opens `path` for reading after checking that it is a linicl run file (same errors).
h5::File open_run(const std::string& path);

// Reads the run file that `held` guards into memory, lets `edit` change it, then writes it
// back atomically. If `edit` throws, the file is untouched. The lock must be taken before the
// run is read for the edit's computation, so that no other writer changes it in between.
void edit_run_file(const OutputLock& held, const std::function<void(h5::File&)>& edit);

// The final (P, Q) of a run, [L, H, d+1, d+1] as stored in /weights, after the same checks
// as load_run gives the config, /weights and /checkpoint/theta (same errors).
Weights read_weights(const h5::File& file);

}  // namespace linicl
