#include "linicl/run_file.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <limits>
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

std::vector<double> split(const std::string& text) {
  std::vector<double> values;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) values.push_back(std::stod(item));
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
    } else {
      group.set_attr(name, static_cast<std::int64_t>(field));
    }
  });
}

// Options missing from the file keep their defaults (files from older versions).
TrainConfig read_config(const h5::Node& group) {
  TrainConfig config;
  visit_options(config, [&](const char* name, auto& field, const char*) {
    if (!group.has_attr(name)) return;
    using T = std::decay_t<decltype(field)>;
    if constexpr (std::is_same_v<T, std::vector<double>>) {
      field = split(group.attr_string(name));
    } else if constexpr (std::is_same_v<T, bool>) {
      field = group.attr_bool(name);
    } else if constexpr (std::is_same_v<T, double>) {
      field = group.attr_double(name);
    } else if constexpr (std::is_same_v<T, std::string>) {
      field = group.attr_string(name);
    } else {
      field = static_cast<T>(group.attr_int(name));
    }
  });
  return config;
}

// /track: one row per tracked step; noise_norms is [rows, batches].
void write_track(const h5::Node& group, const TrackSeries& t) {
  group.write_series("step", t.step);
  group.write_series("sharpness", t.sharpness);
  group.write_series("lambda_median", t.median);
  group.write_series("robust_condition", t.robust_condition);
  group.write_series("negative_eigenvalues", t.negative);
  group.write_series("directional_smoothness", t.directional_smoothness);
  group.write_series("grad_norm", t.grad_norm);
  group.write_series("noise_mean", t.noise_mean);
  group.write_series("tail_index", t.tail_index);
  Eigen::MatrixXd norms(t.noise_norms.size(), t.noise_norms.front().size());
  for (std::size_t r = 0; r < t.noise_norms.size(); ++r) norms.row(r) = t.noise_norms[r];
  group.write_matrix("noise_norms", norms);
}

TrackSeries read_track(const h5::Node& group) {
  TrackSeries t;
  t.step = group.read_int_series("step");
  t.sharpness = group.read_series("sharpness");
  t.median = group.read_series("lambda_median");
  t.robust_condition = group.read_series("robust_condition");
  t.negative = group.read_int_series("negative_eigenvalues");
  t.directional_smoothness = group.read_series("directional_smoothness");
  t.grad_norm = group.read_series("grad_norm");
  t.noise_mean = group.read_series("noise_mean");
  t.tail_index = group.read_series("tail_index");
  const Eigen::MatrixXd norms = group.read_matrix("noise_norms");
  for (Eigen::Index r = 0; r < norms.rows(); ++r) t.noise_norms.push_back(norms.row(r));
  if (t.noise_norms.size() != t.step.size() || t.tail_index.size() != t.step.size()) {
    throw std::runtime_error("/track has series of different lengths");
  }
  return t;
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

std::string temporary_name(const std::string& path) {
  return path + ".tmp-" + std::to_string(::getpid());
}

// Runs `write` on a temporary file next to `path`, then renames it into place. A symbolic
// link is followed: its target is replaced and the link stays a link.
void replace_atomically(const std::string& link_or_path,
                        const std::function<void(const std::string&)>& write) {
  std::error_code ignored;
  const std::string path = std::filesystem::is_symlink(link_or_path)
                               ? std::filesystem::canonical(link_or_path).string()
                               : link_or_path;
  const std::string tmp = temporary_name(path);
  std::filesystem::remove(tmp, ignored);
  try {
    write(tmp);
  } catch (...) {
    std::filesystem::remove(tmp, ignored);
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::filesystem::remove(tmp, ignored);
    throw std::runtime_error("cannot rename '" + tmp + "' to '" + path + "'");
  }
}

}  // namespace

Weights read_weights(const h5::Node& file) {
  std::vector<std::size_t> dims;
  const std::vector<double> p = file.read_array("/weights/P", dims);
  const std::vector<double> q = file.read_array("/weights/Q", dims);
  if (dims.size() != 4 || dims[2] != dims[3] || dims[2] < 2) {
    throw std::runtime_error("/weights/P must have shape [L, H, d+1, d+1]");
  }
  Weights w(static_cast<int>(dims[0]), static_cast<int>(dims[1]), static_cast<int>(dims[2]) - 1);
  const std::size_t m = dims[2];
  for (std::size_t i = 0; i < w.P.size(); ++i) {
    for (std::size_t r = 0; r < m; ++r) {
      for (std::size_t c = 0; c < m; ++c) {
        w.P[i](r, c) = p[(i * m + r) * m + c];
        w.Q[i](r, c) = q[(i * m + r) * m + c];
      }
    }
  }
  return w;
}

