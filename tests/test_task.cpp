// Task sampling (§2): moments of every covariate distribution, the shape of each
// distribution, labels, determinism across threads, and spec validation.
#include "linicl/data/task.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "linicl/data/covariance.hpp"
#include "linicl/numerics/rng.hpp"

using Catch::Contains;
using linicl::Prompt;
using linicl::PromptColumns;
using linicl::Purpose;
using linicl::RandomStream;
using linicl::TaskSampler;
using linicl::TaskSpec;
using linicl::XDist;

namespace {

constexpr int kDim = 3;
constexpr int kContext = 9;
constexpr int kPrompts = 20000;  // × (n+1) = 200 000 pooled covariates

// A Haar-rotated geometric Σ with condition number κ and tr Σ = d.
Eigen::MatrixXd rotated_sigma(double kappa, int dim) {
  linicl::CovarianceSpec spec;
  spec.kind = linicl::CovKind::kKappa;
  spec.kappa = kappa;
  spec.rotate = true;
  return linicl::make_covariance(spec, dim, 2024);
}

TaskSpec task_spec(XDist dist, double noise = 0.5) {
  TaskSpec spec;
  spec.dim = kDim;
  spec.context = kContext;
  spec.x_dist = dist;
  spec.noise = noise;
  return spec;
}

// Entry-wise mean of matrix-valued i.i.d. samples, with its standard error sd/√N where the sd is
// estimated from the samples themselves.
class SampleMean {
 public:
  void add(const Eigen::MatrixXd& sample) {
    if (count_ == 0) {
      sum_ = Eigen::MatrixXd::Zero(sample.rows(), sample.cols());
      sum_of_squares_ = sum_;
    }
    sum_ += sample;
    sum_of_squares_ += sample.cwiseAbs2();
    ++count_;
  }
  Eigen::MatrixXd mean() const { return sum_ / count_; }
  Eigen::MatrixXd standard_error() const {
    const Eigen::ArrayXXd m = mean().array();
    const Eigen::ArrayXXd variance =
        (sum_of_squares_.array() / count_ - m * m) * count_ / (count_ - 1);
    return (variance / count_).sqrt().matrix();
  }

 private:
  Eigen::MatrixXd sum_, sum_of_squares_;
  long count_ = 0;
};

// Every entry of the sample mean lies within k standard errors of `expected`.
void check_within_standard_errors(const SampleMean& sample, const Eigen::MatrixXd& expected,
                                  const std::string& what, double k = 5.0) {
  const Eigen::MatrixXd z_scores =
      (sample.mean() - expected).cwiseQuotient(sample.standard_error());
  INFO(what << "\nsample mean:\n"
            << sample.mean() << "\nexpected:\n"
            << expected << "\nz-scores:\n"
            << z_scores);
  CHECK(z_scores.cwiseAbs().maxCoeff() < k);
}

// All n+1 covariates of prompts 0 … count−1 of step 0, side by side (d × count·(n+1)).
Eigen::MatrixXd pooled_covariates(const TaskSampler& sampler, int count) {
  const int columns = sampler.spec().context + 1;
  Eigen::MatrixXd pooled(sampler.spec().dim, static_cast<Eigen::Index>(count) * columns);
  Prompt prompt;
  for (int b = 0; b < count; ++b) {
    sampler.sample(5, 0, b, prompt);
    pooled.middleCols(static_cast<Eigen::Index>(b) * columns, columns) = prompt.x;
  }
  return pooled;
}

// Σ^{-1/2} x for every pooled covariate: the isotropic u the sampler started from.
Eigen::MatrixXd whitened_covariates(const TaskSampler& sampler, int count) {
  return linicl::spd_roots(sampler.sigma()).inv_sqrt * pooled_covariates(sampler, count);
}

bool identical(const Prompt& a, const Prompt& b) {
  const bool same_shape = a.x.rows() == b.x.rows() && a.x.cols() == b.x.cols() &&
                          a.y.size() == b.y.size() && a.w.size() == b.w.size();
  return same_shape && a.x == b.x && a.y == b.y && a.w == b.w;
}

struct DistCase {
  const char* name;
  XDist dist;
  double dof, gamma_shape, gamma_scale;
  double covariance_factor;  // E[x xᵀ] = factor · Σ
};

}  // namespace

