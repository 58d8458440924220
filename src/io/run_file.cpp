#include "linicl/io/run_file.hpp"
#include "linicl/data/covariance.hpp"
#include "linicl/numerics/require.hpp"

#include <cstdlib>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>
#include <type_traits>

namespace linicl {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string join(const std::vector<double>& values) {
  std::ostringstream out;
  out.precision(17);
  for (std::size_t i = 0; i < values.size(); ++i) out << (i ? "," : "") << values[i];
  return out.str();
}

// A list written by join ("1,2.5,3"); anything else is refused, naming the option by `label`.
std::vector<double> split(const std::string& text, const std::string& label) {
  std::vector<double> values;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const double value = std::strtod(item.c_str(), &end);
    require(!item.empty() && *end == '\0', label, "a comma-separated list of numbers",
            "'" + text + "'");
    values.push_back(value);
  }
  return values;
}

void write_config(const h5::Node& group, TrainConfig config) {
  visit_options(config, [&](const char* name, auto& field, const char*) {
    using T = std::decay_t<decltype(field)>;
    if constexpr (std::is_same_v<T, std::vector<double>>) {
      group.set_attr(name, join(field));
    } else if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, double> ||
                         std::is_same_v<T, std::string>) {
      group.set_attr(name, field);
    } else if constexpr (std::is_enum_v<T>) {
      group.set_attr(name, std::string(name_of(field)));  // the name, as the command line has it
    } else {
      group.set_attr(name, static_cast<std::int64_t>(field));
    }
  });
}

// Every series of /train, /eval and /track, with the step series that indexes it: one table
// for the writer and the reader. visit(path, steps_path, series, optional); an optional
// series may be missing from files written before it was kept.
template <class C, class Visit>
void visit_series(C& c, Visit&& visit) {
  visit("/train/loss", "/train/step", c.train_loss, false);
  visit("/train/grad_norm", "/train/step", c.grad_norm, false);
  visit("/train/lr", "/train/step", c.lr, false);
  visit("/train/capped", "/train/step", c.train_capped, true);
  visit("/eval/loss", "/eval/step", c.eval_loss, false);
  visit("/eval/loss_se", "/eval/step", c.eval_loss_se, true);
  visit("/eval/loss_median", "/eval/step", c.eval_loss_median, true);
}
template <class T, class Visit>
void visit_track_series(T& t, Visit&& visit) {
  visit("/track/sharpness", "/track/step", t.sharpness, false);
  visit("/track/lambda_median", "/track/step", t.median, false);
  visit("/track/robust_condition", "/track/step", t.robust_condition, false);
  visit("/track/negative_eigenvalues", "/track/step", t.negative, false);
  visit("/track/directional_smoothness", "/track/step", t.directional_smoothness, false);
  visit("/track/grad_norm", "/track/step", t.grad_norm, false);
  visit("/track/noise_mean", "/track/step", t.noise_mean, false);
  visit("/track/tail_index", "/track/step", t.tail_index, false);
}

// /track: one row per tracked step; noise_norms is [rows, batches].
void write_track(const h5::Node& file, const TrackSeries& t) {
  file.write_series("/track/step", t.step);
  visit_track_series(t, [&](const char* path, const char*, const auto& series, bool) {
    file.write_series(path, series);
  });
  Eigen::MatrixXd norms(t.noise_norms.size(), t.noise_norms.front().size());
  for (std::size_t r = 0; r < t.noise_norms.size(); ++r) norms.row(r) = t.noise_norms[r];
  file.write_matrix("/track/noise_norms", norms);
}

