#include "linicl/analysis/analysis.hpp"
#include "linicl/data/streams.hpp"
#include "linicl/numerics/require.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>

#include "linicl/analysis/algorithms.hpp"
#include "linicl/analysis/family_fit.hpp"
#include "linicl/analysis/theory.hpp"
#include "linicl/data/covariance.hpp"
#include "linicl/model/parametrization.hpp"
#include "linicl/numerics/statistics.hpp"
#include "linicl/train/objective.hpp"

namespace linicl {

void AnalysisOptions::check() const {
  require(prompts >= 2 && prompts <= 100000000, "--prompts", "in [2, 100000000]", prompts);
  require(calibration_prompts >= 1 && calibration_prompts <= 100000000, "--calibration",
          "in [1, 100000000]", calibration_prompts);
  require(max_steps >= 1 && max_steps <= 100000, "--max-steps", "in [1, 100000]", max_steps);
  require(ridge_lambda == kRidgeFromNoise || (std::isfinite(ridge_lambda) && ridge_lambda > 0.0),
          "--ridge-lambda", "> 0", ridge_lambda);
  fit.check();
}

namespace {

// Evaluation and calibration prompts: sets of their own (streams.hpp), never a training batch.
const std::uint64_t kEvalStep = prompt_step(PromptSet::kAnalysisEvaluation);
const std::uint64_t kCalibrationStep = prompt_step(PromptSet::kAnalysisCalibration);
constexpr int kChunk = 32;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A reference learner ready to run on one context: d×(steps+1) iterates.
struct Learner {
  std::string name, description;
  std::vector<double> parameters;
  std::function<Eigen::MatrixXd(const Eigen::MatrixXd& x, const Eigen::VectorXd& y)> iterates;
  FitSummary fit;
};

struct Fitter {
  const TaskSampler& sampler;
  BatchSpec pool;
  FitOptions options;