TEST_CASE("task: moments of covariates, weights and label noise", "[task]") {
  const DistCase c = GENERATE(values<DistCase>({
      {"gaussian", XDist::kGaussian, 5.0, 0.1, 10.0, 1.0},
      {"uniform", XDist::kUniform, 5.0, 0.1, 10.0, 1.0},
      {"student-t", XDist::kStudentT, 8.0, 0.1, 10.0, 1.0},
      {"sphere", XDist::kSphere, 5.0, 0.1, 10.0, 1.0},
      {"gamma", XDist::kGamma, 5.0, 0.1, 20.0, 1.0},  // kθ = 2, normalized away
  }));
  INFO("x-dist " << c.name);
  TaskSpec spec = task_spec(c.dist);
  spec.dof = c.dof;
  spec.gamma_shape = c.gamma_shape;
  spec.gamma_scale = c.gamma_scale;
  const Eigen::MatrixXd sigma = rotated_sigma(10.0, kDim);
  const Eigen::MatrixXd sigma_w = linicl::spd_roots(sigma).inverse;  // w ~ N(0, Σ⁻¹)
  const TaskSampler sampler(spec, sigma, sigma_w);

  SampleMean x_mean, x_second_moment, w_second_moment, residual, residual_squared;
  Prompt prompt;
  for (int b = 0; b < kPrompts; ++b) {
    sampler.sample(1, 2, b, prompt);
    w_second_moment.add(prompt.w * prompt.w.transpose());
    for (int i = 0; i <= kContext; ++i) {
      const Eigen::VectorXd x = prompt.x.col(i);
      x_mean.add(x);
      x_second_moment.add(x * x.transpose());
      const double r = prompt.y(i) - prompt.w.dot(x);
      residual.add(Eigen::MatrixXd::Constant(1, 1, r));
      residual_squared.add(Eigen::MatrixXd::Constant(1, 1, r * r));
    }
  }
  check_within_standard_errors(x_mean, Eigen::VectorXd::Zero(kDim), "E[x] = 0");
  check_within_standard_errors(x_second_moment, c.covariance_factor * sigma, "E[x x^T]");
  check_within_standard_errors(w_second_moment, sigma_w, "E[w w^T] = Sigma_w");
  check_within_standard_errors(residual, Eigen::MatrixXd::Zero(1, 1), "E[y - w^T x] = 0");
  check_within_standard_errors(residual_squared, Eigen::MatrixXd::Constant(1, 1, 0.25),
                               "Var[y - w^T x] = sigma^2");
}

TEST_CASE("task: noiseless labels are exact, and noise leaves x and w unchanged", "[task]") {
  const Eigen::MatrixXd sigma = rotated_sigma(10.0, kDim);
  const TaskSampler noiseless(task_spec(XDist::kGaussian, 0.0), sigma, sigma);
  const TaskSampler noisy(task_spec(XDist::kGaussian, 0.5), sigma, sigma);
  Prompt clean, corrupted;
  for (int b = 0; b < 50; ++b) {
    noiseless.sample(3, 1, b, clean);
    noisy.sample(3, 1, b, corrupted);
    // y = wᵀx up to the rounding of a d-term sum.
    for (int i = 0; i <= kContext; ++i) {
      const double bound = 2 * kDim * std::numeric_limits<double>::epsilon() *
                           clean.w.cwiseAbs().dot(clean.x.col(i).cwiseAbs());
      REQUIRE(std::abs(clean.y(i) - clean.w.dot(clean.x.col(i))) <= bound);
    }
    // ε is drawn whatever σ is: common random numbers across noise levels.
    REQUIRE(clean.x == corrupted.x);
    REQUIRE(clean.w == corrupted.w);
    REQUIRE((clean.y - corrupted.y).cwiseAbs().minCoeff() > 0.0);
  }
}

