// Analysis reports into the run file.
#include "linicl/io/analysis_file.hpp"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "linicl/data/streams.hpp"
#include "linicl/io/h5.hpp"
#include "linicl/io/run_file.hpp"

namespace linicl {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> to_vector(const Eigen::VectorXd& v) {
  return {v.data(), v.data() + v.size()};
}

void write_loss_stats(const h5::Node& group, const std::string& name, const LossStats& s) {
  group.write_series(name, to_vector(s.mean));
  group.write_series(name + "_se", to_vector(s.standard_error));
  group.write_series(name + "_median", to_vector(s.median));
}

void write_step_match(const h5::Node& group, const StepMatch& m) {
  group.write_matrix("simw", m.simw);
  group.write_matrix("sime", m.sime);
  group.write_series("best_step",
                     std::vector<std::int64_t>(m.best_step.begin(), m.best_step.end()));
  group.write_series("best_sime", to_vector(m.best_sime));
  group.write_series("best_simw", to_vector(m.best_simw));
}

// Replaces /analysis under `file` with the report.
void write_analysis(const h5::Node& file, const AnalysisReport& report) {
  file.remove("/analysis");
  const h5::Node group = file.create_group("/analysis");
  const AnalysisOptions& o = report.options;
  group.set_attr("prompts", static_cast<std::int64_t>(o.prompts));
  group.set_attr("calibration_prompts", static_cast<std::int64_t>(o.calibration_prompts));
  group.set_attr("max_steps", static_cast<std::int64_t>(o.max_steps));
  group.set_attr("seed", static_cast<std::int64_t>(o.seed));
  // Which steps of the seed the prompts were (streams.hpp); analyses before the registry used
  // steps 2 (evaluation) and 1 (calibration) and have no such attributes.
  group.set_attr("evaluation_step",
                 static_cast<std::int64_t>(prompt_step(PromptSet::kAnalysisEvaluation)));
  group.set_attr("calibration_step",
                 static_cast<std::int64_t>(prompt_step(PromptSet::kAnalysisCalibration)));
  group.set_attr("newton_start",
                 std::string(o.newton_start == NewtonStart::kSpectral ? "spectral" : "frobenius"));
  group.set_attr("fit_gradient_tolerance", o.fit.gradient_tolerance);
  std::string notes;
  for (const std::string& note : report.notes) notes += (notes.empty() ? "" : "\n") + note;
  group.set_attr("notes", notes);
  write_loss_stats(group, "model_loss", report.model_loss);
  write_loss_stats(group, "probe_loss", report.probe_loss);
  group.write_matrix("probes", report.probes);
  for (const AlgorithmMatch& m : report.algorithms) {
    const h5::Node alg = group.create_group("algorithms/" + m.name);
    alg.set_attr("description", m.description);
    alg.set_attr("calibration_loss", m.fit.calibration_loss());
    alg.set_attr("fit_gradient_norm", m.fit.fitted ? m.fit.result.scalar_grad_norm : kNaN);
    alg.set_attr("fit_converged", static_cast<std::int64_t>(m.fit.result.converged));
    alg.set_attr("fit_starts", static_cast<std::int64_t>(m.fit.fitted ? m.fit.result.starts : 0));
    alg.set_attr("fit_agreeing",
                 static_cast<std::int64_t>(m.fit.fitted ? m.fit.result.agreeing : 0));
    alg.write_series("parameters", m.parameters);
    write_loss_stats(alg, "loss", m.loss);
    write_step_match(alg, m.fixed);
    write_step_match(alg.create_group("probe"), m.probe);
  }
  const int layers = static_cast<int>(report.layers.size());
  if (layers == 0) return;
  const std::size_t d = report.layers[0].gamma.rows();
  std::vector<double> gammas;
  for (const LayerWeightReport& r : report.layers) {
    for (std::size_t i = 0; i < d; ++i) {
      for (std::size_t j = 0; j < d; ++j) gammas.push_back(r.gamma(i, j));
    }
  }
  group.write_array("layers/gamma", {static_cast<std::size_t>(layers), d, d}, gammas);
  auto column = [&](const char* name, double LayerWeightReport::*field) {
    std::vector<double> values;
    for (const LayerWeightReport& r : report.layers) values.push_back(r.*field);
    group.write_series(std::string("layers/") + name, values);
  };
  column("outside_pattern", &LayerWeightReport::outside_pattern);
  column("distance_gamma_star", &LayerWeightReport::distance_gamma_star);
  column("best_inverse_scale", &LayerWeightReport::best_inverse_scale);
  column("distance_scaled_inverse", &LayerWeightReport::distance_scaled_inverse);
  column("commutator", &LayerWeightReport::commutator);
  column("eig_min", &LayerWeightReport::eig_min);
  column("eig_max", &LayerWeightReport::eig_max);
}

}  // namespace

void save_analysis(const OutputLock& held, const AnalysisReport& report) {
  edit_run_file(held, [&](h5::File& file) { write_analysis(file, report); });
}

}  // namespace linicl
