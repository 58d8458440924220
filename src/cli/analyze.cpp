// `linicl analyze FILE`: which algorithm each layer implements (DESIGN §8); tables on stdout,
// results into /analysis of the run file.
#include <omp.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "linicl/analysis.hpp"
#include "linicl/run_file.hpp"

namespace linicl::cli {

namespace {

struct AnalyzeArgs {
  std::string path;
  AnalysisOptions options;
  int threads = 0;
};

void print_losses(const AnalysisReport& report) {
  const int layers = static_cast<int>(report.model_loss.size()) - 1;
  std::printf("\nLoss after l layers (model) and after k = l steps of each learner\n%6s %11s", "l",
              "model");
  for (const AlgorithmMatch& m : report.algorithms) std::printf(" %11s", m.name.c_str());
  std::printf("\n");
  for (int l = 0; l <= layers; ++l) {
    std::printf("%6d %11.4g", l, report.model_loss[l]);
    for (const AlgorithmMatch& m : report.algorithms) {
      const int k = std::min<int>(l, static_cast<int>(m.loss.size()) - 1);
      std::printf(" %11.4g", m.loss[k]);
    }
    std::printf("\n");
  }
}

void print_matches(const AnalysisReport& report) {
  std::printf("\nBest-matching step k*(l) by SimE, with SimE / SimW there\n%6s", "l");
  for (const AlgorithmMatch& m : report.algorithms) std::printf(" %22s", m.name.c_str());
  std::printf("\n");
  const int layers = static_cast<int>(report.model_loss.size()) - 1;
  for (int l = 0; l < layers; ++l) {
    std::printf("%6d", l + 1);
    for (const AlgorithmMatch& m : report.algorithms) {
      char cell[64];
      std::snprintf(cell, sizeof cell, "%d: %.4f/%.4f", m.best_step[l], m.best_sime[l],
                    m.best_simw[l]);
      std::printf(" %22s", cell);
    }
    std::printf("\n");
  }
  for (const AlgorithmMatch& m : report.algorithms) {
    if (m.parameters.empty()) continue;
    std::printf("  %s parameters:", m.name.c_str());
    for (double p : m.parameters) std::printf(" %.6g", p);
    std::printf("\n");
  }
}

void print_weights(const AnalysisReport& report) {
  std::printf(
      "\nWeights against the pgd pattern and the theory\n%6s %10s %10s %10s %10s %10s %10s %10s\n",
      "l", "outside", "|G-G*|", "a", "|G-aS^-1|", "[G,S]", "eig min", "eig max");
  for (std::size_t l = 0; l < report.layers.size(); ++l) {
    const LayerWeightReport& r = report.layers[l];
    std::printf("%6zu %10.4g %10.4g %10.4g %10.4g %10.4g %10.4g %10.4g\n", l + 1, r.outside_pattern,
                r.distance_gamma_star, r.best_inverse_scale, r.distance_scaled_inverse,
                r.commutator, r.eig_min, r.eig_max);
  }
  std::printf(
      "  outside: |(P,Q) off the pgd pattern|/|(P,Q)|;  |G-G*|: relative distance of Gamma_l to "
      "Gamma*;\n  a, |G-aS^-1|: best multiple of Sigma^-1 and the relative distance to it;  "
      "[G,S]: relative commutator;\n  eig: real parts of the eigenvalues of Gamma_l Sigma\n");
}

int run_analyze(const AnalyzeArgs& args) {
  if (args.threads < 0) {
    throw std::invalid_argument("--threads must be >= 0 (got " + std::to_string(args.threads) +
                                ")");
  }
  if (args.threads > 0) omp_set_num_threads(args.threads);
  args.options.check();
  const RunRecord run = load_run(args.path);
  const Parametrization param = run.config.parametrization();
  Weights weights = param.make_weights();
  param.expand(run.state.theta, weights);
  const AnalysisReport report = analyze(run.config, run.sigma, run.sigma_w, weights, args.options);
  edit_run_file(args.path, [&](h5::File& file) { write_analysis(file, report); });
  std::printf("%s: %d-layer %s model, d = %d, n = %d; %d evaluation prompts (seed %llu)\n",
              args.path.c_str(), run.config.layers, run.config.param.c_str(), run.config.dim,
              run.config.context, args.options.prompts,
              static_cast<unsigned long long>(args.options.seed));
  print_losses(report);
  print_matches(report);
  print_weights(report);
  for (const std::string& note : report.notes) std::printf("note: %s\n", note.c_str());
  if (run.status != "completed") {
    std::printf("note: the run's status is %s%s%s; these are its last saved weights\n",
                run.status.c_str(), run.reason.empty() ? "" : ": ", run.reason.c_str());
  }
  if (!report.model_loss.allFinite()) {
    std::printf("note: the model's loss overflows on some evaluation prompts (inf above)\n");
  }
  std::printf("\nWritten to /analysis in %s\n", args.path.c_str());
  return 0;
}

}  // namespace

Runner add_analyze(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "analyze",
      "compare every layer with GD, PGD, GD++, Newton, OLS and ridge (writes /analysis)");
  auto args = std::make_shared<AnalyzeArgs>();
  AnalysisOptions& o = args->options;
  cmd->add_option("file", args->path, "run file")->required();
  cmd->add_option("--prompts", o.prompts, "evaluation prompts (>= 1)")->capture_default_str();
  cmd->add_option("--calibration", o.calibration_prompts,
                  "prompts on which GD's step and the GD++ and a*Sigma^-1 scalars are fitted")
      ->capture_default_str();
  cmd->add_option("--max-steps", o.max_steps, "steps K of gd, pgd-theory and newton")
      ->capture_default_str();
  cmd->add_option("--ridge-lambda", o.ridge_lambda,
                  "ridge lambda, > 0 (default: sigma^2, at least 1e-8)")
      ->check(positive())
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "seed of the evaluation and calibration prompts")
      ->check(non_negative())
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "OpenMP threads (0: the OpenMP default)")
      ->capture_default_str();
  return [args](const std::string&) { return run_analyze(*args); };
}

}  // namespace linicl::cli
