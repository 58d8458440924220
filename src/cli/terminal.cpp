#include "terminal.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>

namespace linicl::cli {

Progress::Progress(std::int64_t first_step, std::int64_t last_step)
    : enabled_(::isatty(STDERR_FILENO) != 0),
      first_(first_step),
      last_(last_step),
      start_(Clock::now()),
      last_draw_(start_) {}

void Progress::update(std::int64_t step, double loss) {
  if (!enabled_) return;
  const Clock::time_point now = Clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(200) && step < last_) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = (step - first_) / std::max(elapsed, 1e-9);
  const double eta = rate > 0 ? (last_ - step) / rate : 0.0;
  std::fprintf(stderr, "\r  step %lld/%lld  loss %.4e  %.0f steps/s  ETA %s   ",
               static_cast<long long>(step), static_cast<long long>(last_), loss, rate,
               format_duration(eta).c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  if (enabled_) std::fprintf(stderr, "\r%78s\r", "");
}

void print_matrix(std::ostream& out, const std::string& label, const Eigen::MatrixXd& m,
                  const std::string& indent) {
  out << indent << label << " (" << m.rows() << "x" << m.cols() << ")\n";
  for (Eigen::Index r = 0; r < m.rows(); ++r) {
    out << indent << "  ";
    for (Eigen::Index c = 0; c < m.cols(); ++c) {
      out << std::setw(11) << std::setprecision(4) << std::defaultfloat << m(r, c);
    }
    out << "\n";
  }
}

std::string format_duration(double seconds) {
  const long total = std::lround(seconds);
  char buffer[32];
  if (total >= 3600) {
    std::snprintf(buffer, sizeof buffer, "%ldh%02ldm", total / 3600, total % 3600 / 60);
  } else if (total >= 60) {
    std::snprintf(buffer, sizeof buffer, "%ldm%02lds", total / 60, total % 60);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.1fs", seconds);
  }
  return buffer;
}

}  // namespace linicl::cli
