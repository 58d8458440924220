#include "linicl/io/h5.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <numeric>
#include <utility>

namespace linicl::h5 {

namespace {

// HDF5 prints its error stack to stderr by default; we report through exceptions instead.
void silence_error_printer() {
  static const bool silenced = [] { return H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr) >= 0; }();
  (void)silenced;
}

// The name the file holding `loc` was opened under, for error messages.
std::string file_name(hid_t loc) {
  const ssize_t length = H5Fget_name(loc, nullptr, 0);
  if (length < 0) return "?";
  std::string name(static_cast<std::size_t>(length) + 1, '\0');
  if (H5Fget_name(loc, name.data(), name.size()) < 0) return "?";
  name.resize(static_cast<std::size_t>(length));
  return name;
}

// The absolute path of `path` seen from the object whose absolute path is `base`.
std::string join(const std::string& base, const std::string& path) {
  if (!path.empty() && path.front() == '/') return path;
  if (!base.empty() && base.back() == '/') return base + path;
  return base + "/" + path;
}

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// What a sequence of HDF5 calls acts on, so that any failure can name it and its file.
class Target {
 public:
  static Target object(const Node& node, const std::string& kind, const std::string& path) {
    return Target(node.id(), kind + " '" + join(node.name(), path) + "'");
  }
  static Target itself(const Node& node) {
    return Target(node.id(), "object '" + node.name() + "'");
  }
  static Target attribute(const Node& node, const std::string& name) {
    return Target(node.id(), "attribute '" + name + "' of '" + node.name() + "'");
  }

  // Passes a non-negative result through; a negative one becomes an Error.
  template <typename Result>
  Result check(Result result, const char* action) const {
    if (result < 0) fail(action);
    return result;
  }
  Handle own(hid_t id, Handle::Closer closer, const char* action) const {
    return Handle(check(id, action), closer);
  }
  [[noreturn]] void fail(const std::string& action) const {
    throw Error("HDF5: cannot " + action + " " + description_ + " in '" + file_name(loc_) + "'");
  }
  // For calls that succeeded on data we cannot use: "... in 'f.h5' is not an integer".
  [[noreturn]] void reject(const std::string& problem) const {
    throw Error("HDF5: " + description_ + " in '" + file_name(loc_) + "' " + problem);
  }

