// Config files of `linicl train --config` (§11): `name = value` lines, # comments and an
// optional [train] header, in a regular file of at most 1 MiB. The names are TrainConfig's
// options (visit_options), a flag also as no-<name>.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace linicl {

// Input that cannot be read at all (a malformed line, an unknown or repeated name, a boolean
// spelled otherwise): the command line exits 2 for it, and 1 for other refusals.
struct SyntaxError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// The spellings of a boolean in config files and flag values: true, 1, on and false, 0, off
// (a lenient reader would take "2" or "yes"); anything else throws
// SyntaxError("<name>: expected true, false, 1, 0, on or off (got '<text>')").
bool parse_bool(const std::string& name, const std::string& text);

// One `name = value` line.
struct ConfigLine {
  std::string name;      // as written: an option, or no-<flag>
  std::string option;    // the option it sets, as visit_options names it
  std::string text;      // the value as written, without surrounding blanks or quotes
  bool negated = false;  // `name` is no-<option> for a flag

  // The option's value: `text`, or for no-<flag> the negation of the boolean `text`
  // (parse_bool, so that `no-rotate = 1` is `rotate = false`).
  std::string value() const;
};

// Reads the config file at `path` and calls apply(line) for each `name = value` line, in order.
// Throws std::invalid_argument("--config: ...") when the file is missing, not a regular file,
// unreadable or larger than 1 MiB, and SyntaxError for a line that is not `name = value`, a
// section other than [train], a name that is no option (those in `command_line_only` are
// told to go on the command line) or an option already set. What apply throws as
// std::invalid_argument (SyntaxError staying one) comes back prefixed with
// "--config: <path>:<line>: ".
void read_config_file(const std::string& path, const std::vector<std::string>& command_line_only,
                      const std::function<void(const ConfigLine&)>& apply);

}  // namespace linicl
