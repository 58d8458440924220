// The run file layout of §10, read back by linicl and by h5py.
#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>

#include "linicl/io/run_file.hpp"
#include "run_fixture.hpp"
#include "support.hpp"

using namespace linicl;
using namespace linicl::testing;

TEST_CASE("a run file round-trips exactly") {
  TempDir dir;
  const RunRecord run = small_run();
  save_run(dir.file("r.h5"), run);
  const RunRecord back = load_run(dir.file("r.h5"));
  CHECK(back.state.theta == run.state.theta);
  CHECK(back.state.optimizer.first == run.state.optimizer.first);
  CHECK(back.state.optimizer.second == run.state.optimizer.second);
  CHECK(back.state.optimizer.steps == 7);
  CHECK(back.state.curves.train_loss == run.state.curves.train_loss);
  CHECK(back.state.curves.train_capped == run.state.curves.train_capped);
  CHECK(back.state.curves.eval_step == run.state.curves.eval_step);
  CHECK(back.state.curves.eval_loss_se == run.state.curves.eval_loss_se);
  CHECK(back.state.curves.eval_loss_median == run.state.curves.eval_loss_median);
  CHECK(back.sigma == run.sigma);
  CHECK(back.config.heads == 2);
  CHECK(back.command == run.command);
  CHECK(back.status == "completed");
  // Written through a temporary file: nothing else is left in the folder.
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()),
                      std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("h5py reads the weights as [L, H, d+1, d+1], row-major, and the config as attributes") {
  if (run_command("/usr/bin/python3 -c 'import h5py'").exit_code != 0) {
    WARN("h5py is not installed; skipped");
    return;
  }
  TempDir dir;
  const RunRecord run = small_run();
  save_run(dir.file("r.h5"), run);
  Weights w = run.config.parametrization().make_weights();
  run.config.parametrization().expand(run.state.theta, w);
  // Strings are fixed-length (h5.hpp), which h5py reads as bytes.
  const CommandResult result = run_command(
      "/usr/bin/python3 -c \"import h5py; f = h5py.File('" + dir.file("r.h5") +
      "', 'r'); P = f['weights/P']; c = f['config'].attrs; print(P.shape, repr(P[1, 0, 0, 2]), "
      "repr(P[1, 0, 2, 0]), f.attrs['format'].decode(), c['param'].decode(), int(c['dim']), "
      "type(c['x-dist'].decode()).__name__)\"");
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::StartsWith("(2, 2, 3, 3) "));
  CHECK_THAT(result.output, Catch::EndsWith(" linicl-run full 2 str\n"));
  // Python's repr round-trips: the values parse back to the very same doubles.
  std::istringstream values(result.output.substr(std::string("(2, 2, 3, 3) ").size()));
  double upper_right = 0.0, lower_left = 0.0;
  values >> upper_right >> lower_left;
  CHECK(upper_right == w.p(1, 0)(0, 2));
  CHECK(lower_left == w.p(1, 0)(2, 0));
}

TEST_CASE("files that are not linicl runs are refused by name") {
  TempDir dir;
  CHECK_THROWS_WITH(load_run(dir.file("none.h5")), Catch::Contains("no such file"));
  { h5::File::create(dir.file("other.h5")).set_attr("format", "something-else"); }
  CHECK_THROWS_WITH(load_run(dir.file("other.h5")), Catch::Contains("not a linicl run file"));
}
