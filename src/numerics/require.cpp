#include "linicl/numerics/require.hpp"

namespace linicl {

void require_choice(const std::string& value, const std::string& name,
                    std::initializer_list<const char*> choices) {
  std::string joined;
  for (const char* choice : choices) {
    if (value == choice) return;
    joined += (joined.empty() ? "" : "|") + std::string(choice);
  }
  require(false, name, "one of " + joined, "'" + value + "'");
}

}  // namespace linicl
