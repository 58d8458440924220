// The layer-by-layer analysis (§8) on models whose answer is known exactly.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "fixtures.hpp"
#include "linicl/analysis/analysis.hpp"
#include "linicl/io/run_file.hpp"
#include "linicl/model/parametrization.hpp"
#include "support.hpp"

using namespace linicl;
using namespace linicl::testing;

namespace {

TrainConfig pgd_config(int layers) {
  TrainConfig config;
  config.dim = 3;
  config.context = 12;
  config.layers = layers;
  config.param = Param::kPgd;
  config.noise = 0.1;
  return config;
}

}  // namespace

TEST_CASE("a hand-made pgd model is matched step for step by PGD with its own preconditioners",
          "[analysis]") {
  const TrainConfig config = pgd_config(3);
  const Eigen::MatrixXd sigma = rotated_covariance(3, 4.0);
  const Eigen::MatrixXd sigma_w = Eigen::MatrixXd::Identity(3, 3);
  const Parametrization param = config.parametrization();
  RandomStream rs(3, Purpose::kTest);
  // Well-scaled, distinct preconditioners: Γ_ℓ = c_ℓ Σ⁻¹ + a small random part.
  Eigen::VectorXd theta(param.size());
  const Eigen::MatrixXd sigma_inv = sigma.inverse();
  for (int l = 0; l < 3; ++l) {
    const Eigen::MatrixXd a = (0.3 + 0.2 * l) * sigma_inv + random_matrix(3, 3, rs, 0.05);
    theta.segment(9 * l, 9) = Eigen::Map<const Eigen::VectorXd>(a.data(), 9);
  }
  Weights weights = param.make_weights();
  param.expand(theta, weights);
  const AnalysisReport report =
      analyze(config, sigma, sigma_w, weights, analysis_options(300, 300, 8));

  const AlgorithmMatch& own = find_learner(report, "pgd-layers");
  for (int l = 0; l < 3; ++l) {
    INFO("layer " << l + 1);
    CHECK(own.fixed.best_step[l] == l + 1);
    CHECK(std::abs(own.fixed.best_sime[l] - 1.0) < 1e-12);
    CHECK(std::abs(own.fixed.best_simw[l] - 1.0) < 1e-12);
    CHECK(report.layers[l].outside_pattern == 0.0);
    // The loss after ℓ layers is the loss after ℓ steps of the same PGD.
    CHECK(report.model_loss.mean[l + 1] == Approx(own.loss.mean[l + 1]).epsilon(1e-12));
    CHECK(report.model_loss.standard_error[l + 1] ==
          Approx(own.loss.standard_error[l + 1]).epsilon(1e-9));
    CHECK(report.model_loss.median[l + 1] == Approx(own.loss.median[l + 1]).epsilon(1e-12));
  }
  // Other learners match less than perfectly somewhere.
  CHECK(find_learner(report, "gd").fixed.best_sime.minCoeff() < 1.0 - 1e-6);
  // Layer reports follow the weights.
  CHECK((report.layers[1].gamma - effective_preconditioner(weights, 1)).norm() == 0.0);
}

TEST_CASE("the weight report measures the commutator, the Σ⁻¹ fit and Γ*", "[analysis]") {
  TrainConfig config = pgd_config(1);
  config.w_cov = WCovKind::kInverse;
  const Eigen::MatrixXd sigma = rotated_covariance(3, 10.0);
  const Eigen::MatrixXd sigma_inv = sigma.inverse();
  const Parametrization param = config.parametrization();
  // Γ = 0.7 Σ⁻¹ exactly: it commutes with Σ, is 0.7·Σ⁻¹, and Γ Σ has all eigenvalues 0.7.
  const Eigen::MatrixXd gamma = 0.7 * sigma_inv;
  const Eigen::VectorXd theta = Eigen::Map<const Eigen::VectorXd>(gamma.data(), 9);
  Weights weights = param.make_weights();
  param.expand(theta, weights);
  const AnalysisReport report =
      analyze(config, sigma, sigma_inv, weights, analysis_options(64, 64, 2));
  const LayerWeightReport& r = report.layers[0];
  CHECK(r.commutator < 1e-12);
  CHECK(r.best_inverse_scale == Approx(0.7).epsilon(1e-12));
  CHECK(r.distance_scaled_inverse < 1e-12);
  CHECK(r.eig_min == Approx(0.7).epsilon(1e-10));
  CHECK(r.eig_max == Approx(0.7).epsilon(1e-10));
  // With w ~ N(0, Σ⁻¹), Γ* = n/(n+d+1+σ²)·Σ⁻¹ (§7.1).
  const double c = 12.0 / (12.0 + 3.0 + 1.0 + 0.01);
  CHECK(r.distance_gamma_star == Approx(std::abs(0.7 - c) / c).epsilon(1e-9));
}

TEST_CASE("analyze refuses missing, non-HDF5 and non-run files and leaves them as they were",
          "[analysis]") {
  TempDir dir;
  std::ofstream(dir.file("text.h5")) << "plain text\n";
  { h5::File::create(dir.file("other.h5")).set_attr("format", "not-linicl"); }
  const std::string text = read_bytes(dir.file("text.h5"));
  const std::string other = read_bytes(dir.file("other.h5"));
  const std::pair<const char*, const char*> cases[] = {{"missing.h5", "no such file"},
                                                       {"text.h5", "not an HDF5 file"},
                                                       {"other.h5", "not a linicl run"}};
  for (const auto& [file, message] : cases) {
    const CommandResult r =
        run_command("cd '" + dir.path() + "' && '" LINICL_BINARY "' analyze " + file);
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.output, Catch::Contains(message));
  }
  CHECK(read_bytes(dir.file("text.h5")) == text);
  CHECK(read_bytes(dir.file("other.h5")) == other);
  CHECK(!std::filesystem::exists(dir.file("missing.h5")));
}

