// Writing output files so that nothing is ever lost (§10.1).
//
// A file is replaced by writing a temporary file beside it, checking every write, syncing
// it to the disk, renaming it over the target and syncing the folder: a reader, a crash or
// a full disk sees either the old file or the new one, never a mixture. Writers of one file
// exclude each other through an OutputLock.
#pragma once

#include <sys/types.h>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace linicl {

// A failed write, naming the file and the system's reason ("No space left on device").
class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Another process holds the OutputLock of the file.
class FileInUse : public IoError {
 public:
  using IoError::IoError;
};

// The file a write to `path` replaces: a symbolic link is followed, so the link stays a link.
std::string output_target(const std::string& path);

// Throws IoError unless `path` can be written: its target is a regular file or does not exist
// (never a device, FIFO or folder), and a file can be created in its folder (probed, so a
// read-only mount or a full disk is found before any work, not after it).
void check_output_target(const std::string& path);

// Replaces `path` by `size` bytes, atomically and durably (see above). On any failure the
// temporary file is removed, the previous file is untouched, and IoError says why.
void write_file_atomically(const std::string& path, const void* bytes, std::size_t size);

// An exclusive lock on writing `path`, held from construction to destruction through a lock
// file `<target>.lock` (removed when released). A second writer gets IoError naming the
// process that holds it (FileInUse). Holding the lock, no other linicl writer of `path` can be
// alive, so temporary files left beside it by killed processes are removed.
class OutputLock {
 public:
  explicit OutputLock(const std::string& path);
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  ~OutputLock();
  const std::string& path() const { return path_; }  // the file it guards, as given

 private:
  std::string path_;
  std::string lock_path_;
  int fd_ = -1;
};

}  // namespace linicl