void write_weights(const h5::Node& file, const Weights& w) {
  const std::size_t m = w.dim + 1;
  const std::vector<std::size_t> dims = {static_cast<std::size_t>(w.layers),
                                         static_cast<std::size_t>(w.heads), m, m};
  for (const char* which : {"P", "Q"}) {
    const auto& mats = which[0] == 'P' ? w.P : w.Q;
    std::vector<double> data;
    data.reserve(mats.size() * m * m);
    for (const Eigen::MatrixXd& mat : mats) {
      for (std::size_t r = 0; r < m; ++r) {
        for (std::size_t c = 0; c < m; ++c) data.push_back(mat(r, c));
      }
    }
    file.write_array(std::string("/weights/") + which, dims, data);
  }
}

// ---- Reading: every object is checked against the layout of §10 before anything uses it, so
// that a damaged or hand-edited file is one clear error naming the object, never a crash or a
// run that silently differs. The messages name the object; load_run adds the file.

// Options missing from the file keep their defaults (files from older versions). Attributes
// this linicl does not know (a newer version's file) and values outside their type are refused,
// then check() applies every option's rule, naming the attribute.
TrainConfig read_config(const h5::Node& group) {
  TrainConfig config;
  std::set<std::string> known;
  visit_options(config, [&](const char* name, auto& field, const char*) {
    known.insert(name);
    if (!group.has_attr(name)) return;
    const std::string label = option_label(name, ConfigSource::kRunFile);
    using T = std::decay_t<decltype(field)>;
    if constexpr (std::is_same_v<T, std::vector<double>>) {
      field = split(group.attr_string(name), label);
    } else if constexpr (std::is_same_v<T, bool>) {
      // Stored as 0/1; any other integer is damage, not "true".
      const std::int64_t value = group.attr_int(name);
      require(value == 0 || value == 1, label, "0 or 1", value);
      field = value == 1;
    } else if constexpr (std::is_same_v<T, double>) {
      field = group.attr_double(name);
    } else if constexpr (std::is_same_v<T, std::string>) {
      field = group.attr_string(name);
    } else if constexpr (std::is_enum_v<T>) {
      field = parse<T>(group.attr_string(name), label);
    } else if constexpr (std::is_same_v<T, std::uint64_t>) {
      field = static_cast<T>(group.attr_int(name));  // write_config stores its int64 bits
    } else {
      const std::int64_t value = group.attr_int(name);
      constexpr std::int64_t low = std::numeric_limits<T>::min(),
                             high = std::numeric_limits<T>::max();
      require(value >= low && value <= high, label,
              "in [" + std::to_string(low) + ", " + std::to_string(high) + "]", value);
      field = static_cast<T>(value);
    }
  });
  for (const std::string& name : group.attr_names()) {
    if (known.count(name) == 0) {
      throw std::runtime_error("/config attribute '" + name +
                               "' is no option of this linicl (a newer version's file?)");
    }
  }
  config.check(ConfigSource::kRunFile);
  return config;
}

std::string shape_text(const std::vector<std::size_t>& dims) {
  std::string text;
  for (std::size_t n : dims) text += (text.empty() ? "[" : ", ") + std::to_string(n);
  return text.empty() ? "[]" : text + "]";
}

void require_finite(const Eigen::Ref<const Eigen::MatrixXd>& values, const std::string& path) {
  require(values.allFinite(), path, "finite", "a NaN or infinite entry");
}

// The length of the column vector at `path`: [n, 1] as write_matrix stores it, or [n]. Only the
// shape is read, so a damaged size is refused before anything is allocated for it.
std::size_t column_length(const h5::Node& file, const std::string& path) {
  const std::vector<std::size_t> dims = file.shape(path);
  require(dims.size() == 1 || (dims.size() == 2 && dims[1] == 1), path, "a column vector ([n, 1])",
          shape_text(dims));
  return dims[0];
}

// A finite column vector at `path` of `length` values (or none, when `may_be_empty`).
Eigen::VectorXd read_column(const h5::Node& file, const std::string& path, std::size_t length,
                            const std::string& length_source, bool may_be_empty = false) {
  const std::size_t found = column_length(file, path);
  require(found == length || (may_be_empty && found == 0), path,
          std::string(may_be_empty ? "empty or " : "") + "of length " + std::to_string(length) +
              " (" + length_source + ")",
          found);
  if (found == 0) return Eigen::VectorXd();
  const Eigen::VectorXd column = file.read_matrix(path).col(0);
  require_finite(column, path);
  return column;
}

