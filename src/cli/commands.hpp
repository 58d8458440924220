// The subcommands of `linicl`. Each registers its options on the app and returns the
// function that runs it once parsing has succeeded (that function returns the exit code).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace linicl::cli {

// Runs the parsed subcommand; `command` is the full command line, recorded in run files.
using Runner = std::function<int(const std::string& command)>;

Runner add_train(CLI::App& app);
Runner add_inspect(CLI::App& app);
Runner add_analyze(CLI::App& app);

// Exit codes: 0 success, 1 refused input or failed I/O, 2 command-line usage, 3 diverged run.
inline constexpr int kExitError = 1;
inline constexpr int kExitDiverged = 3;

}  // namespace linicl::cli
