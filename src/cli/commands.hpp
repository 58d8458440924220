// The subcommands of `linicl`. Each registers its options on the app and returns the
// function that runs it once parsing has succeeded (that function returns the exit code).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace linicl::cli {

// Runs the parsed subcommand; `command` is the full command line, recorded in run files.
using Runner = std::function<int(const std::string& command)>;

Runner add_train(CLI::App& app);
Runner add_inspect(CLI::App& app);
Runner add_analyze(CLI::App& app);
Runner add_landscape(CLI::App& app);

// Seeds and other unsigned options: CLI11 alone would wrap −1 around to 2⁶⁴ − 1.
inline CLI::Validator non_negative() {
  return CLI::Validator(
      [](const std::string& value) {
        return value.find('-') == std::string::npos ? std::string()
                                                    : "must be >= 0 (got " + value + ")";
      },
      ">= 0");
}

// Options that must be a number > 0, with a message in linicl's words.
inline CLI::Validator positive() {
  return CLI::Validator(
      [](const std::string& value) {
        double number = 0.0;
        return CLI::detail::lexical_cast(value, number) && number > 0.0
                   ? std::string()
                   : "must be > 0 (got " + value + ")";
      },
      "> 0");
}

// Exit codes: 0 success, 1 refused input or failed I/O, 2 command-line usage, 3 diverged run.
inline constexpr int kExitError = 1;
inline constexpr int kExitDiverged = 3;

}  // namespace linicl::cli
