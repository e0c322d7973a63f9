// The Python extension logitcore._core: a client of the public C++ API (logitcore.hpp), one
// file per family. Private: the logitcore package is the Python API.
#include "arrays.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "logitcore native kernels (private; use the logitcore package)";
  lcpy::bind_runtime(m);
  lcpy::bind_family(m);
  lcpy::bind_entropy_norm(m);
  lcpy::bind_losses(m);
  lcpy::bind_elementwise(m);
  lcpy::bind_sampling(m);
  lcpy::bind_sparse(m);
}
