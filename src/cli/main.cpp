// linicl: train linear transformers on in-context regression and analyze what they learn.
#include <exception>
#include <iostream>
#include <map>
#include <string>

#include "commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"linicl: in-context learning simulator for linear transformers"};
  app.require_subcommand(1);
  app.set_version_flag("--version", LINICL_VERSION);
  std::map<const CLI::App*, linicl::cli::Runner> runners;
  for (auto add : {linicl::cli::add_train, linicl::cli::add_inspect, linicl::cli::add_analyze,
                   linicl::cli::add_landscape}) {
    linicl::cli::Runner runner = add(app);
    runners[app.get_subcommands({}).back()] = std::move(runner);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "linicl: error: " << e.what() << "\nRun with --help for more information.\n";
    return 2;
  }
  try {
    std::string command = "linicl";
    for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
    return runners.at(app.get_subcommands().front())(command);
  } catch (const std::exception& e) {
    std::cerr << "linicl: error: " << e.what() << "\n";
    return linicl::cli::kExitError;
  }
}