 private:
  Target(hid_t loc, std::string description) : loc_(loc), description_(std::move(description)) {}
  hid_t loc_;
  std::string description_;
};

// How each C++ element type is laid out in memory and stored on disk.
template <typename T>
struct Stored;
template <>
struct Stored<double> {
  static hid_t memory() { return H5T_NATIVE_DOUBLE; }
  static hid_t disk() { return H5T_IEEE_F64LE; }
  static constexpr bool kAcceptsFloat = true;  // any integer or float reads as a double
};
template <>
struct Stored<std::int64_t> {
  static hid_t memory() { return H5T_NATIVE_INT64; }
  static hid_t disk() { return H5T_STD_I64LE; }
  static constexpr bool kAcceptsFloat = false;  // never truncate a float silently
};
template <>
struct Stored<std::uint8_t> {
  static hid_t memory() { return H5T_NATIVE_UINT8; }
  static hid_t disk() { return H5T_STD_U8LE; }
  static constexpr bool kAcceptsFloat = false;
};

template <typename T>
void require_convertible(hid_t type, const Target& target) {
  const H5T_class_t type_class = target.check(H5Tget_class(type), "inspect the type of");
  if (type_class == H5T_INTEGER) return;
  if (type_class == H5T_FLOAT && Stored<T>::kAcceptsFloat) return;
  target.reject(Stored<T>::kAcceptsFloat ? "is not numeric" : "is not an integer");
}

std::vector<hsize_t> extent(hid_t space, const Target& target) {
  const int rank = target.check(H5Sget_simple_extent_ndims(space), "get the rank of");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  target.check(H5Sget_simple_extent_dims(space, dims.data(), nullptr), "get the shape of");
  return dims;
}

std::size_t element_count(const std::vector<hsize_t>& dims) {
  return std::accumulate(dims.begin(), dims.end(), std::size_t{1}, std::multiplies<>());
}

Handle link_creation_with_parents(const Target& target) {
  Handle list = target.own(H5Pcreate(H5P_LINK_CREATE), H5Pclose, "make a property list for");
  target.check(H5Pset_create_intermediate_group(list.get(), 1), "allow parent groups for");
  return list;
}

// Contiguous datasets are rewritten whole; extendable ones can grow along their one axis.
enum class Layout { kFixed, kExtendable };

Handle dataspace(const std::vector<hsize_t>& dims, Layout layout, const Target& target) {
  if (dims.empty()) return target.own(H5Screate(H5S_SCALAR), H5Sclose, "make a dataspace for");
  const std::vector<hsize_t> unlimited(dims.size(), H5S_UNLIMITED);
  const hsize_t* maxdims = layout == Layout::kExtendable ? unlimited.data() : nullptr;
  const int rank = static_cast<int>(dims.size());
  return target.own(H5Screate_simple(rank, dims.data(), maxdims), H5Sclose, "make a dataspace for");
}

// Every dataset carries a checksum: chunked with the Fletcher-32 filter, or, for a scalar
// (which cannot be chunked), compact, so that its value sits in the checksummed object header.
Handle dataset_creation(const std::vector<hsize_t>& dims, Layout layout, const Target& target) {
  Handle list = target.own(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "make a property list for");
  if (dims.empty()) {
    target.check(H5Pset_layout(list.get(), H5D_COMPACT), "set the layout of");
    return list;
  }
  // Chunk dims must be positive even for an empty dataset. A series grows in chunks of 4096
  // values (32 KiB); a fixed array is one chunk unless that exceeds 2^20 values (8 MiB), when
  // its leading axes are split.
  constexpr hsize_t kSeriesChunk = 4096, kMaxChunk = hsize_t{1} << 20;
  std::vector<hsize_t> chunk(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) {
    chunk[i] = std::max<hsize_t>(dims[i], 1);
    if (layout == Layout::kExtendable) chunk[i] = std::min(chunk[i], kSeriesChunk);
  }
  for (std::size_t i = 0; i < chunk.size() && element_count(chunk) > kMaxChunk; ++i) {
    chunk[i] =
        std::max<hsize_t>(1, chunk[i] / ((element_count(chunk) + kMaxChunk - 1) / kMaxChunk));
  }
  target.check(H5Pset_chunk(list.get(), static_cast<int>(chunk.size()), chunk.data()),
               "set the chunks of");
  target.check(H5Pset_fletcher32(list.get()), "set the checksum of");
  return list;
}

// Replaces whatever `path` holds by a new dataset of `dims` filled from `data` (row-major).
template <typename T>
void write_dataset(const Node& node, const std::string& path, const std::vector<hsize_t>& dims,
                   const T* data, Layout layout) {
  const Target target = Target::object(node, "dataset", path);
  node.remove(path);
  const Handle space = dataspace(dims, layout, target);
  const Handle creation = dataset_creation(dims, layout, target);
  const Handle links = link_creation_with_parents(target);
  const Handle dataset =
      target.own(H5Dcreate2(node.id(), path.c_str(), Stored<T>::disk(), space.get(), links.get(),
                            creation.get(), H5P_DEFAULT),
                 H5Dclose, "create");
  // An empty vector may have no buffer at all, and there is nothing to write anyway.
  if (element_count(dims) == 0) return;
  target.check(H5Dwrite(dataset.get(), Stored<T>::memory(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data),
               "write");
}

Handle open_dataset(const Node& node, const std::string& path, const Target& target) {
  return target.own(H5Dopen2(node.id(), path.c_str(), H5P_DEFAULT), H5Dclose, "open");
}

std::vector<hsize_t> dataset_shape(hid_t dataset, const Target& target) {
  const Handle space = target.own(H5Dget_space(dataset), H5Sclose, "get the dataspace of");
  return extent(space.get(), target);
}

// Reads a whole dataset in row-major order; `dims` receives its shape.
template <typename T>
std::vector<T> read_dataset(const Node& node, const std::string& path, std::vector<hsize_t>& dims) {
  const Target target = Target::object(node, "dataset", path);
  const Handle dataset = open_dataset(node, path, target);
  const Handle type = target.own(H5Dget_type(dataset.get()), H5Tclose, "get the type of");
  require_convertible<T>(type.get(), target);
  dims = dataset_shape(dataset.get(), target);
  std::vector<T> values(element_count(dims));
  if (values.empty()) return values;
  target.check(
      H5Dread(dataset.get(), Stored<T>::memory(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
      "read");
  return values;
}

template <typename T>
std::vector<T> read_series_of(const Node& node, const std::string& path) {
  std::vector<hsize_t> dims;
  std::vector<T> values = read_dataset<T>(node, path, dims);
  if (dims.size() != 1) {
    Target::object(node, "dataset", path)
        .reject("has rank " + std::to_string(dims.size()) + ", not 1");
  }
  return values;
}

std::vector<std::size_t> to_sizes(const std::vector<hsize_t>& dims) {
  return std::vector<std::size_t>(dims.begin(), dims.end());
}

// A scalar attribute `name` of type `disk_type`, replacing any attribute of that name.
Handle create_attribute(const Node& node, const std::string& name, hid_t disk_type,
                        const Target& target) {
  if (node.has_attr(name)) target.check(H5Adelete(node.id(), name.c_str()), "replace");
  const Handle space = target.own(H5Screate(H5S_SCALAR), H5Sclose, "make a dataspace for");
  return target.own(
      H5Acreate2(node.id(), name.c_str(), disk_type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
      H5Aclose, "create");
}

template <typename T>
void write_attribute(const Node& node, const std::string& name, T value) {
  const Target target = Target::attribute(node, name);
  const Handle attribute = create_attribute(node, name, Stored<T>::disk(), target);
  target.check(H5Awrite(attribute.get(), Stored<T>::memory(), &value), "write");
}

Handle variable_length_string_type(H5T_cset_t charset, const Target& target) {
  Handle type = target.own(H5Tcopy(H5T_C_S1), H5Tclose, "make a string type for");
  target.check(H5Tset_size(type.get(), H5T_VARIABLE), "make a string type for");
  target.check(H5Tset_cset(type.get(), charset), "make a string type for");
  return type;
}

// Opens attribute `name` and checks that it holds exactly one value.
Handle open_single_value_attribute(const Node& node, const std::string& name,
                                   const Target& target) {
  Handle attribute = target.own(H5Aopen(node.id(), name.c_str(), H5P_DEFAULT), H5Aclose, "open");
  const Handle space = target.own(H5Aget_space(attribute.get()), H5Sclose, "get the dataspace of");
  const hssize_t count = target.check(H5Sget_simple_extent_npoints(space.get()), "count");
  if (count != 1) target.reject("holds " + std::to_string(count) + " values, not one");
  return attribute;
}

template <typename T>
T read_attribute(const Node& node, const std::string& name) {
  const Target target = Target::attribute(node, name);
  const Handle attribute = open_single_value_attribute(node, name, target);
  const Handle type = target.own(H5Aget_type(attribute.get()), H5Tclose, "get the type of");
  require_convertible<T>(type.get(), target);
  T value{};
  target.check(H5Aread(attribute.get(), Stored<T>::memory(), &value), "read");
  return value;
}

std::string read_variable_length_string(hid_t attribute, hid_t disk_type, const Target& target) {
  const H5T_cset_t charset = target.check(H5Tget_cset(disk_type), "get the charset of");
  const Handle memory_type = variable_length_string_type(charset, target);
  char* raw = nullptr;
  target.check(H5Aread(attribute, memory_type.get(), &raw), "read");
  // HDF5 allocated the string; hand it back to HDF5's allocator even if copying throws.
  const std::unique_ptr<char, herr_t (*)(void*)> owned(raw, H5free_memory);
  return raw == nullptr ? std::string() : std::string(raw);
}

std::string read_fixed_length_string(hid_t attribute, hid_t disk_type, const Target& target) {
  const std::size_t size = H5Tget_size(disk_type);
  if (size == 0) target.fail("get the size of");
  std::string text(size, '\0');
  target.check(H5Aread(attribute, disk_type, text.data()), "read");
  const H5T_str_t padding = target.check(H5Tget_strpad(disk_type), "get the padding of");
  if (padding == H5T_STR_SPACEPAD) {
    text.erase(text.find_last_not_of(' ') + 1);
  } else {
    text.resize(std::strlen(text.c_str()));  // null-terminated or null-padded
  }
  return text;
}

// Appends each name the iteration visits; exceptions must not cross the C library.
herr_t collect_name(const char* name, void* names) {
  try {
    static_cast<std::vector<std::string>*>(names)->emplace_back(name);
    return 0;
  } catch (...) {
    return -1;
  }
}
herr_t collect_link_name(hid_t, const char* name, const H5L_info_t*, void* names) {
  return collect_name(name, names);
}
herr_t collect_attribute_name(hid_t, const char* name, const H5A_info_t*, void* names) {
  return collect_name(name, names);
}

}  // namespace

// ---- Handle ----

Handle::Handle(Handle&& other) noexcept
    : id_(std::exchange(other.id_, -1)), closer_(std::exchange(other.closer_, nullptr)) {}

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    Handle doomed(std::move(*this));  // closes our old id when it goes out of scope
    id_ = std::exchange(other.id_, -1);
    closer_ = std::exchange(other.closer_, nullptr);
  }
  return *this;
}

Handle::~Handle() {
  close();
}  // nothing sensible to do on failure here: see File::close

herr_t Handle::close() {
  const herr_t result = valid() && closer_ != nullptr ? closer_(id_) : 0;
  id_ = -1;
  closer_ = nullptr;
  return result;
}

bool is_hdf5(const std::string& path) {
  silence_error_printer();
  std::error_code ignored;
  if (!std::filesystem::is_regular_file(path, ignored)) return false;
  return H5Fis_hdf5(path.c_str()) > 0;
}

// ---- Node: links and groups ----

bool Node::exists(const std::string& path) const {
  const Target target = Target::object(*this, "link", path);
  // H5Lexists fails (rather than saying no) when a parent is missing: walk down one level
  // at a time, and stop at anything that is not a group.
  std::string prefix = !path.empty() && path.front() == '/' ? "/" : "";
  const std::vector<std::string> parts = split(path);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    prefix += (i == 0 ? "" : "/") + parts[i];
    if (target.check(H5Lexists(id(), prefix.c_str(), H5P_DEFAULT), "look up") == 0) return false;
    if (i + 1 == parts.size()) break;
    H5O_info_t info;
    target.check(H5Oget_info_by_name2(id(), prefix.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT),
                 "inspect a parent of");
    if (info.type != H5O_TYPE_GROUP) return false;
  }
  return true;
}

Node Node::group(const std::string& path) const {
  const Target target = Target::object(*this, "group", path);
  return Node(target.own(H5Gopen2(id(), path.c_str(), H5P_DEFAULT), H5Gclose, "open"),
              join(name(), path));
}

Node Node::create_group(const std::string& path) const {
  if (exists(path)) return group(path);
  const Target target = Target::object(*this, "group", path);
  const Handle links = link_creation_with_parents(target);
  return Node(target.own(H5Gcreate2(id(), path.c_str(), links.get(), H5P_DEFAULT, H5P_DEFAULT),
                         H5Gclose, "create"),
              join(name(), path));
}

void Node::remove(const std::string& path) const {
  if (!exists(path)) return;
  Target::object(*this, "link", path).check(H5Ldelete(id(), path.c_str(), H5P_DEFAULT), "remove");
}

std::vector<std::string> Node::children() const {
  std::vector<std::string> names;
  Target::itself(*this).check(
      H5Literate(id(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_link_name, &names),
      "list the members of");
  std::sort(names.begin(), names.end());  // the name index is sorted too, but by its own rules
  return names;
}

// ---- Node: datasets ----

void Node::write_matrix(const std::string& path, const Eigen::MatrixXd& m) const {
  // Eigen stores columns contiguously; the file stores rows, as the matrix reads on paper.
  const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rows = m;
  const std::vector<hsize_t> dims{static_cast<hsize_t>(m.rows()), static_cast<hsize_t>(m.cols())};
  write_dataset(*this, path, dims, rows.data(), Layout::kFixed);
}

Eigen::MatrixXd Node::read_matrix(const std::string& path) const {
  std::vector<hsize_t> dims;
  const std::vector<double> values = read_dataset<double>(*this, path, dims);
  if (dims.size() != 1 && dims.size() != 2) {
    Target::object(*this, "dataset", path)
        .reject("has rank " + std::to_string(dims.size()) + ", not a matrix");
  }
  const auto rows = static_cast<Eigen::Index>(dims[0]);
  const auto cols = static_cast<Eigen::Index>(dims.size() == 2 ? dims[1] : 1);
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  return Eigen::Map<const RowMajor>(values.data(), rows, cols);
}

void Node::write_array(const std::string& path, const std::vector<std::size_t>& dims,
                       const std::vector<double>& data) const {
  const std::vector<hsize_t> extent(dims.begin(), dims.end());
  if (element_count(extent) != data.size()) {
    throw std::invalid_argument("h5: array '" + path + "' has " + std::to_string(data.size()) +
                                " values but its shape holds " +
                                std::to_string(element_count(extent)));
  }
  write_dataset(*this, path, extent, data.data(), Layout::kFixed);
}

std::vector<double> Node::read_array(const std::string& path,
                                     std::vector<std::size_t>& dims) const {
  std::vector<hsize_t> extent;
  std::vector<double> values = read_dataset<double>(*this, path, extent);
  dims = to_sizes(extent);
  return values;
}

std::vector<std::size_t> Node::shape(const std::string& path) const {
  const Target target = Target::object(*this, "dataset", path);
  const Handle dataset = open_dataset(*this, path, target);
  return to_sizes(dataset_shape(dataset.get(), target));
}

void Node::write_series(const std::string& path, const std::vector<double>& values) const {
  write_dataset(*this, path, {values.size()}, values.data(), Layout::kExtendable);
}

void Node::write_series(const std::string& path, const std::vector<std::int64_t>& values) const {
  write_dataset(*this, path, {values.size()}, values.data(), Layout::kExtendable);
}

std::vector<double> Node::read_series(const std::string& path) const {
  return read_series_of<double>(*this, path);
}

std::vector<std::int64_t> Node::read_int_series(const std::string& path) const {
  return read_series_of<std::int64_t>(*this, path);
}

// ---- Node: attributes ----

bool Node::has_attr(const std::string& name) const {
  return Target::attribute(*this, name).check(H5Aexists(id(), name.c_str()), "look up") > 0;
}

std::vector<std::string> Node::attr_names() const {
  std::vector<std::string> names;
  Target::itself(*this).check(
      H5Aiterate2(id(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_attribute_name, &names),
      "list the attributes of");
  std::sort(names.begin(), names.end());
  return names;
}

void Node::set_attr(const std::string& name, const std::string& value) const {
  const Target target = Target::attribute(*this, name);
  // A fixed-length string ends at its first NUL: refuse to cut the value short silently.
  if (value.find('\0') != std::string::npos) {
    throw std::invalid_argument("h5: string attribute '" + name + "' contains a NUL byte");
  }
  // Exactly the value's bytes, padded with one NUL if empty (a string type has size >= 1).
  const Handle type = target.own(H5Tcopy(H5T_C_S1), H5Tclose, "make a string type for");
  target.check(H5Tset_size(type.get(), std::max<std::size_t>(value.size(), 1)),
               "make a string type for");
  target.check(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), "make a string type for");
  target.check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "make a string type for");
  const Handle attribute = create_attribute(*this, name, type.get(), target);
  std::string padded = value;
  padded.resize(std::max<std::size_t>(value.size(), 1), '\0');
  target.check(H5Awrite(attribute.get(), type.get(), padded.data()), "write");
}

void Node::set_attr(const std::string& name, const char* value) const {
  set_attr(name, std::string(value));
}

void Node::set_attr(const std::string& name, double value) const {
  write_attribute(*this, name, value);
}

void Node::set_attr(const std::string& name, std::int64_t value) const {
  write_attribute(*this, name, value);
}

void Node::set_attr(const std::string& name, bool value) const {
  write_attribute(*this, name, static_cast<std::uint8_t>(value ? 1 : 0));
}

std::string Node::attr_string(const std::string& name) const {
  const Target target = Target::attribute(*this, name);
  const Handle attribute = open_single_value_attribute(*this, name, target);
  const Handle type = target.own(H5Aget_type(attribute.get()), H5Tclose, "get the type of");
  if (target.check(H5Tget_class(type.get()), "inspect the type of") != H5T_STRING) {
    target.reject("is not a string");
  }
  if (target.check(H5Tis_variable_str(type.get()), "inspect the type of") > 0) {
    return read_variable_length_string(attribute.get(), type.get(), target);
  }
  return read_fixed_length_string(attribute.get(), type.get(), target);
}

double Node::attr_double(const std::string& name) const {
  return read_attribute<double>(*this, name);
}

std::int64_t Node::attr_int(const std::string& name) const {
  return read_attribute<std::int64_t>(*this, name);
}

bool Node::attr_bool(const std::string& name) const {
  // Read as int64 so that any integer width converts without saturating (-1 stays true).
  return read_attribute<std::int64_t>(*this, name) != 0;
}

// ---- File ----

File::File(Handle handle, std::string path)
    : Node(std::move(handle), "/"), path_(std::move(path)) {}

namespace {

// The newest file format: its superblock, object headers, B-trees and heaps carry checksums.
Handle file_access(const std::string& path) {
  Handle list(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!list.valid() || H5Pset_libver_bounds(list.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) < 0) {
    throw Error("HDF5: cannot select the file format for '" + path + "'");
  }
  return list;
}

// HDF5's core driver keeps an in-memory file in one buffer, allocated through these callbacks.
// When the file closes, its final buffer (the superblock rewritten as closed, checksums
// updated) is captured instead of freed. H5Fget_file_image is not used: HDF5 1.10 clears the
// superblock's status flags in the copy without updating its checksum.
void* image_malloc(std::size_t size, H5FD_file_image_op_t, void*) {
  return std::malloc(size);
}
void* image_memcpy(void* to, const void* from, std::size_t size, H5FD_file_image_op_t, void*) {
  return std::memcpy(to, from, size);
}
void* image_realloc(void* buffer, std::size_t size, H5FD_file_image_op_t, void*) {
  return std::realloc(buffer, size);
}
herr_t image_free(void* buffer, H5FD_file_image_op_t operation, void* image) {
  auto* captured = static_cast<MemoryImage*>(image);
  if (operation == H5FD_FILE_IMAGE_OP_FILE_CLOSE && buffer != nullptr) {
    const auto* bytes = static_cast<const unsigned char*>(buffer);
    try {
      captured->bytes.assign(bytes, bytes + captured->size);
      captured->captured = true;
    } catch (...) {
      std::free(buffer);
      return -1;
    }
  }
  std::free(buffer);
  return 0;
}
void* image_copy(void* image) {
  return image;
}  // property-list copies share the capture
herr_t image_release(void*) {
  return 0;
}

// The end of file that a version 2 or 3 superblock (the newest format) records: space freed
// while the file was open lies beyond it, unused. Any other image is taken whole.
std::size_t stored_end_of_file(const std::vector<unsigned char>& image) {
  constexpr std::size_t kVersion = 8, kOffsetSize = 9, kAddresses = 12;
  if (image.size() < kAddresses || (image[kVersion] != 2 && image[kVersion] != 3)) {
    return image.size();
  }
  // Base address, superblock-extension address, then end-of-file address, little-endian.
  const std::size_t width = image[kOffsetSize], at = kAddresses + 2 * width;
  if (width == 0 || width > 8 || at + width > image.size()) return image.size();
  std::uint64_t end = 0;
  for (std::size_t i = 0; i < width; ++i) end |= std::uint64_t{image[at + i]} << (8 * i);
  return end;
}

// A file access list for a file kept in memory and captured into `image` when it closes.
Handle memory_access(const std::string& label, MemoryImage& image) {
  Handle list = file_access(label);
  H5FD_file_image_callbacks_t callbacks = {image_malloc, image_memcpy,  image_realloc, image_free,
                                           image_copy,   image_release, &image};
  // Closing the file closes its open groups too (their handles' later closes are no-ops), so
  // the image is complete when take_image() returns, whatever Nodes are still in scope.
  if (H5Pset_fapl_core(list.get(), std::size_t{64} << 10, false) < 0 ||
      H5Pset_fclose_degree(list.get(), H5F_CLOSE_STRONG) < 0 ||
      H5Pset_file_image_callbacks(list.get(), &callbacks) < 0) {
    throw Error("HDF5: cannot keep file '" + label + "' in memory");
  }
  return list;
}

}  // namespace

File::File(File&&) noexcept = default;
File& File::operator=(File&&) noexcept = default;
File::~File() = default;

File File::create(const std::string& path) {
  silence_error_printer();
  const Handle access = file_access(path);
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, access.get());
  if (id < 0) {
    std::error_code ignored;
    const bool taken = std::filesystem::exists(path, ignored);
    throw Error("HDF5: cannot create file '" + path + "'" + (taken ? ": it already exists" : ""));
  }
  return File(Handle(id, H5Fclose), path);
}

