#include "linicl/analysis.hpp"

#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>

#include "linicl/algorithms.hpp"
#include "linicl/covariance.hpp"
#include "linicl/family_fit.hpp"
#include "linicl/objective.hpp"
#include "linicl/parametrization.hpp"
#include "linicl/theory.hpp"

namespace linicl {

void AnalysisOptions::check() const {
  auto require = [](bool ok, const std::string& message) {
    if (!ok) throw std::invalid_argument(message);
  };
  require(prompts >= 1 && prompts <= 100000000,
          "--prompts must be in [1, 100000000] (got " + std::to_string(prompts) + ")");
  require(
      calibration_prompts >= 1 && calibration_prompts <= 100000000,
      "--calibration must be in [1, 100000000] (got " + std::to_string(calibration_prompts) + ")");
  require(max_steps >= 1 && max_steps <= 100000,
          "--max-steps must be in [1, 100000] (got " + std::to_string(max_steps) + ")");
  require(ridge_lambda == kRidgeFromNoise || (std::isfinite(ridge_lambda) && ridge_lambda > 0.0),
          "--ridge-lambda must be > 0 (got " + std::to_string(ridge_lambda) + ")");
}

namespace {

// Evaluation and calibration prompts come from distinct step indices of the analysis seed.
constexpr std::uint64_t kEvalStep = 2, kCalibrationStep = 1;

// A reference learner ready to run on one context: d×(steps+1) iterates.
struct Learner {
  std::string name, description;
  std::vector<double> parameters;
  std::function<Eigen::MatrixXd(const Eigen::MatrixXd& x, const Eigen::VectorXd& y)> iterates;
  double calibration_loss = std::numeric_limits<double>::quiet_NaN();  // fitted learners only
};

struct Fitter {
  const TaskSampler& sampler;
  BatchSpec pool;

