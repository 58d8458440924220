#include "linicl/numerics/curvature.hpp"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <limits>
#include <vector>

namespace linicl {

Curvature measure_curvature(const SymmetricOperator& hessian, Eigen::Index p,
                            const CurvatureOptions& options, const CurvatureStreams& streams) {
  Curvature c;
  // Parameters the loss does not depend on at all (e.g. rows of the last P that only move
  // covariates) have exactly zero Hessian rows: their zero eigenvalues say nothing about the
  // curvature, so every summary is over the active parameters only.
  std::vector<Eigen::Index> active;
  if (p <= options.full_limit) {
    c.full = true;
    const Eigen::MatrixXd matrix = operator_matrix(hessian, p, &c.asymmetry);
    c.eigenvalues = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(matrix, Eigen::EigenvaluesOnly)
                        .eigenvalues();
    for (Eigen::Index i = 0; i < p; ++i) {
      if ((matrix.row(i).array() != 0.0).any()) active.push_back(i);
    }
    c.inactive = static_cast<int>(p - active.size());
    if (active.empty()) active.push_back(0);  // H = 0: summarize the zeros
    const Eigen::MatrixXd restricted = matrix(active, active);
    c.active_eigenvalues =
        Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(restricted, Eigen::EigenvaluesOnly)
            .eigenvalues();
    const SpectrumSummary s = summarize_spectrum(c.active_eigenvalues, options.zero_tolerance);
    const Eigen::Index k = std::min<Eigen::Index>(options.lanczos_wanted, restricted.rows());
    c.largest = c.active_eigenvalues.tail(k).reverse();
    c.smallest = c.active_eigenvalues.head(k);
    c.sharpness = s.largest;
    c.median = s.median;
    c.robust_condition = s.robust_condition;
    c.negative = s.negative;
    c.zero = s.zero;
    c.positive = s.positive;
    return c;
  }
  // Too large to assemble: the active parameters are the nonzero entries of H r for a dense
  // random r (a nonzero row of H is orthogonal to r with probability 0), and Lanczos and the
  // quadrature run on H restricted to them, so that the median means what it means above.
  RandomStream rs = streams.active;
  Eigen::VectorXd probe(p), image;
  for (Eigen::Index i = 0; i < p; ++i) probe[i] = rs.normal();
  hessian(probe, image);
  for (Eigen::Index i = 0; i < p; ++i) {
    if (image[i] != 0.0) active.push_back(i);
  }
  c.inactive = static_cast<int>(p - active.size());
  if (active.empty()) active.push_back(0);
  const Eigen::Index q = static_cast<Eigen::Index>(active.size());
  Eigen::VectorXd embedded = Eigen::VectorXd::Zero(p), image_full;
  const SymmetricOperator restricted = [&](const Eigen::VectorXd& v, Eigen::VectorXd& out) {
    embedded(active) = v;  // the inactive entries stay zero
    hessian(embedded, image_full);
    out = image_full(active);
  };
  LanczosOptions lanczos;
  lanczos.wanted = options.lanczos_wanted;
  lanczos.max_iterations = options.lanczos_iterations;
  const LanczosResult extremes = lanczos_extremes(restricted, q, streams.lanczos, lanczos);
  QuadratureOptions quadrature;
  quadrature.probes = options.quadrature_probes;
  quadrature.steps = options.quadrature_steps;
  c.converged = extremes.converged;
  c.largest = extremes.largest;
  c.smallest = extremes.smallest;
  c.sharpness = extremes.largest[0];
  c.median = spectral_quantile(restricted, q, 0.5, streams.probes, quadrature);
  c.robust_condition =
      c.median > 0.0 ? c.sharpness / c.median : std::numeric_limits<double>::infinity();
  return c;
}

}  // namespace linicl
