#include "linicl/io/atomic_file.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "support.hpp"

using linicl::check_output_target;
using linicl::FileInUse;
using linicl::IoError;
using linicl::OutputLock;
using linicl::write_file_atomically;
using linicl::testing::TempDir;

namespace fs = std::filesystem;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void write(const std::string& path, const std::string& text) {
  write_file_atomically(path, text.data(), text.size());
}

std::size_t files_in(const std::string& folder) {
  return static_cast<std::size_t>(
      std::distance(fs::directory_iterator(folder), fs::directory_iterator()));
}

// Limits the size of any file this process writes, as a full disk would (writes past it fail
// with EFBIG instead of raising SIGXFSZ); restores the limit when it goes.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    previous_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previous_handler_);
  }

 private:
  rlimit saved_{};
  void (*previous_handler_)(int) = nullptr;
};

}  // namespace

TEST_CASE("write_file_atomically replaces a file and leaves nothing beside it", "[io]") {
  TempDir dir;
  const std::string path = dir.file("run.h5");
  write(path, "first");
  write(path, "second version");
  CHECK(read_all(path) == "second version");
  CHECK(files_in(dir.path()) == 1);
}

TEST_CASE("a failed write keeps the previous file whole and removes the temporary", "[io]") {
  TempDir dir;
  const std::string path = dir.file("run.h5");
  write(path, "good checkpoint");
  const std::string big(100000, 'x');
  {
    const FileSizeLimit limit(4096);
    REQUIRE_THROWS_WITH(write(path, big), Catch::Contains("cannot write '" + path + "'") &&
                                              Catch::Contains("the previous file is unchanged") &&
                                              Catch::Contains("File too large"));
  }
  CHECK(read_all(path) == "good checkpoint");
  CHECK(files_in(dir.path()) == 1);
}

TEST_CASE("outputs are regular files or new paths, also through a symbolic link", "[io]") {
  TempDir dir;
  CHECK_THROWS_WITH(write("/dev/null", "x"), Catch::Contains("'/dev/null' is a character device"));
  CHECK_THROWS_WITH(check_output_target("/dev/null"), Catch::Contains("character device"));
  const std::string link = dir.file("link.h5");
  fs::create_symlink("/dev/null", link);
  CHECK_THROWS_WITH(write(link, "x"), Catch::Contains("character device"));
  CHECK_THROWS_WITH(check_output_target(dir.path()), Catch::Contains("is a folder"));
  // A link to a regular file: the target is replaced and the link stays a link.
  const std::string target = dir.file("target.h5");
  write(target, "old");
  fs::create_symlink(target, dir.file("alias.h5"));
  write(dir.file("alias.h5"), "new");
  CHECK(fs::is_symlink(dir.file("alias.h5")));
  CHECK(read_all(target) == "new");
}

TEST_CASE("check_output_target finds a folder that cannot take a file before any work", "[io]") {
  TempDir dir;
  CHECK_THROWS_WITH(check_output_target(dir.file("missing/run.h5")),
                    Catch::Contains("does not exist"));
  const FileSizeLimit limit(0);
  CHECK_THROWS_WITH(check_output_target(dir.file("run.h5")), Catch::Contains("File too large"));
  CHECK(files_in(dir.path()) == 0);
}

TEST_CASE("an output lock excludes a second writer and names the holder", "[io]") {
  TempDir dir;
  const std::string path = dir.file("run.h5");
  std::ofstream(dir.file("run.h5.tmp-AbC123")) << "left by a killed writer";
  {
    const OutputLock held(path);
    CHECK_FALSE(fs::exists(dir.file("run.h5.tmp-AbC123")));  // stale temporaries go
    CHECK_THROWS_AS(OutputLock(path), FileInUse);
    CHECK_THROWS_WITH(OutputLock(path),
                      Catch::Contains("in use by process " + std::to_string(::getpid())));
  }
  CHECK(files_in(dir.path()) == 0);  // the lock file goes with the lock
  const OutputLock again(path);
}