  // The multi-start fit over θ = basis·s, kept in `summary`.
  const FamilyFit& fit(const Parametrization& param, const Eigen::MatrixXd& basis,
                       const std::vector<Eigen::VectorXd>& starts, FitSummary& summary) const {
    BatchObjective objective(sampler, param);
    summary.fitted = true;
    summary.result = fit_family(objective, pool, basis, starts, options);
    return summary.result;
  }
};

std::vector<int> consecutive(int count) {
  std::vector<int> v(count);
  for (int i = 0; i < count; ++i) v[i] = i;
  return v;
}

std::vector<Learner> make_learners(const TrainConfig& config, const Eigen::MatrixXd& sigma,
                                   const Eigen::MatrixXd& sigma_w, const Weights& weights,
                                   const AnalysisOptions& options, const TaskSampler& sampler,
                                   std::vector<std::string>& notes) {
  const int d = config.dim, layers = config.layers, k_max = options.max_steps;
  const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(d, d);
  const Eigen::MatrixXd sigma_inv = spd_roots(sigma).inverse;
  const Fitter fitter{
      sampler, {options.seed, kCalibrationStep, options.calibration_prompts}, options.fit};
  const double lambda_max = sigma.selfadjointView<Eigen::Lower>().eigenvalues().maxCoeff();
  // The one-layer optimum's step for Σ_w = Σ⁻¹ (§7.1), a = 1/(1 + (d + 1)/n), as a step on Σ.
  const double step = 1.0 / (1.0 + (d + 1.0) / config.context);
  std::vector<Learner> learners;

  // GD: one step size η for every context, fitted for the loss after L steps (the model's
  // depth), and the same η capped per context at 2/(λ_max + λ_min) of its S (data-dependent).
  {
    const Parametrization shared(Param::kPgd, d, layers, 1, true);
    FitSummary summary;
    const FamilyFit& fit = fitter.fit(shared, family_basis(shared, {0}, {identity}),
                                      spread_starts(1, step / lambda_max), summary);
    const double eta = fit.scalars[0];
    learners.push_back(
        {"gd",
         "gradient descent with one step eta for every context, fitted for L steps",
         {eta},
         [eta, k_max](const auto& x, const auto& y) { return gd_iterates(x, y, eta, k_max); },
         summary});
    learners.push_back({"gd-capped",
                        "gd's eta capped per context at 2/(lambda_max + lambda_min) of S "
                        "(data-dependent, not a fixed-step GD)",
                        {eta},
                        [eta, k_max](const auto& x, const auto& y) {
                          return gd_iterates(x, y, std::min(eta, gd_step_limit(x)), k_max);
                        },
                        {}});
  }
  // PGD with each layer's own preconditioner.
  {
    std::vector<Eigen::MatrixXd> gammas;
    for (int l = 0; l < layers; ++l) gammas.push_back(effective_preconditioner(weights, l));
    learners.push_back(
        {"pgd-layers",
         "preconditioned GD with the layers' own Gamma_l",
         {},
         [gammas](const auto& x, const auto& y) { return pgd_iterates(x, y, gammas); },
         {}});
  }
  // PGD with the one-layer optimum Γ* at every step (§7.1).
  try {
    const OneLayerTheory theory(config.task_spec(), sigma, sigma_w);
    const std::vector<Eigen::MatrixXd> gammas(k_max, theory.gamma_star());
    learners.push_back(
        {"pgd-theory",
         "preconditioned GD with the closed form Gamma* each step",
         {},
         [gammas](const auto& x, const auto& y) { return pgd_iterates(x, y, gammas); },
         {}});
  } catch (const std::invalid_argument& e) {
    notes.push_back(std::string("pgd-theory skipped: ") + e.what());
  }
  // PGD with Γ_ℓ = a_ℓ Σ⁻¹, the scalars fitted on the sampled loss (§7). The steps commute, so
  // the loss is symmetric under permuting the a_ℓ: they are listed in descending order.
  {
    const Parametrization pgd(Param::kPgd, d, layers, 1, false);
    FitSummary summary;
    const FamilyFit& fit = fitter.fit(
        pgd,
        family_basis(pgd, consecutive(layers), std::vector<Eigen::MatrixXd>(layers, sigma_inv)),
        spread_starts(layers, step), summary);
    std::vector<double> a(fit.scalars.data(), fit.scalars.data() + layers);
    std::sort(a.begin(), a.end(), std::greater<>());
    std::vector<Eigen::MatrixXd> gammas;
    for (double a_l : a) gammas.push_back(a_l * sigma_inv);
    learners.push_back(
        {"pgd-inverse", "preconditioned GD with fitted a_l * Sigma^-1", a,
         [gammas](const auto& x, const auto& y) { return pgd_iterates(x, y, gammas); }, summary});
  }
  // GD++: A = a_k I, B = b_k I, fitted jointly for L steps. The last step's B only moves
  // covariates after the prediction is read, so b_L is no scalar of the fit (it would add an
  // exactly flat direction) and is reported as 0.
  {
    const Parametrization gdpp(Param::kGdpp, d, layers, 1, false);
    const int count = 2 * layers - 1;  // A_0, B_0, A_1, B_1, …, A_{L−1}
    std::vector<Eigen::VectorXd> starts = spread_starts(layers, step / lambda_max, true);
    for (Eigen::VectorXd& s : starts) s.conservativeResize(count);
    FitSummary summary;
    const FamilyFit& fit = fitter.fit(
        gdpp, family_basis(gdpp, consecutive(count), std::vector<Eigen::MatrixXd>(count, identity)),
        starts, summary);
    std::vector<double> scalars(fit.scalars.data(), fit.scalars.data() + count), a, b;
    scalars.push_back(0.0);  // b_L
    for (int l = 0; l < layers; ++l) {
      a.push_back(scalars[2 * l]);
      b.push_back(scalars[2 * l + 1]);
    }
    learners.push_back(
        {"gdpp", "GD++ with fitted a_k, b_k (b_L = 0: it reaches no prediction)", scalars,
         [a, b](const auto& x, const auto& y) { return gdpp_iterates(x, y, a, b); }, summary});
  }
  const NewtonStart start = options.newton_start;
  learners.push_back(
      {"newton",
       start == NewtonStart::kSpectral
           ? "iterative Newton (Newton-Schulz), M_0 = 2S/(lambda_max^2 + lambda_min^2); step k "
             "uses M_(k-1)"
           : "iterative Newton (Newton-Schulz), M_0 = S/|S S|_F; step k uses M_(k-1)",
       {},
       [k_max, start](const auto& x, const auto& y) { return newton_iterates(x, y, k_max, start); },
       {}});
  learners.push_back({"ols",
                      "minimum-norm least squares",
                      {},
                      [d](const auto& x, const auto& y) {
                        Eigen::MatrixXd w = Eigen::MatrixXd::Zero(d, 2);
                        w.col(1) = ols(x, y);
                        return w;
                      },
                      {}});
  const double lambda = options.ridge_lambda >= 0 ? options.ridge_lambda
                                                  : std::max(1e-8, config.noise * config.noise);
  learners.push_back({"ridge",
                      "ridge regression (X X^T + lambda I)^-1 X y",
                      {lambda},
                      [d, lambda](const auto& x, const auto& y) {
                        Eigen::MatrixXd w = Eigen::MatrixXd::Zero(d, 2);
                        w.col(1) = ridge(x, y, lambda);
                        return w;
                      },
                      {}});
  return learners;
}

double cosine(const Eigen::VectorXd& u, const Eigen::VectorXd& v, const Eigen::MatrixXd& metric) {
  const double uu = u.dot(metric * u), vv = v.dot(metric * v);
  if (uu <= 0.0 || vv <= 0.0) return 0.0;
  return u.dot(metric * v) / std::sqrt(uu * vv);
}

double error_norm2(const Eigen::VectorXd& w, const Eigen::VectorXd& truth,
                   const Eigen::MatrixXd& sigma) {
  const Eigen::VectorXd e = w - truth;
  return e.dot(sigma * e);
}

// The probes v_ℓ minimizing the calibration prompts' mean of E[(v_ℓᵀ q_ℓ − y)²] given each
// context, (T_ℓᵀ v − w*)ᵀ Σ (T_ℓᵀ v − w*) + σ² with T_ℓ the (d+1)×d query map: the normal
// equations (Σ_p T Σ Tᵀ) v = Σ_p T Σ w*, solved for the minimum-norm v (the y row of q_0 is 0).
Eigen::MatrixXd fit_probes(const Model& model, const Weights& weights, const TaskSampler& sampler,
                           const AnalysisOptions& options, const Eigen::MatrixXd& sigma) {
  const int layers = weights.layers, d = weights.dim;
  const int chunks = (options.calibration_prompts + kChunk - 1) / kChunk;
  struct Normal {
    std::vector<Eigen::MatrixXd> lhs;
    std::vector<Eigen::VectorXd> rhs;
  };
  std::vector<Normal> partial(chunks);
#pragma omp parallel for schedule(dynamic, 1)
  for (int c = 0; c < chunks; ++c) {
    Normal& sums = partial[c];
    sums.lhs.assign(layers + 1, Eigen::MatrixXd::Zero(d + 1, d + 1));
    sums.rhs.assign(layers + 1, Eigen::VectorXd::Zero(d + 1));
    Prompt prompt;
    for (int b = c * kChunk; b < std::min(options.calibration_prompts, (c + 1) * kChunk); ++b) {
      sampler.sample(options.seed, kCalibrationStep, static_cast<std::uint64_t>(b), prompt);
      const std::vector<Eigen::MatrixXd> maps = model.query_maps(weights, prompt);
      for (int l = 0; l <= layers; ++l) {
        const Eigen::MatrixXd t_sigma = maps[l] * sigma;
        sums.lhs[l].noalias() += t_sigma * maps[l].transpose();
        sums.rhs[l].noalias() += t_sigma * prompt.w;
      }
    }
  }
  Eigen::MatrixXd probes(layers + 1, d + 1);
  for (int l = 0; l <= layers; ++l) {
    Eigen::MatrixXd lhs = Eigen::MatrixXd::Zero(d + 1, d + 1);
    Eigen::VectorXd rhs = Eigen::VectorXd::Zero(d + 1);
    for (const Normal& sums : partial) {  // in chunk order: independent of the thread count
      lhs += sums.lhs[l];
      rhs += sums.rhs[l];
    }
    probes.row(l) = lhs.completeOrthogonalDecomposition().solve(rhs).transpose();
  }
  return probes;
}

// Sums over a chunk of prompts, added in chunk order for a thread-count-independent result.
// Per readout r (0: fixed, 1: probe): the model's loss and its square after each layer; per
// learner j: its loss and square after each step, and SimW/SimE against each readout.
struct Sums {
  Eigen::VectorXd model_loss[2], model_square[2];
  std::vector<Eigen::VectorXd> loss, square;
  std::vector<Eigen::MatrixXd> simw[2], sime[2];

