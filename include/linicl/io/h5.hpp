// A small RAII layer over the HDF5 C API (§10, §12).
//
// Every hid_t lives in a move-only Handle that closes it exactly once. Every negative return
// from the C API becomes an h5::Error naming the call and the object, and HDF5's automatic
// error printer is silenced: errors are reported by the caller, not printed to stderr.
// Matrices are stored row-major, exactly as they read on paper; strings are variable-length
// UTF-8 of fixed length. All HDF5 calls must come from one thread.
//
// Files are written in HDF5's newest format with a Fletcher-32 checksum on every dataset, so
// that a flipped bit anywhere in metadata, attributes or data is a clear read error (§10).
// String attributes are fixed-length: their bytes then live in the checksummed object header,
// not in the unchecksummed global heap that variable-length strings use.
#pragma once

#include <hdf5.h>

#include <Eigen/Dense>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace linicl::h5 {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Owns one hid_t and the function that closes it (H5Fclose, H5Gclose, ...).
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& other) noexcept;
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle();
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now and returns the closer's result (negative on failure); the handle is empty after.
  herr_t close();

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

// True when `path` exists and is an HDF5 file; never throws.
bool is_hdf5(const std::string& path);

// A file or a group: everything below is relative to it. Paths may be nested ("a/b").
class Node {
 public:
  Node() = default;
  Node(Handle handle, std::string name) : handle_(std::move(handle)), name_(std::move(name)) {}
  hid_t id() const { return handle_.get(); }
  const std::string& name() const { return name_; }

  bool exists(const std::string& path) const;        // a link of that name (any kind) exists
  Node group(const std::string& path) const;         // opens the group; throws if missing
  Node create_group(const std::string& path) const;  // creates (with parents) or opens
  void remove(const std::string& path) const;        // unlinks; no error if missing
  std::vector<std::string> children() const;         // names of the direct members, sorted

  // Datasets of float64. A matrix is written as a rank-2 dataset, row-major.
  void write_matrix(const std::string& path, const Eigen::MatrixXd& m) const;
  Eigen::MatrixXd read_matrix(const std::string& path) const;  // rank 1 reads as a column
  // Any rank, data given in row-major (C) order; dims.size() is the rank.
  void write_array(const std::string& path, const std::vector<std::size_t>& dims,
                   const std::vector<double>& data) const;
  std::vector<double> read_array(const std::string& path, std::vector<std::size_t>& dims) const;
  std::vector<std::size_t> shape(const std::string& path) const;

  // Rank-1 series, chunked with unlimited maximum size so that users can append to them.
  void write_series(const std::string& path, const std::vector<double>& values) const;
  void write_series(const std::string& path, const std::vector<std::int64_t>& values) const;
  std::vector<double> read_series(const std::string& path) const;
  std::vector<std::int64_t> read_int_series(const std::string& path) const;

  // Attributes on this node. Booleans are stored as 8-bit integers 0/1.
  bool has_attr(const std::string& name) const;
  std::vector<std::string> attr_names() const;
  void set_attr(const std::string& name, const std::string& value) const;
  void set_attr(const std::string& name, const char* value) const;
  void set_attr(const std::string& name, double value) const;
  void set_attr(const std::string& name, std::int64_t value) const;
  void set_attr(const std::string& name, bool value) const;
  std::string attr_string(const std::string& name) const;
  double attr_double(const std::string& name) const;     // accepts any numeric attribute
  std::int64_t attr_int(const std::string& name) const;  // accepts integer attributes only
  bool attr_bool(const std::string& name) const;

 protected:
  Handle& handle() { return handle_; }

 private:
  Handle handle_;
  std::string name_;
};

// The bytes of an in-memory File, captured when it closes (h5.cpp).
struct MemoryImage {
  std::vector<unsigned char> bytes;
  std::size_t size = 0;  // the file's length: its buffer may be longer
  bool captured = false;
};

class File : public Node {
 public:
  enum class Mode { kRead, kReadWrite };
  // Creates a new file on disk; fails if it exists.
  static File create(const std::string& path);
  // Opens an existing HDF5 file; a clear Error if it is missing or not HDF5.
  static File open(const std::string& path, Mode mode = Mode::kRead);
  // A file that lives in memory only, empty or a copy of `path`: nothing reaches the disk
  // until take_image()'s bytes are written out (by write_file_atomically), so a failing disk
  // can never leave HDF5 with a half-closed file. `name` labels error messages.
  static File create_in_memory(const std::string& name);
  static File open_in_memory(const std::string& path);
  // Closes the in-memory file and returns its bytes: the whole file, as on disk.
  std::vector<unsigned char> take_image();
  const std::string& path() const { return path_; }
  void flush() const;
  // Closes now, reporting a failure that the destructor would have to swallow.
  void close();

  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File();

 private:
  File(Handle handle, std::string path);
  std::string path_;
  std::unique_ptr<MemoryImage> image_;  // where an in-memory file's bytes land when it closes
};

}  // namespace linicl::h5
