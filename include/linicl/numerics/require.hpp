// Validation at the boundary, one rule for every parameter struct's check() (§11): a failed
// requirement throws std::invalid_argument("<name> must be <rule> (got <value>)"), naming the
// field (a command-line option as --name), its allowed range and what was given.
#pragma once

#include <cstddef>
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

}  // namespace linicl
