// /landscape/<mode> of a run file (§9, §10): what `linicl landscape` found, one group per mode.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "linicl/io/atomic_file.hpp"
#include "linicl/landscape/landscape.hpp"

namespace linicl {

// Each replaces /landscape/<mode> of the run file that `held` guards (edit_run_file) with the
// pool it was computed on (attributes pool, seed) and the mode's results.
void save_landscape(const OutputLock& held, const LandscapeOptions& options,
                    const ExactReport& report);  // exact
void save_landscape(const OutputLock& held, const LandscapeOptions& options,
                    const Curvature& curvature);  // curvature
void save_landscape(const OutputLock& held, const LandscapeOptions& options,
                    const std::vector<std::pair<std::string, CriticalPoint>>& points);  // critical
// slice, with how its direction was chosen (--direction, --layer).
void save_landscape(const OutputLock& held, const LandscapeOptions& options,
                    const SliceReport& report, const std::string& direction, int layer);

}  // namespace linicl