TEST_CASE("task: labels are summed from the noise in coordinate order", "[task]") {
  // Gaussian x with Σ = Σ_w = I: the stream is g, then [u_i; ε_i] per column, x_i = u_i, w = g.
  for (int d : {1, 5, 12}) {
    INFO("d = " << d);
    TaskSpec spec = task_spec(XDist::kGaussian, 0.7);
    spec.dim = d;
    const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(d, d);
    const TaskSampler sampler(spec, identity, identity);
    Prompt prompt;
    for (int b = 0; b < 20; ++b) {
      sampler.sample(2, 5, b, prompt);
      RandomStream rs(2, Purpose::kPrompt, 5, b);
      Eigen::VectorXd w(d);
      for (int j = 0; j < d; ++j) w[j] = rs.normal();
      REQUIRE(prompt.w == w);
      for (int i = 0; i <= kContext; ++i) {
        Eigen::VectorXd x(d);
        for (int j = 0; j < d; ++j) x[j] = rs.normal();
        REQUIRE(prompt.x.col(i) == x);
        double y = 0.7 * rs.normal();
        for (int j = 0; j < d; ++j) y = linicl::fused_multiply_add(x[j], w[j], y);
        REQUIRE(prompt.y(i) == y);
      }
    }
  }
}

TEST_CASE("task: draws follow the documented order for every law and covariance", "[task]") {
  // Each prompt rebuilt from its stream: g, then per column u_i (the law's radius draw after
  // its coordinates) and ε_i; w = Σ_w^{1/2} g, x_i = Σ^{1/2} u_i. One PromptColumns is reused
  // across laws and covariances, so a stale scratch buffer would show.
  const Eigen::MatrixXd rotated = rotated_sigma(10.0, kDim);
  const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(kDim, kDim);
  PromptColumns columns;
  for (XDist dist : {XDist::kGaussian, XDist::kUniform, XDist::kStudentT}) {
    for (const Eigen::MatrixXd* sigma : {&identity, &rotated}) {
      for (const Eigen::MatrixXd* sigma_w : {&rotated, &identity}) {
        const TaskSampler sampler(task_spec(dist, 0.4), *sigma, *sigma_w);
        const Eigen::MatrixXd root = linicl::spd_roots(*sigma).sqrt;
        const Eigen::MatrixXd root_w = linicl::spd_roots(*sigma_w).sqrt;
        for (int b = 0; b < 3; ++b) {
          sampler.sample_columns(6, 2, b, columns);
          RandomStream rs(6, Purpose::kPrompt, 2, b);
          Eigen::VectorXd g(kDim), u(kDim);
          for (int j = 0; j < kDim; ++j) g[j] = rs.normal();
          const Eigen::VectorXd w = root_w * g;
          REQUIRE((columns.w - w).norm() <= 1e-14 * w.norm());
          for (int i = 0; i <= kContext; ++i) {
            for (int j = 0; j < kDim; ++j) {
              u[j] = dist == XDist::kUniform ? std::sqrt(3.0) * (2.0 * rs.uniform() - 1.0)
                                             : rs.normal();
            }
            if (dist == XDist::kStudentT) {
              const double dof = sampler.spec().dof;
              u *= std::sqrt((dof - 2.0) / rs.gamma(0.5 * dof, 2.0));
            }
            const Eigen::VectorXd x = root * u;
            REQUIRE((columns.z.col(i).head(kDim) - x).norm() <= 1e-14 * x.norm());
            double y = 0.4 * rs.normal();  // σ ε_i, then the sampler's own x_i and w
            for (int j = 0; j < kDim; ++j)
              y = linicl::fused_multiply_add(columns.z(j, i), columns.w[j], y);
            REQUIRE(columns.z(kDim, i) == y);
          }
        }
      }
    }
  }
}

TEST_CASE("task: sample_columns() is sample() before unpacking", "[task]") {
  const Eigen::MatrixXd sigma = rotated_sigma(10.0, kDim);
  const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(kDim, kDim);
  for (XDist dist : {XDist::kGaussian, XDist::kGamma}) {
    for (const Eigen::MatrixXd* sigma_x : {&identity, &sigma}) {
      for (const Eigen::MatrixXd* sigma_w : {&identity, &sigma}) {
        const TaskSampler sampler(task_spec(dist, 0.3), *sigma_x, *sigma_w);
        Prompt prompt;
        PromptColumns columns;
        for (int b = 0; b < 5; ++b) {
          sampler.sample(9, 1, b, prompt);
          sampler.sample_columns(9, 1, b, columns);
          REQUIRE(columns.z.rows() == kDim + 1);
          REQUIRE(columns.z.topRows(kDim) == prompt.x);
          REQUIRE(columns.z.row(kDim).transpose() == prompt.y);
          REQUIRE(columns.w == prompt.w);
        }
      }
    }
  }
}

