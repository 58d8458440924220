// Validation at the boundary, one rule for every parameter struct's check() (§11): a failed
// requirement throws std::invalid_argument("<name> must be <rule> (got <value>)"), naming the
// field (a command-line option as --name), its allowed range and what was given.
#pragma once

#include <cstddef>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace linicl {

template <class T>
void require(bool ok, const std::string& name, const std::string& rule, const T& value) {
  if (ok) return;
  std::ostringstream out;
  out << name << " must be " << rule << " (got " << value << ")";
  throw std::invalid_argument(out.str());
}

// The index of `value` among `choices`: unknown names are errors, never a silent default
// ("<name> must be one of a|b|c (got 'x')").
std::size_t require_choice(const std::string& value, const std::string& name,
                           const std::vector<std::string>& choices);

// How a parameter struct's check() names a field, given its long option name without dashes:
// as the command-line option "--name" unless the caller reads another source (a run file names
// its /config attributes, train/config.hpp).
using FieldLabel = std::function<std::string(const std::string& field)>;
std::string option_flag(const std::string& field);

}  // namespace linicl
