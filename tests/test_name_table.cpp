// The name tables of the enum options (numerics/name_table.hpp): every name round-trips, the
// spellings are those of the run file's /config attributes, and an unknown name is refused
// naming the option and its choices.
#include "linicl/numerics/name_table.hpp"

#include <catch2/catch.hpp>
#include <cctype>
#include <set>
#include <stdexcept>
#include <string>

#include "linicl/data/covariance.hpp"
#include "linicl/data/task.hpp"
#include "linicl/model/parametrization.hpp"
#include "linicl/train/optimizer.hpp"

using namespace linicl;

namespace {

// `expected` pins the spellings: they are stored in run files and may never change.
template <class E>
void check_table(const std::string& option, const std::string& expected) {
  INFO(option);
  CHECK(choices<E>() == expected);
  std::set<std::string> seen_names;
  std::set<int> seen_values;
  for (const auto& [value, name] : name_table(E{})) {
    INFO(name);
    CHECK(seen_names.insert(name).second);                      // each name once
    CHECK(seen_values.insert(static_cast<int>(value)).second);  // each value once
    CHECK(parse<E>(name, option) == value);
    CHECK(std::string(name_of(value)) == name);
    CHECK(name_of(parse<E>(name, option)) == std::string(name));
  }
  // The enumerators have the implicit values 0 … N−1: all of them are in the table.
  CHECK(*seen_values.begin() == 0);
  CHECK(*seen_values.rbegin() == static_cast<int>(seen_values.size()) - 1);
  CHECK(names<E>().size() == seen_values.size());

  CHECK_THROWS_AS(parse<E>("bogus", option), std::invalid_argument);
  CHECK_THROWS_WITH(parse<E>("bogus", option),
                    option + " must be one of " + expected + " (got 'bogus')");
  CHECK_THROWS_WITH(parse<E>("", option), option + " must be one of " + expected + " (got '')");
  // Names are exact: no case folding, no surrounding blanks, no prefixes.
  std::string upper = name_table(E{})[0].second;
  upper[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(upper[0])));
  CHECK_THROWS_AS(parse<E>(upper, option), std::invalid_argument);
  CHECK_THROWS_AS(parse<E>(std::string(" ") + name_table(E{})[0].second, option),
                  std::invalid_argument);
  CHECK_THROWS_AS(parse<E>(std::string(name_table(E{})[0].second).substr(0, 1), option),
                  std::invalid_argument);
  // A value outside the enum has no name: a programming error, not a default.
  CHECK_THROWS_AS(name_of(static_cast<E>(99)), std::logic_error);
}

}  // namespace

TEST_CASE("names: every enum option's names round-trip and unknown names are refused", "[names]") {
  check_table<CovKind>("--cov", "isotropic|kappa|spectrum|file");
  check_table<KappaShape>("--kappa-shape", "geometric|two-level");
  check_table<WCovKind>("--w-cov", "identity|inverse|file");
  check_table<XDist>("--x-dist", "gaussian|uniform|student-t|sphere|gamma");
  check_table<Param>("--param", "full|pgd|gdpp");
  check_table<OptimizerKind>("--optimizer", "adam|adamw|sgd");
  check_table<ScheduleKind>("--schedule", "constant|step|cosine");
  check_table<ClipMode>("--clip-mode", "global|matrix");
}

TEST_CASE("names: the refusal names the option as the caller labels it", "[names]") {
  CHECK_THROWS_WITH(parse<OptimizerKind>("adamx", "/config attribute 'optimizer'"),
                    "/config attribute 'optimizer' must be one of adam|adamw|sgd (got 'adamx')");
  CHECK(names<ClipMode>() == std::vector<std::string>{"global", "matrix"});
}

TEST_CASE("names: require_choice returns the index of the name or refuses it", "[names]") {
  const std::vector<std::string> modes = {"exact", "curvature", "slice"};
  CHECK(require_choice("exact", "mode", modes) == 0);
  CHECK(require_choice("slice", "mode", modes) == 2);
  CHECK_THROWS_WITH(require_choice("flat", "mode", modes),
                    "mode must be one of exact|curvature|slice (got 'flat')");
  CHECK_THROWS_AS(require_choice("x", "mode", {}), std::invalid_argument);
}
