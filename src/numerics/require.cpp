#include "linicl/numerics/require.hpp"

namespace linicl {

std::size_t require_choice(const std::string& value, const std::string& name,
                           const std::vector<std::string>& choices) {
  std::string joined;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (value == choices[i]) return i;
    joined += (joined.empty() ? "" : "|") + choices[i];
  }
  require(false, name, "one of " + joined, "'" + value + "'");
  return choices.size();  // not reached: require threw
}

std::string option_flag(const std::string& field) {
  return "--" + field;
}

}  // namespace linicl