TEST_CASE("analyze writes /analysis and a re-run replaces only that group", "[analysis]") {
  TempDir dir;
  const std::string bin = "cd '" + dir.path() + "' && '" LINICL_BINARY "' ";
  REQUIRE(run_command(bin + "train -d 2 -n 6 -L 2 --steps 20 --batch 64 -o r.h5").exit_code == 0);
  const RunRecord before = load_run(dir.file("r.h5"));
  const CommandResult first =
      run_command(bin + "analyze r.h5 --prompts 50 --calibration 50 --max-steps 4");
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  CHECK_THAT(first.output, Catch::Contains("k*(l)"));
  const CommandResult second =
      run_command(bin + "analyze r.h5 --prompts 40 --calibration 50 --max-steps 3");
  REQUIRE(second.exit_code == 0);
  const h5::File file = open_run(dir.file("r.h5"));
  CHECK(file.group("/analysis").attr_int("prompts") == 40);
  CHECK(file.shape("/analysis/algorithms/newton/simw") == std::vector<std::size_t>{2, 3});
  CHECK(file.read_series("/analysis/model_loss").size() == 3);
  CHECK(file.group("/analysis/algorithms/gdpp").attr_double("calibration_loss") > 0.0);
  CHECK(std::isnan(file.group("/analysis/algorithms/newton").attr_double("calibration_loss")));
  const RunRecord after = load_run(dir.file("r.h5"));
  CHECK(after.state.theta == before.state.theta);
  CHECK(after.state.curves.train_loss == before.state.curves.train_loss);
}

TEST_CASE(
    "the fitted learners keep their calibration loss and a fit that does not carry over is "
    "noted",
    "[analysis]") {
  const TrainConfig config = pgd_config(2);
  const Eigen::MatrixXd sigma = rotated_covariance(3, 4.0);
  const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(3, 3);
  const Parametrization param = config.parametrization();
  Eigen::VectorXd theta(param.size());
  const Eigen::MatrixXd a = 0.4 * sigma.inverse();
  for (int l = 0; l < 2; ++l) {
    theta.segment(9 * l, 9) = Eigen::Map<const Eigen::VectorXd>(a.data(), 9);
  }
  Weights weights = param.make_weights();
  param.expand(theta, weights);
  const auto noted = [](const AnalysisReport& report, const std::string& learner) {
    for (const std::string& note : report.notes) {
      if (note.rfind(learner + ": ", 0) == 0) return true;
    }
    return false;
  };

  SECTION("on a large pool the fits carry over") {
    // Calibration and evaluation prompts are independent draws of the same law: the fitted
    // learners' losses after L steps agree to sampling error (a few percent at 4,000 prompts,
    // more for GD++, whose per-prompt losses are heavy-tailed: four standard errors).
    const AnalysisReport report =
        analyze(config, sigma, identity, weights, analysis_options(4000, 4000, 4));
    for (const char* name : {"gd", "pgd-inverse", "gdpp"}) {
      const AlgorithmMatch& m = find_learner(report, name);
      INFO(name << ": evaluation " << m.loss.mean[2] << " +- " << m.loss.standard_error[2]
                << ", calibration " << m.fit.calibration_loss());
      CHECK(std::abs(m.fit.calibration_loss() - m.loss.mean[2]) <=
            std::max(0.1 * m.loss.mean[2], 4.0 * m.loss.standard_error[2]));
      CHECK(m.fit.result.converged);
      CHECK(!noted(report, name));
    }
    CHECK(std::isnan(find_learner(report, "newton").fit.calibration_loss()));
    CHECK(std::isnan(find_learner(report, "pgd-layers").fit.calibration_loss()));
  }
  SECTION("GD++'s four scalars fitted on two prompts do not") {
    AnalysisOptions options = analysis_options(2000, 2000, 4);
    options.calibration_prompts = 2;
    const AnalysisReport report = analyze(config, sigma, identity, weights, options);
    const AlgorithmMatch& m = find_learner(report, "gdpp");
    INFO("evaluation " << m.loss.mean[2] << ", calibration " << m.fit.calibration_loss());
    CHECK(m.loss.mean[2] > kOverfitRatio * m.fit.calibration_loss());
    CHECK(noted(report, "gdpp"));
  }
}

TEST_CASE("overfit_note() names the learner and both losses only past the ratio", "[analysis]") {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  CHECK(overfit_note("gd", 1.0, kNaN, 5.0).empty());     // not fitted
  CHECK(overfit_note("gd", 2.0, 1.0, 5.0).empty());      // at the ratio: not yet
  CHECK(overfit_note("gd", 3e-12, 1e-30, 5.0).empty());  // past it, but rounding-level
  CHECK(!overfit_note("gd", 6e-6, 1e-30, 5.0).empty());
  CHECK(!overfit_note("gd", kNaN, 1.0, 5.0).empty());  // iterates that blew up
  CHECK(!overfit_note("gd", std::numeric_limits<double>::infinity(), 1.0, 5.0).empty());
  const std::string note = overfit_note("gdpp", 36.52, 0.03421, 5.0);
  CHECK_THAT(note, Catch::StartsWith("gdpp: ") && Catch::Contains("36.52") &&
                       Catch::Contains("0.03421") && Catch::Contains("--calibration"));
}
