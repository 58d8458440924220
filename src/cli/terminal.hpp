// Output helpers of the command line: progress on a terminal, matrices as tables.
#pragma once

#include <Eigen/Dense>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace linicl::cli {

// A one-line progress display on stderr, redrawn at most every 0.2 s, and silent when stderr
// is not a terminal (piped or redirected output stays clean).
class Progress {
 public:
  Progress(std::int64_t first_step, std::int64_t last_step);
  void update(std::int64_t step, double loss);
  void finish();

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_;
  std::int64_t first_, last_;
  Clock::time_point start_, last_draw_;
};

// Prints `m` row by row with a label, as it reads on paper.
void print_matrix(std::ostream& out, const std::string& label, const Eigen::MatrixXd& m,
                  const std::string& indent = "    ");

// "1m05s"-style durations.
std::string format_duration(double seconds);

}  // namespace linicl::cli
