// Fused losses of the target probability (docs/math.md §3): one call computes the weighted
// per-row losses, their reduction and the gradient of the reduced loss.
#include "arrays.h"

namespace lcpy {
namespace {

// Returns the reduced loss. x: (rows, classes) logits whose batch forms one matrix (the
// package reshapes); target: int64, one per row; weight: None or float64 (classes,);
// row_loss: float64, one per row (written); grad: None, an array of x's shape, or x itself;
// row_weight: None or float64, one per row (sample weights).
double loss(const py::array& x, const py::array& target, const logitcore::LossOptions& opt_in,
            const py::object& weight_obj, const py::array& row_loss, const py::object& grad_obj,
            const py::object& row_weight_obj) {
  const DType dt = dtype_of(x, "logits", true);
  Batch batch(x);
  const int ix = batch.add(x, true, "logits");
  int ig = -1;
  py::array grad;
  if (!grad_obj.is_none()) {
    grad = py::reinterpret_borrow<py::array>(grad_obj);
    check_same_dtype(x, grad, "grad");
    check_writeable(grad, "grad");
    ig = batch.add(grad, true, "grad");
  }
  require(batch.single(), "logits: the batch axes must form one strided matrix (reshape to (rows, classes) first)");
  const i64 rows = batch.rows();
  const std::int64_t* tp = vector_data<std::int64_t>(target, rows, false, "target");
  double* lp = vector_data<double>(row_loss, rows, true, "row_loss");
  logitcore::LossOptions opt = opt_in;
  py::array weight;
  opt.class_weight = nullptr;
  if (!weight_obj.is_none()) {
    weight = py::reinterpret_borrow<py::array>(weight_obj);
    opt.class_weight = vector_data<double>(weight, batch.cols(), false, "weight");
  }
  py::array row_weight;
  opt.row_weight = nullptr;
  if (!row_weight_obj.is_none()) {
    row_weight = py::reinterpret_borrow<py::array>(row_weight_obj);
    opt.row_weight = vector_data<double>(row_weight, rows, false, "sample_weight");
  }
  return with_dtype_half(dt, [&](auto tag) {
    using T = decltype(tag);
    py::gil_scoped_release nogil;
    double reduced = 0;
    if (rows == 0) {
      const logitcore::Matrix<const T> none(nullptr, 0, batch.cols());
      return logitcore::loss(none, tp, opt, lp);
    }
    batch.for_each([&](const Batch::Chunk& c) {
      reduced = logitcore::loss(batch.matrix<const T>(ix, c), tp, opt, lp,
                                ig < 0 ? logitcore::Matrix<T>() : batch.matrix<T>(ig, c));
    });
    return reduced;
  });
}

}  // namespace

void bind_losses(py::module_& m) {
  using Opt = logitcore::LossOptions;
  py::class_<Opt>(m, "LossOptions", "Options of the fused losses (logitcore.h: logitcore_loss_options)")
      .def(py::init<>())
      .def(py::init([](int kind, double param, double threshold, std::int64_t ignore_index, int reduction) {
             Opt o;
             o.kind = kind;
             o.param = param;
             o.threshold = threshold;
             o.ignore_index = ignore_index;
             o.reduction = reduction;
             return o;
           }),
           py::arg("kind"), py::arg("param"), py::arg("threshold"), py::arg("ignore_index"), py::arg("reduction"))
      .def_readwrite("kind", &Opt::kind)
      .def_readwrite("param", &Opt::param)
      .def_readwrite("threshold", &Opt::threshold)
      .def_readwrite("ignore_index", &Opt::ignore_index)
      .def_readwrite("reduction", &Opt::reduction);
  m.def("_loss", &loss, py::arg("x"), py::arg("target"), py::arg("options"), py::arg("weight"), py::arg("row_loss"),
        py::arg("grad"), py::arg("row_weight") = py::none());
  m.def("_loss_from_logp", [](const Opt& opt, double logp) {
    const logitcore::LossValue v = logitcore::loss_from_logp(opt, logp);
    return py::make_tuple(v.loss, v.weight);
  }, py::arg("options"), py::arg("logp"));
  m.attr("LOSS_GAMMA_CE") = static_cast<int>(LOGITCORE_LOSS_GAMMA_CE);
  m.attr("LOSS_GCE") = static_cast<int>(LOGITCORE_LOSS_GCE);
  m.attr("LOSS_FOCAL") = static_cast<int>(LOGITCORE_LOSS_FOCAL);
  m.attr("REDUCTION_NONE") = static_cast<int>(LOGITCORE_REDUCTION_NONE);
  m.attr("REDUCTION_SUM") = static_cast<int>(LOGITCORE_REDUCTION_SUM);
  m.attr("REDUCTION_MEAN") = static_cast<int>(LOGITCORE_REDUCTION_MEAN);
  m.attr("LOSS_DEFAULT_IGNORE_INDEX") = static_cast<std::int64_t>(LOGITCORE_LOSS_DEFAULT_IGNORE_INDEX);
}

}  // namespace lcpy