  FamilyFit fit(const Parametrization& param, const Eigen::MatrixXd& basis,
                const Eigen::VectorXd& start) const {
    BatchObjective objective(sampler, param);
    return fit_family(objective, pool, basis, start);
  }
};

std::vector<Learner> make_learners(const TrainConfig& config, const Eigen::MatrixXd& sigma,
                                   const Eigen::MatrixXd& sigma_w, const Weights& weights,
                                   const AnalysisOptions& options, const TaskSampler& sampler,
                                   std::vector<std::string>& notes) {
  const int d = config.dim, layers = config.layers, k_max = options.max_steps;
  const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(d, d);
  const Eigen::MatrixXd sigma_inv = spd_roots(sigma).inverse;
  const Fitter fitter{sampler, {options.seed, kCalibrationStep, options.calibration_prompts}};
  const double lambda_max = sigma.selfadjointView<Eigen::Lower>().eigenvalues().maxCoeff();
  const double start_step = 1.0 / (lambda_max * (1.0 + (d + 1.0) / config.context));
  std::vector<Learner> learners;

  // GD: one step size, tuned for the loss after L steps (the model's depth).
  {
    const Parametrization shared(Param::kPgd, d, layers, 1, true);
    const FamilyFit fit = fitter.fit(shared, family_basis(shared, {0}, {identity}),
                                     Eigen::VectorXd::Constant(1, start_step));
    const double eta = fit.scalars[0];
    learners.push_back({"gd",
                        "gradient descent, step tuned for L steps (capped per context)",
                        {eta},
                        [eta, k_max](const auto& x, const auto& y) {
                          return gd_iterates(x, y, std::min(eta, gd_step_limit(x)), k_max);
                        }});
    learners.back().calibration_loss = fit.loss;
  }
  // PGD with each layer's own preconditioner.
  {
    std::vector<Eigen::MatrixXd> gammas;
    for (int l = 0; l < layers; ++l) gammas.push_back(effective_preconditioner(weights, l));
    learners.push_back(
        {"pgd-layers",
         "preconditioned GD with the layers' own Gamma_l",
         {},
         [gammas](const auto& x, const auto& y) { return pgd_iterates(x, y, gammas); }});
  }
  // PGD with the one-layer optimum Γ* at every step (§7.1).
  try {
    const OneLayerTheory theory(config.task_spec(), sigma, sigma_w);
    const std::vector<Eigen::MatrixXd> gammas(k_max, theory.gamma_star());
    learners.push_back(
        {"pgd-theory",
         "preconditioned GD with the closed form Gamma* each step",
         {},
         [gammas](const auto& x, const auto& y) { return pgd_iterates(x, y, gammas); }});
  } catch (const std::invalid_argument& e) {
    notes.push_back(std::string("pgd-theory skipped: ") + e.what());
  }
  // PGD with Γ_ℓ = a_ℓ Σ⁻¹, the scalars fitted on the sampled loss (§7).
  {
    const Parametrization pgd(Param::kPgd, d, layers, 1, false);
    std::vector<int> blocks;
    for (int l = 0; l < layers; ++l) blocks.push_back(l);
    const FamilyFit fit =
        fitter.fit(pgd, family_basis(pgd, blocks, std::vector<Eigen::MatrixXd>(layers, sigma_inv)),
                   Eigen::VectorXd::Constant(layers, start_step * lambda_max));
    std::vector<Eigen::MatrixXd> gammas;
    for (int l = 0; l < layers; ++l) gammas.push_back(fit.scalars[l] * sigma_inv);
    learners.push_back(
        {"pgd-inverse", "preconditioned GD with fitted a_l * Sigma^-1",
         std::vector<double>(fit.scalars.data(), fit.scalars.data() + layers),
         [gammas](const auto& x, const auto& y) { return pgd_iterates(x, y, gammas); }});
    learners.back().calibration_loss = fit.loss;
  }
  // GD++: A = a_k I, B = b_k I, fitted jointly for L steps.
  {
    const Parametrization gdpp(Param::kGdpp, d, layers, 1, false);
    std::vector<int> blocks;
    for (int b = 0; b < 2 * layers; ++b) blocks.push_back(b);  // A_0, B_0, A_1, B_1, …
    Eigen::VectorXd start = Eigen::VectorXd::Zero(2 * layers);
    for (int l = 0; l < layers; ++l) start[2 * l] = start_step;
    const FamilyFit fit = fitter.fit(
        gdpp, family_basis(gdpp, blocks, std::vector<Eigen::MatrixXd>(2 * layers, identity)),
        start);
    std::vector<double> a, b;
    for (int l = 0; l < layers; ++l) {
      a.push_back(fit.scalars[2 * l]);
      b.push_back(fit.scalars[2 * l + 1]);
    }
    learners.push_back(
        {"gdpp", "GD++ with fitted a_k, b_k",
         std::vector<double>(fit.scalars.data(), fit.scalars.data() + fit.scalars.size()),
         [a, b](const auto& x, const auto& y) { return gdpp_iterates(x, y, a, b); }});
    learners.back().calibration_loss = fit.loss;
  }
  learners.push_back(
      {"newton", "iterative Newton (Newton-Schulz)", {}, [k_max](const auto& x, const auto& y) {
         return newton_iterates(x, y, k_max);
       }});
  learners.push_back({"ols", "minimum-norm least squares", {}, [d](const auto& x, const auto& y) {
                        Eigen::MatrixXd w = Eigen::MatrixXd::Zero(d, 2);
                        w.col(1) = ols(x, y);
                        return w;
                      }});
  const double lambda = options.ridge_lambda >= 0 ? options.ridge_lambda
                                                  : std::max(1e-8, config.noise * config.noise);
  learners.push_back({"ridge",
                      "ridge regression (X X^T + lambda I)^-1 X y",
                      {lambda},
                      [d, lambda](const auto& x, const auto& y) {
                        Eigen::MatrixXd w = Eigen::MatrixXd::Zero(d, 2);
                        w.col(1) = ridge(x, y, lambda);
                        return w;
                      }});
  return learners;
}

double cosine(const Eigen::VectorXd& u, const Eigen::VectorXd& v, const Eigen::MatrixXd& metric) {
  const double uu = u.dot(metric * u), vv = v.dot(metric * v);
  if (uu <= 0.0 || vv <= 0.0) return 0.0;
  return u.dot(metric * v) / std::sqrt(uu * vv);
}

// Sums over a chunk of prompts, added in chunk order for a thread-count-independent result.
struct Sums {
  Eigen::VectorXd model_loss;
  std::vector<Eigen::VectorXd> loss;
  std::vector<Eigen::MatrixXd> simw, sime;