// /weights/P or /weights/Q, row-major: [L, H, d+1, d+1] as the config says (the shape is
// checked before the data is read, so P and Q can never disagree with each other or overrun a
// buffer), finite.
std::vector<double> read_weight_array(const h5::Node& file, const char* which,
                                      const TrainConfig& config) {
  const std::string path = std::string("/weights/") + which;
  const std::size_t m = static_cast<std::size_t>(config.dim) + 1;
  const std::vector<std::size_t> expected = {static_cast<std::size_t>(config.layers),
                                             static_cast<std::size_t>(config.heads), m, m};
  const std::vector<std::size_t> found = file.shape(path);
  require(found == expected, path,
          "of shape " + shape_text(expected) + " ([layers, heads, dim + 1, dim + 1] of /config)",
          shape_text(found));
  std::vector<std::size_t> dims;
  std::vector<double> data = file.read_array(path, dims);
  require_finite(Eigen::Map<const Eigen::VectorXd>(data.data(), data.size()), path);
  return data;
}

// What every use of a run's model needs, each part checked and all consistent: the config, θ
// of the checkpoint, and the (P, Q) of /weights, which must be exactly the expansion of θ (so
// they follow the config's parametrization).
struct StoredModel {
  TrainConfig config;
  Eigen::VectorXd theta;
  Weights weights;
};

StoredModel read_model(const h5::Node& file) {
  StoredModel model{read_config(file.group("config")), {}, {}};
  const TrainConfig& c = model.config;
  const std::vector<double> p = read_weight_array(file, "P", c);
  const std::vector<double> q = read_weight_array(file, "Q", c);
  model.weights = Weights(c.layers, c.heads, c.dim);
  const std::size_t m = static_cast<std::size_t>(c.dim) + 1;
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  for (std::size_t i = 0; i < model.weights.P.size(); ++i) {
    model.weights.P[i] = Eigen::Map<const RowMajor>(p.data() + i * m * m, c.dim + 1, c.dim + 1);
    model.weights.Q[i] = Eigen::Map<const RowMajor>(q.data() + i * m * m, c.dim + 1, c.dim + 1);
  }
  const Parametrization param = c.parametrization();
  model.theta = read_column(
      file, "/checkpoint/theta", static_cast<std::size_t>(param.size()),
      "the parameter count of param = " + std::string(name_of(c.param)) + " at the /config sizes");
  Weights expanded = param.make_weights();
  param.expand(model.theta, expanded);
  for (std::size_t i = 0; i < expanded.P.size(); ++i) {
    for (const char* which : {"P", "Q"}) {
      const bool same = which[0] == 'P' ? expanded.P[i] == model.weights.P[i]
                                        : expanded.Q[i] == model.weights.Q[i];
      require(same, std::string("/weights/") + which,
              "the expansion of /checkpoint/theta under param = " + std::string(name_of(c.param)),
              "other values at layer " + std::to_string(i / c.heads) + ", head " +
                  std::to_string(i % c.heads));
    }
  }
  return model;
}

// A step series: strictly increasing, within [0, last] (the checkpoint's step).
std::vector<std::int64_t> read_steps(const h5::Node& file, const std::string& path,
                                     std::int64_t last) {
  const std::vector<std::int64_t> steps = file.read_int_series(path);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const std::int64_t low = i == 0 ? 0 : steps[i - 1] + 1;
    require(steps[i] >= low && steps[i] <= last, path,
            "increasing steps in [0, " + std::to_string(last) + "] (the checkpoint's step)",
            std::to_string(steps[i]) + " in row " + std::to_string(i));
  }
  return steps;
}

