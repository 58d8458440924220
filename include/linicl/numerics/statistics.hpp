// Summary statistics of per-prompt losses.
#pragma once

#include <vector>

namespace linicl {

// The median (the mean of the two middle values for an even count); NaN when empty. Takes a
// copy, which it reorders.
double median(std::vector<double> values);

// The standard error of a mean of `count` values from their sum and sum of squares: the
// sample variance (with count − 1, clamped at 0 against rounding) over count; 0 for count < 2.
double standard_error(double sum, double sum_of_squares, double count);

}  // namespace linicl
