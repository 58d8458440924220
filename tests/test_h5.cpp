#include "linicl/io/h5.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

#include "support.hpp"

using linicl::h5::Error;
using linicl::h5::File;
using linicl::h5::Handle;
using linicl::h5::Node;
using linicl::testing::run_command;
using linicl::testing::TempDir;

namespace {

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof(double)) == 0;
}

bool h5py_available() {
  return run_command("/usr/bin/python3 -c 'import h5py'").exit_code == 0;
}

// Runs a Python snippet under Debian's python3 and returns what it printed, trimmed.
std::string python(const std::string& code) {
  const auto result = run_command("/usr/bin/python3 -c \"" + code + "\"");
  REQUIRE(result.exit_code == 0);
  std::string output = result.output;
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
  return output;
}

// Properties of a dataset read straight from the C API, to check what lands on disk.
struct OnDisk {
  bool chunked;
  bool checksummed;           // the Fletcher-32 filter
  bool unlimited;             // along the first axis
  hid_t type_on_disk_equals;  // the type passed in, if the stored type equals it; else -1
};

OnDisk inspect(const Node& node, const std::string& path, hid_t expected_type) {
  const Handle dataset(H5Dopen2(node.id(), path.c_str(), H5P_DEFAULT), H5Dclose);
  REQUIRE(dataset.valid());
  const Handle creation(H5Dget_create_plist(dataset.get()), H5Pclose);
  const Handle space(H5Dget_space(dataset.get()), H5Sclose);
  const Handle type(H5Dget_type(dataset.get()), H5Tclose);
  hsize_t dims[H5S_MAX_RANK] = {};
  hsize_t maxdims[H5S_MAX_RANK] = {};
  REQUIRE(H5Sget_simple_extent_dims(space.get(), dims, maxdims) >= 0);
  return {H5Pget_layout(creation.get()) == H5D_CHUNKED,
          H5Pget_filter_by_id2(creation.get(), H5Z_FILTER_FLETCHER32, nullptr, nullptr, nullptr, 0,
                               nullptr, nullptr) >= 0,
          maxdims[0] == H5S_UNLIMITED,
          H5Tequal(type.get(), expected_type) > 0 ? expected_type : -1};
}

