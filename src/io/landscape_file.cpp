// Landscape results into the run file.
#include "linicl/io/landscape_file.hpp"

#include <cmath>
#include <cstdint>
#include <functional>

#include "linicl/io/h5.hpp"
#include "linicl/io/run_file.hpp"

namespace linicl {

namespace {

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

// /landscape/<mode> replaced by a new group with the pool's attributes, then `write`'s content.
void save_mode(const OutputLock& held, const LandscapeOptions& options, const std::string& mode,
               const std::function<void(const h5::Node&)>& write) {
  edit_run_file(held, [&](h5::File& file) {
    const std::string where = "/landscape/" + mode;
    file.remove(where);
    const h5::Node group = file.create_group(where);
    group.set_attr("pool", static_cast<std::int64_t>(options.pool));
    group.set_attr("seed", static_cast<std::int64_t>(options.seed));
    write(group);
  });
}

}  // namespace

void save_landscape(const OutputLock& held, const LandscapeOptions& options, const ExactReport& r) {
  save_mode(held, options, "exact", [&](const h5::Node& g) {
    g.set_attr("loss", r.loss);
    g.set_attr("sampled_loss", r.sampled.mean);
    g.set_attr("sampled_standard_error", r.sampled.standard_error);
    g.set_attr("loss_star", r.loss_star);
    g.write_matrix("gamma", r.gamma);
    g.write_matrix("gradient", r.gradient);
    g.write_matrix("gamma_star", r.gamma_star);
    g.write_matrix("H", r.h);
    g.write_matrix("hessian_eigenvalues", r.hessian_eigenvalues);
  });
}

void save_landscape(const OutputLock& held, const LandscapeOptions& options,
                    const Curvature& curvature) {
  save_mode(held, options, "curvature", [&](const h5::Node& g) { write_curvature(g, curvature); });
}

void save_landscape(const OutputLock& held, const LandscapeOptions& options,
                    const std::vector<std::pair<std::string, CriticalPoint>>& points) {
  save_mode(held, options, "critical", [&](const h5::Node& g) {
    for (const auto& [name, point] : points) write_critical_point(g.create_group(name), point);
  });
}

void save_landscape(const OutputLock& held, const LandscapeOptions& options, const SliceReport& r,
                    const std::string& direction, int layer) {
  save_mode(held, options, "slice", [&](const h5::Node& g) {
    write_slice(g, r.slice);
    g.write_matrix("origin", r.origin);
    g.write_matrix("direction_u", r.u);
    if (r.v.size() > 0) g.write_matrix("direction_v", r.v);
    g.set_attr("direction", direction);
    g.set_attr("layer", static_cast<std::int64_t>(layer));
  });
}

}  // namespace linicl
