#include "linicl/numerics/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace linicl {

double median(std::vector<double> values) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  const std::size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + mid, values.end());
  const double upper = values[mid];
  if (values.size() % 2) return upper;
  return 0.5 * (upper + *std::max_element(values.begin(), values.begin() + mid));
}

double standard_error(double sum, double sum_of_squares, double count) {
  if (count < 2) return 0.0;
  const double mean = sum / count;
  const double variance = (sum_of_squares / count - mean * mean) * count / (count - 1.0);
  return std::sqrt(std::max(0.0, variance) / count);
}

}  // namespace linicl
