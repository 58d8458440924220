// Random linear-regression prompts (§2).
//
// Draw order of one prompt, all from RandomStream(seed, Purpose::kPrompt, step, index):
//   1. w: d normals g, then w = Σ_w^{1/2} g;
//   2. for each column i = 0 … n (the query last):
//      a. d coordinates of g: uniform on [-√3, √3] for `uniform`, N(0, 1) otherwise;
//      b. student-t: one χ²_ν = Gamma(ν/2, 2); gamma: one s ~ Gamma(k, θ); nothing otherwise;
//      c. ε_i ~ N(0, 1), drawn even when σ = 0, so that prompts with the same (seed, step, index)
//         share x and w across noise levels (common random numbers);
//      x_i = Σ^{1/2} u_i and y_i = wᵀx_i + σ ε_i.
#include "linicl/data/task.hpp"
#include "linicl/numerics/require.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

#include "linicl/data/covariance.hpp"
#include "linicl/numerics/rng.hpp"

namespace linicl {

void TaskSpec::check(const FieldLabel& label) const {
  require(dim >= 1, label("dim"), ">= 1", dim);
  require(context >= 1, label("context"), ">= 1", context);
  // ν > 2 for a finite covariance to rescale by (§2.2); ν = ∞ would be the Gaussian.
  require(std::isfinite(dof) && dof > 2.0, label("dof"), "> 2 and finite", dof);
  require(std::isfinite(gamma_shape) && gamma_shape > 0.0, label("gamma-shape"), "> 0 and finite",
          gamma_shape);
  require(std::isfinite(gamma_scale) && gamma_scale > 0.0, label("gamma-scale"), "> 0 and finite",
          gamma_scale);
  require(std::isfinite(noise) && noise >= 0.0, label("noise"), ">= 0 and finite", noise);
}

namespace {

constexpr double kSqrt3 = 1.7320508075688772;

// One coordinate of g: uniform on [-√3, √3] (mean 0, variance 1) for `uniform`, N(0, 1) otherwise.
double draw_coordinate(XDist dist, RandomStream& rs) {
  return dist == XDist::kUniform ? kSqrt3 * (2.0 * rs.uniform() - 1.0) : rs.normal();
}

// The factor r in u = r·g that turns g into the chosen isotropic distribution (task.hpp):
// student-t r = √((ν−2)/χ²_ν) (unit covariance since E[1/χ²_ν] = 1/(ν−2)); sphere r = √d/‖g‖;
// gamma r = √(d·s/(kθ))/‖g‖, so that ‖u‖² = d·s/(kθ) and E[u uᵀ] = E[s]/(kθ)·I = I.
double radial_factor(const TaskSpec& spec, double squared_norm, RandomStream& rs) {
  const double d = spec.dim;
  switch (spec.x_dist) {
    case XDist::kStudentT:
      return std::sqrt((spec.dof - 2.0) / rs.gamma(0.5 * spec.dof, 2.0));
    case XDist::kSphere:
      return std::sqrt(d / squared_norm);
    case XDist::kGamma:
      return std::sqrt(d * rs.gamma(spec.gamma_shape, spec.gamma_scale) /
                       (spec.gamma_shape * spec.gamma_scale * squared_norm));
    case XDist::kGaussian:
    case XDist::kUniform:
      break;
  }
  return 1.0;
}

// u for one covariate, in place: its d coordinates, then the radius when the law has one.
void draw_isotropic(const TaskSpec& spec, RandomStream& rs, Eigen::Ref<Eigen::VectorXd> u) {
  for (Eigen::Index j = 0; j < u.size(); ++j) u[j] = draw_coordinate(spec.x_dist, rs);
  if (spec.x_dist == XDist::kGaussian || spec.x_dist == XDist::kUniform) return;
  u *= radial_factor(spec, u.squaredNorm(), rs);
}

// y_i = σ ε_i + Σ_j w_j x_ij in place of ε_i in the `Width` columns z_i = [x_i; ε_i] (d+1 rows)
// from z (sum_labels).
template <int Width>
void add_labels_of(double noise, const double* w, Eigen::Index d, double* z) {
  const Eigen::Index m = d + 1;
  sum_labels<Width>(
      noise, static_cast<int>(d), [&](int b, int j) { return z[b * m + j]; },
      [&](int, int j) { return w[j]; }, [&](int b) -> double& { return z[b * m + d]; });
}

// The labels of all columns, eight at a time, so that eight independent sums hide the latency
// of the multiply-adds (d = 50: 50 in a row per column).
void add_labels(double noise, const double* w, Eigen::Index d, Eigen::Index columns, double* z) {
  constexpr Eigen::Index kBlock = 8;
  Eigen::Index i = 0;
  for (; i + kBlock <= columns; i += kBlock) add_labels_of<kBlock>(noise, w, d, z + i * (d + 1));
  for (; i < columns; ++i) add_labels_of<1>(noise, w, d, z + i * (d + 1));
}

}  // namespace

TaskSampler::TaskSampler(const TaskSpec& spec, const Eigen::MatrixXd& sigma,
                         const Eigen::MatrixXd& sigma_w)
    : spec_(spec), sigma_(sigma), sigma_w_(sigma_w) {
  spec_.check();
  check_covariance(sigma_, spec_.dim, "covariance Sigma");
  check_covariance(sigma_w_, spec_.dim, "weight covariance Sigma_w");
  sigma_sqrt_ = spd_roots(sigma_).sqrt;
  sigma_w_sqrt_ = spd_roots(sigma_w_).sqrt;
  sigma_is_identity_ = sigma_.isIdentity(0.0);
  sigma_w_is_identity_ = sigma_w_.isIdentity(0.0);
}

void TaskSampler::sample_columns(std::uint64_t seed, std::uint64_t step, std::uint64_t index,
                                 PromptColumns& out, bool labelled) const {
  const Eigen::Index d = spec_.dim, m = d + 1, columns = spec_.context + 1;
  // No-ops (no reallocation) when the sizes already match.
  out.z.resize(m, columns);
  out.w.resize(d);
  // The draws in stream order: g for w, then per column u_i and ε_i. The column [u_i; ε_i] is
  // drawn where [x_i; y_i] goes, or into `draws` when Σ ≠ I (x_i = Σ^{1/2} u_i is a product).
  if (!sigma_is_identity_) {
    out.draws.resize(m, columns);
  } else if (!sigma_w_is_identity_) {
    out.draws.resize(d, 1);  // g alone
  }
  RandomStream rs(seed, Purpose::kPrompt, step, index);
  double* const g = sigma_w_is_identity_ ? out.w.data() : out.draws.data();
  rs.fill_normals(g, static_cast<std::size_t>(d));
  if (!sigma_w_is_identity_)
    out.w.noalias() = sigma_w_sqrt_ * Eigen::Map<const Eigen::VectorXd>(g, d);
  Eigen::MatrixXd& u_and_noise = sigma_is_identity_ ? out.z : out.draws;
  if (spec_.x_dist == XDist::kGaussian) {
    rs.fill_normals(u_and_noise.data(), static_cast<std::size_t>(m * columns));
  } else {
    for (Eigen::Index i = 0; i < columns; ++i) {
      draw_isotropic(spec_, rs, u_and_noise.col(i).head(d));
      u_and_noise(d, i) = rs.normal();
    }
  }
  if (!sigma_is_identity_) {
    out.z.topRows(d).noalias() = sigma_sqrt_ * out.draws.topRows(d);
    out.z.row(d) = out.draws.row(d);
  }
  out.labelled = labelled;
  out.noise = spec_.noise;
  if (labelled) add_labels(spec_.noise, out.w.data(), d, columns, out.z.data());
}

void TaskSampler::sample(std::uint64_t seed, std::uint64_t step, std::uint64_t index,
                         Prompt& out) const {
  sample_columns(seed, step, index, out.columns);
  const Eigen::Index d = spec_.dim, columns = spec_.context + 1;
  out.x.resize(d, columns);
  out.y.resize(columns);
  // Plain loops: Eigen's copies of these strided blocks took about twice as long.
  const double* z = out.columns.z.data();
  for (Eigen::Index i = 0; i < columns; ++i) {
    for (Eigen::Index j = 0; j < d; ++j) out.x(j, i) = z[i * (d + 1) + j];
    out.y[i] = z[i * (d + 1) + d];
  }
  out.w = out.columns.w;
}

}  // namespace linicl
