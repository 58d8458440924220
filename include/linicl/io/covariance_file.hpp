// Covariance matrices read from HDF5 files (--cov-file, --w-cov-file): a run file's /data or a
// file holding one matrix.
#pragma once

#include <Eigen/Dense>
#include <initializer_list>
#include <string>

namespace linicl {

// Reads the first of `datasets` that `path` holds as a d×d SPD matrix; errors start with `what`.
// A CovarianceReader for make_problem (problem.hpp).
Eigen::MatrixXd read_covariance_file(const std::string& path,
                                     std::initializer_list<const char*> datasets, int dim,
                                     const std::string& what);

}  // namespace linicl
