// Random linear-regression prompts (§2).
#pragma once

#include <Eigen/Dense>
#include <cmath>
#include <cstdint>

#include "linicl/numerics/name_table.hpp"
#include "linicl/numerics/require.hpp"

namespace linicl {

// The covariate laws of §2.2.
enum class XDist { kGaussian, kUniform, kStudentT, kSphere, kGamma };
constexpr NameTable<XDist, 5> name_table(XDist) {
  return {{{XDist::kGaussian, "gaussian"},
           {XDist::kUniform, "uniform"},
           {XDist::kStudentT, "student-t"},
           {XDist::kSphere, "sphere"},
           {XDist::kGamma, "gamma"}}};
}

struct TaskSpec {
  int dim = 5;       // d
  int context = 20;  // n
  XDist x_dist = XDist::kGaussian;
  double dof = 5.0;           // Student-t ν > 2
  double gamma_shape = 0.1;   // gamma k > 0
  double gamma_scale = 10.0;  // gamma θ > 0
  double noise = 0.0;         // label-noise std σ ≥ 0

  // Throws std::invalid_argument naming the first bad field (as `label` names it) and its
  // range. Every field is checked, whichever law uses it, as the command line does.
  void check(const FieldLabel& label = option_flag) const;
};

// One prompt as the sampler draws it: the columns z_i = [x_i; y_i] of Z ((d+1)×(n+1), column-major;
// the last is the query with its target) and the task's weights. Buffers are reused when sampled
// into again (no allocation when the sizes already match).
struct PromptColumns {
  Eigen::MatrixXd z;
  Eigen::VectorXd w;
  // Whether row d of z holds the labels y_i, or still the unit draws ε_i: embed_lanes() then sums
  // y_i = noise·ε_i + Σ_j w_j x_ij for eight prompts at once (model_lanes.hpp).
  bool labelled = true;
  double noise = 0.0;     // σ
  Eigen::MatrixXd draws;  // scratch: g when Σ_w ≠ I, then u_i and ε_i before x_i = Σ^{1/2} u_i
                          // when Σ ≠ I
};

// a·b + c, rounded once where the build targets FMA (__FMA__): the labels' arithmetic, the same in
// the sampler and in embed_lanes().
inline double fused_multiply_add(double a, double b, double c) {
#if defined(__FMA__)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

// Width labels at once, y_b = σ·ε_b + Σ_{j<d} x_b(j)·w_b(j), each summed from σ·ε_b over j in order
// with one fused multiply-add per term (§2.1): the one definition of a label, used by the
// sampler (the columns of one prompt) and by embed_lanes() (one column of eight prompts), so
// both give the same numbers bit for bit. label(b) holds ε_b on entry and y_b on return.
template <int Width, class Covariate, class TaskWeight, class Label>
inline void sum_labels(double noise, int d, Covariate&& x, TaskWeight&& w, Label&& label) {
  double sum[Width];
  for (int b = 0; b < Width; ++b) sum[b] = noise * label(b);
  for (int j = 0; j < d; ++j) {
    for (int b = 0; b < Width; ++b) sum[b] = fused_multiply_add(x(b, j), w(b, j), sum[b]);
  }
  for (int b = 0; b < Width; ++b) label(b) = sum[b];
}

// One prompt, unpacked. Buffers are reused as in PromptColumns.
struct Prompt {
  Eigen::MatrixXd x;      // d × (n+1); column i is x_i, the last column is the query x_{n+1}
  Eigen::VectorXd y;      // n+1 labels; y(n) is the query's target, never shown to the model
  Eigen::VectorXd w;      // the task's weights
  PromptColumns columns;  // the sampler's scratch: the prompt as drawn, before unpacking
};

// Draws covariates x = Σ^{1/2} u with u isotropic of unit covariance:
//   gaussian  u ~ N(0, I)
//   uniform   u_j i.i.d. uniform on [-√3, √3]
//   student-t u = g·√((ν−2)/χ²_ν), g ~ N(0, I) (multivariate t, elliptical)
//   sphere    u = √d·g/‖g‖  (uniform on the sphere of radius √d)
//   gamma     u = √(d·s/(kθ))·g/‖g‖, s ~ Gamma(k, θ)  (heavy-tailed radius; the linicl train
//             option --x-dist gamma scales Σ by kθ = E s, see make_problem)
// weights w = Σ_w^{1/2} g, and labels y_i = wᵀx_i + σ ε_i (summed from σ ε_i in the order of the
// coordinates, one fused multiply-add per term where the build targets FMA, as -march=native
// does on such a CPU).
class TaskSampler {
 public:
  // sigma: Σ (d×d SPD), sigma_w: Σ_w (d×d SPD). Throws std::invalid_argument on bad specs
  // (TaskSpec::check) or matrices (the message names the field and its allowed range).
  TaskSampler(const TaskSpec& spec, const Eigen::MatrixXd& sigma, const Eigen::MatrixXd& sigma_w);

  // Prompt `index` of `step` drawn from RandomStream(seed, Purpose::kPrompt, step, index): the same
  // prompt whatever thread draws it and in whatever order.
  void sample(std::uint64_t seed, std::uint64_t step, std::uint64_t index, Prompt& out) const;
  // The same prompt as drawn, before sample() unpacks it: the same numbers bit for bit. Unless
  // `labelled`, row d keeps ε_i (out.labelled = false) for embed_lanes() to label.
  void sample_columns(std::uint64_t seed, std::uint64_t step, std::uint64_t index,
                      PromptColumns& out, bool labelled = true) const;

  const TaskSpec& spec() const { return spec_; }
  const Eigen::MatrixXd& sigma() const { return sigma_; }
  const Eigen::MatrixXd& sigma_w() const { return sigma_w_; }

 private:
  TaskSpec spec_;
  Eigen::MatrixXd sigma_, sigma_w_;
  Eigen::MatrixXd sigma_sqrt_, sigma_w_sqrt_;                     // symmetric square roots
  bool sigma_is_identity_ = false, sigma_w_is_identity_ = false;  // skip those products
};

}  // namespace linicl
