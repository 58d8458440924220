// `linicl analyze FILE`: which algorithm each layer implements (§8); tables on stdout,
// results into /analysis of the run file.
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>

#include "commands.hpp"
#include "linicl/analysis/analysis.hpp"
#include "linicl/io/analysis_file.hpp"
#include "linicl/io/resources.hpp"
#include "linicl/io/run_file.hpp"

namespace linicl::cli {

namespace {

struct AnalyzeArgs {
  std::string path;
  AnalysisOptions options;
  int threads = 0;
};

void print_losses(const AnalysisReport& report) {
  const int layers = static_cast<int>(report.model_loss.mean.size()) - 1;
  std::printf(
      "\nLoss after l layers (model: its own readout; probe: a least-squares readout of the "
      "query column)\nand after k = l steps of each learner: mean over the evaluation prompts\n"
      "%6s %11s %11s",
      "l", "model", "probe");
  for (const AlgorithmMatch& m : report.algorithms) std::printf(" %11s", m.name.c_str());
  std::printf("\n");
  auto rows = [&](auto value) {
    for (int l = 0; l <= layers; ++l) {
      std::printf("%6d %11.4g %11.4g", l, value(report.model_loss, l), value(report.probe_loss, l));
      for (const AlgorithmMatch& m : report.algorithms) {
        std::printf(" %11.4g", value(m.loss, std::min<int>(l, m.steps())));
      }
      std::printf("\n");
    }
  };
  rows([](const LossStats& s, int k) { return s.mean[k]; });
  std::printf("  standard error of the mean\n");
  rows([](const LossStats& s, int k) { return s.standard_error[k]; });
  std::printf("  median\n");
  rows([](const LossStats& s, int k) { return s.median[k]; });
}

void print_step_matches(const AnalysisReport& report, bool probe) {
  std::printf("\nBest-matching step k*(l) by SimE, with SimE / SimW there (%s)\n%6s",
              probe ? "probe readout" : "the model's readout", "l");
  for (const AlgorithmMatch& m : report.algorithms) std::printf(" %22s", m.name.c_str());
  std::printf("\n");
  const int layers = static_cast<int>(report.model_loss.mean.size()) - 1;
  for (int l = 0; l < layers; ++l) {
    std::printf("%6d", l + 1);
    for (const AlgorithmMatch& m : report.algorithms) {
      const StepMatch& match = probe ? m.probe : m.fixed;
      char cell[64];
      std::snprintf(cell, sizeof cell, "%d: %.4f/%.4f", match.best_step[l], match.best_sime[l],
                    match.best_simw[l]);
      std::printf(" %22s", cell);
    }
    std::printf("\n");
  }
}

void print_fits(const AnalysisReport& report) {
  std::printf("\nFitted learners (on the calibration prompts)\n");
  for (const AlgorithmMatch& m : report.algorithms) {
    if (m.parameters.empty()) continue;
    std::printf("  %s parameters:", m.name.c_str());
    for (double p : m.parameters) std::printf(" %.6g", p);
    if (m.fit.fitted) {
      const FamilyFit& f = m.fit.result;
      std::printf("\n    loss %.6g, gradient %.2g (%s), %d of %d starts agree", f.loss,
                  f.scalar_grad_norm, f.converged ? "converged" : "NOT converged", f.agreeing,
                  f.starts);
    }
    std::printf("\n");
  }
  std::printf("  newton's step k uses M_(k-1): k - 1 in the convention where M_0 is step 0\n");
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
  const int threads = use_threads(args.threads);
  args.options.check();
  const OutputLock lock(args.path);  // held from reading the run to writing its results
  const RunRecord run = load_run(args.path);
  check_resources(estimate_analysis(run.config, args.options, threads), machine_limits());
  const Parametrization param = run.config.parametrization();
  Weights weights = param.make_weights();
  param.expand(run.state.theta, weights);
  const AnalysisReport report = analyze(run.config, run.sigma, run.sigma_w, weights, args.options);
  save_analysis(lock, report);
  std::printf("%s: %d-layer %s model, d = %d, n = %d; %d evaluation prompts (seed %llu)\n",
              args.path.c_str(), run.config.layers, name_of(run.config.param), run.config.dim,
              run.config.context, args.options.prompts,
              static_cast<unsigned long long>(args.options.seed));
  print_losses(report);
  print_step_matches(report, false);
  print_step_matches(report, true);
  print_fits(report);
  print_weights(report);
  for (const std::string& note : report.notes) std::printf("note: %s\n", note.c_str());
  if (run.status != "completed") {
    std::printf("note: the run's status is %s%s%s; these are its last saved weights\n",
                run.status.c_str(), run.reason.empty() ? "" : ": ", run.reason.c_str());
  }
  if (!report.model_loss.mean.allFinite()) {
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
  add_number(*cmd, "--prompts", o.prompts, "evaluation prompts (>= 2: a standard error needs two)");
  add_number(*cmd, "--calibration", o.calibration_prompts,
             "prompts on which GD's step, the GD++ and a*Sigma^-1 scalars and the probes are "
             "fitted");
  add_number(*cmd, "--max-steps", o.max_steps, "steps K of gd, pgd-theory and newton");
  // -1, the default's sentinel (sigma^2), is not a value to give.
  add_number(*cmd, "--ridge-lambda", o.ridge_lambda,
             "ridge lambda, > 0 (default: sigma^2, at least 1e-8)")
      ->check(rule<double>("--ridge-lambda", "> 0", [](double lambda) { return lambda > 0.0; }));
  cmd->add_option("--newton-start", o.newton_start,
                  "Newton's M_0 = alpha S: spectral (alpha = 2/(lambda_max^2 + lambda_min^2)) or "
                  "frobenius (alpha = 1/|S S|_F)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, NewtonStart>{
          {"spectral", NewtonStart::kSpectral}, {"frobenius", NewtonStart::kFrobenius}}))
      ->transform(one_of("--newton-start", {"spectral", "frobenius"}))  // runs first
      ->default_str("spectral");
  add_number(*cmd, "--fit-tolerance", o.fit.gradient_tolerance,
             "fitted learners: converged when |gradient| <= this x (1 + loss), in (0, 1)")
      ->check(rule<double>("--fit-tolerance", "in (0, 1)",
                           [](double tolerance) { return tolerance > 0.0 && tolerance < 1.0; }));
  add_number(*cmd, "--seed", o.seed, "seed of the evaluation and calibration prompts");
  add_threads_option(*cmd, args->threads);
  return [args](const std::string&) { return run_analyze(*args); };
}

}  // namespace linicl::cli
