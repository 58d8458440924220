// linicl: train linear transformers on in-context regression and analyze what they learn.
#include <exception>
#include <iostream>
#include <map>
#include <new>
#include <string>

#include "commands.hpp"

namespace {

// Every refusal is one line on stderr, whatever the message holds.
int refuse(const std::string& message, int exit_code) {
  std::string line = message;
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::cerr << "linicl: error: " << line << "\n";
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace linicl::cli;
  CLI::App app{"linicl: in-context learning simulator for linear transformers"};
  app.require_subcommand(1);
  app.set_version_flag("--version", LINICL_VERSION);
  std::map<const CLI::App*, Runner> runners;
  for (auto add : {add_train, add_inspect, add_analyze, add_landscape}) {
    Runner runner = add(app);
    runners[app.get_subcommands({}).back()] = std::move(runner);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ValidationError& e) {
    return refuse(e.what(), kExitError);  // a value outside its allowed set
  } catch (const CLI::ParseError& e) {
    return refuse(std::string(e.what()) + " (see --help)", kExitUsage);
  } catch (const std::exception& e) {
    return refuse(e.what(), kExitError);  // a number out of its range (commands.hpp)
  }
  try {
    std::string command = "linicl";
    for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
    return runners.at(app.get_subcommands().front())(command);
  } catch (const SyntaxError& e) {
    return refuse(e.what(), kExitUsage);
  } catch (const std::bad_alloc&) {
    // The up-front estimate (resources.hpp) counts the largest allocations only.
    return refuse("out of memory: this machine cannot hold what these options need", kExitError);
  } catch (const std::exception& e) {
    return refuse(e.what(), kExitError);
  }
}
