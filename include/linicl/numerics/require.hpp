// Validation at the boundary, one rule for every parameter struct's check() (§11): a failed
// requirement throws std::invalid_argument("<name> must be <rule> (got <value>)"), naming the
// field (a command-line option as --name), its allowed range and what was given.
#pragma once

#include <initializer_list>
#include <sstream>
#include <stdexcept>
#include <string>

namespace linicl {

template <class T>
void require(bool ok, const std::string& name, const std::string& rule, const T& value) {
  if (ok) return;
  std::ostringstream out;
  out << name << " must be " << rule << " (got " << value << ")";
  throw std::invalid_argument(out.str());
}

// `value` must be one of `choices`: unknown names are errors, never a silent default.
void require_choice(const std::string& value, const std::string& name,
                    std::initializer_list<const char*> choices);

}  // namespace linicl