File File::create_in_memory(const std::string& name) {
  silence_error_printer();
  auto image = std::make_unique<MemoryImage>();
  const Handle access = memory_access(name, *image);
  const hid_t id = H5Fcreate(name.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get());
  if (id < 0) throw Error("HDF5: cannot create an in-memory file for '" + name + "'");
  File file(Handle(id, H5Fclose), name);
  file.image_ = std::move(image);
  return file;
}

File File::open_in_memory(const std::string& path) {
  silence_error_printer();
  std::error_code ignored;
  if (!std::filesystem::exists(path, ignored)) throw Error("no such file: " + path);
  if (H5Fis_hdf5(path.c_str()) <= 0) throw Error("not an HDF5 file: " + path);
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  if (in.bad()) throw Error("cannot read file '" + path + "'");
  // The core driver refuses an image under the name of a file that exists: label it apart.
  const std::string label = path + " (in memory)";
  auto image = std::make_unique<MemoryImage>();
  const Handle access = memory_access(label, *image);
  if (H5Pset_file_image(access.get(), bytes.data(), bytes.size()) < 0) {
    throw Error("HDF5: cannot load file '" + path + "' into memory");
  }
  const hid_t id = H5Fopen(label.c_str(), H5F_ACC_RDWR, access.get());
  if (id < 0) throw Error("HDF5: cannot open file '" + path + "' (it may be corrupt)");
  File file(Handle(id, H5Fclose), path);
  file.image_ = std::move(image);
  return file;
}

