// Entropy normalization (docs/math.md §2): the options object of the C++ API, the per-row
// results as NumPy arrays.
#include "arrays.h"

namespace lcpy {
namespace {

// q for every row of x into out (x's shape); target: float64, one per row (C order). Returns
// the per-row results as a dict of arrays (one entry per row).
py::dict entropy_normalize(const py::array& x, const py::array& out, const py::array& target,
                           const logitcore::EntropyNormalizeOptions& opt) {
  const DType dt = dtype_of(x, "x", true);
  Batch batch(x);
  const int ix = batch.add(x, true, "x");
  check_same_dtype(x, out, "out");
  check_writeable(out, "out");
  const int io = batch.add(out, true, "out");
  const i64 rows = batch.rows();
  const double* tp = vector_data<double>(target, rows, false, "target");
  py::array_t<double> gamma(rows), h_min(rows), h_max(rows), entropy(rows);
  py::array_t<std::int32_t> n_iter(rows);
  py::array_t<std::uint8_t> converged(rows), clipped(rows);
  py::array_t<std::int8_t> status(rows);
  const logitcore_en_info all{gamma.mutable_data(), n_iter.mutable_data(), converged.mutable_data(),
                              clipped.mutable_data(), status.mutable_data(), h_min.mutable_data(),
                              h_max.mutable_data(), entropy.mutable_data()};
  with_dtype_half(dt, [&](auto tag) {
    using T = decltype(tag);
    py::gil_scoped_release nogil;
    if (rows == 0) {  // no rows: the library still checks the options
      const logitcore::Matrix<const T> none(nullptr, 0, batch.cols());
      logitcore::entropy_normalize(none, logitcore::Matrix<T>(nullptr, 0, batch.cols()), tp, 1, opt);
    }
    batch.for_each([&](const Batch::Chunk& c) {
      const auto r0 = static_cast<size_t>(c.row0);
      const logitcore_en_info info{all.gamma + r0, all.n_iter + r0, all.converged + r0, all.clipped + r0,
                                   all.status + r0, all.h_min + r0, all.h_max + r0, all.entropy + r0};
      logitcore::entropy_normalize(batch.matrix<const T>(ix, c), batch.matrix<T>(io, c), tp + r0, 1, opt, info);
    });
    return 0;
  });
  py::dict d;
  d["gamma"] = gamma;
  d["n_iter"] = n_iter;
  d["converged"] = converged;
  d["clipped"] = clipped;
  d["status"] = status;
  d["h_min"] = h_min;
  d["h_max"] = h_max;
  d["entropy"] = entropy;
  return d;
}

}  // namespace

void bind_entropy_norm(py::module_& m) {
  using Opt = logitcore::EntropyNormalizeOptions;
  py::class_<Opt>(m, "EntropyNormalizeOptions", "Options of entropy normalization (logitcore.h: logitcore_en_options)")
      .def(py::init<>())
      .def(py::init([](int input, double tol, int max_iter, bool check_sum, double sum_tol, bool out_of_range_fails) {
             Opt o;
             o.input = input;
             o.tol = tol;
             o.max_iter = max_iter;
             o.check_sum = check_sum;
             o.sum_tol = sum_tol;
             o.out_of_range_fails = out_of_range_fails;
             return o;
           }),
           py::arg("input"), py::arg("tol"), py::arg("max_iter"), py::arg("check_sum"), py::arg("sum_tol"),
           py::arg("out_of_range_fails"))
      .def_readwrite("input", &Opt::input)
      .def_readwrite("tol", &Opt::tol)
      .def_readwrite("max_iter", &Opt::max_iter)
      .def_readwrite("check_sum", &Opt::check_sum)
      .def_readwrite("sum_tol", &Opt::sum_tol)
      .def_readwrite("out_of_range_fails", &Opt::out_of_range_fails)
      .def("effective_tol", [](const Opt& o, bool f64) { return logitcore_en_effective_tol(&o, f64); }, py::arg("f64"))
      .def("effective_sum_tol", [](const Opt& o, bool f64) { return logitcore_en_effective_sum_tol(&o, f64); },
           py::arg("f64"));
  m.def("_entropy_normalize", &entropy_normalize, py::arg("x"), py::arg("out"), py::arg("target"), py::arg("options"));
  m.attr("EN_PROBABILITIES") = static_cast<int>(LOGITCORE_EN_PROBABILITIES);
  m.attr("EN_LOGITS") = static_cast<int>(LOGITCORE_EN_LOGITS);
  m.attr("EN_OK") = static_cast<int>(LOGITCORE_EN_OK);
  m.attr("EN_ABOVE_RANGE") = static_cast<int>(LOGITCORE_EN_ABOVE_RANGE);
  m.attr("EN_BELOW_RANGE") = static_cast<int>(LOGITCORE_EN_BELOW_RANGE);
  m.attr("EN_INVALID") = static_cast<int>(LOGITCORE_EN_INVALID);
  m.attr("EN_BAD_SUM") = static_cast<int>(LOGITCORE_EN_BAD_SUM);
  m.attr("EN_NO_SUPPORT") = static_cast<int>(LOGITCORE_EN_NO_SUPPORT);
  m.attr("EN_DEFAULT_TOL_F32") = LOGITCORE_EN_DEFAULT_TOL_F32;
  m.attr("EN_DEFAULT_TOL_F64") = LOGITCORE_EN_DEFAULT_TOL_F64;
  m.attr("EN_DEFAULT_MAX_ITER") = LOGITCORE_EN_DEFAULT_MAX_ITER;
  m.attr("EN_MIN_SUM_TOL") = LOGITCORE_EN_MIN_SUM_TOL;
}

}  // namespace lcpy
