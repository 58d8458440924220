// `linicl train`: parse and validate the options, train, save the run file, summarize.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>

#include "commands.hpp"
#include "linicl/analysis/analysis.hpp"
#include "linicl/analysis/theory.hpp"
#include "linicl/io/atomic_file.hpp"
#include "linicl/io/config_file.hpp"
#include "linicl/io/covariance_file.hpp"
#include "linicl/io/resources.hpp"
#include "linicl/io/run_file.hpp"
#include "linicl/train/problem.hpp"
#include "linicl/train/trainer.hpp"
#include "terminal.hpp"

namespace linicl::cli {

namespace {

namespace fs = std::filesystem;

struct TrainArgs {
  TrainConfig config;
  std::string config_file;
  std::string out;
  bool force = false;
  std::string resume;
  std::int64_t stop_at = 0;
  int threads = 0;
  int closing_prompts = 1000;             // the closing comparison with the learners (0: off)
  std::vector<CLI::Option*> run_options;  // the options that define a run (all of TrainConfig)
  CLI::Option* steps_option = nullptr;
};

// Registers every TrainConfig field as --name (bools also as --no-name), with its default.
void add_run_options(CLI::App& cmd, TrainArgs& args) {
  static const std::map<std::string, std::string> kShort = {
      {"dim", "-d,"}, {"context", "-n,"}, {"layers", "-L,"}};
  visit_options(args.config, [&](const char* name, auto& field, const char* help) {
    using T = std::decay_t<decltype(field)>;
    const auto found = kShort.find(name);
    const std::string flags = (found == kShort.end() ? "" : found->second) + "--" + name;
    CLI::Option* option;
    if constexpr (std::is_same_v<T, bool>) {
      option = cmd.add_flag(flags + ",!--no-" + name, field,
                            std::string(help) + (field ? " (default: on)" : " (default: off)"));
      option->check(boolean(option->get_name()));
    } else if constexpr (std::is_same_v<T, std::string>) {
      option = cmd.add_option(flags, field, help);
    } else if constexpr (std::is_enum_v<T>) {
      // The choices, the refusal of other words and the default all come from T's name table.
      option = cmd.add_option(flags, field, std::string(help) + ": " + choices<T>());
      option->transform(word<T>(option->get_name()))->type_name("TEXT");
    } else {
      option = cmd.add_option(flags, field, help);
      option->transform(number<T>(option->get_name()));
    }
    if constexpr (std::is_enum_v<T>) {
      option->default_str(name_of(field));
    } else {
      option->capture_default_str();
    }
    if constexpr (std::is_same_v<T, std::vector<double>>) {
      option->delimiter(',');
    } else {
      option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // the last one given wins
    }
    args.run_options.push_back(option);
    if (std::string(name) == "steps") args.steps_option = option;
  });
}

// Claims a new file under runs/: the first free name that this process can lock, so that two
// runs started in the same second never share a file.
std::string claim_default_output(std::uint64_t seed, std::optional<OutputLock>& lock) {
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  const std::string base = "runs/run-" + std::string(stamp) + "-seed" + std::to_string(seed);
  fs::create_directories("runs");
  for (int i = 0;; ++i) {
    const std::string path = base + (i == 0 ? "" : "-" + std::to_string(i)) + ".h5";
    if (fs::exists(path)) continue;
    try {
      lock.emplace(path);
    } catch (const FileInUse&) {
      continue;  // another run is claiming this name right now
    }
    if (!fs::exists(path)) {
      check_output_target(path);
      return path;
    }
    lock.reset();
  }
}

// Applies the lines of a config file (io/config_file.hpp) to the options that the command line
// did not set, through the same parsing and checks as the command line: the command line wins.
void apply_config_file(const std::string& path, const TrainArgs& args) {
  static const std::vector<std::string> kCommandLineOnly = {"out",     "force",   "resume",
                                                            "stop-at", "threads", "config"};
  read_config_file(path, kCommandLineOnly, [&](const ConfigLine& line) {
    CLI::Option* option = nullptr;
    for (CLI::Option* candidate : args.run_options) {
      if (candidate->check_lname(line.option)) option = candidate;
    }
    if (option == nullptr) throw std::logic_error("--config: no option --" + line.option);
    if (option->count() > 0) return;  // the command line wins
    try {
      option->clear();
      option->add_result(line.value());
      option->run_callback();
    } catch (const CLI::ValidationError& e) {
      throw std::invalid_argument(e.what());
    } catch (const CLI::Error& e) {
      throw SyntaxError(e.what());
    }
  });
}

// Runs `read` and prefixes the message of anything it throws with the option's name.
template <class Read>
auto prefix_errors(const std::string& option, Read&& read) {
  try {
    return read();
  } catch (const std::exception& e) {
    throw std::invalid_argument(option + ": " + e.what());
  }
}

// Refuses an output path that exists (unless --force), or that check_output_target refuses.
void check_output_path(const std::string& path, bool force) {
  if (fs::exists(path) && !force) {
    throw std::invalid_argument("--out: '" + path +
                                "' exists; pass --force to overwrite it or choose another name");
  }
  // Find out now, not after training, whether the target may and can be written.
  prefix_errors("--out", [&] { check_output_target(path); });
}

// θ from the final weights of another run of the same shape (--init).
Eigen::VectorXd initial_theta(const TrainConfig& config) {
  const Weights weights =
      prefix_errors("--init", [&] { return read_weights(open_run(config.init)); });
  if (weights.dim != config.dim || weights.layers != config.layers ||
      weights.heads != config.heads) {
    throw std::invalid_argument(
        "--init: '" + config.init + "' has d = " + std::to_string(weights.dim) +
        ", L = " + std::to_string(weights.layers) + ", H = " + std::to_string(weights.heads) +
        "; this run needs d = " + std::to_string(config.dim) +
        ", L = " + std::to_string(config.layers) + ", H = " + std::to_string(config.heads));
  }
  return config.parametrization().project(weights);
}

// Saves checkpoints and draws progress while the trainer runs.
class CheckpointingObserver : public TrainObserver {
 public:
  CheckpointingObserver(RunRecord& run, std::string path, Progress& progress)
      : run_(run), path_(std::move(path)), progress_(progress) {}
  void on_step(const TrainState& state) override {
    progress_.update(state.step, state.curves.train_loss.back());
  }
  void on_checkpoint(const TrainState& state) override {
    run_.state = state;
    try {
      save_run(path_, run_);
    } catch (const IoError& e) {
      if (saved_step_ < 0) throw;
      throw IoError(std::string(e.what()) + "; the checkpoint of step " +
                    std::to_string(saved_step_) + " stays in " + path_ +
                    ": make room and continue it with --resume " + path_);
    }
    saved_step_ = state.step;
  }