// A series with one row per entry of the step series `steps_path` (`rows` of them).
template <class T>
std::vector<T> read_rows(const h5::Node& file, const std::string& path,
                         const std::string& steps_path, std::size_t rows) {
  std::vector<T> series;
  if constexpr (std::is_same_v<T, std::int64_t>) {
    series = file.read_int_series(path);
  } else {
    series = file.read_series(path);
  }
  require(series.size() == rows, path,
          "as long as " + steps_path + " (" + std::to_string(rows) + " rows)",
          std::to_string(series.size()) + " rows");
  return series;
}

// /track: one row per tracked step; noise_norms is [rows, batches]. Its values may be NaN
// (statistics that could not be computed).
TrackSeries read_track(const h5::Node& file, std::int64_t last_step) {
  const std::string steps = "/track/step";
  TrackSeries t;
  t.step = read_steps(file, steps, last_step);
  const std::size_t rows = t.step.size();
  visit_track_series(t, [&](const char* path, const char*, auto& series, bool) {
    series =
        read_rows<typename std::decay_t<decltype(series)>::value_type>(file, path, steps, rows);
  });
  const std::vector<std::size_t> dims = file.shape("/track/noise_norms");
  require(dims.size() == 2 && dims[0] == rows, "/track/noise_norms",
          "of shape [" + std::to_string(rows) + ", batches] (one row per /track/step)",
          shape_text(dims));
  const Eigen::MatrixXd norms = file.read_matrix("/track/noise_norms");
  for (Eigen::Index r = 0; r < norms.rows(); ++r) t.noise_norms.push_back(norms.row(r));
  return t;
}

// Runs `read` on the run file `path`, naming the file in whatever it throws.
template <class Read>
auto reading(const std::string& path, Read&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const std::exception& e) {
    throw std::runtime_error("run file '" + path + "': " + e.what());
  }
}

// Writes the in-memory `file` over `path`, atomically; nothing reaches the disk before.
void commit(h5::File& file, const std::string& path) {
  const std::vector<unsigned char> bytes = file.take_image();
  write_file_atomically(path, bytes.data(), bytes.size());
}

}  // namespace

Weights read_weights(const h5::File& file) {
  return reading(file.path(), [&] { return read_model(file).weights; });
}

void save_run(const std::string& path, const RunRecord& run) {
  h5::File file = h5::File::create_in_memory(path);
  file.set_attr("format", kRunFormat);
  file.set_attr("format_version", kRunFormatVersion);
  file.set_attr("linicl_version", LINICL_VERSION);
  file.set_attr("command", run.command);
  file.set_attr("status", run.status);
  file.set_attr("reason", run.reason);
  write_config(file.create_group("config"), run.config);
  file.write_matrix("/data/Sigma", run.sigma);
  file.write_matrix("/data/Sigma_w", run.sigma_w);

  const Parametrization param = run.config.parametrization();
  Weights weights = param.make_weights();
  param.expand(run.state.theta, weights);
  write_weights(file, weights);

  const Curves& c = run.state.curves;
  file.write_series("/train/step", c.train_step);
  file.write_series("/eval/step", c.eval_step);
  visit_series(c, [&](const char* path, const char*, const std::vector<double>& series, bool) {
    file.write_series(path, series);
  });
  if (!c.track.empty()) write_track(file, c.track);

  const h5::Node checkpoint = file.create_group("checkpoint");
  checkpoint.set_attr("step", run.state.step);
  checkpoint.set_attr("optimizer_steps", run.state.optimizer.steps);
  checkpoint.write_matrix("theta", run.state.theta);
  checkpoint.write_matrix("optimizer_first", run.state.optimizer.first);
  checkpoint.write_matrix("optimizer_second", run.state.optimizer.second);
  commit(file, path);
}

