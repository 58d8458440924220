#include "linicl/io/covariance_file.hpp"

#include <stdexcept>

#include "linicl/data/covariance.hpp"
#include "linicl/io/h5.hpp"

namespace linicl {

Eigen::MatrixXd read_covariance_file(const std::string& path,
                                     std::initializer_list<const char*> datasets, int dim,
                                     const std::string& what) {
  if (!h5::is_hdf5(path)) {
    throw std::invalid_argument(what + ": '" + path + "' is missing or not an HDF5 file");
  }
  const h5::File file = h5::File::open(path);
  std::string tried;
  for (const char* name : datasets) {
    if (file.exists(name)) {
      Eigen::MatrixXd m = file.read_matrix(name);
      check_covariance(m, dim, what + " (" + path + ":" + name + ")");
      return m;
    }
    tried += (tried.empty() ? "" : " or ") + std::string(name);
  }
  throw std::invalid_argument(what + ": '" + path + "' has no dataset " + tried);
}

}  // namespace linicl