  Sums(int layers, const std::vector<int>& steps) {
    for (int r = 0; r < 2; ++r) {
      model_loss[r] = model_square[r] = Eigen::VectorXd::Zero(layers + 1);
      for (int s : steps) {
        simw[r].push_back(Eigen::MatrixXd::Zero(layers, s));
        sime[r].push_back(Eigen::MatrixXd::Zero(layers, s));
      }
    }
    for (int s : steps) {
      loss.push_back(Eigen::VectorXd::Zero(s + 1));
      square.push_back(Eigen::VectorXd::Zero(s + 1));
    }
  }
  Sums& operator+=(const Sums& o) {
    for (int r = 0; r < 2; ++r) {
      model_loss[r] += o.model_loss[r];
      model_square[r] += o.model_square[r];
      for (std::size_t j = 0; j < loss.size(); ++j) {
        simw[r][j] += o.simw[r][j];
        sime[r][j] += o.sime[r][j];
      }
    }
    for (std::size_t j = 0; j < loss.size(); ++j) {
      loss[j] += o.loss[j];
      square[j] += o.square[j];
    }
    return *this;
  }
};

// Per-prompt losses kept for medians: the model's after each layer for each readout, then each
// learner's after steps 0…min(L, steps). `row` is null past kMedianPrompts.
struct MedianColumns {
  int layers;
  std::vector<int> learner_offset;  // column of learner j's step 0
  int count;