h5::File open_run(const std::string& path) {
  if (!std::filesystem::exists(path)) throw std::runtime_error("no such file: " + path);
  if (!h5::is_hdf5(path)) throw std::runtime_error("not an HDF5 file: " + path);
  h5::File file = h5::File::open(path);
  if (!file.has_attr("format") || file.attr_string("format") != kRunFormat) {
    throw std::runtime_error("not a linicl run file (no format = \"linicl-run\"): " + path);
  }
  reading(path, [&] {
    const std::int64_t version = file.attr_int("format_version");
    require(version == kRunFormatVersion, "attribute 'format_version'",
            std::to_string(kRunFormatVersion) + " (newer files need a newer linicl)", version);
  });
  return file;
}

RunRecord load_run(const std::string& path) {
  const h5::File file = open_run(path);
  return reading(path, [&] {
    RunRecord run;
    StoredModel model = read_model(file);
    run.config = std::move(model.config);
    run.state.theta = std::move(model.theta);
    const TrainConfig& config = run.config;
    run.command = file.attr_string("command");
    run.status = file.attr_string("status");
    require_choice(run.status, "attribute 'status'",
                   {"running", "completed", "stopped", "diverged"});
    run.reason = file.attr_string("reason");
    run.sigma = file.read_matrix("/data/Sigma");
    check_covariance(run.sigma, config.dim, "/data/Sigma");
    run.sigma_w = file.read_matrix("/data/Sigma_w");
    check_covariance(run.sigma_w, config.dim, "/data/Sigma_w");

    const h5::Node checkpoint = file.group("checkpoint");
    TrainState& state = run.state;
    state.step = checkpoint.attr_int("step");
    require(state.step >= 0 && state.step <= config.steps, "/checkpoint attribute 'step'",
            "in [0, " + std::to_string(config.steps) + "] (steps of /config)", state.step);
    state.optimizer.steps = checkpoint.attr_int("optimizer_steps");
    require(state.optimizer.steps >= 0 && state.optimizer.steps <= state.step,
            "/checkpoint attribute 'optimizer_steps'",
            "in [0, " + std::to_string(state.step) + "] (the checkpoint's step)",
            state.optimizer.steps);
    // The optimizer's memory: θ's length once it has stepped (SGD keeps no second moment).
    const std::size_t n = static_cast<std::size_t>(state.theta.size());
    const bool fresh = state.optimizer.steps == 0;
    state.optimizer.first =
        read_column(file, "/checkpoint/optimizer_first", n, "that of /checkpoint/theta", fresh);
    state.optimizer.second =
        read_column(file, "/checkpoint/optimizer_second", n, "that of /checkpoint/theta",
                    fresh || config.optimizer == OptimizerKind::kSgd);
    if (state.optimizer.second.size() > 0) {
      require(state.optimizer.second.minCoeff() >= 0.0, "/checkpoint/optimizer_second",
              ">= 0 (Adam's second moment)", state.optimizer.second.minCoeff());
    }

    // Losses may be NaN (a diverged run's last rows); only the shapes and steps are checked.
    // Files written before an optional series was kept read it as NaN rows.
    Curves& c = state.curves;
    c.train_step = read_steps(file, "/train/step", state.step);
    c.eval_step = read_steps(file, "/eval/step", state.step);
    visit_series(
        c, [&](const char* path, const char* steps, std::vector<double>& series, bool optional) {
          const std::size_t rows =
              std::string(steps) == "/train/step" ? c.train_step.size() : c.eval_step.size();
          series = optional && !file.exists(path) ? std::vector<double>(rows, kNaN)
                                                  : read_rows<double>(file, path, steps, rows);
        });
    if (file.exists("/track")) c.track = read_track(file, state.step);
    return run;
  });
}

void edit_run_file(const OutputLock& held, const std::function<void(h5::File&)>& edit) {
  const std::string& path = held.path();
  open_run(path);  // refuse anything that is not a run file before copying it
  h5::File file = h5::File::open_in_memory(path);
  edit(file);
  commit(file, path);
}

}  // namespace linicl
