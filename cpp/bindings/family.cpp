// The logsumexp family and the streaming state (docs/math.md §1).
#include "arrays.h"

namespace lcpy {
namespace {

void lse(const py::array& x, const py::object& b_obj, const py::array& out, const py::object& sign_obj) {
  const DType dt = dtype_of(x, "x", true);
  Batch batch(x);
  const int ix = batch.add(x, true, "x");
  int ib = -1, is = -1;
  py::array b, sign;
  if (!b_obj.is_none()) {
    b = py::reinterpret_borrow<py::array>(b_obj);
    check_same_dtype(x, b, "b");
    ib = batch.add(b, true, "b");
  }
  check_result_dtype(x, out, "out");
  check_writeable(out, "out");
  const int io = batch.add(out, false, "out");
  if (!sign_obj.is_none()) {
    sign = py::reinterpret_borrow<py::array>(sign_obj);
    check_result_dtype(x, sign, "sign");
    check_writeable(sign, "sign");
    is = batch.add(sign, false, "sign");
  }
  with_dtype_half(dt, [&](auto tag) {
    using T = decltype(tag);
    using R = result_t<T>;
    py::gil_scoped_release nogil;
    batch.for_each([&](const Batch::Chunk& c) {
      const logitcore::Matrix<const T> xm = batch.matrix<const T>(ix, c);
      if (ib < 0 && is < 0) {
        logitcore::logsumexp(xm, batch.vector<R>(io, c));
      } else {
        logitcore::logsumexp(xm, ib < 0 ? logitcore::Matrix<const T>() : batch.matrix<const T>(ib, c),
                             batch.vector<R>(io, c), is < 0 ? logitcore::Vector<R>() : batch.vector<R>(is, c));
      }
    });
    return 0;
  });
}

void softmax(const py::array& x, const py::array& out, bool log) {
  const DType dt = dtype_of(x, "x", true);
  Batch batch(x);
  const int ix = batch.add(x, true, "x");
  check_same_dtype(x, out, "out");
  check_writeable(out, "out");
  const int io = batch.add(out, true, "out");
  with_dtype_half(dt, [&](auto tag) {
    using T = decltype(tag);
    py::gil_scoped_release nogil;
    batch.for_each([&](const Batch::Chunk& c) {
      if (log) logitcore::log_softmax(batch.matrix<const T>(ix, c), batch.matrix<T>(io, c));
      else logitcore::softmax(batch.matrix<const T>(ix, c), batch.matrix<T>(io, c));
    });
    return 0;
  });
}

void row_reduce(const py::array& x, const py::array& out, bool of_softmax) {
  const DType dt = dtype_of(x, of_softmax ? "x" : "p", true);
  Batch batch(x);
  const int ix = batch.add(x, true, of_softmax ? "x" : "p");
  check_result_dtype(x, out, "out");
  check_writeable(out, "out");
  const int io = batch.add(out, false, "out");
  with_dtype_half(dt, [&](auto tag) {
    using T = decltype(tag);
    using R = result_t<T>;
    py::gil_scoped_release nogil;
    batch.for_each([&](const Batch::Chunk& c) {
      if (of_softmax) logitcore::softmax_entropy(batch.matrix<const T>(ix, c), batch.vector<R>(io, c));
      else logitcore::entropy(batch.matrix<const T>(ix, c), batch.vector<R>(io, c));
    });
    return 0;
  });
}

// states (m, u) of x's rows merged into the float64 vectors m and u
void state_update(const py::array& m, const py::array& u, const py::array& x) {
  const DType dt = dtype_of(x, "x", true);
  require(x.ndim() == 2, "x must be a (rows, k) matrix");
  const i64 rows = x.shape(0);
  double* mp = vector_data<double>(m, rows, true, "m");
  double* up = vector_data<double>(u, rows, true, "u");
  const std::vector<i64> s = elem_strides(x, "x");
  with_dtype_half(dt, [&](auto tag) {
    using T = decltype(tag);
    const logitcore::Matrix<const T> xm(static_cast<const T*>(x.data()), rows, x.shape(1), s[0], s[1]);
    py::gil_scoped_release nogil;
    logitcore::lse_state_update(mp, up, xm);
    return 0;
  });
}

void state_merge(const py::array& m, const py::array& u, const py::array& m2, const py::array& u2) {
  const i64 n = m.ndim() == 1 ? m.shape(0) : -1;
  double* mp = vector_data<double>(m, n, true, "m");
  double* up = vector_data<double>(u, n, true, "u");
  const double* m2p = vector_data<double>(m2, n, false, "m2");
  const double* u2p = vector_data<double>(u2, n, false, "u2");
  py::gil_scoped_release nogil;
  logitcore::lse_state_merge(mp, up, m2p, u2p, n);
}

void state_result(const py::array& m, const py::array& u, const py::array& out) {
  const i64 n = m.ndim() == 1 ? m.shape(0) : -1;
  const double* mp = vector_data<double>(m, n, false, "m");
  const double* up = vector_data<double>(u, n, false, "u");
  double* op = vector_data<double>(out, n, true, "out");
  py::gil_scoped_release nogil;
  logitcore::lse_state_result(mp, up, n, op);
}

}  // namespace

void bind_family(py::module_& m) {
  m.def("_lse", &lse, py::arg("x"), py::arg("b"), py::arg("out"), py::arg("sign"));
  m.def("_softmax", &softmax, py::arg("x"), py::arg("out"), py::arg("log"));
  m.def("_softmax_entropy", [](const py::array& x, const py::array& out) { row_reduce(x, out, true); },
        py::arg("x"), py::arg("out"));
  m.def("_entropy", [](const py::array& p, const py::array& out) { row_reduce(p, out, false); }, py::arg("p"),
        py::arg("out"));
  m.def("_state_update", &state_update, py::arg("m"), py::arg("u"), py::arg("x"));
  m.def("_state_merge", &state_merge, py::arg("m"), py::arg("u"), py::arg("m2"), py::arg("u2"));
  m.def("_state_result", &state_result, py::arg("m"), py::arg("u"), py::arg("out"));
}

}  // namespace lcpy