  MedianColumns(int layers, const std::vector<int>& steps) : layers(layers) {
    count = 2 * (layers + 1);
    for (int s : steps) {
      learner_offset.push_back(count);
      count += std::min(layers, s) + 1;
    }
  }
};

void add_prompt(const Model& model, const Prompt& prompt, const Weights& weights,
                const Eigen::MatrixXd& probes, const std::vector<Learner>& learners,
                const Eigen::MatrixXd& sigma, const MedianColumns& columns, Sums& sums,
                double* row) {
  const Eigen::Index n = prompt.x.cols() - 1, d = prompt.x.rows();
  const int layers = weights.layers;
  const std::vector<Eigen::MatrixXd> maps = model.query_maps(weights, prompt);
  Eigen::MatrixXd induced[2] = {Eigen::MatrixXd(d, layers + 1), Eigen::MatrixXd(d, layers + 1)};
  for (int l = 0; l <= layers; ++l) {
    induced[0].col(l) = -maps[l].row(d).transpose();  // ŷ = −[q_ℓ]_{d+1}
    induced[1].col(l) = maps[l].transpose() * probes.row(l).transpose();
    for (int r = 0; r < 2; ++r) {
      const double e = error_norm2(induced[r].col(l), prompt.w, sigma);
      sums.model_loss[r][l] += e;
      sums.model_square[r][l] += e * e;
      if (row) row[r * (layers + 1) + l] = e;
    }
  }
  const Eigen::MatrixXd euclid = Eigen::MatrixXd::Identity(d, d);
  const Eigen::MatrixXd x = prompt.x.leftCols(n);
  const Eigen::VectorXd y = prompt.y.head(n);
  for (std::size_t j = 0; j < learners.size(); ++j) {
    const Eigen::MatrixXd iterates = learners[j].iterates(x, y);
    for (Eigen::Index k = 0; k < iterates.cols(); ++k) {
      const double e = error_norm2(iterates.col(k), prompt.w, sigma);
      sums.loss[j][k] += e;
      sums.square[j][k] += e * e;
      if (row && k <= layers) row[columns.learner_offset[j] + k] = e;
    }
    for (int r = 0; r < 2; ++r) {
      for (int l = 1; l <= layers; ++l) {
        for (Eigen::Index k = 1; k < iterates.cols(); ++k) {
          sums.simw[r][j](l - 1, k - 1) += cosine(induced[r].col(l), iterates.col(k), euclid);
          sums.sime[r][j](l - 1, k - 1) +=
              cosine(induced[r].col(l) - prompt.w, iterates.col(k) - prompt.w, sigma);
        }
      }
    }
  }
}

// Mean, standard error and (where kept) median of per-prompt losses, σ² added to each.
LossStats loss_stats(const Eigen::VectorXd& sum, const Eigen::VectorXd& square, int prompts,
                     const Eigen::MatrixXd& kept, int first_column, int kept_entries,
                     double noise_var) {
  LossStats s;
  const double count = prompts;
  s.mean = (sum / count).array() + noise_var;
  s.standard_error.resize(sum.size());
  for (Eigen::Index k = 0; k < sum.size(); ++k) {
    s.standard_error[k] = standard_error(sum[k], square[k], count);
  }
  s.median = Eigen::VectorXd::Constant(sum.size(), kNaN);
  for (int k = 0; k < kept_entries; ++k) {
    std::vector<double> values(kept.rows());
    for (Eigen::Index i = 0; i < kept.rows(); ++i) values[i] = kept(i, first_column + k);
    s.median[k] = median(std::move(values)) + noise_var;
  }
  return s;
}

StepMatch step_match(const Eigen::MatrixXd& simw, const Eigen::MatrixXd& sime, int layers) {
  StepMatch m{simw, sime, {}, Eigen::VectorXd(layers), Eigen::VectorXd(layers)};
  for (int l = 0; l < layers; ++l) {
    Eigen::Index k = 0;
    m.best_sime[l] = m.sime.row(l).maxCoeff(&k);
    m.best_simw[l] = m.simw(l, k);
    m.best_step.push_back(static_cast<int>(k) + 1);
  }
  return m;
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

double loss_moment_order(Param param, int layers) {
  return param == Param::kPgd ? 4.0 * layers : 2.0 * (std::pow(3.0, layers) - 1.0);
}

std::string infinite_loss_note(const TrainConfig& config) {
  if (config.x_dist != XDist::kStudentT) return "";
  const double order = loss_moment_order(config.param, config.layers);
  if (config.dof > order) return "";
  char text[400];
  std::snprintf(text, sizeof text,
                "the population loss is infinite: a prompt's squared error is a polynomial of "
                "degree %.4g in one covariate vector (%d %s layers), and student-t covariates "
                "with nu = %g have finite moments only below order %g; sampled means grow with "
                "the number of prompts, and only medians are stable (use --dof above %.4g, or "
                "another --x-dist)",
                order, config.layers, name_of(config.param), config.dof, config.dof, order);
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
  const int layers = config.layers;
  AnalysisReport report;
  report.options = options;
  const TaskSampler sampler(config.task_spec(), sigma, sigma_w);
  const std::vector<Learner> learners =
      make_learners(config, sigma, sigma_w, weights, options, sampler, report.notes);
  const std::unique_ptr<Model> model = make_model(config.dim);
  report.probes = fit_probes(*model, weights, sampler, options, sigma);

  // Each learner's step count, from one probe prompt.
  Prompt probe;
  sampler.sample(options.seed, kEvalStep, 0, probe);
  const Eigen::Index n = probe.x.cols() - 1;
  std::vector<int> steps;
  for (const Learner& learner : learners) {
    steps.push_back(
        static_cast<int>(learner.iterates(probe.x.leftCols(n), probe.y.head(n)).cols()) - 1);
  }

  const int chunks = (options.prompts + kChunk - 1) / kChunk;
  const MedianColumns columns(layers, steps);
  const int kept = std::min(options.prompts, kMedianPrompts);
  Eigen::MatrixXd per_prompt(columns.count, kept);  // column-major: one prompt's row is contiguous
  std::vector<Sums> partial(chunks, Sums(layers, steps));
#pragma omp parallel for schedule(dynamic, 1)
  for (int c = 0; c < chunks; ++c) {
    Prompt prompt;
    for (int b = c * kChunk; b < std::min(options.prompts, (c + 1) * kChunk); ++b) {
      sampler.sample(options.seed, kEvalStep, static_cast<std::uint64_t>(b), prompt);
      add_prompt(*model, prompt, weights, report.probes, learners, sigma, columns, partial[c],
                 b < kept ? per_prompt.col(b).data() : nullptr);
    }
  }
  Sums total(layers, steps);
  for (const Sums& s : partial) total += s;
  const Eigen::MatrixXd kept_losses = per_prompt.transpose();

  const double noise_var = config.noise * config.noise;
  report.model_loss = loss_stats(total.model_loss[0], total.model_square[0], options.prompts,
                                 kept_losses, 0, layers + 1, noise_var);
  report.probe_loss = loss_stats(total.model_loss[1], total.model_square[1], options.prompts,
                                 kept_losses, layers + 1, layers + 1, noise_var);
  for (std::size_t j = 0; j < learners.size(); ++j) {
    AlgorithmMatch m;
    m.name = learners[j].name;
    m.description = learners[j].description;
    m.parameters = learners[j].parameters;
    m.fit = learners[j].fit;
    m.loss = loss_stats(total.loss[j], total.square[j], options.prompts, kept_losses,
                        columns.learner_offset[j], std::min(layers, steps[j]) + 1, noise_var);
    const double scale = 1.0 / options.prompts;
    m.fixed = step_match(total.simw[0][j] * scale, total.sime[0][j] * scale, layers);
    m.probe = step_match(total.simw[1][j] * scale, total.sime[1][j] * scale, layers);
    if (m.fit.fitted) {  // fitted for L steps: loss has entries 0…L at least
      const std::string note =
          overfit_note(m.name, m.loss.mean[layers], m.fit.calibration_loss(), m.loss.mean[0]);
      if (!note.empty()) report.notes.push_back(note);
      if (!m.fit.result.converged) {
        char text[320];
        std::snprintf(text, sizeof text,
                      "%s: the fit did not converge: its gradient on the calibration prompts "
                      "is %.3g after %d iterations, above the tolerance %.3g x (1 + loss); the "
                      "best of %d starts is reported",
                      m.name.c_str(), m.fit.result.scalar_grad_norm, m.fit.result.iterations,
                      options.fit.gradient_tolerance, m.fit.result.starts);
        report.notes.push_back(text);
      }
    }
    report.algorithms.push_back(std::move(m));
  }
  // Heavy tails: the worst reported mean, relative to its standard error.
  {
    double worst = 0.0;
    std::string what;
    // Excess losses within kOverfitFloor of the zero predictor's are rounding (exact OLS).
    const double floor = kOverfitFloor * (report.model_loss.mean[0] - noise_var);
    auto consider = [&](const LossStats& s, int k, const std::string& name) {
      const double excess = s.mean[k] - noise_var, ratio = s.standard_error[k] / excess;
      if (excess > floor && ratio > worst) {
        worst = ratio;
        char text[200];
        std::snprintf(text, sizeof text, "%s: %.4g +- %.3g (median %.4g)", name.c_str(), s.mean[k],
                      s.standard_error[k], s.median[k]);
        what = text;
      }
    };
    for (int l = 0; l <= layers; ++l) {
      consider(report.model_loss, l, "model after layer " + std::to_string(l));
      consider(report.probe_loss, l, "probe after layer " + std::to_string(l));
    }
    for (const AlgorithmMatch& m : report.algorithms) {
      consider(m.loss, std::min(layers, m.steps()), m.name + " after L steps");
    }
    if (worst > kHeavyTailRatio) {
      char text[400];
      std::snprintf(text, sizeof text,
                    "heavy tail: a standard error is %.0f%% of its mean loss (%s); such means "
                    "rest on a few prompts: compare medians, or use more --prompts",
                    100.0 * worst, what.c_str());
      report.notes.push_back(text);
    }
  }
  if (const std::string note = infinite_loss_note(config); !note.empty()) {
    report.notes.push_back(note);
  }

  std::unique_ptr<OneLayerTheory> theory;
  try {
    theory = std::make_unique<OneLayerTheory>(config.task_spec(), sigma, sigma_w);
  } catch (const std::invalid_argument&) {
  }
  const Eigen::MatrixXd sigma_inv = spd_roots(sigma).inverse;
  for (int l = 0; l < layers; ++l) {
    report.layers.push_back(weight_report(weights, l, sigma, sigma_inv, theory.get()));
  }
  return report;
}

}  // namespace linicl
