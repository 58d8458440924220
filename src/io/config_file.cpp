#include "linicl/io/config_file.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <type_traits>

#include "linicl/train/config.hpp"

namespace linicl {

namespace {

namespace fs = std::filesystem;

// A config file is a small regular file: a folder would read as empty, /dev/zero never ends
// and a FIFO blocks until someone writes to it.
constexpr std::uintmax_t kMaxConfigBytes = 1 << 20;

std::string read_small_file(const std::string& path) {
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (!fs::exists(status)) throw std::invalid_argument("--config: '" + path + "' does not exist");
  if (!fs::is_regular_file(status)) {
    throw std::invalid_argument("--config: '" + path + "' is not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  std::string text(kMaxConfigBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad() || (!in && !in.eof())) {
    throw std::invalid_argument("--config: cannot read '" + path + "'");
  }
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxConfigBytes) {
    throw std::invalid_argument("--config: '" + path +
                                "' is larger than 1 MiB; a config file holds name = value lines");
  }
  return text;
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

// Every name a line may set: each option of visit_options, and no-<name> for a flag.
std::map<std::string, ConfigLine> known_names() {
  std::map<std::string, ConfigLine> known;
  TrainConfig config;
  visit_options(config, [&](const char* name, auto& field, const char*) {
    known[name] = {name, name, "", false};
    if constexpr (std::is_same_v<std::decay_t<decltype(field)>, bool>) {
      known[std::string("no-") + name] = {std::string("no-") + name, name, "", true};
    }
  });
  return known;
}

}  // namespace

bool parse_bool(const std::string& name, const std::string& text) {
  for (const char* t : {"true", "1", "on"}) {
    if (text == t) return true;
  }
  for (const char* f : {"false", "0", "off"}) {
    if (text == f) return false;
  }
  throw SyntaxError(name + ": expected true, false, 1, 0, on or off (got '" + text + "')");
}

std::string ConfigLine::value() const {
  if (!negated) return text;
  return parse_bool(name, text) ? "false" : "true";
}

void read_config_file(const std::string& path, const std::vector<std::string>& command_line_only,
                      const std::function<void(const ConfigLine&)>& apply) {
  static const std::map<std::string, ConfigLine> kKnown = known_names();
  std::istringstream in(read_small_file(path));
  std::string text;
  std::map<std::string, int> first_line;  // the line that set each option
  for (int number = 1; std::getline(in, text); ++number) {
    text = trim(text.substr(0, text.find('#')));
    const std::string where = "--config: " + path + ":" + std::to_string(number) + ": ";
    if (text.empty() || text == "[train]") continue;
    if (text.front() == '[') {
      throw SyntaxError(where + "section '" + text +
                        "': a config file holds train options, in no section or in [train]");
    }
    const auto equals = text.find('=');
    const std::string name = trim(text.substr(0, std::min(equals, text.size())));
    if (equals == std::string::npos || name.empty()) {
      throw SyntaxError(where + "expected 'name = value' (got '" + text + "')");
    }
    std::string value = trim(text.substr(equals + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    const auto known = kKnown.find(name);
    if (known == kKnown.end()) {
      if (std::find(command_line_only.begin(), command_line_only.end(), name) !=
          command_line_only.end()) {
        throw SyntaxError(where + "'" + name + "' is not part of a run's config; give --" + name +
                          " on the command line");
      }
      throw SyntaxError(where + "unknown option '" + name + "'");
    }
    ConfigLine line = known->second;
    line.text = value;
    if (const auto [seen, inserted] = first_line.emplace(line.option, number); !inserted) {
      throw SyntaxError(where + "'" + name + "' was already set on line " +
                        std::to_string(seen->second));
    }
    try {
      apply(line);
    } catch (const SyntaxError& e) {
      throw SyntaxError(where + e.what());
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(where + e.what());
    }
  }
}

}  // namespace linicl