TEST_CASE("task: sphere covariates have whitened norm exactly sqrt(d)", "[task]") {
  const TaskSampler sampler(task_spec(XDist::kSphere), rotated_sigma(10.0, kDim),
                            Eigen::MatrixXd::Identity(kDim, kDim));
  const Eigen::MatrixXd u = whitened_covariates(sampler, 2000);
  const Eigen::VectorXd squared_norms = u.colwise().squaredNorm().transpose();
  CHECK((squared_norms.array() - kDim).abs().maxCoeff() < 1e-10);
}

TEST_CASE("task: uniform covariates fill the cube [-sqrt 3, sqrt 3]^d", "[task]") {
  const TaskSampler sampler(task_spec(XDist::kUniform), rotated_sigma(10.0, kDim),
                            Eigen::MatrixXd::Identity(kDim, kDim));
  const double largest = whitened_covariates(sampler, 2000).cwiseAbs().maxCoeff();
  CHECK(largest <= std::sqrt(3.0) + 1e-10);
  CHECK(largest > 1.73);  // the edge is reached: not a narrower distribution
}

TEST_CASE("task: student-t covariates are elliptical with t marginals", "[task]") {
  // ν = 8: each coordinate of u is t_ν scaled to unit variance, excess kurtosis 6/(ν−4) = 1.5.
  // One χ² per covariate makes the coordinates dependent: E[u_0² u_1²] = (ν−2)/(ν−4) = 1.5,
  // where independent coordinates would give 1.
  TaskSpec spec = task_spec(XDist::kStudentT);
  spec.dof = 8.0;
  const TaskSampler sampler(spec, rotated_sigma(10.0, kDim), Eigen::MatrixXd::Identity(kDim, kDim));
  const Eigen::ArrayXXd u = whitened_covariates(sampler, kPrompts).array();
  const double m2 = u.square().mean();
  const double excess_kurtosis = u.square().square().mean() / (m2 * m2) - 3.0;
  const double cross = (u.row(0).square() * u.row(1).square()).mean();
  CHECK(m2 == Approx(1.0).epsilon(0.02));
  CHECK(excess_kurtosis == Approx(1.5).margin(0.4));
  CHECK(cross == Approx(1.5).margin(0.2));
}

TEST_CASE("task: gamma covariates have the heavy radial tail of Gamma(k, theta)", "[task]") {
  // ‖u‖² = d·s with s ~ Gamma(k, θ): E‖u‖⁴ / (d·E s)² = E[s²]/(E s)² = (k+1)/k = 11 for k = 0.1.
  TaskSpec spec = task_spec(XDist::kGamma);
  spec.gamma_shape = 0.1;
  spec.gamma_scale = 10.0;
  const TaskSampler sampler(spec, rotated_sigma(10.0, kDim), Eigen::MatrixXd::Identity(kDim, kDim));
  const Eigen::ArrayXd squared_norms =
      whitened_covariates(sampler, kPrompts).colwise().squaredNorm().transpose().array();
  CHECK(squared_norms.mean() == Approx(kDim).epsilon(0.05));  // d
  CHECK(squared_norms.square().mean() / (kDim * kDim) == Approx(11.0).epsilon(0.2));
}

TEST_CASE("task: a prompt depends only on (seed, step, index)", "[task]") {
  TaskSpec spec = task_spec(XDist::kStudentT);
  const Eigen::MatrixXd sigma = rotated_sigma(10.0, kDim);
  const TaskSampler sampler(spec, sigma, sigma);

  Prompt first, again, other;
  sampler.sample(7, 3, 11, first);
  for (int b = 0; b < 5; ++b) sampler.sample(7, 3, b, other);  // unrelated calls in between
  sampler.sample(7, 3, 11, again);
  CHECK(identical(first, again));

  sampler.sample(7, 3, 12, other);
  CHECK_FALSE(first.x == other.x);
  sampler.sample(7, 4, 11, other);
  CHECK_FALSE(first.x == other.x);
  sampler.sample(8, 3, 11, other);
  CHECK_FALSE(first.w == other.w);

  const int count = 64;
  std::vector<Prompt> serial(count), parallel(count);
  for (int b = 0; b < count; ++b) sampler.sample(7, 3, b, serial[b]);
#pragma omp parallel for schedule(dynamic, 1) num_threads(4)
  for (int b = count - 1; b >= 0; --b) sampler.sample(7, 3, b, parallel[b]);
  int mismatches = 0;
  for (int b = 0; b < count; ++b) mismatches += identical(serial[b], parallel[b]) ? 0 : 1;
  CHECK(mismatches == 0);
  CHECK(identical(parallel[11], first));
}

