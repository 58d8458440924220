// Landscape results into the run file, and the theory point that slices aim at.
#include <cmath>
#include <limits>

#include "linicl/landscape/landscape.hpp"

namespace linicl {

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

void write_curvature(const h5::Node& group, const Curvature& c) {
  group.set_attr("full", c.full);
  group.set_attr("sharpness", c.sharpness);
  group.set_attr("lambda_median", c.median);
  group.set_attr("robust_condition", c.robust_condition);
  group.set_attr("negative", static_cast<std::int64_t>(c.negative));
  group.set_attr("zero", static_cast<std::int64_t>(c.zero));
  group.set_attr("positive", static_cast<std::int64_t>(c.positive));
  group.set_attr("inactive", static_cast<std::int64_t>(c.inactive));
  group.set_attr("converged", c.converged);
  group.set_attr("asymmetry", c.asymmetry);
  group.write_matrix("largest", c.largest);
  group.write_matrix("smallest", c.smallest);
  if (c.full) {
    group.write_matrix("eigenvalues", c.eigenvalues);
    group.write_matrix("active_eigenvalues", c.active_eigenvalues);
  }
}

void write_slice(const h5::Node& group, const Slice& s) {
  group.write_matrix("alpha", s.alpha);
  if (s.beta.size() > 0) group.write_matrix("beta", s.beta);
  group.write_matrix("loss", s.loss);
  group.write_matrix("standard_error", s.standard_error);
  if (!std::isnan(s.exact(0, 0))) group.write_matrix("exact", s.exact);
}

void write_critical_point(const h5::Node& group, const CriticalPoint& p) {
  group.set_attr("family", p.family);
  group.set_attr("loss", p.loss.mean);
  group.set_attr("loss_standard_error", p.loss.standard_error);
  group.set_attr("exact_loss", p.exact_loss);
  group.set_attr("exact_gradient_norm", p.exact_gradient_norm);
  group.set_attr("gradient_norm", p.gradient_norm);
  group.set_attr("gradient_noise", p.gradient_noise);
  group.set_attr("iterations", static_cast<std::int64_t>(p.iterations));
  group.set_attr("starts", static_cast<std::int64_t>(p.starts));
  group.set_attr("agreeing_starts", static_cast<std::int64_t>(p.agreeing));
  group.set_attr("converged", static_cast<std::int64_t>(p.converged));
  if (p.scalars.size() > 0) group.write_matrix("scalars", p.scalars);
  group.write_matrix("theta", p.theta);
  write_curvature(group.create_group("curvature"), p.curvature);
}

}  // namespace linicl