// Writes a fixed-length string attribute the way h5py does for np.bytes_ values.
void write_fixed_string_attr(const Node& node, const std::string& name, const std::string& bytes,
                             H5T_str_t padding) {
  const Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  REQUIRE(H5Tset_size(type.get(), bytes.size()) >= 0);
  REQUIRE(H5Tset_strpad(type.get(), padding) >= 0);
  const Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  const Handle attribute(
      H5Acreate2(node.id(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
      H5Aclose);
  REQUIRE(attribute.valid());
  REQUIRE(H5Awrite(attribute.get(), type.get(), bytes.data()) >= 0);
}

void write_float_attr(const Node& node, const std::string& name, float value) {
  const Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  const Handle attribute(
      H5Acreate2(node.id(), name.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
      H5Aclose);
  REQUIRE(H5Awrite(attribute.get(), H5T_NATIVE_FLOAT, &value) >= 0);
}

}  // namespace

TEST_CASE("Handle closes its id once and hands it over on move", "[h5]") {
  hid_t id = -1;
  {
    Handle first(H5Screate(H5S_SCALAR), H5Sclose);
    id = first.get();
    REQUIRE(H5Iis_valid(id) > 0);
    Handle second(std::move(first));
    CHECK_FALSE(first.valid());
    CHECK(second.get() == id);
    Handle third;
    CHECK_FALSE(third.valid());
    third = std::move(second);
    CHECK_FALSE(second.valid());
    CHECK(H5Iis_valid(id) > 0);
  }
  CHECK(H5Iis_valid(id) <= 0);
}

TEST_CASE("Handle move assignment closes the id it held before", "[h5]") {
  Handle target(H5Screate(H5S_SCALAR), H5Sclose);
  const hid_t old_id = target.get();
  target = Handle(H5Screate(H5S_SCALAR), H5Sclose);
  CHECK(H5Iis_valid(old_id) <= 0);
  CHECK(H5Iis_valid(target.get()) > 0);
}

TEST_CASE("create refuses to overwrite an existing file", "[h5]") {
  TempDir dir;
  const std::string path = dir.file("run.h5");
  File::create(path);
  REQUIRE_THROWS_MATCHES(
      File::create(path), Error,
      Catch::Matchers::Message("HDF5: cannot create file '" + path + "': it already exists"));
}

TEST_CASE("open reports a missing file by name", "[h5]") {
  TempDir dir;
  const std::string path = dir.file("missing.h5");
  REQUIRE_THROWS_WITH(File::open(path), Catch::Contains("no such file: " + path));
}

TEST_CASE("open reports a file that is not HDF5", "[h5]") {
  TempDir dir;
  const std::string path = dir.file("notes.txt");
  std::ofstream(path) << "just text\n";
  REQUIRE_THROWS_WITH(File::open(path), Catch::Contains("not an HDF5 file: " + path));
}

TEST_CASE("is_hdf5 tells HDF5 files from others without throwing", "[h5]") {
  TempDir dir;
  const std::string hdf5 = dir.file("run.h5");
  const std::string text = dir.file("notes.txt");
  File::create(hdf5);
  std::ofstream(text) << "just text\n";
  CHECK(linicl::h5::is_hdf5(hdf5));
  CHECK_FALSE(linicl::h5::is_hdf5(text));
  CHECK_FALSE(linicl::h5::is_hdf5(dir.file("missing.h5")));
  CHECK_FALSE(linicl::h5::is_hdf5(dir.path()));
}

TEST_CASE("a non-square matrix round-trips bit for bit", "[h5]") {
  TempDir dir;
  const std::string path = dir.file("run.h5");
  Eigen::MatrixXd m(2, 3);
  m << 0.1, -2.5e-300, 3.141592653589793, -0.0, std::numeric_limits<double>::quiet_NaN(), 1e300;
  File::create(path).write_matrix("m", m);

  const File file = File::open(path);
  const Eigen::MatrixXd back = file.read_matrix("m");
  REQUIRE(back.rows() == 2);
  REQUIRE(back.cols() == 3);
  for (Eigen::Index i = 0; i < 2; ++i) {
    for (Eigen::Index j = 0; j < 3; ++j) {
      INFO("entry (" << i << ", " << j << ")");
      CHECK(same_bits(back(i, j), m(i, j)));
    }
  }
  CHECK(file.shape("m") == std::vector<std::size_t>{2, 3});
}

TEST_CASE("a matrix with no rows round-trips with its column count", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  file.write_matrix("empty", Eigen::MatrixXd(0, 3));
  const Eigen::MatrixXd back = file.read_matrix("empty");
  CHECK(back.rows() == 0);
  CHECK(back.cols() == 3);
  CHECK(file.shape("empty") == std::vector<std::size_t>{0, 3});
}

TEST_CASE("a rank-1 dataset reads as a column", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  file.write_array("v", {3}, {1.0, 2.0, 3.0});
  const Eigen::MatrixXd back = file.read_matrix("v");
  REQUIRE(back.rows() == 3);
  REQUIRE(back.cols() == 1);
  CHECK(back(2, 0) == 3.0);
}

TEST_CASE("read_matrix rejects a rank-3 dataset", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  file.write_array("cube", {1, 1, 1}, {1.0});
  REQUIRE_THROWS_WITH(file.read_matrix("cube"),
                      Catch::Contains("'/cube'") && Catch::Contains("not a matrix"));
}

TEST_CASE("a matrix reads in h5dump and h5py exactly as on paper", "[h5]") {
  TempDir dir;
  const std::string path = dir.file("paper.h5");
  Eigen::MatrixXd m(2, 3);
  m << 1, 2, 3, 4, 5, 6;
  File::create(path).write_matrix("m", m);  // closed again before others read it

  const auto dump = run_command("h5dump -d /m '" + path + "'");
  REQUIRE(dump.exit_code == 0);
  CHECK_THAT(dump.output, Catch::Contains("H5T_IEEE_F64LE"));
  CHECK_THAT(dump.output, Catch::Contains("(0,0): 1, 2, 3,"));
  CHECK_THAT(dump.output, Catch::Contains("(1,0): 4, 5, 6"));

  if (!h5py_available()) {
    WARN("h5py is not installed under /usr/bin/python3: skipping the h5py check");
    return;
  }
  CHECK(python("import h5py; print(h5py.File('" + path + "')['m'][0].tolist())") ==
        "[1.0, 2.0, 3.0]");
}

TEST_CASE("a 4-D array round-trips with its shape", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  const std::vector<std::size_t> dims{2, 3, 4, 5};
  std::vector<double> data(2 * 3 * 4 * 5);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = 0.5 * static_cast<double>(i) - 7.0;
  file.write_array("weights/P", dims, data);

  std::vector<std::size_t> back_dims;
  CHECK(file.read_array("weights/P", back_dims) == data);
  CHECK(back_dims == dims);
  CHECK(file.shape("weights/P") == dims);
}

TEST_CASE("write_array rejects data that does not fill its shape", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  CHECK_THROWS_AS(file.write_array("a", {2, 2}, {1.0, 2.0, 3.0}), std::invalid_argument);
  CHECK_FALSE(file.exists("a"));
}

TEST_CASE("datasets are stored as little-endian float64, in one checksummed chunk", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  file.write_matrix("m", Eigen::MatrixXd::Identity(2, 2));
  const OnDisk disk = inspect(file, "m", H5T_IEEE_F64LE);
  CHECK(disk.type_on_disk_equals == H5T_IEEE_F64LE);
  CHECK(disk.chunked);
  CHECK(disk.checksummed);
  CHECK_FALSE(disk.unlimited);
}

TEST_CASE("a double series round-trips and is chunked and extendable", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  const std::vector<double> loss{3.5, 2.25, 1.125, 0.0625};
  file.write_series("train/loss", loss);
  CHECK(file.read_series("train/loss") == loss);

  const OnDisk disk = inspect(file, "train/loss", H5T_IEEE_F64LE);
  CHECK(disk.chunked);
  CHECK(disk.checksummed);
  CHECK(disk.unlimited);
  CHECK(disk.type_on_disk_equals == H5T_IEEE_F64LE);
}

TEST_CASE("an int64 series round-trips, stored as little-endian int64", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  const std::vector<std::int64_t> steps{0, 1, -5, std::numeric_limits<std::int64_t>::max()};
  file.write_series("train/step", steps);
  CHECK(file.read_int_series("train/step") == steps);

  const OnDisk disk = inspect(file, "train/step", H5T_STD_I64LE);
  CHECK(disk.chunked);
  CHECK(disk.unlimited);
  CHECK(disk.type_on_disk_equals == H5T_STD_I64LE);
}

TEST_CASE("empty series round-trip", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  file.write_series("d", std::vector<double>{});
  file.write_series("i", std::vector<std::int64_t>{});
  CHECK(file.read_series("d").empty());
  CHECK(file.read_int_series("i").empty());
  CHECK(file.shape("d") == std::vector<std::size_t>{0});
  CHECK(inspect(file, "d", H5T_IEEE_F64LE).unlimited);
}

TEST_CASE("an int series may be read as doubles but a double series not as ints", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  file.write_series("i", std::vector<std::int64_t>{1, 2});
  file.write_series("d", std::vector<double>{1.5});
  CHECK(file.read_series("i") == std::vector<double>{1.0, 2.0});
  REQUIRE_THROWS_WITH(file.read_int_series("d"),
                      Catch::Contains("'/d'") && Catch::Contains("not an integer"));
}

TEST_CASE("read_series rejects a matrix", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  file.write_matrix("m", Eigen::MatrixXd::Zero(2, 2));
  REQUIRE_THROWS_WITH(file.read_series("m"), Catch::Contains("'/m'") && Catch::Contains("rank 2"));
}

TEST_CASE("writing a dataset over an existing one replaces it", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  file.write_matrix("m", Eigen::MatrixXd::Ones(3, 3));
  Eigen::MatrixXd replacement(1, 2);
  replacement << 7, 8;
  file.write_matrix("m", replacement);
  CHECK(file.read_matrix("m") == replacement);
  file.write_series("m", std::vector<std::int64_t>{9});
  CHECK(file.read_int_series("m") == std::vector<std::int64_t>{9});
}

TEST_CASE("data written survives closing and reopening read-only", "[h5]") {
  TempDir dir;
  const std::string path = dir.file("run.h5");
  {
    const File file = File::create(path);
    file.create_group("config").set_attr("dim", std::int64_t{5});
    file.write_series("train/loss", std::vector<double>{1.0, 0.5});
    file.flush();
  }
  const File file = File::open(path);
  CHECK(file.path() == path);
  CHECK(file.group("config").attr_int("dim") == 5);
  CHECK(file.read_series("train/loss") == std::vector<double>{1.0, 0.5});
  REQUIRE_THROWS_WITH(file.write_series("x", std::vector<double>{1.0}),
                      Catch::Contains("'/x'") && Catch::Contains(path));
}

TEST_CASE("a file opened read-write can be extended", "[h5]") {
  TempDir dir;
  const std::string path = dir.file("run.h5");
  File::create(path).write_matrix("a", Eigen::MatrixXd::Ones(1, 1));
  const File file = File::open(path, File::Mode::kReadWrite);
  file.write_matrix("b", Eigen::MatrixXd::Zero(1, 1));
  CHECK(file.children() == std::vector<std::string>{"a", "b"});
}

TEST_CASE("attributes of every kind round-trip", "[h5]") {
  TempDir dir;
  const std::string path = dir.file("run.h5");
  {
    const File file = File::create(path);
    const Node config = file.create_group("config");
    config.set_attr("param", "full");
    config.set_attr("cov", std::string("kappa"));
    config.set_attr("symbol", "σ² ≥ 0");
    config.set_attr("lr", 1e-3);
    config.set_attr("seed", std::int64_t{-42});
    config.set_attr("share_weights", true);
    config.set_attr("rotate", false);
  }
  const Node config = File::open(path).group("config");
  CHECK(config.attr_string("param") == "full");
  CHECK(config.attr_string("cov") == "kappa");
  CHECK(config.attr_string("symbol") == "σ² ≥ 0");
  CHECK(same_bits(config.attr_double("lr"), 1e-3));
  CHECK(config.attr_int("seed") == -42);
  CHECK(config.attr_bool("share_weights"));
  CHECK_FALSE(config.attr_bool("rotate"));
  CHECK(config.has_attr("lr"));
  CHECK_FALSE(config.has_attr("momentum"));
  CHECK(config.attr_names() == std::vector<std::string>{"cov", "lr", "param", "rotate", "seed",
                                                        "share_weights", "symbol"});
}

TEST_CASE("attributes are stored with the documented types", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  file.set_attr("x", 1.5);
  file.set_attr("n", std::int64_t{3});
  file.set_attr("flag", true);
  file.set_attr("name", "run");
  auto stored_type = [&](const char* name) {
    const Handle attribute(H5Aopen(file.id(), name, H5P_DEFAULT), H5Aclose);
    return Handle(H5Aget_type(attribute.get()), H5Tclose);
  };
  CHECK(H5Tequal(stored_type("x").get(), H5T_IEEE_F64LE) > 0);
  CHECK(H5Tequal(stored_type("n").get(), H5T_STD_I64LE) > 0);
  CHECK(H5Tequal(stored_type("flag").get(), H5T_STD_U8LE) > 0);
  // Fixed length, so that the bytes sit in the checksummed object header (h5.hpp).
  const Handle string_type = stored_type("name");
  CHECK(H5Tis_variable_str(string_type.get()) == 0);
  CHECK(H5Tget_size(string_type.get()) == 3);
  CHECK(H5Tget_cset(string_type.get()) == H5T_CSET_UTF8);
}

TEST_CASE("setting an existing attribute replaces it, even with another type", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  file.set_attr("value", "text");
  file.set_attr("value", 2.5);
  CHECK(file.attr_double("value") == 2.5);
  file.set_attr("value", std::int64_t{7});
  CHECK(file.attr_int("value") == 7);
  CHECK(file.attr_names() == std::vector<std::string>{"value"});
}

TEST_CASE("attr_double accepts integers and floats of any width", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  file.set_attr("n", std::int64_t{3});
  file.set_attr("flag", true);
  write_float_attr(file, "f", 0.5F);
  CHECK(file.attr_double("n") == 3.0);
  CHECK(file.attr_double("flag") == 1.0);
  CHECK(file.attr_double("f") == 0.5);
}

TEST_CASE("attr_int and attr_bool refuse non-integers, naming the attribute", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  file.create_group("config").set_attr("lr", 0.1);
  const Node config = file.group("config");
  REQUIRE_THROWS_WITH(config.attr_int("lr"), Catch::Contains("attribute 'lr' of '/config'") &&
                                                 Catch::Contains("not an integer"));
  REQUIRE_THROWS_WITH(config.attr_bool("lr"), Catch::Contains("attribute 'lr'"));
  REQUIRE_THROWS_WITH(config.attr_string("lr"),
                      Catch::Contains("attribute 'lr'") && Catch::Contains("not a string"));
  config.set_attr("name", "x");
  REQUIRE_THROWS_WITH(config.attr_double("name"), Catch::Contains("attribute 'name'"));
}

TEST_CASE("attr_bool reads any nonzero integer as true", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  file.set_attr("minus_one", std::int64_t{-1});
  file.set_attr("zero", std::int64_t{0});
  CHECK(file.attr_bool("minus_one"));
  CHECK_FALSE(file.attr_bool("zero"));
}

TEST_CASE("attr_string reads fixed-length strings of every padding", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  write_fixed_string_attr(file, "padded", std::string("adam\0\0\0", 7), H5T_STR_NULLPAD);
  write_fixed_string_attr(file, "terminated", std::string("sgd\0", 4), H5T_STR_NULLTERM);
  write_fixed_string_attr(file, "spaced", "cosine   ", H5T_STR_SPACEPAD);
  write_fixed_string_attr(file, "full", "exact", H5T_STR_NULLPAD);
  CHECK(file.attr_string("padded") == "adam");
  CHECK(file.attr_string("terminated") == "sgd");
  CHECK(file.attr_string("spaced") == "cosine");
  CHECK(file.attr_string("full") == "exact");
}

TEST_CASE("attributes written by h5py read back, and strings reach h5py as UTF-8 bytes", "[h5]") {
  if (!h5py_available()) {
    WARN("h5py is not installed under /usr/bin/python3: skipping");
    return;
  }
  TempDir dir;
  const std::string path = dir.file("run.h5");
  File::create(path).set_attr("name", "linicl-run");
  CHECK(python("import h5py; f = h5py.File('" + path +
               "'); print(f.attrs['name'].decode('utf-8'))") == "linicl-run");
  python("import h5py, numpy as np; f = h5py.File('" + path +
         "', 'a'); f.attrs['fixed'] = np.bytes_(b'gdpp'); f.attrs['count'] = np.int32(12);"
         " f.attrs['ratio'] = np.float32(0.25); f.attrs['text'] = 'Σ'");
  const File file = File::open(path);
  CHECK(file.attr_string("fixed") == "gdpp");
  CHECK(file.attr_int("count") == 12);
  CHECK(file.attr_double("ratio") == 0.25);
  CHECK(file.attr_string("text") == "Σ");
}

TEST_CASE("set_attr refuses strings with NUL bytes rather than truncate them", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  CHECK_THROWS_AS(file.set_attr("s", std::string("a\0b", 3)), std::invalid_argument);
}

TEST_CASE("reading a missing attribute names it and its object", "[h5]") {
  TempDir dir;
  const std::string path = dir.file("run.h5");
  const File file = File::create(path);
  const Node group = file.create_group("eval");
  REQUIRE_THROWS_WITH(group.attr_double("steps"),
                      Catch::Contains("attribute 'steps' of '/eval'") && Catch::Contains(path));
  REQUIRE_THROWS_WITH(file.attr_string("format"), Catch::Contains("'format'"));
}

TEST_CASE("reading a missing dataset names its full path and the file", "[h5]") {
  TempDir dir;
  const std::string path = dir.file("run.h5");
  const File file = File::create(path);
  const Node weights = file.create_group("weights");
  REQUIRE_THROWS_WITH(
      weights.read_matrix("P"),
      Catch::Matchers::Equals("HDF5: cannot open dataset '/weights/P' in '" + path + "'"));
  REQUIRE_THROWS_WITH(file.read_series("train/loss"), Catch::Contains("'/train/loss'"));
  REQUIRE_THROWS_WITH(file.shape("nothing"), Catch::Contains("'/nothing'"));
}

TEST_CASE("create_group makes parents and reopens existing groups", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  const Node deep = file.create_group("analysis/layers/0");
  CHECK(deep.name() == "/analysis/layers/0");
  deep.set_attr("marker", std::int64_t{1});
  CHECK(file.exists("analysis/layers"));

  const Node again = file.create_group("analysis/layers/0");
  CHECK(again.attr_int("marker") == 1);
  const Node layers = file.group("analysis").group("layers");
  CHECK(layers.name() == "/analysis/layers");
  CHECK(layers.group("0").attr_int("marker") == 1);
  CHECK(layers.create_group("1").name() == "/analysis/layers/1");
  CHECK(layers.children() == std::vector<std::string>{"0", "1"});
}

TEST_CASE("group reports a missing group and create_group a dataset in the way", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  REQUIRE_THROWS_WITH(file.group("a/b"), Catch::Contains("open group '/a/b'"));
  file.write_matrix("m", Eigen::MatrixXd::Zero(1, 1));
  REQUIRE_THROWS_WITH(file.create_group("m"), Catch::Contains("'/m'"));
}

TEST_CASE("a group works on paths relative to itself and absolute ones", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  const Node train = file.create_group("train");
  train.write_series("loss", std::vector<double>{1.0});
  CHECK(file.read_series("train/loss") == std::vector<double>{1.0});
  CHECK(train.exists("/train/loss"));
  CHECK(train.read_series("/train/loss") == std::vector<double>{1.0});
}

TEST_CASE("exists answers for nested paths whose parents are missing", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  CHECK_FALSE(file.exists("a"));
  CHECK_FALSE(file.exists("a/b/c"));
  file.create_group("a/b");
  CHECK(file.exists("a/b"));
  CHECK(file.exists("/a/b"));
  CHECK_FALSE(file.exists("a/b/c"));
  file.write_matrix("a/m", Eigen::MatrixXd::Zero(1, 1));
  CHECK(file.exists("a/m"));
  CHECK_FALSE(file.exists("a/m/inside"));  // a dataset has no members
}

TEST_CASE("remove unlinks and ignores missing paths", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  file.create_group("landscape/grid");
  file.write_series("loss", std::vector<double>{1.0});
  file.remove("landscape");
  file.remove("loss");
  CHECK_FALSE(file.exists("landscape"));
  CHECK_FALSE(file.exists("loss"));
  CHECK_NOTHROW(file.remove("loss"));
  CHECK_NOTHROW(file.remove("no/such/path"));
  CHECK(file.children().empty());
}

TEST_CASE("children lists direct members sorted by name", "[h5]") {
  TempDir dir;
  const File file = File::create(dir.file("run.h5"));
  file.create_group("weights/deep");
  file.write_series("train", std::vector<double>{});
  file.create_group("config");
  file.write_matrix("Sigma", Eigen::MatrixXd::Identity(2, 2));
  CHECK(file.children() == std::vector<std::string>{"Sigma", "config", "train", "weights"});
  CHECK(file.group("weights").children() == std::vector<std::string>{"deep"});
  CHECK(file.group("config").children().empty());
}

TEST_CASE("no HDF5 object stays open once its file and nodes are gone", "[h5]") {
  TempDir dir;
  const std::string path = dir.file("run.h5");
  const ssize_t open_before = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
  {
    const File file = File::create(path);
    const Node config = file.create_group("config");
    config.set_attr("name", "x");
    config.set_attr("lr", 0.5);
    file.write_matrix("m", Eigen::MatrixXd::Ones(2, 2));
    file.write_series("s", std::vector<std::int64_t>{1});
    CHECK(config.attr_string("name") == "x");
    CHECK(file.read_matrix("m").sum() == 4.0);
    CHECK(file.read_int_series("s").size() == 1);
    CHECK_THROWS_AS(config.attr_int("lr"), Error);  // error paths must close what they opened
    CHECK_THROWS_AS(file.read_int_series("m"), Error);
    CHECK_THROWS_AS(file.read_matrix("missing"), Error);
  }
  CHECK(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) == open_before);
}

TEST_CASE("an in-memory file never touches the disk, and its image reads back", "[h5]") {
  TempDir dir;
  const std::string path = dir.file("run.h5");
  std::vector<unsigned char> image;
  {
    File file = File::create_in_memory(path);
    file.write_matrix("m", Eigen::MatrixXd::Constant(2, 3, 0.5));
    file.set_attr("empty", "");
    image = file.take_image();
  }
  CHECK_FALSE(std::filesystem::exists(path));
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(image.data()),
             static_cast<std::streamsize>(image.size()));
  File edited = File::open_in_memory(path);
  CHECK(edited.read_matrix("m") == Eigen::MatrixXd::Constant(2, 3, 0.5));
  CHECK(edited.attr_string("empty").empty());
  edited.set_attr("added", 1.0);
  CHECK_FALSE(File::open(path).has_attr("added"));  // the edit stays in memory
}

TEST_CASE("a flipped bit in a dataset's data is a read error, not a wrong value", "[h5]") {
  TempDir dir;
  const std::string path = dir.file("run.h5");
  File::create(path).write_matrix("m", Eigen::MatrixXd::Constant(4, 4, 0.25));
  // Locate the stored values (0.25 = 0x3FD0000000000000) and flip one bit of the first.
  std::fstream bytes(path, std::ios::in | std::ios::out | std::ios::binary);
  const std::string content((std::istreambuf_iterator<char>(bytes)), {});
  const std::string quarter("\0\0\0\0\0\0\xd0\x3f", 8);
  const std::size_t at = content.find(quarter + quarter);
  REQUIRE(at != std::string::npos);
  bytes.seekp(static_cast<std::streamoff>(at + 6));
  bytes.put(static_cast<char>(content[at + 6] ^ 0x01));
  bytes.close();
  REQUIRE_THROWS_WITH(File::open(path).read_matrix("m"),
                      Catch::Contains("cannot read dataset '/m'"));
}
