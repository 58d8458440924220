// The words of an enum option (§11), spelled once: each enum defines, next to it,
//   constexpr NameTable<E, N> name_table(E) { return {{{E::kA, "a"}, {E::kB, "b"}}}; }
// and the command line, config files, the run file's /config attributes and every message
// read and write the enum through it. Unknown names are errors, never a default.
#pragma once

#include <array>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "linicl/numerics/require.hpp"

namespace linicl {

template <class E, std::size_t N>
using NameTable = std::array<std::pair<E, const char*>, N>;

// The names of E in the order of its table.
template <class E>
std::vector<std::string> names() {
  std::vector<std::string> all;
  for (const auto& entry : name_table(E{})) all.emplace_back(entry.second);
  return all;
}

// "a|b|c", as --help and the refusals list them.
template <class E>
std::string choices() {
  std::string joined;
  for (const auto& entry : name_table(E{}))
    joined += (joined.empty() ? "" : "|") + std::string(entry.second);
  return joined;
}

template <class E>
const char* name_of(E value) {
  for (const auto& entry : name_table(E{})) {
    if (entry.first == value) return entry.second;
  }
  // Only a value cast from an integer outside the enum gets here.
  throw std::logic_error("name_of: " + std::to_string(static_cast<long long>(value)) +
                         " is no value of the enum (" + choices<E>() + ")");
}

// The value named `text`; otherwise std::invalid_argument
// "<option> must be one of a|b|c (got 'text')", naming the option as the caller labels it.
template <class E>
E parse(const std::string& text, const std::string& option) {
  return name_table(E{})[require_choice(text, option, names<E>())].first;
}

}  // namespace linicl
