// `linicl landscape FILE MODE`: the loss landscape at a run's weights (§9); a summary on
// stdout, results into /landscape/MODE of the run file (through a temporary file).
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include "commands.hpp"
#include "linicl/io/landscape_file.hpp"
#include "linicl/io/resources.hpp"
#include "linicl/io/run_file.hpp"
#include "linicl/landscape/landscape.hpp"

namespace linicl::cli {

namespace {

struct LandscapeArgs {
  std::string path, mode;
  LandscapeOptions options;
  int threads = 0;
  // slice
  int dims = 1;
  std::string direction = "random";  // random | theory | init | a run file
  int layer = -1;
  int points = 0;  // 0: 21 for 1-D, 15 for 2-D
  std::vector<double> range;
  std::uint64_t direction_seed = 1;
};

void print_curvature(const Curvature& c) {
  if (c.full) {
    std::printf("  Hessian: %lld eigenvalues (full), %d of the parameters inactive\n",
                static_cast<long long>(c.eigenvalues.size()), c.inactive);
    std::printf("  sharpness %.6g, median %.6g, robust condition %.6g\n", c.sharpness, c.median,
                c.robust_condition);
    std::printf("  signature over active parameters: %d negative, %d zero, %d positive\n",
                c.negative, c.zero, c.positive);
  } else {
    std::printf("  Hessian: Lanczos extremes, quadrature median, %d of the parameters inactive\n",
                c.inactive);
    if (!c.converged) {
      std::printf(
          "  warning: Lanczos stopped at --lanczos-iterations before the extremes met "
          "its tolerance\n");
    }
    std::printf("  sharpness %.6g, median ~%.6g, robust condition ~%.6g\n", c.sharpness, c.median,
                c.robust_condition);
  }
  std::printf("  largest:");
  for (double v : c.largest) std::printf(" %.6g", v);
  std::printf("\n  smallest:");
  for (double v : c.smallest) std::printf(" %.6g", v);
  std::printf("\n");
}

void print_critical(const std::string& name, const CriticalPoint& p) {
  std::printf("\n%s: %s\n", name.c_str(), p.family.c_str());
  if (p.scalars.size() > 0) {
    std::printf("  scalars:");
    for (double s : p.scalars) std::printf(" %.6g", s);
    std::printf("  (%d Newton iterations; %d of %d starts agree%s)\n", p.iterations, p.agreeing,
                p.starts, p.converged ? "" : "; NOT converged");
  }
  std::printf("  sampled loss %.6g +- %.2g", p.loss.mean, p.loss.standard_error);
  if (!std::isnan(p.exact_loss)) std::printf(", exact f %.10g", p.exact_loss);
  std::printf("\n  |grad| %.4g on an independent pool, sampling noise %.4g (ratio %.3g)\n",
              p.gradient_norm, p.gradient_noise, p.gradient_norm / p.gradient_noise);
  if (!std::isnan(p.exact_gradient_norm)) {
    std::printf("  exact |grad f| %.3g\n", p.exact_gradient_norm);
  }
  print_curvature(p.curvature);
}

// Points per axis of a slice: --points, or 21 in 1-D and 15 in 2-D.
int points_per_axis(const LandscapeArgs& args) {
  return args.points > 0 ? args.points : (args.dims == 1 ? 21 : 15);
}

// The far end of a line slice: the theory point, the run's initialization, or another run.
Eigen::VectorXd slice_target(const LandscapeArgs& args, const RunRecord& run,
                             const TaskSampler& sampler, const Parametrization& param) {
  if (args.direction == "theory") return theory_point(sampler, param, args.options);
  if (args.direction == "init") {
    if (!run.config.init.empty()) {
      throw std::invalid_argument("--direction init: the run started from --init " +
                                  run.config.init + "; pass that file as --direction instead");
    }
    return Trainer(run.config, sampler).initial_state().theta;
  }
  const RunRecord other = load_run(args.direction);
  if (other.config.param != run.config.param || other.config.dim != run.config.dim ||
      other.config.layers != run.config.layers || other.config.heads != run.config.heads ||
      other.config.share_weights != run.config.share_weights) {
    throw std::invalid_argument("--direction " + args.direction +
                                ": its model (param, dim, layers, heads, sharing) differs from " +
                                args.path + "'s");
  }
  return other.state.theta;
}

int run_landscape(const LandscapeArgs& args) {
  const int threads = use_threads(args.threads);
  args.options.check();
  if (!args.range.empty() && (args.range.size() != 2 || !(args.range[0] < args.range[1]))) {
    throw std::invalid_argument("--range must be two numbers LO HI with LO < HI");
  }
  const OutputLock lock(args.path);  // held from reading the run to writing its results
  const RunRecord run = load_run(args.path);
  check_resources(estimate_landscape(run.config, args.options, args.mode,
                                     std::pow(points_per_axis(args), args.dims), threads),
                  machine_limits());
  if (args.layer >= run.config.layers) {
    throw std::invalid_argument("--layer must be in [0, " + std::to_string(run.config.layers) +
                                ") for " + args.path + " (got " + std::to_string(args.layer) + ")");
  }
  if (args.layer >= 0 && run.config.share_weights) {
    throw std::invalid_argument("--layer: " + args.path +
                                " shares its weights across layers, so no direction moves one "
                                "layer alone");
  }
  if (args.layer >= 0 && args.direction != "random" && args.dims == 1) {
    throw std::invalid_argument("--layer restricts random directions only; --direction " +
                                args.direction + " with --dims 1 has none");
  }
  const TaskSampler sampler(run.config.task_spec(), run.sigma, run.sigma_w);
  const Parametrization param = run.config.parametrization();
  Landscape landscape(sampler, param, args.options);
  const Eigen::VectorXd& theta = run.state.theta;
  // Printed once the mode has its results: a mode that refuses the run prints nothing else.
  const auto print_header = [&] {
    std::printf(
        "%s: %d-layer %s model, d = %d, n = %d, %lld parameters; pool of %d prompts (seed "
        "%llu)\n",
        args.path.c_str(), run.config.layers, name_of(run.config.param), run.config.dim,
        run.config.context, static_cast<long long>(param.size()), args.options.pool,
        static_cast<unsigned long long>(args.options.seed));
  };

  if (args.mode == "exact") {
    const ExactReport r = exact_report(landscape, theta);
    print_header();
    std::printf("  exact f %.10g at the run's Gamma, sampled %.6g +- %.2g (%.2f standard errors)\n",
                r.loss, r.sampled.mean, r.sampled.standard_error, r.sampled_deviation);
    std::printf("  |grad f| %.4g;  f(Gamma*) %.10g;  |Gamma - Gamma*|/|Gamma*| %.4g\n",
                r.gradient_norm, r.loss_star, r.distance_to_star);
    std::printf("  Hessian 2 H (x) Sigma: eigenvalues in [%.6g, %.6g]\n",
                r.hessian_eigenvalues.minCoeff(), r.hessian_eigenvalues.maxCoeff());
    save_landscape(lock, args.options, r);
  } else if (args.mode == "curvature") {
    const Curvature curvature = landscape.curvature(theta);
    print_header();
    print_curvature(curvature);
    save_landscape(lock, args.options, curvature);
  } else if (args.mode == "critical") {
    const auto points = critical_points(landscape, run.sigma);
    print_header();
    for (const auto& [name, point] : points) print_critical(name, point);
    save_landscape(lock, args.options, points);
  } else {  // slice
    const bool line = args.direction != "random";
    Eigen::VectorXd u, v;
    const std::string random_direction =
        "a filter-normalized random direction" +
        (args.layer >= 0 ? " in layer " + std::to_string(args.layer) : std::string());
    std::string what;
    if (line) {
      u = slice_target(args, run, sampler, param) - theta;
      what = "the line to " + args.direction;
    } else {
      u = filter_normalized_direction(param, theta, args.direction_seed, 0, args.layer);
      what = random_direction;
    }
    if (args.dims == 2) {
      v = filter_normalized_direction(param, theta, args.direction_seed, 1, args.layer);
      what += " and " + random_direction;
    }
    const int points = points_per_axis(args);
    const Eigen::VectorXd alpha = slice_grid(points, args.range, line);
    const Eigen::VectorXd beta =
        args.dims == 2 ? slice_grid(points, args.range, false) : Eigen::VectorXd();
    const SliceReport r =
        slice_report(landscape, theta, u, alpha, args.dims == 2 ? &v : nullptr, beta);
    print_header();
    std::printf("  %dx%lld slice along %s\n", static_cast<int>(alpha.size()),
                static_cast<long long>(std::max<Eigen::Index>(1, beta.size())), what.c_str());
    std::printf("  loss at the run %.6g; lowest %.6g at alpha %.3g", r.origin_loss,
                r.slice.loss(r.lowest_alpha, r.lowest_beta), alpha[r.lowest_alpha]);
    if (args.dims == 2) std::printf(", beta %.3g", beta[r.lowest_beta]);
    std::printf("\n");
    save_landscape(lock, args.options, r, args.direction, args.layer);
  }
  if (run.status != "completed") {
    std::printf("note: the run's status is %s%s%s; these are its last saved weights\n",
                run.status.c_str(), run.reason.empty() ? "" : ": ", run.reason.c_str());
  }
  std::printf("Written to /landscape/%s in %s\n", args.mode.c_str(), args.path.c_str());
  return 0;
}

}  // namespace

Runner add_landscape(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "landscape",
      "loss landscape at the run's weights: exact | curvature | slice | critical (writes "
      "/landscape)");
  auto args = std::make_shared<LandscapeArgs>();
  LandscapeOptions& o = args->options;
  cmd->add_option("file", args->path, "run file")->required();
  cmd->add_option("mode", args->mode,
                  "exact: the one-layer closed form f, its gradient and Hessian (§7.1); "
                  "curvature: Hessian spectrum, sharpness, robust condition number; "
                  "slice: 1-D/2-D loss surface; critical: fit the §7 families and check them")
      ->required()
      ->check(one_of("mode", {"exact", "curvature", "slice", "critical"}));
  add_number(*cmd, "--pool", o.pool, "prompts of the fixed evaluation pool (>= 32)");
  add_number(*cmd, "--seed", o.seed, "seed of the pool");
  add_number(*cmd, "--full-limit", o.curvature.full_limit,
             "full Hessian spectrum up to this many parameters, Lanczos beyond");
  // LandscapeOptions::check() doubles it, which must not overflow.
  add_number(*cmd, "--lanczos-wanted", o.curvature.lanczos_wanted,
             "Lanczos: eigenvalues at each end")
      ->check(rule<int>("--lanczos-wanted", "in [1, 1000000]",
                        [](int wanted) { return wanted >= 1 && wanted <= 1000000; }));
  add_number(*cmd, "--lanczos-iterations", o.curvature.lanczos_iterations,
             "Lanczos: Krylov dimension cap");
  add_number(*cmd, "--quadrature-probes", o.curvature.quadrature_probes,
             "median beyond --full-limit: quadrature probes");
  add_number(*cmd, "--quadrature-steps", o.curvature.quadrature_steps,
             "median beyond --full-limit: Lanczos steps per probe");
  add_number(*cmd, "--dims", args->dims, "slice: 1 or 2 dimensions")
      ->check(rule<int>("--dims", "1 or 2", [](int dims) { return dims == 1 || dims == 2; }));
  cmd->add_option("--direction", args->direction,
                  "slice: random (filter-normalized), theory (the line to the theory point), "
                  "init (the line to the run's initialization) or a run FILE (the line to its "
                  "weights); with --dims 2 the second direction is random")
      ->capture_default_str();
  add_number(*cmd, "--layer", args->layer,
             "slice: random directions move only this layer (0-based; -1: all)")
      ->check(rule<int>("--layer", ">= -1", [](int layer) { return layer >= -1; }));
  add_number(*cmd, "--points", args->points,
             "slice: grid points per axis (0: 21 in 1-D, 15 in 2-D)")
      ->check(rule<int>("--points", "in [0, 1001]",
                        [](int points) { return points >= 0 && points <= 1001; }));
  // Finite by number(); LO < HI is checked with the rest.
  cmd->add_option("--range", args->range,
                  "slice: LO HI of the grid (default -1 1 random, -0.25 1.25 along a line)")
      ->expected(2)
      ->transform(number<double>("--range"));
  add_number(*cmd, "--direction-seed", args->direction_seed, "slice: seed of random directions");
  add_threads_option(*cmd, args->threads);
  return [args](const std::string&) { return run_landscape(*args); };
}

}  // namespace linicl::cli