std::vector<unsigned char> File::take_image() {
  if (!image_) throw std::logic_error("h5: take_image() needs an in-memory file");
  const Target target = Target::itself(*this);
  target.check(H5Fflush(id(), H5F_SCOPE_GLOBAL), "flush");
  // The file's end of allocation: the buffer beyond it is spare capacity.
  image_->size = static_cast<std::size_t>(
      target.check(H5Fget_file_image(id(), nullptr, 0), "measure the image of"));
  close();
  if (!image_->captured) throw Error("HDF5: the image of file '" + path_ + "' was not captured");
  std::vector<unsigned char>& bytes = image_->bytes;
  bytes.resize(std::min(bytes.size(), stored_end_of_file(bytes)));
  return std::move(bytes);
}

File File::open(const std::string& path, Mode mode) {
  silence_error_printer();
  std::error_code ignored;
  if (!std::filesystem::exists(path, ignored)) throw Error("no such file: " + path);
  if (H5Fis_hdf5(path.c_str()) <= 0) throw Error("not an HDF5 file: " + path);
  const unsigned flags = mode == Mode::kReadWrite ? H5F_ACC_RDWR : H5F_ACC_RDONLY;
  const hid_t id = H5Fopen(path.c_str(), flags, H5P_DEFAULT);
  // Typically another process holds the file open for writing (HDF5 file locking).
  if (id < 0) throw Error("HDF5: cannot open file '" + path + "'");
  return File(Handle(id, H5Fclose), path);
}

void File::flush() const {
  Target::itself(*this).check(H5Fflush(id(), H5F_SCOPE_LOCAL), "flush");
}

void File::close() {
  if (handle().close() < 0) throw Error("HDF5: cannot close file '" + path_ + "'");
}

}  // namespace linicl::h5
