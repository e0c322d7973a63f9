// The only file that includes pybind11: converts NumPy arrays to strided views, checks
// that shapes and dtypes agree (so a caller mistake can never write out of bounds),
// releases the GIL and calls the portable drivers.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>

#include "logitcore/dispatch.h"
#include "logitcore/driver.h"

namespace py = pybind11;
using namespace logitcore;

namespace {

enum class DType { f32, f64 };

DType dtype_of(const py::array& a, const char* name) {
  if (a.dtype().byteorder() != '>') {
    if (a.dtype().num() == py::detail::npy_api::NPY_FLOAT_) return DType::f32;
    if (a.dtype().num() == py::detail::npy_api::NPY_DOUBLE_) return DType::f64;
  }
  throw py::type_error(std::string(name) + ": expected a float32 or float64 array, got dtype " +
                       std::string(py::str(a.dtype())));
}

NdView view_of(const py::array& a, const char* name, bool writable) {
  if (a.ndim() > kMaxDims) throw py::value_error(std::string(name) + ": too many dimensions");
  if (writable && !a.writeable()) throw py::value_error(std::string(name) + ": array is read-only");
  NdView v;
  v.data = const_cast<void*>(a.data());
  v.ndim = static_cast<int>(a.ndim());
  const py::ssize_t item = a.itemsize();
  for (int d = 0; d < v.ndim; ++d) {
    v.shape[d] = a.shape(d);
    if (a.strides(d) % item != 0)
      throw py::value_error(std::string(name) + ": strides are not a multiple of the item size");
    v.strides[d] = a.strides(d) / item;
  }
  return v;
}

void require(bool ok, const std::string& msg) {
  if (!ok) throw py::value_error(msg);
}

void check_same_dtype(const py::array& a, const py::array& b, const char* what) {
  require(a.dtype().num() == b.dtype().num() && b.dtype().byteorder() != '>',
          std::string(what) + ": dtype differs from the input's");
}

// out must have the batch shape of x (x's shape without its last axis)
void check_batch_shape(const py::array& x, const py::array& out, const char* what) {
  require(x.ndim() >= 1, "input must have at least one dimension");
  bool ok = out.ndim() == x.ndim() - 1;
  for (py::ssize_t d = 0; ok && d < out.ndim(); ++d) ok = out.shape(d) == x.shape(d);
  require(ok, std::string(what) + ": shape does not match the input's batch shape");
}

void check_same_shape(const py::array& x, const py::array& y, const char* what) {
  bool ok = x.ndim() == y.ndim();
  for (py::ssize_t d = 0; ok && d < x.ndim(); ++d) ok = x.shape(d) == y.shape(d);
  require(ok, std::string(what) + ": shape does not match the input's shape");
}

const KernelTable& table() { return *active_table(); }

void lse(const py::array& x, const py::object& b_obj, const py::array& out, const py::object& sign_obj) {
  const DType dt = dtype_of(x, "x");
  check_batch_shape(x, out, "out");
  check_same_dtype(x, out, "out");
  NdView xv = view_of(x, "x", false), ov = view_of(out, "out", true);
  NdView bv, sv;
  const bool has_b = !b_obj.is_none(), has_sign = !sign_obj.is_none();
  py::array b, sign;
  if (has_b) {
    b = py::reinterpret_borrow<py::array>(b_obj);
    check_same_shape(x, b, "b");
    check_same_dtype(x, b, "b");
    bv = view_of(b, "b", false);
  }
  if (has_sign) {
    sign = py::reinterpret_borrow<py::array>(sign_obj);
    check_batch_shape(x, sign, "sign");
    check_same_dtype(x, sign, "sign");
    sv = view_of(sign, "sign", true);
  }
  const int nt = get_num_threads();
  const KernelTable& k = table();
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    lse_rows<float>(k, xv, has_b ? &bv : nullptr, ov, has_sign ? &sv : nullptr, nt);
  else
    lse_rows<double>(k, xv, has_b ? &bv : nullptr, ov, has_sign ? &sv : nullptr, nt);
}

void states(const py::array& x, py::array_t<double, 0>& m, py::array_t<double, 0>& s) {
  const DType dt = dtype_of(x, "x");
  require(x.ndim() >= 1, "input must have at least one dimension");
  py::ssize_t rows = 1;
  for (py::ssize_t d = 0; d + 1 < x.ndim(); ++d) rows *= x.shape(d);
  for (auto* a : {&m, &s}) {
    require(a->ndim() == 1 && a->shape(0) == rows && a->strides(0) == sizeof(double) && a->writeable(),
            "state arrays must be writeable contiguous float64 vectors with one entry per row");
  }
  NdView xv = view_of(x, "x", false);
  double* mp = m.mutable_data();
  double* sp = s.mutable_data();
  const int nt = get_num_threads();
  const KernelTable& k = table();
  py::gil_scoped_release nogil;
  if (dt == DType::f32) state_rows<float>(k, xv, mp, sp, nt);
  else state_rows<double>(k, xv, mp, sp, nt);
}

void merge(py::array_t<double, 0>& m, py::array_t<double, 0>& s, const py::array_t<double, 0>& m2,
           const py::array_t<double, 0>& s2) {
  const py::ssize_t n = m.size();
  for (const py::array* a : {static_cast<const py::array*>(&m), static_cast<const py::array*>(&s),
                             static_cast<const py::array*>(&m2), static_cast<const py::array*>(&s2)})
    require(a->ndim() == 1 && a->shape(0) == n && a->strides(0) == sizeof(double),
            "state arrays must be contiguous float64 vectors of equal length");
  require(m.writeable() && s.writeable(), "state arrays must be writeable");
  double* mp = m.mutable_data();
  double* sp = s.mutable_data();
  const double* m2p = m2.data();
  const double* s2p = s2.data();
  py::gil_scoped_release nogil;
  merge_state_arrays(n, mp, sp, m2p, s2p);
}

void softmax(const py::array& x, const py::array& out, bool log) {
  const DType dt = dtype_of(x, "x");
  require(x.ndim() >= 1, "input must have at least one dimension");
  check_same_shape(x, out, "out");
  check_same_dtype(x, out, "out");
  NdView xv = view_of(x, "x", false), ov = view_of(out, "out", true);
  const int nt = get_num_threads();
  const KernelTable& k = table();
  py::gil_scoped_release nogil;
  if (dt == DType::f32) softmax_rows<float>(k, xv, ov, log, nt);
  else softmax_rows<double>(k, xv, ov, log, nt);
}

void row_reduce(const py::array& x, const py::array& out, bool softmax_input) {
  const DType dt = dtype_of(x, "x");
  check_batch_shape(x, out, "out");
  check_same_dtype(x, out, "out");
  NdView xv = view_of(x, "x", false), ov = view_of(out, "out", true);
  const int nt = get_num_threads();
  const KernelTable& k = table();
  py::gil_scoped_release nogil;
  if (softmax_input) {
    if (dt == DType::f32) softmax_entropy_rows<float>(k, xv, ov, nt);
    else softmax_entropy_rows<double>(k, xv, ov, nt);
  } else {
    if (dt == DType::f32) entropy_rows<float>(k, xv, ov, nt);
    else entropy_rows<double>(k, xv, ov, nt);
  }
}

const KernelTable& table_named(const std::string& isa) {
  if (isa.empty()) return table();
  Isa which;
  if (!parse_isa(isa, &which)) throw py::value_error("unknown ISA '" + isa + "'");
  if (!cpu_supports(which)) throw py::value_error("this CPU does not support the '" + isa + "' kernels");
  return *table_for(which);
}

void exp_array(const py::array& x, const py::array& out, const std::string& isa) {
  const DType dt = dtype_of(x, "x");
  check_same_shape(x, out, "out");
  check_same_dtype(x, out, "out");
  require(x.ndim() == 1 && x.strides(0) == x.itemsize() && out.strides(0) == out.itemsize(),
          "exp: x and out must be contiguous vectors");
  const KernelTable& k = table_named(isa);
  const std::int64_t n = x.shape(0);
  const void* xp = x.data();
  void* op = const_cast<void*>(out.data());
  require(out.writeable(), "out: array is read-only");
  py::gil_scoped_release nogil;
  if (dt == DType::f32) exp_f32(k, static_cast<const float*>(xp), n, static_cast<float*>(op));
  else exp_f64(k, static_cast<const double*>(xp), n, static_cast<double*>(op));
}

py::tuple exp_max_ulp(std::uint32_t lo_bits, std::uint32_t hi_bits, std::uint32_t step, const std::string& isa) {
  require(lo_bits <= hi_bits, "lo_bits must not exceed hi_bits");
  const KernelTable& k = table_named(isa);
  float worst = 0;
  double ulp;
  const int nt = get_num_threads();
  {
    py::gil_scoped_release nogil;
    ulp = exp_f32_max_ulp(k, lo_bits, hi_bits, step, &worst, nt);
  }
  return py::make_tuple(ulp, worst);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "logitcore native kernels (private; use the logitcore package)";
  m.def("_lse", &lse, py::arg("x"), py::arg("b"), py::arg("out"), py::arg("sign"));
  m.def("_states", &states, py::arg("x"), py::arg("m"), py::arg("s"));
  m.def("_merge", &merge, py::arg("m"), py::arg("s"), py::arg("m2"), py::arg("s2"));
  m.def("_softmax", &softmax, py::arg("x"), py::arg("out"), py::arg("log"));
  m.def("_softmax_entropy", [](const py::array& x, const py::array& out) { row_reduce(x, out, true); },
        py::arg("x"), py::arg("out"));
  m.def("_entropy", [](const py::array& p, const py::array& out) { row_reduce(p, out, false); }, py::arg("p"),
        py::arg("out"));
  m.def("_exp", &exp_array, py::arg("x"), py::arg("out"), py::arg("isa") = "");
  m.def("_exp_max_ulp", &exp_max_ulp, py::arg("lo_bits"), py::arg("hi_bits"), py::arg("step") = 1,
        py::arg("isa") = "");
  m.def("_set_isa", [](const std::string& name) {
    const std::string err = set_isa(name);
    if (!err.empty()) throw py::value_error(err);
  });
  m.def("_isa", &active_isa_name);
  m.def("_compiled_isas", &compiled_isas);
  m.def("_supported_isas", &supported_isas);
  m.def("_have_openmp", &have_openmp);
  m.def("_set_num_threads", &logitcore::set_num_threads);
  m.def("_get_num_threads", &logitcore::get_num_threads);
  m.attr("_block_size") = kBlock;
}
