// The run file (§10): one HDF5 file per run, rewritten whole through a temporary file
// and a rename, so a reader never sees a half-written run.
#pragma once

#include <Eigen/Dense>
#include <functional>
#include <string>

#include "linicl/config.hpp"
#include "linicl/h5.hpp"
#include "linicl/trainer.hpp"

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

// Reads a run file; throws std::runtime_error naming the file when it is missing, not HDF5,
// not a linicl run, or lacks a part.
RunRecord load_run(const std::string& path);

// Opens `path` for reading after checking that it is a linicl run file (same errors).
h5::File open_run(const std::string& path);

// Copies `path` to a temporary file, lets `edit` change the copy, then renames it over `path`.
// If `edit` throws, the original is untouched and the copy removed.
void edit_run_file(const std::string& path, const std::function<void(h5::File&)>& edit);

// The final (P, Q) of a run, [L, H, d+1, d+1] as stored in /weights.
Weights read_weights(const h5::Node& file);

}  // namespace linicl
