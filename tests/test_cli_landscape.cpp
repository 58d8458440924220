// `linicl landscape` end to end: every mode writes /landscape/MODE; bad input changes nothing.
#include <catch2/catch.hpp>

#include <cmath>

#include "linicl/io/h5.hpp"
#include "linicl/io/run_file.hpp"
#include "support.hpp"

using namespace linicl;
using namespace linicl::testing;

namespace {

const std::string kTrain =
    "train -d 3 -n 8 --batch 128 --steps 60 --eval-every 30 --eval-batch 256 --warmup 0";

}  // namespace

TEST_CASE("landscape modes write their results into the run file", "[landscape][cli]") {
  TempDir dir;
  REQUIRE(run_linicl(dir.path(), kTrain + " -L 2 -o deep.h5").exit_code == 0);
  REQUIRE(run_linicl(dir.path(), kTrain + " -L 1 --param pgd --lr 0.03 -o one.h5").exit_code == 0);

  const CommandResult curvature = run_linicl(dir.path(), "landscape deep.h5 curvature --pool 256");
  INFO(curvature.output);
  REQUIRE(curvature.exit_code == 0);
  CHECK_THAT(curvature.output, Catch::Contains("sharpness"));
  const CommandResult slice =
      run_linicl(dir.path(), "landscape deep.h5 slice --dims 2 --points 3 --layer 1 --pool 64");
  INFO(slice.output);
  REQUIRE(slice.exit_code == 0);
  const CommandResult exact = run_linicl(dir.path(), "landscape one.h5 exact --pool 512");
  INFO(exact.output);
  REQUIRE(exact.exit_code == 0);
  const CommandResult critical = run_linicl(dir.path(), "landscape one.h5 critical --pool 512");
  INFO(critical.output);
  REQUIRE(critical.exit_code == 0);
  const CommandResult line = run_linicl(
      dir.path(), "landscape one.h5 slice --direction theory --points 5 --range 0 1 --pool 64");
  INFO(line.output);
  REQUIRE(line.exit_code == 0);

  const h5::File deep = open_run(dir.file("deep.h5"));
  const Eigen::MatrixXd eigenvalues = deep.read_matrix("/landscape/curvature/eigenvalues");
  CHECK(eigenvalues.size() == 2 * 2 * 16);
  CHECK(deep.group("landscape/curvature").attr_double("sharpness") ==
        Approx(eigenvalues.maxCoeff()).epsilon(1e-10));
  CHECK(deep.read_matrix("/landscape/slice/loss").rows() == 3);
  CHECK(deep.read_matrix("/landscape/slice/loss").cols() == 3);
  // --layer 1: the random directions leave layer 0 alone.
  const Eigen::MatrixXd u = deep.read_matrix("/landscape/slice/direction_u");
  CHECK(u.topRows(32).norm() == 0.0);
  CHECK(u.bottomRows(32).norm() > 0.0);

  const h5::File one = open_run(dir.file("one.h5"));
  const h5::Node e = one.group("landscape/exact");
  CHECK(std::abs(e.attr_double("sampled_loss") - e.attr_double("loss")) <=
        3.0 * e.attr_double("sampled_standard_error"));
  const h5::Node minimum = one.group("landscape/critical/one_layer_minimum");
  CHECK(minimum.attr_double("exact_gradient_norm") <= 1e-10);
  CHECK(minimum.group("curvature").attr_int("negative") == 0);
  CHECK(one.exists("landscape/critical/family"));
  // The line to the theory point: 1 is Γ*, where the exact f is smallest along the line.
  const Eigen::MatrixXd exact_line = one.read_matrix("/landscape/slice/exact");
  CHECK(exact_line(4, 0) == Approx(e.attr_double("loss_star")).epsilon(1e-12));
  CHECK(exact_line.minCoeff() == exact_line(4, 0));
}

TEST_CASE("landscape refuses bad input with a clear message and leaves the file as it was",
          "[landscape][cli]") {
  TempDir dir;
  REQUIRE(run_linicl(dir.path(), kTrain + " -L 2 -o run.h5").exit_code == 0);
  REQUIRE(run_linicl(dir.path(), kTrain + " -L 2 -o broken.h5").exit_code == 0);
  REQUIRE(run_linicl(dir.path(), kTrain + " -L 2 --share-weights -o shared.h5").exit_code == 0);
  {
    const h5::File broken = h5::File::open(dir.file("broken.h5"), h5::File::Mode::kReadWrite);
    broken.remove("checkpoint");
    broken.remove("weights");
  }
  const auto before = snapshot(dir.path());
  const std::pair<std::string, std::string> cases[] = {
      {"landscape run.h5 hessian", "mode must be one of exact|curvature|slice|critical"},
      {"landscape run.h5 slice --layer 2", "--layer must be in [0, 2)"},
      {"landscape run.h5 slice --range 1 0", "--range"},
      {"landscape run.h5 slice --layer 0 --direction init", "random directions only"},
      {"landscape shared.h5 slice --layer 0", "shares its weights"},
      {"landscape run.h5 exact", "closed form"},
      {"landscape run.h5 critical", "pgd or gdpp"},
      {"landscape run.h5 curvature --pool 8", "--pool"},
      {"landscape broken.h5 curvature", "broken.h5"},
      {"landscape missing.h5 curvature", "missing.h5"},
      {"landscape run.h5 slice --direction other.h5", "other.h5"},
  };
  for (const auto& [args, expected] : cases) {
    const CommandResult r = run_linicl(dir.path(), args);
    INFO(args << "\n" << r.output);
    CHECK(r.exit_code == 1);  // refused values and unusable files, none a syntax error
    CHECK_THAT(r.output, Catch::StartsWith("linicl: error: ") && Catch::Contains(expected));
  }
  CHECK(snapshot(dir.path()) == before);
}
