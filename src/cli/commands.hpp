// The subcommands of `linicl`. Each registers its options on the app and returns the
// function that runs it once parsing has succeeded (that function returns the exit code).
//
// Refusals: a value out of its range throws std::invalid_argument (exit 1), text that is not a
// value of the option's type throws CLI::ConversionError or SyntaxError (exit 2); main prints
// either as one line.
#pragma once

#include <omp.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "linicl/io/config_file.hpp"
#include "linicl/numerics/name_table.hpp"
#include "linicl/numerics/require.hpp"

namespace linicl::cli {

// Runs the parsed subcommand; `command` is the full command line, recorded in run files.
using Runner = std::function<int(const std::string& command)>;

Runner add_train(CLI::App& app);
Runner add_inspect(CLI::App& app);
Runner add_analyze(CLI::App& app);
Runner add_landscape(CLI::App& app);

// Exit codes: 0 success, 1 refused input or failed I/O, 2 command-line or config-file syntax,
// 3 diverged run.
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitDiverged = 3;

// Input that cannot be read at all (a malformed config-file line, an unknown name): exit 2.
using linicl::SyntaxError;

namespace detail {

template <class T>
struct element {
  using type = T;
};
template <class T>
struct element<std::vector<T>> {
  using type = T;
};

inline std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

// `text` read whole as a T: an integer in decimal or as a whole number in floating-point
// notation (1e6), a floating-point number finite. Throws std::invalid_argument for a number out
// of T's range, CLI::ConversionError for anything else.
template <class T>
T parse_number(const std::string& name, const std::string& text) {
  const char* first = text.data();
  const char* last = first + text.size();
  const auto not_a = [&](const char* what) {
    return CLI::ConversionError(name + ": expected " + what + " (got '" + text + "')");
  };
  long double wide = 0.0L;  // 64 mantissa bits: every integer of the 64-bit types exactly
  const auto [wide_end, wide_error] = std::from_chars(first, last, wide);
  if constexpr (std::is_floating_point_v<T>) {
    if (text.empty() || wide_end != last ||
        (wide_error != std::errc() && wide_error != std::errc::result_out_of_range)) {
      throw not_a("a number");
    }
    const T value = static_cast<T>(wide);
    require(wide_error == std::errc() && std::isfinite(value), name,
            "a finite number of magnitude at most 1.8e308", text);
    return value;
  } else {
    T value{};
    const auto [end, error] = std::from_chars(first, last, value);
    if (end == last && error == std::errc()) return value;
    constexpr T lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
    const bool numeric = !text.empty() && wide_end == last;  // all of it reads as a number
    const bool out_of_range =
        (end == last && error == std::errc::result_out_of_range) ||
        (numeric && (wide_error == std::errc::result_out_of_range || wide < lo || wide > hi));
    require(!out_of_range, name, "in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]",
            text);
    if (!numeric || wide_error != std::errc() || !std::isfinite(wide) || wide != std::floor(wide)) {
      throw not_a("a whole number");
    }
    return static_cast<T>(wide);
  }
}

}  // namespace detail

// For every numeric option (of type T, or a list of them): the whole text must be a number of
// its type. CLI11 alone reads '' as 0, 2^64 as 2^64 − 1, 010 as octal 8 and accepts inf; this
// reads, checks and rewrites the value in plain decimal before CLI11 converts it.
template <class T>
CLI::Validator number(const std::string& name) {
  using Element = typename detail::element<T>::type;
  return CLI::Validator(
      [name](std::string& value) {
        value = detail::trim(value);
        const Element parsed = detail::parse_number<Element>(name, value);
        if constexpr (std::is_integral_v<Element>) value = std::to_string(parsed);
        return std::string();
      },
      "");
}

// A rule the command checks when parsing a numeric option: `ok(value)`, else the refusal
// "<name> must be <rule> (got <value>)".
template <class T, class Ok>
CLI::Validator rule(const std::string& name, const std::string& what, Ok ok) {
  return CLI::Validator(
      [=](const std::string& value) {
        require(ok(detail::parse_number<T>(name, value)), name, what, value);
        return std::string();
      },
      "");
}

// A word option: one of `choices`, else "<name> must be one of a|b (got 'c')".
inline CLI::Validator one_of(const std::string& name, const std::vector<std::string>& choices) {
  return CLI::Validator(
      [=](const std::string& value) {
        require_choice(value, name, choices);
        return std::string();
      },
      "");
}

// An enum option (numerics/name_table.hpp): one of the names in E's table, else
// "<name> must be one of a|b (got 'c')"; the name is rewritten to the enum's number, which is
// what CLI11 converts into E.
template <class E>
CLI::Validator word(const std::string& name) {
  return CLI::Validator(
      [name](std::string& value) {
        value = std::to_string(static_cast<std::underlying_type_t<E>>(parse<E>(value, name)));
        return std::string();
      },
      "");
}

// Adds a numeric option bound to `field` (number() applied), with its default in --help.
template <class T>
CLI::Option* add_number(CLI::App& cmd, const std::string& flags, T& field,
                        const std::string& help) {
  CLI::Option* option = cmd.add_option(flags, field, help);
  return option->transform(number<T>(option->get_name()))->capture_default_str();
}

// Flags: --rotate=2 (and `rotate = 2` in a config file) would read as true; the spellings are
// those of config files (parse_bool), and a refusal is CLI11's conversion error (exit 2).
inline CLI::Validator boolean(const std::string& name) {
  return CLI::Validator(
      [name](const std::string& value) {
        try {
          parse_bool(name, value);
        } catch (const SyntaxError& e) {
          throw CLI::ConversionError(e.what());
        }
        return std::string();
      },
      "");
}

// Past a few per processor, threads only cost memory, and libgomp fails to start thousands.
inline int max_threads() {
  return 4 * omp_get_num_procs();
}
inline std::string threads_rule() {
  return "in [0, " + std::to_string(max_threads()) + "], 4 per processor of this machine";
}

// --threads: 0 keeps the OpenMP default (OMP_NUM_THREADS, checked by use_threads).
inline CLI::Option* add_threads_option(CLI::App& cmd, int& threads) {
  return add_number(cmd, "--threads", threads, "OpenMP threads (0: the OpenMP default)")
      ->check(rule<int>("--threads", threads_rule(),
                        [](int t) { return t >= 0 && t <= max_threads(); }));
}

// Applies --threads; returns the number of threads the command will run on.
inline int use_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
  const int running = omp_get_max_threads();
  require(running <= max_threads(), "OMP_NUM_THREADS", threads_rule(), running);
  return running;
}

}  // namespace linicl::cli
