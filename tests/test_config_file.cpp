// Config files (io/config_file.hpp): the lines reach apply() in order with their option and
// value, and every malformed file is refused before or at its line, naming file and line.
#include "linicl/io/config_file.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "support.hpp"

using namespace linicl;
using namespace linicl::testing;

namespace {

const std::vector<std::string> kCommandLineOnly = {"out", "threads"};

// The lines of `text` as read_config_file hands them over.
std::vector<ConfigLine> lines_of(const TempDir& dir, const std::string& text) {
  const std::string path = dir.file("c.ini");
  std::ofstream(path) << text;
  std::vector<ConfigLine> lines;
  read_config_file(path, kCommandLineOnly, [&](const ConfigLine& line) { lines.push_back(line); });
  return lines;
}

// The refusal of `text` as a config file, with whether it was a SyntaxError.
std::pair<std::string, bool> refusal(const TempDir& dir, const std::string& text) {
  try {
    lines_of(dir, text);
  } catch (const SyntaxError& e) {
    return {e.what(), true};
  } catch (const std::invalid_argument& e) {
    return {e.what(), false};
  }
  return {"", false};
}

}  // namespace

TEST_CASE("config file: name = value lines reach apply in order", "[config_file]") {
  TempDir dir;
  const auto lines = lines_of(dir,
                              "# a comment line\n[train]\n  dim = 3  # trailing comment\n\n"
                              "param=pgd\r\ncov-file = \"my file.h5\"\ninit = 'r.h5'\n"
                              "no-rotate = on\nnormalize = off\nspectrum = 3, 1\n");
  REQUIRE(lines.size() == 7);
  CHECK(lines[0].name == "dim");
  CHECK(lines[0].option == "dim");
  CHECK(lines[0].value() == "3");
  CHECK(lines[1].option == "param");
  CHECK(lines[1].value() == "pgd");
  CHECK(lines[2].value() == "my file.h5");  // quotes removed, the blank inside kept
  CHECK(lines[3].value() == "r.h5");
  CHECK(lines[4].name == "no-rotate");
  CHECK(lines[4].option == "rotate");
  CHECK(lines[4].negated);
  CHECK(lines[4].text == "on");
  CHECK(lines[4].value() == "false");
  CHECK(lines[5].value() == "off");  // a flag's own name passes its text on
  CHECK(lines[6].value() == "3, 1");
}

TEST_CASE("config file: malformed lines are syntax errors naming file and line", "[config_file]") {
  TempDir dir;
  const std::string at = "--config: " + dir.file("c.ini") + ":";
  const std::pair<std::string, std::string> rows[] = {
      {"steps = 5\n[analyze]\n",
       "2: section '[analyze]': a config file holds train options, in no section or in [train]"},
      {"# fine\nsteps 5\n", "2: expected 'name = value' (got 'steps 5')"},
      {" = 5\n", "1: expected 'name = value' (got '= 5')"},
      {"dim = 3\nbogus = 1\n", "2: unknown option 'bogus'"},
      {"d = 3\n", "1: unknown option 'd'"},  // short names are the command line's
      {"threads = 2\n",
       "1: 'threads' is not part of a run's config; give --threads on the command line"},
      {"lr = 0.1\n\nlr = 0.2\n", "3: 'lr' was already set on line 1"},
      {"rotate = 1\nno-rotate = 0\n", "2: 'no-rotate' was already set on line 1"},
  };
  for (const auto& [text, message] : rows) {
    INFO(text);
    const auto [what, syntax] = refusal(dir, text);
    CHECK(what == at + message);
    CHECK(syntax);
  }
}

TEST_CASE("config file: apply's refusals come back with file and line, keeping their kind",
          "[config_file]") {
  TempDir dir;
  const std::string path = dir.file("c.ini");
  std::ofstream(path) << "dim = 3\nno-rotate = yes\n";
  // A bad boolean after no- is a syntax error, found when the value is asked for: a line that
  // the command line overrides is never read.
  std::vector<std::string> read;
  CHECK_THROWS_AS(
      read_config_file(path, {}, [&](const ConfigLine& line) { read.push_back(line.value()); }),
      SyntaxError);
  CHECK(read == std::vector<std::string>{"3"});
  CHECK_NOTHROW(read_config_file(path, {}, [](const ConfigLine&) {}));
  CHECK_THROWS_WITH(
      read_config_file(path, {}, [](const ConfigLine& line) { line.value(); }),
      "--config: " + path + ":2: no-rotate: expected true, false, 1, 0, on or off (got 'yes')");

  const auto refuse = [](const ConfigLine& line) {
    if (line.option == "dim") throw std::invalid_argument("--dim must be >= 1 (got 0)");
  };
  try {
    read_config_file(path, {}, refuse);
    FAIL("no refusal");
  } catch (const SyntaxError&) {
    FAIL("a range refusal became a syntax error");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) == "--config: " + path + ":1: --dim must be >= 1 (got 0)");
  }
}

TEST_CASE("config file: only small regular files are read", "[config_file]") {
  TempDir dir;
  std::filesystem::create_directory(dir.file("folder"));
  std::ofstream(dir.file("huge.ini")) << std::string((1 << 20) + 1, '#');
  std::ofstream(dir.file("full.ini")) << std::string(1 << 20, '#');
  const auto none = [](const ConfigLine&) {};
  CHECK_THROWS_WITH(read_config_file(dir.file("missing.ini"), {}, none),
                    "--config: '" + dir.file("missing.ini") + "' does not exist");
  CHECK_THROWS_WITH(read_config_file(dir.file("folder"), {}, none),
                    "--config: '" + dir.file("folder") + "' is not a regular file");
  CHECK_THROWS_WITH(read_config_file("/dev/zero", {}, none),
                    "--config: '/dev/zero' is not a regular file");
  CHECK_THROWS_WITH(read_config_file(dir.file("huge.ini"), {}, none),
                    Catch::Contains("is larger than 1 MiB"));
  CHECK_NOTHROW(read_config_file(dir.file("full.ini"), {}, none));  // 1 MiB exactly
}

TEST_CASE("config file: booleans have six spellings", "[config_file]") {
  for (const char* yes : {"true", "1", "on"}) CHECK(parse_bool("--rotate", yes));
  for (const char* no : {"false", "0", "off"}) CHECK_FALSE(parse_bool("--rotate", no));
  for (const char* other : {"2", "yes", "True", "", " 1"}) {
    CHECK_THROWS_AS(parse_bool("--rotate", other), SyntaxError);
  }
  CHECK_THROWS_WITH(parse_bool("--rotate", "2"),
                    "--rotate: expected true, false, 1, 0, on or off (got '2')");
}
