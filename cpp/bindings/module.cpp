// The only file that includes pybind11: converts NumPy arrays to strided views, checks
// that shapes and dtypes agree (so a caller mistake can never write out of bounds),
// releases the GIL and calls the portable drivers.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>

#include "runtime/runtime.h"
#include "drivers/drivers.h"
#include "drivers/entropy_norm.h"

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
    require(a->ndim() == 1 && a->shape(0) == rows && (rows == 0 || a->strides(0) == sizeof(double)) && a->writeable(),
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
    require(a->ndim() == 1 && a->shape(0) == n && (n == 0 || a->strides(0) == sizeof(double)),
            "state arrays must be contiguous float64 vectors of equal length");
  require(m.writeable() && s.writeable(), "state arrays must be writeable");
  double* mp = m.mutable_data();
  double* sp = s.mutable_data();
  const double* m2p = m2.data();
  const double* s2p = s2.data();
  py::gil_scoped_release nogil;
  merge_excess_arrays(n, mp, sp, m2p, s2p);
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

// One of the table's elementwise routines (exp, log, exp2_core, log2_fast: see kernels.h for
// their domains) over a contiguous vector, block by block, on the named ISA (accuracy tests).
using MapF32 = void (*)(const float*, std::int64_t, float*);
using MapF64 = void (*)(const double*, std::int64_t, double*);

void map_array(const py::array& x, const py::array& out, const std::string& isa, const char* what,
               MapF32 KernelsT<float>::*f32, MapF64 KernelsT<double>::*f64) {
  const DType dt = dtype_of(x, "x");
  check_same_shape(x, out, "out");
  check_same_dtype(x, out, "out");
  require(x.ndim() == 1 && x.strides(0) == x.itemsize() && out.strides(0) == out.itemsize(),
          std::string(what) + ": x and out must be contiguous vectors");
  require(out.writeable(), "out: array is read-only");
  const KernelTable& k = table_named(isa);
  const std::int64_t n = x.shape(0);
  const void* xp = x.data();
  void* op = const_cast<void*>(out.data());
  py::gil_scoped_release nogil;
  for (std::int64_t off = 0; off < n; off += kBlock) {
    const std::int64_t len = std::min<std::int64_t>(kBlock, n - off);
    if (dt == DType::f32) (k.f32.*f32)(static_cast<const float*>(xp) + off, len, static_cast<float*>(op) + off);
    else (k.f64.*f64)(static_cast<const double*>(xp) + off, len, static_cast<double*>(op) + off);
  }
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

// ---- fused losses of p_y: γ-cross-entropy, generalized cross-entropy, focal (xent.h) ----
#include "drivers/losses.h"

namespace {

bool is_vector_of(const py::array& a, py::ssize_t n, py::ssize_t itemsize) {
  return a.ndim() == 1 && a.shape(0) == n && (n <= 1 || a.strides(0) == itemsize);
}

// [lowest, highest] byte address touched by an array (empty arrays touch nothing).
std::pair<std::intptr_t, std::intptr_t> byte_extent(const py::array& a) {
  std::intptr_t lo = reinterpret_cast<std::intptr_t>(a.data()), hi = lo;
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    if (a.shape(d) == 0) return {0, -1};
    const std::intptr_t span = static_cast<std::intptr_t>(a.shape(d) - 1) * a.strides(d);
    (span < 0 ? lo : hi) += span;
  }
  return {lo, hi + a.itemsize() - 1};
}

void xent(const py::array& x, const py::array& target, std::int64_t ignore_index, const py::object& rowscale_obj,
          double scale, const py::array& loss, const py::object& grad_obj, int kind, double param,
          double threshold) {
  const DType dt = dtype_of(x, "logits");
  require(x.ndim() >= 1, "logits must have at least one dimension");
  py::ssize_t rows = 1;
  for (py::ssize_t d = 0; d + 1 < x.ndim(); ++d) rows *= x.shape(d);
  const std::int64_t ncls = x.shape(x.ndim() - 1);
  require(py::isinstance<py::array_t<std::int64_t>>(target) && is_vector_of(target, rows, 8),
          "target must be a contiguous int64 vector with one entry per row of logits");
  require(py::isinstance<py::array_t<double>>(loss) && is_vector_of(loss, rows, 8) && loss.writeable(),
          "loss must be a writeable contiguous float64 vector with one entry per row of logits");
  py::array rowscale;
  const bool has_rs = !rowscale_obj.is_none();
  if (has_rs) {
    rowscale = py::reinterpret_borrow<py::array>(rowscale_obj);
    require(py::isinstance<py::array_t<double>>(rowscale) && is_vector_of(rowscale, rows, 8),
            "rowscale must be a contiguous float64 vector with one entry per row of logits");
  }
  LossSpec spec;
  require(kind >= 0 && kind <= 2, "unknown loss kind");
  spec.kind = static_cast<LossKind>(kind);
  spec.param = param;
  spec.threshold = spec.kind == LossKind::gamma_ce ? threshold : 0.0;
  if (spec.kind == LossKind::gamma_ce)
    require(param >= 0 && param <= 1 && threshold >= 0 && threshold <= 1, "gamma and threshold must lie in [0, 1]");
  else if (spec.kind == LossKind::gce)
    require(param > 0 && param <= 1, "q must lie in (0, 1]");
  else
    require(param >= 0 && param <= 1e300, "the focusing parameter must be finite and >= 0");
  const std::int64_t* tp = static_cast<const std::int64_t*>(target.data());
  for (py::ssize_t r = 0; r < rows; ++r) {
    const std::int64_t t = tp[r];
    if (t != ignore_index && (t < 0 || t >= ncls))
      throw py::index_error("target " + std::to_string(t) + " (row " + std::to_string(r) + ") is out of range for " +
                            std::to_string(ncls) + " classes");
  }
  NdView xv = view_of(x, "logits", false), gv;
  const bool has_grad = !grad_obj.is_none();
  if (has_grad) {
    const py::array grad = py::reinterpret_borrow<py::array>(grad_obj);
    check_same_shape(x, grad, "grad");
    check_same_dtype(x, grad, "grad");
    gv = view_of(grad, "grad", true);
    bool same = grad.data() == x.data();
    for (py::ssize_t d = 0; same && d < x.ndim(); ++d) same = x.strides(d) == grad.strides(d);
    if (!same) {
      const auto ex = byte_extent(x), eg = byte_extent(grad);
      require(ex.second < eg.first || eg.second < ex.first,
              "grad must be the logits array itself or not overlap it");
    }
  }
  const double* rsp = has_rs ? static_cast<const double*>(rowscale.data()) : nullptr;
  double* lp = static_cast<double*>(const_cast<void*>(loss.data()));
  const int nt = get_num_threads();
  const KernelTable& k = table();
  py::gil_scoped_release nogil;
  if (dt == DType::f32)
    xent_rows<float>(k, xv, tp, ignore_index, rsp, scale, spec, lp, has_grad ? &gv : nullptr, nt);
  else
    xent_rows<double>(k, xv, tp, ignore_index, rsp, scale, spec, lp, has_grad ? &gv : nullptr, nt);
}

py::tuple loss_from_logp_py(int kind, double param, double threshold, double logp) {
  require(kind >= 0 && kind <= 2, "unknown loss kind");
  LossSpec spec;
  spec.kind = static_cast<LossKind>(kind);
  spec.param = param;
  spec.threshold = spec.kind == LossKind::gamma_ce ? threshold : 0.0;
  const LossValue v = loss_from_logp(spec, logp);
  return py::make_tuple(v.loss, v.w);
}

// Entropy normalization. target: float64 vector (one per row); info arrays: one entry per row.
void entropy_normalize(const py::array& x, const py::array& out, const py::array_t<double, 0>& target,
                       bool is_prob, double tol, int max_iter, bool check_sum, double sum_tol,
                       bool out_of_range_fails, py::array_t<double, 0>& gamma, py::array_t<std::int32_t, 0>& n_iter,
                       py::array_t<std::uint8_t, 0>& converged, py::array_t<std::uint8_t, 0>& clipped,
                       py::array_t<std::int8_t, 0>& status, py::array_t<double, 0>& h_min,
                       py::array_t<double, 0>& h_max, py::array_t<double, 0>& entropy) {
  const DType dt = dtype_of(x, "x");
  require(x.ndim() >= 1, "input must have at least one dimension");
  check_same_shape(x, out, "out");
  check_same_dtype(x, out, "out");
  require(max_iter >= 1, "max_iter must be >= 1");
  require(tol >= 0, "tol must be >= 0");
  py::ssize_t rows = 1;
  for (py::ssize_t d = 0; d + 1 < x.ndim(); ++d) rows *= x.shape(d);
  auto vec_ok = [&](const py::array& a) {
    return a.ndim() == 1 && a.shape(0) == rows && (rows == 0 || a.strides(0) == a.itemsize());
  };
  require(vec_ok(target), "target must be a contiguous float64 vector with one entry per row");
  const py::array* infos[] = {&gamma, &n_iter, &converged, &clipped, &status, &h_min, &h_max, &entropy};
  for (const py::array* a : infos) require(vec_ok(*a) && a->writeable(), "info arrays: one writeable entry per row");
  NdView xv = view_of(x, "x", false), ov = view_of(out, "out", true);
  EnOptions opt;
  opt.is_prob = is_prob;
  opt.tol = tol;
  opt.max_iter = max_iter;
  opt.check_sum = check_sum;
  opt.sum_tol = sum_tol;
  opt.out_of_range_fails = out_of_range_fails;
  EnInfo info{gamma.mutable_data(), n_iter.mutable_data(), converged.mutable_data(), clipped.mutable_data(),
              status.mutable_data(),  h_min.mutable_data(),  h_max.mutable_data(),     entropy.mutable_data()};
  const double* tp = target.data();
  const int nt = get_num_threads();
  const KernelTable& k = table();
  py::gil_scoped_release nogil;
  if (dt == DType::f32) entropy_normalize_rows<float>(k, xv, ov, tp, opt, info, nt);
  else entropy_normalize_rows<double>(k, xv, ov, tp, opt, info, nt);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "logitcore native kernels (private; use the logitcore package)";
  m.def("_lse", &lse, py::arg("x"), py::arg("b"), py::arg("out"), py::arg("sign"));
  m.def("_states", &states, py::arg("x"), py::arg("m"), py::arg("u"));
  m.def("_merge", &merge, py::arg("m"), py::arg("u"), py::arg("m2"), py::arg("u2"));
  m.def("_softmax", &softmax, py::arg("x"), py::arg("out"), py::arg("log"));
  m.def("_softmax_entropy", [](const py::array& x, const py::array& out) { row_reduce(x, out, true); },
        py::arg("x"), py::arg("out"));
  m.def("_entropy", [](const py::array& p, const py::array& out) { row_reduce(p, out, false); }, py::arg("p"),
        py::arg("out"));
  m.def("_exp", [](const py::array& x, const py::array& out, const std::string& isa) {
    map_array(x, out, isa, "exp", &KernelsT<float>::exp, &KernelsT<double>::exp);
  }, py::arg("x"), py::arg("out"), py::arg("isa") = "");
  m.def("_exp2", [](const py::array& x, const py::array& out, const std::string& isa) {
    map_array(x, out, isa, "exp2", &KernelsT<float>::exp2, &KernelsT<double>::exp2);
  }, py::arg("x"), py::arg("out"), py::arg("isa") = "");
  m.def("_log2", [](const py::array& x, const py::array& out, const std::string& isa) {
    map_array(x, out, isa, "log2", &KernelsT<float>::log2, &KernelsT<double>::log2);
  }, py::arg("x"), py::arg("out"), py::arg("isa") = "");
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
  m.def("_entropy_normalize", &entropy_normalize, py::arg("x"), py::arg("out"), py::arg("target"),
        py::arg("is_prob"), py::arg("tol"), py::arg("max_iter"), py::arg("check_sum"), py::arg("sum_tol"),
        py::arg("out_of_range_fails"), py::arg("gamma"), py::arg("n_iter"), py::arg("converged"), py::arg("clipped"), py::arg("status"),
        py::arg("h_min"), py::arg("h_max"), py::arg("entropy"));
  m.def("_log", [](const py::array& x, const py::array& out, const std::string& isa) {
    map_array(x, out, isa, "log", &KernelsT<float>::log, &KernelsT<double>::log);
  }, py::arg("x"), py::arg("out"), py::arg("isa") = "");
  m.def("_xent", &xent, py::arg("x"), py::arg("target"), py::arg("ignore_index"), py::arg("rowscale"),
        py::arg("scale"), py::arg("loss"), py::arg("grad"), py::arg("kind"), py::arg("param"),
        py::arg("threshold"));
  m.def("_loss_from_logp", &loss_from_logp_py, py::arg("kind"), py::arg("param"), py::arg("threshold"),
        py::arg("logp"));
}
