#include "linicl/io/resources.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "linicl/model/model_lanes.hpp"
#include "linicl/train/objective.hpp"

namespace linicl {

namespace {

constexpr double kDouble = sizeof(double);
// Bookkeeping per (layer, head) beyond the matrices' entries: the parameter blocks' names and
// offsets, the Eigen headers of P and Q in every copy of the weights.
constexpr double kHeadOverhead = 1024.0;
// Copies of θ alive at once in training: θ, its gradient, the optimizer's two moments, the last
// good state (θ and moments) kept for a rollback, the checkpoint's copy of the state.
constexpr double kThetaCopies = 12.0;
// Copies of the expanded (P, Q) in an objective: the weights, their gradient, pgd's fixed
// offset and a direction; one more in the caller.
constexpr double kWeightsCopies = 5.0;
// A vector growing by push_back holds up to twice its size.
constexpr double kGrowth = 2.0;
// Learners of `linicl analyze` (gd, gd-capped, pgd-layers, pgd-theory, pgd-inverse, gdpp,
// newton, ols, ridge), each bounded by --max-steps steps.
constexpr double kLearners = 9.0;
// Multi-start fits: at most this many starts (family_fit.hpp spread_starts), each taking
// Newton iterations up to the fit's cap, of which a converging fit needs a few tens.
constexpr double kFitStarts = 5.0;
constexpr double kFitIterations = 50.0;

// The sizes every estimate derives from, as doubles: products of int options overflow ints.
struct Shape {
  double d, n, L, H, m;  // m = d + 1, the side of P and Q
  double parameters;     // entries of θ
  double weights;        // entries of the expanded (P, Q): 2·L·H·m²
  bool lanes;            // prompts go eight at a time (model_lanes.hpp)
  PromptCost cost;
};

Shape shape_of(const TrainConfig& c) {
  Shape s;
  s.d = c.dim;
  s.n = c.context;
  s.L = c.layers;
  s.H = c.heads;
  s.m = s.d + 1.0;
  const double groups = c.share_weights ? 1.0 : s.L;
  const double per_head = c.param == Param::kFull  ? 2.0 * s.m * s.m
                          : c.param == Param::kPgd ? s.d * s.d
                                                   : 2.0 * s.d * s.d;
  s.parameters = groups * s.H * per_head;
  s.weights = 2.0 * s.L * s.H * s.m * s.m;
  s.lanes = c.dim < 64 && has_lane_kernels(c.dim + 1);
  s.cost = prompt_cost(s.d, s.n, s.L, s.H);
  return s;
}

double chunks(double prompts) {
  return std::ceil(prompts / BatchObjective::kChunk);
}

std::string as_text(double x) {
  std::ostringstream out;
  out.precision(15);  // integers up to 1e15 exactly, larger ones as 1e+18
  out << x;
  return out.str();
}

std::string model_options(const Shape& s, bool from_run) {
  if (from_run) {
    return "the run's d = " + as_text(s.d) + ", L = " + as_text(s.L) + " and H = " + as_text(s.H);
  }
  return "--dim " + as_text(s.d) + ", --layers " + as_text(s.L) + " and --heads " + as_text(s.H);
}

std::string thread_words(int threads) {
  return std::to_string(threads) + (threads == 1 ? " thread" : " threads");
}

// θ with its optimizer state, the expanded weights, and every thread's activations (the tape,
// the workspace and the Hessian's tangents, kLanes prompts deep where lanes are used).
ResourcePart model_part(const Shape& s, int threads, bool from_run) {
  const double lanes = s.lanes ? kLanes : 1.0;
  const double activations = lanes * (6.0 * s.L + 12.0) * s.m * s.m;
  return {
      "the parameters, optimizer state and activations", model_options(s, from_run),
      kDouble * (kThetaCopies * s.parameters + kWeightsCopies * s.weights + threads * activations) +
          kHeadOverhead * s.L * s.H,
      0.0};
}

// Σ, Σ_w, their roots and eigendecompositions (and a Haar rotation): O(d²) bytes, O(d³) work.
ResourcePart covariance_part(const Shape& s, bool from_run) {
  return {"the covariance matrices",
          from_run ? "the run's d = " + as_text(s.d) : "--dim " + as_text(s.d),
          12.0 * kDouble * s.d * s.d, 40.0 * s.d * s.d * s.d};
}

// Each thread draws its prompts into columns z_i = [x_i; y_i] with a scratch of draws; at the
// lane sizes it holds kLanes of them and their lane-ordered copy.
ResourcePart prompt_buffers_part(const Shape& s, int threads, bool from_run) {
  const double per_thread = (s.lanes ? 3.0 * kLanes : 4.0) * s.m * (s.n + 1.0);
  return {"each thread's prompt buffers",
          (from_run ? "the run's n = " + as_text(s.n) + " and d = " + as_text(s.d)
                    : "--context " + as_text(s.n) + " with --dim " + as_text(s.d)) +
              " on " + thread_words(threads),
          kDouble * threads * per_thread, 0.0};
}

// What a curvature measurement on `pool` prompts holds and does (measure_curvature): the
// assembled Hessian, one product per parameter and its eigenvalues up to --full-limit
// parameters; beyond it Lanczos and the quadrature probes, a Krylov basis each.
ResourcePart curvature_part(const Shape& s, double pool, const CurvatureOptions& o,
                            double evaluations, const std::string& options) {
  const double product = pool * (s.cost.sample + s.cost.hessian_vector);
  if (s.parameters <= o.full_limit) {
    const double p = s.parameters;
    return {"the Hessian's spectrum", options, 4.0 * kDouble * p * p,
            evaluations * (p * product + 10.0 * p * p * p)};
  }
  const double products = o.lanczos_iterations + double(o.quadrature_probes) * o.quadrature_steps;
  return {"the Lanczos iterations", options,
          kDouble * (o.lanczos_iterations + o.quadrature_steps + 4.0) * s.parameters,
          evaluations * products * product};
}

// A set of prompts summed by chunk, with every prompt's loss kept for the median; for a gradient
// or Hessian products each chunk also sums one (P, Q).
double pool_bytes(const Shape& s, double prompts, bool with_gradient) {
  return kDouble * (chunks(prompts) * (with_gradient ? s.weights : 8.0) + 2.0 * prompts);
}

// Damped Newton fits over `scalars` scalars from kFitStarts starts on `prompts` prompts: every
// iteration takes a gradient, 2·scalars more for the central-difference Hessian, and a few
// losses in its line search.
double fit_flops(const Shape& s, double scalars, double prompts, double max_iterations) {
  const PromptCost one_head = prompt_cost(s.d, s.n, s.L, 1.0);
  return kFitStarts * std::min(max_iterations, kFitIterations) * (2.0 * scalars + 6.0) * prompts *
         (one_head.sample + one_head.gradient);
}

// The names under which a command exposes the analysis options, for the messages.
struct AnalysisNames {
  std::string prompts, calibration, max_steps;
};

// `linicl analyze`'s work (analysis.cpp), also the closing paragraph of `linicl train`.
void add_analysis(std::vector<ResourcePart>& parts, const Shape& s, const AnalysisOptions& o,
                  int threads, const AnalysisNames& names) {
  const double k = o.max_steps, prompts = o.prompts, calibration = o.calibration_prompts;
  const double d = s.d, L = s.L;
  // Per chunk of evaluation prompts, every learner's loss sums and its SimW/SimE against both
  // readouts of every layer.
  const double sums = kLearners * (4.0 * L * k + 2.0 * (k + 1.0)) + 4.0 * (L + 1.0);
  const double maps = L * (4.0 * s.H + 6.0) * s.m * s.m * s.m;
  const double learners = 5.0 * k * (4.0 * s.n * d + 2.0 * d * d)     // gd-like steps
                          + k * (4.0 * d * d * d + 2.0 * d * d)       // newton
                          + 2.0 * (s.n * d * d + d * d * d)           // ols, ridge
                          + 2.0 * L * kLearners * k * (12.0 * d * d)  // SimW, SimE
                          + kLearners * k * 2.0 * d * d;              // losses
  parts.push_back(
      {"the analysis's evaluation sums",
       names.prompts + " " + as_text(prompts) + " with " + names.max_steps + " " + as_text(k),
       kDouble * chunks(prompts) * sums, prompts * (s.cost.sample + maps + learners)});
  const double kept = std::min<double>(prompts, kMedianPrompts);
  parts.push_back({"the per-prompt losses kept for the medians",
                   names.prompts + " " + as_text(prompts),
                   kGrowth * kDouble * kept * (2.0 + kLearners) * (L + 1.0), 0.0});
  const double fits = fit_flops(s, 1.0, calibration, o.fit.max_iterations) +
                      fit_flops(s, L, calibration, o.fit.max_iterations) +
                      fit_flops(s, 2.0 * L, calibration, o.fit.max_iterations);
  parts.push_back({"the fitted learners and probes", names.calibration + " " + as_text(calibration),
                   kDouble * chunks(calibration) * (L + 1.0) * (s.m * s.m + s.m),
                   fits + calibration * (s.cost.sample + maps + 4.0 * (L + 1.0) * s.m * s.m * d)});
  // pgd-theory keeps Γ* once per step; every thread holds a prompt and a learner's iterates.
  parts.push_back(
      {"the learners' iterates",
       names.max_steps + " " + as_text(k) + " with d = " + as_text(d) + " on " +
           thread_words(threads),
       kDouble * (2.0 * k * d * d + threads * (4.0 * s.m * (s.n + 1.0) + 4.0 * d * (k + 1.0))),
       0.0});
}

std::string format_bytes(double bytes) {
  static const char* const kUnits[] = {"bytes", "kB", "MB", "GB", "TB", "PB", "EB"};
  int unit = 0;
  while (bytes >= 999.5 && unit < 6) {
    bytes /= 1000.0;
    ++unit;
  }
  char text[48];
  std::snprintf(text, sizeof text, bytes < 9.95 && unit > 0 ? "%.1f %s" : "%.0f %s", bytes,
                kUnits[unit]);
  return text;
}

std::string format_count(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2g", x);
  return text;
}

// The part with the most of `amount`.
template <class Amount>
const ResourcePart& largest(const ResourceEstimate& estimate, Amount amount) {
  return *std::max_element(
      estimate.parts.begin(), estimate.parts.end(),
      [&](const ResourcePart& a, const ResourcePart& b) { return amount(a) < amount(b); });
}

// Reads one number from a file (cgroup limits; "max" and missing files give +inf).
double read_limit(const char* path) {
  std::ifstream in(path);
  double value = 0.0;
  return in >> value ? value : HUGE_VAL;
}

}  // namespace

double ResourceEstimate::bytes() const {
  double total = 0.0;
  for (const ResourcePart& p : parts) total += p.bytes;
  return total;
}

double ResourceEstimate::flops() const {
  double total = 0.0;
  for (const ResourcePart& p : parts) total += p.flops;
  return total;
}

double available_memory() {
  double available = HUGE_VAL;
  std::ifstream meminfo("/proc/meminfo");
  for (std::string key; meminfo >> key;) {
    double kib = 0.0;
    if (key == "MemAvailable:" && meminfo >> kib) available = 1024.0 * kib;
    meminfo.ignore(1 << 20, '\n');
  }
  if (available == HUGE_VAL) {
    available = double(::sysconf(_SC_PHYS_PAGES)) * double(::sysconf(_SC_PAGESIZE));
  }
  // In a container, the cgroup's limit, not the machine, bounds what this process can use.
  if (const double cgroup = read_limit("/sys/fs/cgroup/memory.max"); cgroup < HUGE_VAL) {
    const double used = read_limit("/sys/fs/cgroup/memory.current");
    available = std::min(available, cgroup - (used < HUGE_VAL ? used : 0.0));
  }
  rlimit address_space{};
  if (::getrlimit(RLIMIT_AS, &address_space) == 0 && address_space.rlim_cur != RLIM_INFINITY) {
    available = std::min(available, double(address_space.rlim_cur));
  }
  return available;
}

ResourceLimits machine_limits() {
  ResourceLimits limits;
  limits.bytes = available_memory();
  return limits;
}

void check_resources(const ResourceEstimate& estimate, const ResourceLimits& limits) {
  if (estimate.parts.empty()) return;
  auto in_all = [](double part, double total, const std::string& total_text) {
    return total > 1.05 * part ? " (" + total_text + " in all)" : std::string();
  };
  const double bytes = estimate.bytes();
  if (!(bytes <= limits.bytes)) {
    const ResourcePart& p = largest(estimate, [](const ResourcePart& x) { return x.bytes; });
    throw std::invalid_argument(p.options + " needs about " + format_bytes(p.bytes) + " for " +
                                p.what + in_all(p.bytes, bytes, format_bytes(bytes)) +
                                "; this machine has " + format_bytes(limits.bytes) + " available");
  }
  const double flops = estimate.flops();
  if (!(flops <= limits.flops)) {
    const ResourcePart& p = largest(estimate, [](const ResourcePart& x) { return x.flops; });
    throw std::invalid_argument(
        p.options + " needs about " + format_count(p.flops) + " floating-point operations for " +
        p.what + in_all(p.flops, flops, format_count(flops)) + "; linicl refuses more than " +
        format_count(limits.flops) + " (at 1e11 per second, " +
        format_count(flops / 1e11 / 86400.0) + " days)");
  }
}

PromptCost prompt_cost(double d, double n, double L, double H) {
  const double m = d + 1.0, m2 = m * m, m3 = m2 * m;
  const double below = L - 1.0;  // layers below the top one, which form G_ℓ and K_ℓ
  const double gram = n * m * (m + 1.0);
  PromptCost cost;
  cost.sample = (n + 1.0) * (2.0 * d * d + 20.0 * m);  // Σ^{1/2} products and the draws
  cost.forward = gram + below * 4.0 * (H + 1.0) * m3 + 6.0 * H * m2;
  // The bottom layer's backward forms no Ḡ or q̄: (8H + 4)·m³ against (12H + 8)·m³.
  const double backward =
      below > 0.0 ? (below - 1.0) * (12.0 * H + 8.0) * m3 + (8.0 * H + 4.0) * m3 + 4.0 * H * m2
                  : 0.0;
  cost.gradient = gram + below * 4.0 * (H + 1.0) * m3 + backward + 14.0 * H * m2;
  // Dual numbers through forward and backward (§4.3): three products for each one past G_0.
  cost.hessian_vector = gram + 3.0 * (cost.gradient - gram);
  return cost;
}

ResourceEstimate estimate_training(const TrainConfig& c, std::int64_t first_step,
                                   std::int64_t stop_step, int threads, int closing_prompts) {
  const Shape s = shape_of(c);
  const double steps = double(stop_step) - double(first_step), batch = c.batch;
  // Evaluations at every multiple of --eval-every in [first, stop) and one at the end.
  const double evaluations = std::floor((stop_step - 1.0) / c.eval_every) -
                             std::floor((first_step - 1.0) / c.eval_every) + 1.0;
  const double tracked = c.track_every > 0 ? std::floor((stop_step - 1.0) / c.track_every) -
                                                 std::floor((first_step - 1.0) / c.track_every)
                                           : 0.0;
  ResourceEstimate e;
  e.parts.push_back(model_part(s, threads, false));
  e.parts.push_back(covariance_part(s, false));
  e.parts.push_back(prompt_buffers_part(s, threads, false));
  e.parts.push_back({"a batch's gradient sums",
                     "--batch " + as_text(batch) + " with " + model_options(s, false),
                     pool_bytes(s, batch, true), 0.0});
  e.parts.push_back({"training", "--steps " + as_text(steps) + " with --batch " + as_text(batch),
                     0.0,
                     steps * (batch * (s.cost.sample + s.cost.gradient) + 20.0 * s.parameters)});
  e.parts.push_back({"the evaluation set",
                     "--eval-batch " + as_text(c.eval_batch) + " every --eval-every " +
                         as_text(c.eval_every) + " steps",
                     pool_bytes(s, c.eval_batch, false),
                     evaluations * c.eval_batch * (s.cost.sample + s.cost.forward)});
  // Per step: its step and four numbers; per evaluation its step and three; per tracked step
  // nine and the J noise norms. Kept in memory for the whole run, then written.
  const double series = 40.0 * stop_step + 32.0 * (stop_step / double(c.eval_every) + 1.0) +
                        (c.track_every > 0 ? (stop_step / double(c.track_every) + 1.0) *
                                                 (kDouble * (9.0 + c.track_batches) + 64.0)
                                           : 0.0);
  e.parts.push_back(
      {"the run file's series", "--steps " + as_text(stop_step), kGrowth * series, 0.0});
  if (c.track_every > 0) {
    const std::string options =
        "--track-every " + as_text(c.track_every) + " with --track-pool " + as_text(c.track_pool);
    // What the Tracker measures with (tracking.cpp): the default curvature options.
    ResourcePart curvature = curvature_part(s, c.track_pool, CurvatureOptions(), tracked, options);
    e.parts.push_back(curvature);
    e.parts.push_back(
        {"the tracking pool", options, pool_bytes(s, c.track_pool, true),
         tracked * c.track_pool * (s.cost.sample + s.cost.hessian_vector)});  // smoothness
    e.parts.push_back({"the gradient-noise batches",
                       "--track-batches " + as_text(c.track_batches) + " with --batch " +
                           as_text(batch) + " every --track-every " + as_text(c.track_every),
                       kDouble * c.track_batches * s.parameters,
                       tracked * c.track_batches * batch * (s.cost.sample + s.cost.gradient)});
  }
  if (closing_prompts > 0) {
    AnalysisOptions closing;  // as print_what_it_learned runs it
    closing.prompts = std::max(2, closing_prompts);
    closing.calibration_prompts = closing_prompts;
    closing.max_steps = c.layers;
    const std::string name = "--closing-prompts";
    add_analysis(e.parts, s, closing, threads, {name, name, "--layers"});
  }
  return e;
}

ResourceEstimate estimate_analysis(const TrainConfig& c, const AnalysisOptions& o, int threads) {
  const Shape s = shape_of(c);
  ResourceEstimate e;
  e.parts.push_back(model_part(s, threads, true));
  e.parts.push_back(covariance_part(s, true));
  add_analysis(e.parts, s, o, threads, {"--prompts", "--calibration", "--max-steps"});
  return e;
}

ResourceEstimate estimate_landscape(const TrainConfig& c, const LandscapeOptions& o,
                                    const std::string& mode, double grid_points, int threads) {
  const Shape s = shape_of(c);
  const double pool = o.pool;
  const std::string pool_options = "--pool " + as_text(pool);
  ResourceEstimate e;
  e.parts.push_back(model_part(s, threads, true));
  e.parts.push_back(covariance_part(s, true));
  e.parts.push_back(prompt_buffers_part(s, threads, true));
  e.parts.push_back({"the pool", pool_options + " with " + model_options(s, true),
                     pool_bytes(s, pool, true), pool * (s.cost.sample + s.cost.gradient)});
  const std::string curvature_options = "--full-limit " + as_text(o.curvature.full_limit) + " (" +
                                        as_text(s.parameters) + " parameters) with " + pool_options;
  if (mode == "curvature") {
    e.parts.push_back(curvature_part(s, o.pool, o.curvature, 1.0, curvature_options));
  } else if (mode == "slice") {
    e.parts.push_back(
        {"the slice",
         "--points with --dims (" + as_text(grid_points) + " points) and " + pool_options,
         3.0 * kDouble * grid_points, grid_points * pool * (s.cost.sample + s.cost.forward)});
  } else if (mode == "critical") {
    // The family's fit and the one-layer minimum, each checked on a second pool and with its
    // curvature.
    const FitOptions fit;
    e.parts.push_back({"the critical points' fits", pool_options, 0.0,
                       fit_flops(s, 2.0 * s.L, pool, fit.max_iterations) +
                           2.0 * pool * (s.cost.sample + s.cost.gradient)});
    e.parts.push_back(curvature_part(s, o.pool, o.curvature, 2.0, curvature_options));
  }
  return e;
}

}  // namespace linicl
