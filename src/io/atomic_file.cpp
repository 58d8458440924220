#include "linicl/io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

namespace linicl {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& what, int error) {
  throw IoError(what + ": " + std::strerror(error));
}

std::string kind_of(const fs::file_status& status) {
  switch (status.type()) {
    case fs::file_type::directory:
      return "a folder";
    case fs::file_type::character:
      return "a character device";
    case fs::file_type::block:
      return "a block device";
    case fs::file_type::fifo:
      return "a FIFO";
    case fs::file_type::socket:
      return "a socket";
    default:
      return "not a regular file";
  }
}

// Refuses a target that exists but is not a regular file: replacing /dev/null by a run file
// through `--force` is never what anyone meant.
void require_regular_or_new(const std::string& target, const std::string& path) {
  std::error_code ignored;
  const fs::file_status status = fs::status(target, ignored);
  if (!fs::exists(status) || fs::is_regular_file(status)) return;
  throw IoError("'" + path + "' is " + kind_of(status) +
                ": linicl writes only regular files or new paths");
}

std::string folder_of(const std::string& target) {
  const fs::path parent = fs::path(target).parent_path();
  return parent.empty() ? "." : parent.string();
}

// Creates an empty temporary file beside `target`, with the permissions a new file gets.
int create_temporary(const std::string& target, std::string& name) {
  std::vector<char> pattern(target.begin(), target.end());
  for (const char c : std::string(".tmp-XXXXXX")) pattern.push_back(c);
  pattern.push_back('\0');
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0) fail("cannot create a file in folder '" + folder_of(target) + "'", errno);
  name = pattern.data();
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);  // mkstemp's 0600 would hide runs from a shared group
  return fd;
}

// Writes all bytes, retrying partial writes and interrupts; returns 0 or an errno value.
int write_all(int fd, const unsigned char* bytes, std::size_t size) {
  while (size > 0) {
    const ssize_t written = ::write(fd, bytes, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    bytes += written;
    size -= static_cast<std::size_t>(written);
  }
  return 0;
}

// Writes, syncs and closes `fd`; returns 0 or the errno of the first failure.
int write_sync_close(int fd, const void* bytes, std::size_t size) {
  int error = write_all(fd, static_cast<const unsigned char*>(bytes), size);
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  return error;
}

// A rename is durable only once the folder holding it is synced.
void sync_folder(const std::string& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("cannot open folder '" + folder + "' to sync it", errno);
  const int error = ::fsync(fd) == 0 || errno == EINVAL ? 0 : errno;  // EINVAL: not supported
  ::close(fd);
  if (error != 0) fail("cannot sync folder '" + folder + "'", error);
}

}  // namespace

std::string output_target(const std::string& path) {
  std::error_code ignored;
  return fs::is_symlink(path, ignored) ? fs::weakly_canonical(path).string() : path;
}

void check_output_target(const std::string& path) {
  const std::string target = output_target(path);
  require_regular_or_new(target, path);
  const std::string folder = folder_of(target);
  std::error_code ignored;
  if (!fs::is_directory(folder, ignored)) {
    throw IoError("folder '" + folder + "' of '" + path + "' does not exist");
  }
  // Probe with one byte: an empty file can often be created on a full disk.
  std::string probe;
  const int fd = create_temporary(target, probe);
  const unsigned char byte = 0;
  const int error = write_sync_close(fd, &byte, 1);
  ::unlink(probe.c_str());
  if (error != 0) fail("cannot write in folder '" + folder + "' for '" + path + "'", error);
}

void write_file_atomically(const std::string& path, const void* bytes, std::size_t size) {
  const std::string target = output_target(path);
  require_regular_or_new(target, path);
  std::string temporary;
  const int fd = create_temporary(target, temporary);
  const int error = write_sync_close(fd, bytes, size);
  if (error != 0) {
    ::unlink(temporary.c_str());
    std::error_code ignored;
    fail("cannot write '" + path + "' (" +
             (fs::exists(target, ignored) ? "the previous file is unchanged" : "nothing written") +
             ")",
         error);
  }
  if (std::rename(temporary.c_str(), target.c_str()) != 0) {
    const int rename_error = errno;
    ::unlink(temporary.c_str());
    fail("cannot rename '" + temporary + "' to '" + target + "'", rename_error);
  }
  sync_folder(folder_of(target));
}

OutputLock::OutputLock(const std::string& path) : path_(path) {
  const std::string target = output_target(path);
  lock_path_ = target + ".lock";
  for (;;) {
    fd_ = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) fail("cannot create the lock file '" + lock_path_ + "'", errno);
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      char holder[32] = {};
      const ssize_t got = ::pread(fd_, holder, sizeof holder - 1, 0);
      ::close(fd_);
      fd_ = -1;
      if (error != EWOULDBLOCK) fail("cannot lock '" + lock_path_ + "'", error);
      throw FileInUse("'" + path + "' is in use by process " +
                      (got > 0 ? std::string(holder, static_cast<std::size_t>(got)) : "?") +
                      " (another linicl command is writing it); try again when it has finished");
    }
    // The holder we waited for may have removed the file we locked: lock the current one.
    struct stat locked {
    }, current{};
    if (::fstat(fd_, &locked) == 0 && ::stat(lock_path_.c_str(), &current) == 0 &&
        locked.st_ino == current.st_ino && locked.st_dev == current.st_dev) {
      break;
    }
    ::close(fd_);
  }
  const std::string pid = std::to_string(::getpid());
  // Only another writer's message uses the number: the lock holds without it.
  const bool noted = ::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, pid.data(), pid.size(), 0) > 0;
  (void)noted;
  // No other writer is alive: any temporary file beside the target was left by a killed one.
  const std::string prefix = fs::path(target).filename().string() + ".tmp-";
  std::error_code ignored;
  for (const fs::directory_entry& entry : fs::directory_iterator(folder_of(target), ignored)) {
    if (entry.path().filename().string().rfind(prefix, 0) == 0) fs::remove(entry.path(), ignored);
  }
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  ::unlink(lock_path_.c_str());  // before closing, while no one else can hold it
  ::close(fd_);
}

}  // namespace linicl
