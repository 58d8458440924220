// `linicl inspect FILE`: what a run file holds, in words and tables.
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "commands.hpp"
#include "linicl/analysis/theory.hpp"
#include "linicl/io/run_file.hpp"
#include "terminal.hpp"

namespace linicl::cli {

namespace {

void print_config(const TrainConfig& config) {
  std::cout << "config\n";
  TrainConfig copy = config;
  visit_options(copy, [](const char* name, const auto& field, const char*) {
    using T = std::decay_t<decltype(field)>;
    std::cout << "  " << std::left << std::setw(18) << name << std::right << " ";
    if constexpr (std::is_same_v<T, std::vector<double>>) {
      for (std::size_t i = 0; i < field.size(); ++i) std::cout << (i ? "," : "") << field[i];
    } else if constexpr (std::is_same_v<T, bool>) {
      std::cout << (field ? "true" : "false");
    } else if constexpr (std::is_enum_v<T>) {
      std::cout << name_of(field);
    } else {
      std::cout << field;
    }
    std::cout << "\n";
  });
}

// load_run has checked that `steps` and `values` have the same length.
template <class Step, class Value>
void print_curve(const char* label, const std::vector<Step>& steps,
                 const std::vector<Value>& values) {
  if (values.empty()) {
    std::cout << "  " << label << ": no rows\n";
    return;
  }
  std::cout << "  " << label << ": " << values.front() << " at step " << steps.front() << " -> "
            << values.back() << " at step " << steps.back() << " (" << values.size() << " rows)\n";
}

// The four blocks of a (d+1)×(d+1) matrix: covariates x, label y.
void print_blocks(const std::string& name, const Eigen::MatrixXd& m) {
  const Eigen::Index d = m.rows() - 1;
  print_matrix(std::cout, name + "_xx", m.topLeftCorner(d, d));
  print_matrix(std::cout, name + "_xy", m.topRightCorner(d, 1));
  print_matrix(std::cout, name + "_yx", m.bottomLeftCorner(1, d));
  print_matrix(std::cout, name + "_yy", m.bottomRightCorner(1, 1));
}

// The landscape series of --track-every, one row per tracked step.
void print_track(const TrackSeries& t) {
  if (t.empty()) return;
  std::printf("landscape along training (--track-every)\n  %8s %11s %11s %11s %11s %11s %6s\n",
              "step", "sharpness", "lmax/lmed", "dir.smooth", "|grad|", "noise", "tail");
  for (std::size_t r = 0; r < t.step.size(); ++r) {
    std::printf("  %8lld %11.4g %11.4g %11.4g %11.4g %11.4g %6.3g\n",
                static_cast<long long>(t.step[r]), t.sharpness[r], t.robust_condition[r],
                t.directional_smoothness[r], t.grad_norm[r], t.noise_mean[r], t.tail_index[r]);
  }
}

int run_inspect(const std::string& path) {
  const RunRecord run = load_run(path);
  const TrainConfig& c = run.config;
  std::cout << path << ": linicl run, status " << run.status
            << (run.reason.empty() ? "" : " (" + run.reason + ")") << ", " << run.state.step
            << " of " << c.steps << " steps\n  made by: " << run.command << "\n";
  print_config(c);
  std::cout << "curves\n";
  print_curve("train loss", run.state.curves.train_step, run.state.curves.train_loss);
  print_curve("eval loss ", run.state.curves.eval_step, run.state.curves.eval_loss);
  print_track(run.state.curves.track);
  print_matrix(std::cout, "Sigma", run.sigma, "  ");

  const Parametrization param = c.parametrization();
  Weights weights = param.make_weights();
  param.expand(run.state.theta, weights);
  const bool structured = c.param != Param::kFull;
  // One pgd layer has the closed form Γ* of §7.1, unless the covariate law lacks the moments
  // it needs: then inspect says so and prints everything else.
  std::unique_ptr<OneLayerTheory> theory;
  std::string no_theory;
  if (c.param == Param::kPgd && c.layers == 1) {
    try {
      theory = std::make_unique<OneLayerTheory>(c.task_spec(), run.sigma, run.sigma_w);
    } catch (const std::invalid_argument& e) {
      no_theory = e.what();
    }
  }
  for (int l = 0; l < c.layers; ++l) {
    std::cout << "layer " << l << "\n";
    for (int h = 0; h < c.heads; ++h) {
      std::cout << "  head " << h << "\n";
      print_blocks("P", weights.p(l, h));
      print_blocks("Q", weights.q(l, h));
    }
    if (!structured) continue;
    const Eigen::MatrixXd gamma = effective_preconditioner(weights, l);
    print_matrix(std::cout, "effective preconditioner Gamma", gamma, "  ");
    if (theory) {
      print_matrix(std::cout, "closed form Gamma* (docs/math.md §7.1)", theory->gamma_star(), "  ");
      std::cout << "  relative distance |Gamma - Gamma*|_F / |Gamma*|_F = "
                << relative_distance(gamma, theory->gamma_star()) << "\n";
    } else if (!no_theory.empty()) {
      std::cout << "  no closed form Gamma* (docs/math.md §7.1): " << no_theory << "\n";
    }
  }
  return 0;
}

}  // namespace

Runner add_inspect(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("inspect", "print a run file's config, curves and weights");
  auto path = std::make_shared<std::string>();
  cmd->add_option("file", *path, "run file")->required();
  return [path](const std::string&) { return run_inspect(*path); };
}

}  // namespace linicl::cli
