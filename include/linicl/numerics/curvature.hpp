// A curvature instrument (§9.2): the spectrum of a Hessian known only through its products,
// summarized over the active parameters. The landscape studies and the trainer's tracker both
// measure with it.
#pragma once

#include <Eigen/Dense>

#include "linicl/numerics/rng.hpp"
#include "linicl/numerics/spectrum.hpp"

namespace linicl {

struct CurvatureOptions {
  int full_limit = 3000;         // full Hessian spectrum up to this many parameters, in [1, 20000];
                                 // beyond, Lanczos extremes and a quadrature median
  int lanczos_wanted = 3;        // Lanczos: eigenvalues at each end, >= 1
  int lanczos_iterations = 300;  // Lanczos: Krylov dimension cap, >= 2 * lanczos_wanted
  int quadrature_probes = 8;     // median by stochastic Lanczos quadrature: probes, >= 1
  int quadrature_steps = 60;     // ... and Lanczos steps per probe, >= 1
  double zero_tolerance = 1e-9;  // |λ| <= this · max|λ| counts as a zero eigenvalue, in [0, 1)
};

// The random vectors of a measurement beyond full_limit, keyed by the caller
// (data/streams.hpp: curvature_streams).
struct CurvatureStreams {
  RandomStream active;   // the dense r whose H r finds the active parameters
  RandomStream lanczos;  // Lanczos's start vector
  StreamFamily probes;   // stream i: quadrature probe i
};

// The Hessian's spectrum at one θ. With `full`, every eigenvalue, and the summary (median,
// robust condition number, counts) over the active parameters: those with a non-zero Hessian
// row (a parameter the loss does not depend on, like the rows of the last layer's P that only
// move covariates, adds a structural zero eigenvalue that says nothing about curvature).
// Otherwise the Lanczos extremes and the quadrature estimate of the median of all
// eigenvalues, and the counts are left at −1 (only the Ritz values in `smallest` are known).
struct Curvature {
  bool full = false;
  Eigen::VectorXd eigenvalues;         // all, ascending (full only)
  Eigen::VectorXd active_eigenvalues;  // of H restricted to the active parameters (full only)
  int inactive = 0;                    // parameters with an exactly zero Hessian row
  // Of H restricted to the active parameters: descending / ascending, lanczos_wanted of each.
  Eigen::VectorXd largest, smallest;
  bool converged = true;          // false: Lanczos stopped at its cap (values less sure)
  double sharpness = 0.0;         // λ_max
  double median = 0.0;            // λ_median (an estimate unless full)
  double robust_condition = 0.0;  // λ_max / λ_median; +inf if λ_median <= 0
  int negative = -1, zero = -1, positive = -1;
  double asymmetry = 0.0;  // ‖H − Hᵀ‖_F/‖H‖_F of the assembled matrix (full only): a check
};

// Measures H on R^p from its products: assembled and diagonalized up to options.full_limit
// parameters, else Lanczos and the quadrature on H restricted to the active parameters.
// `streams` is used beyond full_limit only.
Curvature measure_curvature(const SymmetricOperator& hessian, Eigen::Index p,
                            const CurvatureOptions& options, const CurvatureStreams& streams);

}  // namespace linicl
