// Version, ISA and threads: the library's runtime settings, as the C++ API offers them.
#include "arrays.h"

#include <pybind11/stl.h>

namespace lcpy {

void bind_runtime(py::module_& m) {
  m.attr("__version__") = logitcore::version();
  m.def("_set_isa", [](const std::string& name) { logitcore::set_isa(name); }, py::arg("name"));
  m.def("_isa", &logitcore::isa);
  m.def("_compiled_isas", &logitcore::compiled_isas);
  m.def("_supported_isas", &logitcore::supported_isas);
  m.def("_isa_env_error", []() -> py::object {
    const char* e = logitcore_isa_env_error();
    return e ? py::object(py::str(e)) : py::object(py::none());
  });
  m.def("_have_openmp", &logitcore::have_openmp);
  m.def("_set_num_threads", &logitcore::set_num_threads, py::arg("n"));
  m.def("_get_num_threads", &logitcore::num_threads);
  m.attr("_block_size") = logitcore::block_size();
  m.attr("MAX_THREADS") = LOGITCORE_MAX_THREADS;
}

}  // namespace lcpy