void save_run(const std::string& path, const RunRecord& run) {
  replace_atomically(path, [&](const std::string& tmp) {
    const h5::File file = h5::File::create(tmp);
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
    file.write_series("/train/loss", c.train_loss);
    file.write_series("/train/grad_norm", c.grad_norm);
    file.write_series("/train/lr", c.lr);
    file.write_series("/train/capped", c.train_capped);
    file.write_series("/eval/step", c.eval_step);
    file.write_series("/eval/loss", c.eval_loss);
    file.write_series("/eval/loss_se", c.eval_loss_se);
    file.write_series("/eval/loss_median", c.eval_loss_median);
    if (!c.track.empty()) write_track(file.create_group("track"), c.track);

    const h5::Node checkpoint = file.create_group("checkpoint");
    checkpoint.set_attr("step", run.state.step);
    checkpoint.set_attr("optimizer_steps", run.state.optimizer.steps);
    checkpoint.write_matrix("theta", run.state.theta);
    checkpoint.write_matrix("optimizer_first", run.state.optimizer.first);
    checkpoint.write_matrix("optimizer_second", run.state.optimizer.second);
  });
}

h5::File open_run(const std::string& path) {
  if (!std::filesystem::exists(path)) throw std::runtime_error("no such file: " + path);
  if (!h5::is_hdf5(path)) throw std::runtime_error("not an HDF5 file: " + path);
  h5::File file = h5::File::open(path);
  if (!file.has_attr("format") || file.attr_string("format") != kRunFormat) {
    throw std::runtime_error("not a linicl run file (no format = \"linicl-run\"): " + path);
  }
  return file;
}

RunRecord load_run(const std::string& path) {
  const h5::File file = open_run(path);
  try {
    RunRecord run;
    run.config = read_config(file.group("config"));
    run.command = file.attr_string("command");
    run.status = file.attr_string("status");
    run.reason = file.attr_string("reason");
    run.sigma = file.read_matrix("/data/Sigma");
    run.sigma_w = file.read_matrix("/data/Sigma_w");
    const h5::Node checkpoint = file.group("checkpoint");
    run.state.step = checkpoint.attr_int("step");
    run.state.optimizer.steps = checkpoint.attr_int("optimizer_steps");
    run.state.theta = checkpoint.read_matrix("theta").col(0);
    auto read_vector = [&](const char* name) -> Eigen::VectorXd {
      const Eigen::MatrixXd m = checkpoint.read_matrix(name);
      return m.size() == 0 ? Eigen::VectorXd() : Eigen::VectorXd(m.col(0));
    };
    run.state.optimizer.first = read_vector("optimizer_first");
    run.state.optimizer.second = read_vector("optimizer_second");
    Curves& c = run.state.curves;
    c.train_step = file.read_int_series("/train/step");
    c.train_loss = file.read_series("/train/loss");
    c.grad_norm = file.read_series("/train/grad_norm");
    c.lr = file.read_series("/train/lr");
    c.eval_step = file.read_int_series("/eval/step");
    c.eval_loss = file.read_series("/eval/loss");
    // Files written before a series was kept read it as NaN rows.
    auto read_or_nan = [&](const char* path, std::size_t rows) {
      return file.exists(path) ? file.read_series(path) : std::vector<double>(rows, kNaN);
    };
    c.train_capped = read_or_nan("/train/capped", c.train_loss.size());
    c.eval_loss_se = read_or_nan("/eval/loss_se", c.eval_loss.size());
    c.eval_loss_median = read_or_nan("/eval/loss_median", c.eval_loss.size());
    if (c.train_capped.size() != c.train_loss.size()) {
      throw std::runtime_error("/train/capped does not match /train/loss");
    }
    if (c.eval_loss_se.size() != c.eval_loss.size() ||
        c.eval_loss_median.size() != c.eval_loss.size()) {
      throw std::runtime_error("/eval/loss_se or /eval/loss_median does not match /eval/loss");
    }
    if (file.exists("track")) c.track = read_track(file.group("track"));
    if (run.state.theta.size() != run.config.parametrization().size()) {
      throw std::runtime_error("checkpoint size does not match the config");
    }
    return run;
  } catch (const std::exception& e) {
    throw std::runtime_error("damaged run file '" + path + "': " + e.what());
  }
}

void edit_run_file(const std::string& path, const std::function<void(h5::File&)>& edit) {
  open_run(path);  // refuse anything that is not a run file before copying it
  replace_atomically(path, [&](const std::string& tmp) {
    std::filesystem::copy_file(path, tmp);
    h5::File file = h5::File::open(tmp, h5::File::Mode::kReadWrite);
    edit(file);
  });
}

}  // namespace linicl