 private:
  RunRecord& run_;
  std::string path_;
  Progress& progress_;
  std::int64_t saved_step_ = -1;  // the last checkpoint on disk, if any
};

void print_summary(const RunRecord& run, const std::string& path, double seconds,
                   std::int64_t steps_done) {
  const TrainConfig& c = run.config;
  const Curves& curves = run.state.curves;
  std::cout << "Trained a " << c.layers << "-layer " << name_of(c.param)
            << " linear transformer (d = " << c.dim << ", n = " << c.context << ", " << c.heads
            << " head" << (c.heads > 1 ? "s" : "") << ") with " << name_of(c.optimizer) << " for "
            << steps_done << " steps of " << c.batch << " prompts in " << format_duration(seconds)
            << " (" << (steps_done > 0 ? 1e3 * seconds / steps_done : 0.0) << " ms/step). ";
  const TheoryReport theory = theory_report(c, run.sigma, run.sigma_w, run.state.theta);
  if (!curves.eval_loss.empty()) {
    std::cout << "Evaluation loss on " << c.eval_batch
              << " held-out prompts: " << curves.eval_loss.front() << " at step "
              << curves.eval_step.front() << ", " << curves.eval_loss.back() << " +- "
              << curves.eval_loss_se.back() << " (median prompt " << curves.eval_loss_median.back()
              << ") at step " << curves.eval_step.back() << " (predicting 0 scores "
              << theory.zero_loss << "). ";
    const double excess = curves.eval_loss.back() - c.noise * c.noise;
    if (excess > 0 && curves.eval_loss_se.back() > kHeavyTailRatio * excess) {
      std::cout << "The standard error is " << 100.0 * curves.eval_loss_se.back() / excess
                << "% of the mean: a few prompts dominate it (heavy tail); read the median. ";
    }
  }
  if (c.loss_cap > 0.0 && !curves.train_capped.empty()) {
    double sum = 0.0, most = 0.0;
    for (double share : curves.train_capped) {
      sum += share;
      most = std::max(most, share);
    }
    std::cout << "Trained on the loss truncated at --loss-cap " << c.loss_cap << ": "
              << 100.0 * sum / curves.train_capped.size()
              << "% of the training prompts were above it (at most " << 100.0 * most
              << "% of one batch). ";
  }
  if (theory.one_pgd_layer && theory.no_closed_form.empty()) {
    std::cout << "The learned preconditioner is " << 100.0 * theory.gamma_distance
              << "% (relative Frobenius) from the closed form Gamma* of docs/math.md §7.1; its "
                 "exact population loss is "
              << theory.gamma_loss << " against the optimum " << theory.loss_star << ". ";
  } else if (theory.one_pgd_layer) {
    std::cout << "(No closed form here: " << theory.no_closed_form << ".) ";
  }
  std::cout << "Saved to " << path << ".\n";
  if (const std::string note = infinite_loss_note(c); !note.empty()) {
    std::cout << "warning: " << note << "\n";
  }
}

// What the model learned, in one paragraph: its loss after each layer against L steps of the
// fitted learners (§8), from a small analysis that is printed, not written (`linicl analyze`
// gives the full one).
void print_what_it_learned(const RunRecord& run, const std::string& path, int prompts) {
  const TrainConfig& c = run.config;
  const Parametrization param = c.parametrization();
  Weights weights = param.make_weights();
  param.expand(run.state.theta, weights);
  AnalysisOptions options;
  options.prompts = std::max(2, prompts);
  options.calibration_prompts = prompts;
  options.max_steps = c.layers;
  const AnalysisReport report = analyze(c, run.sigma, run.sigma_w, weights, options);
  auto learner = [&](const std::string& name) -> const AlgorithmMatch* {
    for (const AlgorithmMatch& m : report.algorithms) {
      if (m.name == name) return &m;
    }
    return nullptr;
  };
  std::printf("What it learned, on %d fresh prompts (mean, median): loss after layer", prompts);
  for (int l = 1; l <= c.layers; ++l) {
    std::printf("%s %d: %.3g, %.3g", l > 1 ? ";" : "", l, report.model_loss.mean[l],
                report.model_loss.median[l]);
  }
  std::printf(". After L = %d steps of", c.layers);
  const std::pair<const char*, const char*> rows[] = {
      {"gdpp", "GD++"}, {"pgd-inverse", "PGD a_l Sigma^-1"}, {"gd", "GD"}};
  for (const auto& [name, label] : rows) {
    if (const AlgorithmMatch* m = learner(name)) {
      std::printf(" %s (fitted): %.3g, %.3g%s", label, m->loss.mean[c.layers],
                  m->loss.median[c.layers], name == std::string("gd") ? "" : ";");
    }
  }
  std::printf(". Run `linicl analyze %s` for every layer against every learner.\n", path.c_str());
}

// The step the run stops at: --stop-at, or the end of its schedule.
std::int64_t stop_step(const TrainArgs& args, const RunRecord& run) {
  if (args.stop_at < 0 || (args.stop_at > 0 && args.stop_at <= run.state.step)) {
    throw std::invalid_argument("--stop-at must be 0 or more than the " +
                                std::to_string(run.state.step) + " steps done (got " +
                                std::to_string(args.stop_at) + ")");
  }
  return args.stop_at > 0 ? std::min(args.stop_at, run.config.steps) : run.config.steps;
}

// Refuses a run whose memory or work cannot fit this machine, before anything is written.
void check_run_fits(const TrainArgs& args, const RunRecord& run, int threads) {
  check_resources(estimate_training(run.config, run.state.step, stop_step(args, run), threads,
                                    args.closing_prompts),
                  machine_limits());
}

int run_train(TrainArgs& args, const std::string& command) {
  const int threads = use_threads(args.threads);
  RunRecord run;
  std::string out = args.out;
  std::optional<OutputLock> lock;  // held until the run's last save
  if (!args.resume.empty()) {
    if (!args.config_file.empty()) {
      throw std::invalid_argument("--config: a resumed run keeps its own config");
    }
    for (CLI::Option* option : args.run_options) {
      if (option->count() > 0 && option != args.steps_option) {
        throw std::invalid_argument(
            option->get_name() + ": a resumed run keeps its own config; only --steps may change");
      }
    }
    if (out.empty()) {
      out = args.resume;
    } else if (!(fs::exists(out) && fs::equivalent(out, args.resume))) {
      check_output_path(out, args.force);
    }
    lock.emplace(out);  // before reading: no one may change the run between read and write
    check_output_target(out);
    run = prefix_errors("--resume", [&] { return load_run(args.resume); });
    if (run.status == "diverged") {
      throw std::invalid_argument("--resume: '" + args.resume + "' diverged (" + run.reason +
                                  "); start a new run from it with --init and a smaller --lr");
    }
    if (args.steps_option->count() > 0) run.config.steps = args.config.steps;
    if (run.config.steps <= run.state.step) {
      throw std::invalid_argument("--steps must exceed the " + std::to_string(run.state.step) +
                                  " steps '" + args.resume + "' has done (got " +
                                  std::to_string(run.config.steps) + ")");
    }
    check_run_fits(args, run, threads);
  } else {
    if (!args.config_file.empty()) apply_config_file(args.config_file, args);
    run.config = args.config;
    run.config.check();
    check_run_fits(args, run, threads);
  }
  // A resumed run keeps the Σ and Σ_w it was trained on (/data), whatever --cov-file holds now.
  const Problem problem =
      args.resume.empty() ? make_problem(run.config, read_covariance_file)
                          : Problem{run.sigma, run.sigma_w,
                                    TaskSampler(run.config.task_spec(), run.sigma, run.sigma_w)};
  run.sigma = problem.sigma;
  run.sigma_w = problem.sigma_w;
  run.command = command;
  run.status = "running";
  run.reason.clear();
  Trainer trainer(run.config, problem.sampler);
  if (args.resume.empty()) {
    if (run.config.init.empty()) {
      run.state = trainer.initial_state();
    } else {
      const Eigen::VectorXd theta = initial_theta(run.config);
      run.state = trainer.initial_state(&theta);
    }
    // Claimed once --cov-file and --init have been read: a refused run leaves nothing behind.
    if (out.empty()) {
      out = claim_default_output(run.config.seed, lock);
    } else {
      check_output_path(out, args.force);
      lock.emplace(out);
    }
  }
  const std::int64_t stop = stop_step(args, run);
  const std::int64_t first = run.state.step;

  if (!fs::path(out).parent_path().empty()) fs::create_directories(fs::path(out).parent_path());
  Progress progress(first, stop);
  CheckpointingObserver observer(run, out, progress);
  const auto start = std::chrono::steady_clock::now();
  const TrainOutcome outcome = trainer.run(run.state, stop, observer);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  progress.finish();
  run.status = status_name(outcome.status);
  run.reason = outcome.reason;
  save_run(out, run);

  if (outcome.status == TrainStatus::kDiverged) {
    std::cerr << "linicl: training diverged: " << outcome.reason
              << ". The last good state is saved in " << out
              << ". If the loss grew during training, lower --lr or set --clip; if it was huge "
                 "from the start, lower --init-std or rescale the data; if single prompts "
                 "overflowed (deep full models: the median loss was still falling), train on the "
                 "truncated loss with --loss-cap 100.\n";
    return kExitDiverged;
  }
  print_summary(run, out, seconds, run.state.step - first);
  if (run.status == "completed" && args.closing_prompts > 0) {
    print_what_it_learned(run, out, args.closing_prompts);
  }
  return 0;
}

}  // namespace

Runner add_train(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("train", "train a linear transformer and save the run file");
  auto args = std::make_shared<TrainArgs>();
  cmd->add_option("--config", args->config_file,
                  "read options from a file of 'name = value' lines (the command line wins)");
  add_run_options(*cmd, *args);
  cmd->add_option("-o,--out", args->out,
                  "run file to write (default: a new file under runs/, never overwritten)");
  cmd->add_flag("--force", args->force, "allow --out to replace an existing file")
      ->check(boolean("--force"));
  cmd->add_option("--resume", args->resume,
                  "continue this run file from its checkpoint (in place unless --out is given)");
  add_number(*cmd, "--stop-at", args->stop_at,
             "stop after this many steps, keeping the schedule of --steps (0: run to the end)");
  add_threads_option(*cmd, args->threads);
  add_number(*cmd, "--closing-prompts", args->closing_prompts,
             "after training, compare the layers with fitted GD++, PGD and GD on this many "
             "fresh prompts (as many to fit them; 0: off)")
      ->check(rule<int>("--closing-prompts", "in [0, 1000000]",
                        [](int prompts) { return prompts >= 0 && prompts <= 1000000; }));
  return [args](const std::string& command) { return run_train(*args, command); };
}

}  // namespace linicl::cli