TEST_CASE("task: sampling reuses the prompt's buffers", "[task]") {
  const Eigen::MatrixXd sigma = rotated_sigma(10.0, kDim);
  const TaskSampler sampler(task_spec(XDist::kGamma), sigma, sigma);
  Prompt prompt;
  sampler.sample(1, 0, 0, prompt);
  CHECK(prompt.x.rows() == kDim);
  CHECK(prompt.x.cols() == kContext + 1);
  CHECK(prompt.y.size() == kContext + 1);
  CHECK(prompt.w.size() == kDim);
  const double* x_data = prompt.x.data();
  const double* y_data = prompt.y.data();
  const double* w_data = prompt.w.data();
  sampler.sample(1, 0, 1, prompt);
  CHECK(prompt.x.data() == x_data);
  CHECK(prompt.y.data() == y_data);
  CHECK(prompt.w.data() == w_data);

  // A prompt of another shape is resized.
  TaskSpec longer = task_spec(XDist::kGaussian);
  longer.dim = 2;
  longer.context = 30;
  const TaskSampler other(longer, Eigen::MatrixXd::Identity(2, 2), Eigen::MatrixXd::Identity(2, 2));
  other.sample(1, 0, 0, prompt);
  CHECK(prompt.x.rows() == 2);
  CHECK(prompt.x.cols() == 31);
  CHECK(prompt.y.size() == 31);
  CHECK(prompt.w.size() == 2);
}

TEST_CASE("task: bad specs and matrices are rejected with the option's name", "[task]") {
  const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(kDim, kDim);
  const auto make = [&](const TaskSpec& spec) { TaskSampler sampler(spec, identity, identity); };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();

  TaskSpec spec = task_spec(XDist::kGaussian);
  REQUIRE_NOTHROW(make(spec));
  spec.dim = 0;
  REQUIRE_THROWS_WITH(make(spec), Contains("--dim must be >= 1 (got 0)"));
  spec = task_spec(XDist::kGaussian);
  spec.context = 0;
  REQUIRE_THROWS_WITH(make(spec), Contains("--context must be >= 1 (got 0)"));

  spec = task_spec(XDist::kStudentT);
  for (double dof : {2.0, 1.0, nan, inf}) {
    spec.dof = dof;
    REQUIRE_THROWS_WITH(make(spec), Contains("--dof must be > 2"));
  }
  spec.dof = 2.5;
  REQUIRE_NOTHROW(make(spec));

  spec = task_spec(XDist::kGamma);
  for (double shape : {0.0, -1.0, nan, inf}) {
    spec.gamma_shape = shape;
    REQUIRE_THROWS_WITH(make(spec), Contains("--gamma-shape must be > 0"));
  }
  spec = task_spec(XDist::kGamma);
  for (double scale : {0.0, -1.0, nan, inf}) {
    spec.gamma_scale = scale;
    REQUIRE_THROWS_WITH(make(spec), Contains("--gamma-scale must be > 0"));
  }

  for (double noise : {-0.1, nan, inf}) {
    spec = task_spec(XDist::kGaussian, noise);
    REQUIRE_THROWS_WITH(make(spec), Contains("--noise must be >= 0"));
  }

  spec = task_spec(XDist::kGaussian);
  REQUIRE_THROWS_WITH(TaskSampler(spec, Eigen::MatrixXd::Identity(4, 4), identity),
                      Contains("covariance Sigma: expected a 3x3 matrix (got 4x4)"));
  Eigen::MatrixXd indefinite = identity;
  indefinite(1, 1) = -1.0;
  REQUIRE_THROWS_WITH(TaskSampler(spec, identity, indefinite),
                      Contains("weight covariance Sigma_w:") && Contains("not positive definite"));
}
