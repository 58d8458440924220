#include "linicl/landscape/landscape.hpp"
#include "linicl/numerics/require.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>

#include "linicl/analysis/family_fit.hpp"
#include "linicl/data/covariance.hpp"
#include "linicl/numerics/rng.hpp"

namespace linicl {

void LandscapeOptions::check() const {
  require(pool >= 32 && pool <= 100000000, "--pool", "in [32, 100000000]", pool);
  const CurvatureOptions& c = curvature;
  require(c.full_limit >= 1 && c.full_limit <= 20000, "--full-limit", "in [1, 20000]",
          c.full_limit);
  require(c.lanczos_wanted >= 1, "--lanczos-wanted", ">= 1", c.lanczos_wanted);
  require(c.lanczos_iterations >= 2 * c.lanczos_wanted, "--lanczos-iterations",
          ">= 2 * --lanczos-wanted", c.lanczos_iterations);
  require(c.quadrature_probes >= 1, "--quadrature-probes", ">= 1", c.quadrature_probes);
  require(c.quadrature_steps >= 1, "--quadrature-steps", ">= 1", c.quadrature_steps);
  require(c.zero_tolerance >= 0.0 && c.zero_tolerance < 1.0, "--zero-tolerance", "in [0, 1)",
          c.zero_tolerance);
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::unique_ptr<OneLayerTheory> closed_form(const TaskSampler& sampler,
                                            const Parametrization& param) {
  if (param.kind() == Param::kFull || param.layers() != 1 || param.heads() != 1) return nullptr;
  try {
    return std::make_unique<OneLayerTheory>(sampler.spec(), sampler.sigma(), sampler.sigma_w());
  } catch (const std::invalid_argument&) {
    return nullptr;  // student-t with ν ≤ 4: no finite fourth moment, no closed form
  }
}

// Which layer a block belongs to: "layer3/head0/A" → 3; shared blocks ("shared/…") → −1.
int block_layer(const ParamBlock& block) {
  if (block.name.rfind("layer", 0) != 0) return -1;
  return std::stoi(block.name.substr(5));
}

}  // namespace

Landscape::Landscape(const TaskSampler& sampler, const Parametrization& param,
                     const LandscapeOptions& options)
    : sampler_(sampler),
      param_(param),
      options_(options),
      pool_{options.seed, prompt_step(PromptSet::kLandscapePool), options.pool},
      objective_(sampler, param),
      theory_(closed_form(sampler, param)) {
  options_.check();
}

BatchObjective::Estimate Landscape::loss(const Eigen::VectorXd& theta) {
  return objective_.estimate(theta, pool_);
}

Eigen::VectorXd Landscape::gradient(const Eigen::VectorXd& theta, double* standard_error) {
  return gradient(theta, pool_, standard_error);
}

Eigen::VectorXd Landscape::gradient(const Eigen::VectorXd& theta, const BatchSpec& batch,
                                    double* standard_error) {
  Eigen::VectorXd grad;
  objective_.evaluate(theta, batch, &grad);
  if (standard_error) *standard_error = objective_.gradient_standard_error();
  return grad;
}

FamilyFit Landscape::fit(const Eigen::MatrixXd& basis, const std::vector<Eigen::VectorXd>& starts) {
  return fit_family(objective_, pool_, basis, starts);
}

void Landscape::hessian_times(const Eigen::VectorXd& theta, const Eigen::VectorXd& v,
                              Eigen::VectorXd& out) {
  objective_.hessian_times(theta, v, pool_, out);
}

Curvature Landscape::curvature(const Eigen::VectorXd& theta) {
  const SymmetricOperator hessian = [&](const Eigen::VectorXd& v, Eigen::VectorXd& out) {
    objective_.hessian_times(theta, v, pool_, out);
  };
  return measure_curvature(hessian, param_.size(), options_.curvature,
                           curvature_streams(options_.seed));
}

Eigen::MatrixXd Landscape::gamma(const Eigen::VectorXd& theta) const {
  Weights weights = param_.make_weights();
  param_.expand(theta, weights);
  return effective_preconditioner(weights, 0);
}

Eigen::VectorXd filter_normalized_direction(const Parametrization& param,
                                            const Eigen::VectorXd& theta, std::uint64_t seed,
                                            int index, int layer) {
  RandomStream rs = make_stream(seed, Purpose::kLandscape, StreamKey::kDirection,
                                static_cast<std::uint64_t>(index));
  Eigen::VectorXd direction(param.size());
  for (Eigen::Index i = 0; i < direction.size(); ++i) direction[i] = rs.normal();
  for (const ParamBlock& block : param.blocks()) {
    auto segment = direction.segment(block.offset, block.rows * block.cols);
    const int owner = block_layer(block);
    const bool kept = layer < 0 || owner < 0 || owner == layer;
    const double target = theta.segment(block.offset, block.rows * block.cols).norm();
    if (!kept || target == 0.0) {
      segment.setZero();
    } else {
      segment *= target / segment.norm();
    }
  }
  return direction;
}

Slice compute_slice(Landscape& landscape, const Eigen::VectorXd& origin, const Eigen::VectorXd& u,
                    const Eigen::VectorXd& alpha, const Eigen::VectorXd* v,
                    const Eigen::VectorXd& beta) {
  Slice slice;
  slice.alpha = alpha;
  if (v) slice.beta = beta;
  const Eigen::Index columns = v ? beta.size() : 1;
  slice.loss.resize(alpha.size(), columns);
  slice.standard_error.resize(alpha.size(), columns);
  slice.exact.setConstant(alpha.size(), columns, kNaN);
  for (Eigen::Index j = 0; j < columns; ++j) {
    for (Eigen::Index i = 0; i < alpha.size(); ++i) {
      Eigen::VectorXd theta = origin + alpha[i] * u;
      if (v) theta += beta[j] * *v;
      const BatchObjective::Estimate e = landscape.loss(theta);
      slice.loss(i, j) = e.mean;
      slice.standard_error(i, j) = e.standard_error;
      if (landscape.theory()) slice.exact(i, j) = landscape.theory()->loss(landscape.gamma(theta));
    }
  }
  return slice;
}

Eigen::VectorXd theta_for_gamma(const Parametrization& param, const Eigen::MatrixXd& gamma) {
  if (param.kind() == Param::kFull) {
    throw std::invalid_argument("a preconditioner point needs --param pgd or gdpp");
  }
  Eigen::VectorXd theta = Eigen::VectorXd::Zero(param.size());
  const ParamBlock& a = param.blocks()[0];             // layer 0 (or shared), head 0, A
  const Eigen::MatrixXd a_matrix = gamma.transpose();  // Γ = Aᵀ (§3.6)
  theta.segment(a.offset, a.rows * a.cols) =
      Eigen::Map<const Eigen::VectorXd>(a_matrix.data(), a_matrix.size());
  return theta;
}

namespace {

// Fills in the checks that every critical point gets: sampled loss, gradient on the
// independent pool against its noise, exact values where the closed form applies, curvature.
void assess(Landscape& landscape, CriticalPoint& point) {
  point.loss = landscape.loss(point.theta);
  const Eigen::VectorXd grad =
      landscape.gradient(point.theta, landscape.check_pool(), &point.gradient_noise);
  point.gradient_norm = grad.norm();
  point.exact_loss = kNaN;
  point.exact_gradient_norm = kNaN;
  if (const OneLayerTheory* theory = landscape.theory()) {
    const Eigen::MatrixXd gamma = landscape.gamma(point.theta);
    point.exact_loss = theory->loss(gamma);
    point.exact_gradient_norm = theory->gradient(gamma).norm();
  }
  point.curvature = landscape.curvature(point.theta);
}

}  // namespace

CriticalPoint fit_theory_family(Landscape& landscape, const Eigen::MatrixXd& sigma) {
  const Parametrization& param = landscape.parametrization();
  if (param.kind() == Param::kFull) {
    throw std::invalid_argument(
        "the critical-point families of docs/math.md §7.2 are for --param pgd or gdpp");
  }
  const int d = param.dim();
  const Eigen::MatrixXd sigma_inv = spd_roots(sigma).inverse;
  const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(d, d);
  const bool gdpp = param.kind() == Param::kGdpp;
  const int groups = param.shared() ? 1 : param.layers();
  const int blocks_per_group = param.heads() * (gdpp ? 2 : 1);
  std::vector<int> blocks;
  std::vector<Eigen::MatrixXd> patterns;
  for (int g = 0; g < groups; ++g) {
    blocks.push_back(g * blocks_per_group);  // head 0's A
    patterns.push_back(sigma_inv);
    if (gdpp) {
      blocks.push_back(g * blocks_per_group + 1);  // head 0's B
      patterns.push_back(identity);
    }
  }
  // Starts spread around the one-layer step for Σ_w = Σ⁻¹, a = 1/(1 + (d + 1)/n) (§7.1): the
  // loss is symmetric under permuting the layers' scalars (the steps commute), so a symmetric
  // start stays on the symmetric, often saddle, point (family_fit.hpp).
  const double n = landscape.sampler().spec().context;
  const double step = 1.0 / (1.0 + (d + 1.0) / n);
  FamilyFit fit =
      landscape.fit(family_basis(param, blocks, patterns), spread_starts(groups, step, gdpp));
  if (!gdpp) {  // commuting steps: list the a_ℓ in descending order, the same point
    std::sort(fit.scalars.begin(), fit.scalars.end(), std::greater<>());
    fit.theta = family_basis(param, blocks, patterns) * fit.scalars;
  }
  CriticalPoint point;
  point.family = gdpp ? "A_l = a_l Sigma^-1, B_l = b_l I" : "A_l = a_l Sigma^-1";
  point.scalars = fit.scalars;
  point.theta = fit.theta;
  point.iterations = fit.iterations;
  point.starts = fit.starts;
  point.agreeing = fit.agreeing;
  point.converged = fit.converged;
  assess(landscape, point);
  return point;
}

CriticalPoint one_layer_minimum(Landscape& landscape) {
  const OneLayerTheory* theory = landscape.theory();
  if (!theory) {
    throw std::invalid_argument(
        "the one-layer minimum Gamma* needs one pgd or gdpp layer with one head");
  }
  CriticalPoint point;
  point.family = "Gamma* = Sigma_w Sigma H^-1 (one layer, exact)";
  point.theta = theta_for_gamma(landscape.parametrization(), theory->gamma_star());
  assess(landscape, point);
  return point;
}

Eigen::VectorXd theory_point(const TaskSampler& sampler, const Parametrization& param,
                             const LandscapeOptions& options) {
  if (param.kind() != Param::kFull) {
    Landscape landscape(sampler, param, options);
    if (const OneLayerTheory* theory = landscape.theory()) {
      return theta_for_gamma(param, theory->gamma_star());
    }
    return fit_theory_family(landscape, sampler.sigma()).theta;
  }
  const Parametrization pgd(Param::kPgd, param.dim(), param.layers(), param.heads(),
                            param.shared());
  Weights weights = pgd.make_weights();
  pgd.expand(theory_point(sampler, pgd, options), weights);
  return param.project(weights);
}

ExactReport exact_report(Landscape& landscape, const Eigen::VectorXd& theta) {
  const OneLayerTheory* theory = landscape.theory();
  if (!theory) {
    throw std::invalid_argument(
        "mode exact needs one pgd or gdpp layer with one head (the closed form of §7.1)");
  }
  ExactReport r;
  r.gamma = landscape.gamma(theta);
  r.sampled = landscape.loss(theta);
  r.loss = theory->loss(r.gamma);
  r.sampled_deviation = (r.sampled.mean - r.loss) / r.sampled.standard_error;
  r.gradient = theory->gradient(r.gamma);
  r.gradient_norm = r.gradient.norm();
  r.loss_star = theory->loss_star();
  r.gamma_star = theory->gamma_star();
  r.h = theory->h();
  r.distance_to_star = relative_distance(r.gamma, r.gamma_star);
  r.hessian_eigenvalues =
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(theory->hessian()).eigenvalues();
  return r;
}

SliceReport slice_report(Landscape& landscape, const Eigen::VectorXd& origin,
                         const Eigen::VectorXd& u, const Eigen::VectorXd& alpha,
                         const Eigen::VectorXd* v, const Eigen::VectorXd& beta) {
  if (u.norm() == 0.0) throw std::invalid_argument("the slice direction is zero");
  SliceReport r;
  r.origin = origin;
  r.u = u;
  if (v) r.v = *v;
  r.slice = compute_slice(landscape, origin, u, alpha, v, beta);
  r.slice.loss.minCoeff(&r.lowest_alpha, &r.lowest_beta);
  r.origin_loss = landscape.loss(origin).mean;
  return r;
}

Eigen::VectorXd slice_grid(int points, const std::vector<double>& range, bool line) {
  const double lo = range.empty() ? (line ? -0.25 : -1.0) : range[0];
  const double hi = range.empty() ? (line ? 1.25 : 1.0) : range[1];
  return Eigen::VectorXd::LinSpaced(points, lo, hi);
}

std::vector<std::pair<std::string, CriticalPoint>> critical_points(Landscape& landscape,
                                                                   const Eigen::MatrixXd& sigma) {
  std::vector<std::pair<std::string, CriticalPoint>> points;
  if (landscape.theory()) points.emplace_back("one_layer_minimum", one_layer_minimum(landscape));
  points.emplace_back("family", fit_theory_family(landscape, sigma));
  return points;
}

}  // namespace linicl
