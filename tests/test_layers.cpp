// The architecture (README, Layout): the layers of src/ and include/linicl/, each including
// only headers of its own layer or those before it, and HDF5 behind io alone.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

// In order: a layer may include the headers of the layers before it. cli is the executable's.
const std::vector<std::string> kLayers = {"numerics", "data",      "model", "train",
                                          "analysis", "landscape", "io",    "cli"};

struct Include {
  int line;
  std::string header;  // as written between the quotes or brackets
};

std::vector<Include> includes_of(const fs::path& file) {
  std::ifstream in(file);
  const std::regex directive(R"(^\s*#\s*include\s*[<"]([^>"]+)[>"])");
  std::vector<Include> found;
  std::string text;
  for (int line = 1; std::getline(in, text); ++line) {
    std::smatch match;
    if (std::regex_search(text, match, directive)) found.push_back({line, match[1]});
  }
  return found;
}

int layer_index(const std::string& layer) {
  const auto it = std::find(kLayers.begin(), kLayers.end(), layer);
  return it == kLayers.end() ? -1 : static_cast<int>(it - kLayers.begin());
}

// The violations of one file in folder `layer` (a path relative to the source tree).
std::vector<std::string> check_file(const fs::path& root, const fs::path& file,
                                    const std::string& layer) {
  const std::string name = fs::relative(file, root).string();
  const std::regex linicl_header(R"(^linicl/(\w+)/)");
  std::vector<std::string> problems;
  for (const Include& inc : includes_of(file)) {
    const std::string where = name + ":" + std::to_string(inc.line) + " includes " + inc.header;
    std::smatch match;
    if (std::regex_search(inc.header, match, linicl_header)) {
      const std::string used = match[1];
      if (layer_index(used) < 0) {
        problems.push_back(where + ": '" + used + "' is not a layer");
      } else if (layer_index(used) > layer_index(layer)) {
        problems.push_back(where + ": layer " + used + " comes after " + layer);
      }
    }
    const bool hdf5 =
        inc.header == "hdf5.h" || inc.header == "hdf5_hl.h" || inc.header == "linicl/io/h5.hpp";
    if (hdf5 && layer != "io") problems.push_back(where + ": HDF5 is io's alone");
  }
  return problems;
}

}  // namespace

TEST_CASE("every layer includes only itself and the layers before it, and only io HDF5",
          "[layers]") {
  const fs::path root = LINICL_SOURCE_DIR;
  std::vector<std::string> problems;
  int files = 0;
  for (const fs::path& top : {root / "src", root / "include" / "linicl"}) {
    REQUIRE(fs::is_directory(top));
    for (const fs::directory_entry& folder : fs::directory_iterator(top)) {
      const std::string layer = folder.path().filename().string();
      if (!folder.is_directory()) {
        problems.push_back(fs::relative(folder.path(), root).string() + ": not in a layer folder");
        continue;
      }
      if (layer_index(layer) < 0) {
        problems.push_back(fs::relative(folder.path(), root).string() + ": not a layer");
        continue;
      }
      for (const fs::directory_entry& entry : fs::recursive_directory_iterator(folder.path())) {
        if (!entry.is_regular_file()) continue;
        ++files;
        const std::vector<std::string> found = check_file(root, entry.path(), layer);
        problems.insert(problems.end(), found.begin(), found.end());
      }
    }
  }
  CHECK(files > 50);  // the tree was found and read
  for (const std::string& problem : problems) FAIL_CHECK(problem);
}
