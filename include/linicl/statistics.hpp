// Summary statistics of per-prompt losses.
#pragma once

#include <vector>

namespace linicl {

// The median (the mean of the two middle values for an even count); NaN when empty. Takes a
// copy, which it reorders.
double median(std::vector<double> values);

}  // namespace linicl
