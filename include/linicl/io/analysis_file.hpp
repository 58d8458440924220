// /analysis of a run file (§8, §10): what `linicl analyze` found.
#pragma once

#include "linicl/analysis/analysis.hpp"
#include "linicl/io/atomic_file.hpp"

namespace linicl {

// Replaces /analysis of the run file that `held` guards (edit_run_file) with the report.
void save_analysis(const OutputLock& held, const AnalysisReport& report);

}  // namespace linicl
