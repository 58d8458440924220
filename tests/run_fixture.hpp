// A small valid run record, shared by the run-file tests: d = 2, two layers of two heads.
#pragma once

#include <Eigen/Dense>

#include "fixtures.hpp"
#include "linicl/io/run_file.hpp"

namespace linicl::testing {

inline RunRecord small_run() {
  RunRecord run;
  run.config.dim = 2;
  run.config.layers = 2;
  run.config.heads = 2;
  run.config.spectrum = {};
  run.sigma = rotated_covariance(2, 3.0);
  run.sigma_w = Eigen::MatrixXd::Identity(2, 2);
  RandomStream rs(1, Purpose::kTest);
  run.state.theta = random_matrix(run.config.parametrization().size(), 1, rs);
  run.state.optimizer.first = random_matrix(run.state.theta.size(), 1, rs);
  run.state.optimizer.second = random_matrix(run.state.theta.size(), 1, rs).cwiseAbs();
  run.state.optimizer.steps = 7;
  run.state.step = 7;
  run.state.curves.train_step = {0, 1, 2};
  run.state.curves.train_loss = {3.0, 2.0, 1.5};
  run.state.curves.grad_norm = {1.0, 0.5, 0.25};
  run.state.curves.lr = {0.1, 0.1, 0.1};
  run.state.curves.train_capped = {0.0, 0.25, 0.0};
  run.state.curves.eval_step = {0};
  run.state.curves.eval_loss = {3.25};
  run.state.curves.eval_loss_se = {0.5};
  run.state.curves.eval_loss_median = {1.75};
  run.status = "completed";
  run.command = "linicl train -d 2";
  return run;
}

}  // namespace linicl::testing