  Sums(int layers, const std::vector<int>& steps) : model_loss(Eigen::VectorXd::Zero(layers + 1)) {
    for (int s : steps) {
      loss.push_back(Eigen::VectorXd::Zero(s + 1));
      simw.push_back(Eigen::MatrixXd::Zero(layers, s));
      sime.push_back(Eigen::MatrixXd::Zero(layers, s));
    }
  }
  Sums& operator+=(const Sums& o) {
    model_loss += o.model_loss;
    for (std::size_t j = 0; j < loss.size(); ++j) {
      loss[j] += o.loss[j];
      simw[j] += o.simw[j];
      sime[j] += o.sime[j];
    }
    return *this;
  }
};

double error_norm2(const Eigen::VectorXd& w, const Eigen::VectorXd& truth,
                   const Eigen::MatrixXd& sigma) {
  const Eigen::VectorXd e = w - truth;
  return e.dot(sigma * e);
}

void add_prompt(const Prompt& prompt, const Weights& weights, const std::vector<Learner>& learners,
                const Eigen::MatrixXd& sigma, Sums& sums) {
  const Eigen::Index n = prompt.x.cols() - 1, d = prompt.x.rows();
  EmbeddedPrompt embedded;
  embed(prompt, embedded);
  const Eigen::MatrixXd induced = induced_weights(weights, embedded);
  const Eigen::MatrixXd euclid = Eigen::MatrixXd::Identity(d, d);
  for (Eigen::Index l = 0; l < induced.cols(); ++l) {
    sums.model_loss[l] += error_norm2(induced.col(l), prompt.w, sigma);
  }
  const Eigen::MatrixXd x = prompt.x.leftCols(n);
  const Eigen::VectorXd y = prompt.y.head(n);
  for (std::size_t j = 0; j < learners.size(); ++j) {
    const Eigen::MatrixXd iterates = learners[j].iterates(x, y);
    for (Eigen::Index k = 0; k < iterates.cols(); ++k) {
      sums.loss[j][k] += error_norm2(iterates.col(k), prompt.w, sigma);
    }
    for (Eigen::Index l = 1; l < induced.cols(); ++l) {
      for (Eigen::Index k = 1; k < iterates.cols(); ++k) {
        sums.simw[j](l - 1, k - 1) += cosine(induced.col(l), iterates.col(k), euclid);
        sums.sime[j](l - 1, k - 1) +=
            cosine(induced.col(l) - prompt.w, iterates.col(k) - prompt.w, sigma);
      }
    }
  }
}

LayerWeightReport weight_report(const Weights& weights, int layer, const Eigen::MatrixXd& sigma,
                                const Eigen::MatrixXd& sigma_inv, const OneLayerTheory* theory) {
  const int d = weights.dim;
  LayerWeightReport r;
  r.gamma = effective_preconditioner(weights, layer);
  // The pgd pattern is P[d+1,d+1] and Q[1:d,1:d]; everything else is "outside". Summing the
  // outside entries directly (not total − inside) keeps an exact pattern at exactly 0.
  double total = 0.0, outside = 0.0;
  for (int h = 0; h < weights.heads; ++h) {
    Eigen::MatrixXd p = weights.p(layer, h), q = weights.q(layer, h);
    total += p.squaredNorm() + q.squaredNorm();
    p(d, d) = 0.0;
    q.topLeftCorner(d, d).setZero();
    outside += p.squaredNorm() + q.squaredNorm();
  }
  r.outside_pattern = total > 0 ? std::sqrt(outside / total) : 0.0;
  r.distance_gamma_star = theory ? relative_distance(r.gamma, theory->gamma_star())
                                 : std::numeric_limits<double>::quiet_NaN();
  r.best_inverse_scale = (r.gamma.cwiseProduct(sigma_inv)).sum() / sigma_inv.squaredNorm();
  const double gamma_norm = r.gamma.norm();
  r.distance_scaled_inverse =
      gamma_norm > 0 ? (r.gamma - r.best_inverse_scale * sigma_inv).norm() / gamma_norm : 0.0;
  r.commutator = gamma_norm > 0
                     ? (r.gamma * sigma - sigma * r.gamma).norm() / (gamma_norm * sigma.norm())
                     : 0.0;
  const Eigen::VectorXd eig =
      Eigen::EigenSolver<Eigen::MatrixXd>(r.gamma * sigma, false).eigenvalues().real();
  r.eig_min = eig.minCoeff();
  r.eig_max = eig.maxCoeff();
  return r;
}

}  // namespace

std::string overfit_note(const std::string& learner, double eval_loss, double calibration_loss,
                         double zero_loss) {
  if (!std::isfinite(calibration_loss)) return "";  // not fitted
  if (std::isfinite(eval_loss) && (eval_loss <= kOverfitRatio * calibration_loss ||
                                   eval_loss - calibration_loss <= kOverfitFloor * zero_loss)) {
    return "";
  }
  char text[320];
  std::snprintf(text, sizeof text,
                "%s: its loss after L steps is %.4g on the evaluation prompts against %.4g on the "
                "calibration prompts its scalars were fitted on; the fit does not carry over "
                "(refit with more --calibration prompts or another --seed)",
                learner.c_str(), eval_loss, calibration_loss);
  return text;
}

AnalysisReport analyze(const TrainConfig& config, const Eigen::MatrixXd& sigma,
                       const Eigen::MatrixXd& sigma_w, const Weights& weights,
                       const AnalysisOptions& options) {
  options.check();
  if (options.max_steps < config.layers) {
    throw std::invalid_argument("--max-steps must be >= the run's " +
                                std::to_string(config.layers) + " layers (got " +
                                std::to_string(options.max_steps) + ")");
  }
  AnalysisReport report;
  report.options = options;
  const TaskSampler sampler(config.task_spec(), sigma, sigma_w);
  const std::vector<Learner> learners =
      make_learners(config, sigma, sigma_w, weights, options, sampler, report.notes);

  // Each learner's step count, from one probe prompt.
  Prompt probe;
  sampler.sample(options.seed, kEvalStep, 0, probe);
  const Eigen::Index n = probe.x.cols() - 1;
  std::vector<int> steps;
  for (const Learner& learner : learners) {
    steps.push_back(
        static_cast<int>(learner.iterates(probe.x.leftCols(n), probe.y.head(n)).cols()) - 1);
  }

  constexpr int kChunk = 32;
  const int chunks = (options.prompts + kChunk - 1) / kChunk;
  std::vector<Sums> partial(chunks, Sums(config.layers, steps));
#pragma omp parallel for schedule(dynamic, 1)
  for (int c = 0; c < chunks; ++c) {
    Prompt prompt;
    for (int b = c * kChunk; b < std::min(options.prompts, (c + 1) * kChunk); ++b) {
      sampler.sample(options.seed, kEvalStep, static_cast<std::uint64_t>(b), prompt);
      add_prompt(prompt, weights, learners, sigma, partial[c]);
    }
  }
  Sums total(config.layers, steps);
  for (const Sums& s : partial) total += s;

  const double scale = 1.0 / options.prompts, noise_var = config.noise * config.noise;
  report.model_loss = (total.model_loss * scale).array() + noise_var;
  for (std::size_t j = 0; j < learners.size(); ++j) {
    AlgorithmMatch m;
    m.name = learners[j].name;
    m.description = learners[j].description;
    m.parameters = learners[j].parameters;
    m.loss = (total.loss[j] * scale).array() + noise_var;
    m.calibration_loss = learners[j].calibration_loss;
    if (std::isfinite(m.calibration_loss)) {  // fitted for L steps: loss has entries 0…L at least
      const std::string note =
          overfit_note(m.name, m.loss[config.layers], m.calibration_loss, m.loss[0]);
      if (!note.empty()) report.notes.push_back(note);
    }
    m.simw = total.simw[j] * scale;
    m.sime = total.sime[j] * scale;
    m.best_sime.resize(config.layers);
    m.best_simw.resize(config.layers);
    for (int l = 0; l < config.layers; ++l) {
      Eigen::Index k = 0;
      m.best_sime[l] = m.sime.row(l).maxCoeff(&k);
      m.best_simw[l] = m.simw(l, k);
      m.best_step.push_back(static_cast<int>(k) + 1);
    }
    report.algorithms.push_back(std::move(m));
  }

  std::unique_ptr<OneLayerTheory> theory;
  try {
    theory = std::make_unique<OneLayerTheory>(config.task_spec(), sigma, sigma_w);
  } catch (const std::invalid_argument&) {
  }
  const Eigen::MatrixXd sigma_inv = spd_roots(sigma).inverse;
  for (int l = 0; l < config.layers; ++l) {
    report.layers.push_back(weight_report(weights, l, sigma, sigma_inv, theory.get()));
  }
  return report;
}

namespace {

std::vector<double> to_vector(const Eigen::VectorXd& v) {
  return {v.data(), v.data() + v.size()};
}

}  // namespace

void write_analysis(const h5::Node& file, const AnalysisReport& report) {
  file.remove("/analysis");
  const h5::Node group = file.create_group("/analysis");
  const AnalysisOptions& o = report.options;
  group.set_attr("prompts", static_cast<std::int64_t>(o.prompts));
  group.set_attr("calibration_prompts", static_cast<std::int64_t>(o.calibration_prompts));
  group.set_attr("max_steps", static_cast<std::int64_t>(o.max_steps));
  group.set_attr("seed", static_cast<std::int64_t>(o.seed));
  std::string notes;
  for (const std::string& note : report.notes) notes += (notes.empty() ? "" : "\n") + note;
  group.set_attr("notes", notes);
  group.write_series("model_loss", to_vector(report.model_loss));
  for (const AlgorithmMatch& m : report.algorithms) {
    const h5::Node alg = group.create_group("algorithms/" + m.name);
    alg.set_attr("description", m.description);
    alg.set_attr("calibration_loss", m.calibration_loss);
    alg.write_series("parameters", m.parameters);
    alg.write_series("loss", to_vector(m.loss));
    alg.write_matrix("simw", m.simw);
    alg.write_matrix("sime", m.sime);
    alg.write_series("best_step",
                     std::vector<std::int64_t>(m.best_step.begin(), m.best_step.end()));
    alg.write_series("best_sime", to_vector(m.best_sime));
    alg.write_series("best_simw", to_vector(m.best_simw));
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

}  // namespace linicl
