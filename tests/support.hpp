// Helpers shared by the tests: scratch folders and running commands.
#pragma once

#include <map>
#include <string>

namespace linicl::testing {

// A fresh folder under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code;
  std::string output;  // stdout and stderr, interleaved
};

// Runs `command` through /bin/sh and captures what it prints.
CommandResult run_command(const std::string& command);

// The contents of a file as bytes ("" if it cannot be read).
std::string read_bytes(const std::string& path);

// Runs the linicl binary under test in `dir` with `args` (and environment assignments `env`).
CommandResult run_linicl(const std::string& dir, const std::string& args,
                         const std::string& env = "");

// Every file of a folder with its bytes: what a refused command must leave as it was.
std::map<std::string, std::string> snapshot(const std::string& dir);

}  // namespace linicl::testing
