// The token sampler (docs/math.md §4): sample, the filtered distribution, the penalties. The
// package passes 2-D (rows, vocab) arrays and per-row settings as 1-D arrays of one entry
// (shared by every row: stride 0) or one per row.
#include "arrays.h"

namespace lcpy {
namespace {

// A setting: a contiguous 1-D array of T with 1 entry (stride 0) or `rows` entries.
template <class T>
const T* setting(const py::array& a, i64 rows, i64* stride, const char* what) {
  require(py::isinstance<py::array_t<T>>(a) && a.ndim() == 1 && (a.shape(0) == 1 || a.shape(0) == rows) &&
              (a.shape(0) <= 1 || a.strides(0) == static_cast<py::ssize_t>(sizeof(T))),
          what, ": expected a contiguous vector with one entry or one per row");
  *stride = a.shape(0) == 1 ? 0 : 1;
  return static_cast<const T*>(a.data());
}

// The filter settings; seed and offset when given (null: the defaults, for the filter alone).
logitcore::SamplingParams params_of(i64 rows, const py::array& temperature, const py::array& top_k,
                                    const py::array& top_p, const py::array& min_p, const py::array& target_entropy,
                                    const py::array* seed = nullptr, const py::array* offset = nullptr) {
  logitcore::SamplingParams p;
  p.temperature = setting<double>(temperature, rows, &p.temperature_stride, "temperature");
  p.top_k = setting<std::int64_t>(top_k, rows, &p.top_k_stride, "top_k");
  p.top_p = setting<double>(top_p, rows, &p.top_p_stride, "top_p");
  p.min_p = setting<double>(min_p, rows, &p.min_p_stride, "min_p");
  p.target_entropy = setting<double>(target_entropy, rows, &p.target_entropy_stride, "target_entropy");
  if (seed) p.seed = setting<std::uint64_t>(*seed, rows, &p.seed_stride, "seed");
  if (offset) p.offset = setting<std::uint64_t>(*offset, rows, &p.offset_stride, "offset");
  return p;
}

void sample(const py::array& x, const py::array& tokens, const py::array& temperature, const py::array& top_k,
            const py::array& top_p, const py::array& min_p, const py::array& target_entropy, const py::array& seed,
            const py::array& offset, std::int64_t n_logprobs, const py::object& token_lp, const py::object& top_ids,
            const py::object& top_lp) {
  const DType dt = dtype_of(x, "logits", true);
  require(x.ndim() == 2, "logits: expected a 2-D array");
  const i64 rows = x.shape(0);
  std::int64_t* tp = vector_data<std::int64_t>(tokens, rows, true, "out");
  logitcore::SampleLogprobs lp;
  lp.n = n_logprobs;
  py::array a_tlp, a_ids, a_lp;
  if (!token_lp.is_none()) {
    a_tlp = py::reinterpret_borrow<py::array>(token_lp);
    lp.token_logprob = vector_data<double>(a_tlp, rows, true, "token_logprob");
  }
  if (!top_ids.is_none()) {
    a_ids = py::reinterpret_borrow<py::array>(top_ids);
    lp.top_tokens = vector_data<std::int64_t>(a_ids, rows * n_logprobs, true, "top_tokens");
  }
  if (!top_lp.is_none()) {
    a_lp = py::reinterpret_borrow<py::array>(top_lp);
    lp.top_logprobs = vector_data<double>(a_lp, rows * n_logprobs, true, "top_logprobs");
  }
  const logitcore::SamplingParams p =
      params_of(rows, temperature, top_k, top_p, min_p, target_entropy, &seed, &offset);
  with_dtype_half(dt, [&](auto tag) {
    using T = decltype(tag);
    const logitcore::Matrix<const T> m = matrix_of<T>(x, "logits");
    py::gil_scoped_release nogil;
    logitcore::sample(m, p, tp, lp);
    return 0;
  });
}

void sample_filter(const py::array& x, const py::array& temperature, const py::array& top_k, const py::array& top_p,
                   const py::array& min_p, const py::array& target_entropy, const py::object& probs,
                   const py::object& kept, const py::object& gamma) {
  const DType dt = dtype_of(x, "logits", true);
  require(x.ndim() == 2, "logits: expected a 2-D array");
  const i64 rows = x.shape(0);
  const logitcore::SamplingParams p = params_of(rows, temperature, top_k, top_p, min_p, target_entropy);
  double* gp = nullptr;
  py::array a_g;
  if (!gamma.is_none()) {
    a_g = py::reinterpret_borrow<py::array>(gamma);
    gp = vector_data<double>(a_g, rows, true, "gamma");
  }
  py::array a_p, a_k;
  if (!probs.is_none()) {
    a_p = py::reinterpret_borrow<py::array>(probs);
    check_same_dtype(x, a_p, "probs");
    check_writeable(a_p, "probs");
  }
  if (!kept.is_none()) {
    a_k = py::reinterpret_borrow<py::array>(kept);
    require(py::isinstance<py::array_t<std::uint8_t>>(a_k) || py::isinstance<py::array_t<bool>>(a_k),
            "kept: expected a bool or uint8 array");
    check_writeable(a_k, "kept");
  }
  with_dtype_half(dt, [&](auto tag) {
    using T = decltype(tag);
    const logitcore::Matrix<const T> m = matrix_of<T>(x, "logits");
    const logitcore::Matrix<T> mp = probs.is_none() ? logitcore::Matrix<T>() : matrix_of<T>(a_p, "probs");
    const logitcore::Matrix<std::uint8_t> mk =
        kept.is_none() ? logitcore::Matrix<std::uint8_t>() : matrix_of<std::uint8_t>(a_k, "kept");
    py::gil_scoped_release nogil;
    logitcore::sample_filter(m, p, mp, mk, gp);
    return 0;
  });
}

void apply_penalties(const py::array& x, const py::array& out, const py::array& ids, const py::array& rep,
                     const py::array& freq, const py::array& pres) {
  const DType dt = dtype_of(x, "logits", true);
  require(x.ndim() == 2 && out.ndim() == 2, "logits: expected a 2-D array");
  check_same_dtype(x, out, "out");
  check_writeable(out, "out");
  require(py::isinstance<py::array_t<std::int64_t>>(ids) && ids.ndim() == 2, "token_ids: expected a 2-D int64 array");
  const i64 rows = x.shape(0);
  logitcore::PenaltyParams p;
  p.repetition = setting<double>(rep, rows, &p.repetition_stride, "repetition_penalty");
  p.frequency = setting<double>(freq, rows, &p.frequency_stride, "frequency_penalty");
  p.presence = setting<double>(pres, rows, &p.presence_stride, "presence_penalty");
  with_dtype_half(dt, [&](auto tag) {
    using T = decltype(tag);
    const logitcore::Matrix<const T> mx = matrix_of<T>(x, "logits");
    const logitcore::Matrix<T> my = matrix_of<T>(out, "out");
    const logitcore::Matrix<const std::int64_t> mi = matrix_of<std::int64_t>(ids, "token_ids");
    py::gil_scoped_release nogil;
    logitcore::apply_penalties(mx, my, mi, p);
    return 0;
  });
}

}  // namespace

void bind_sampling(py::module_& m) {
  m.def("_sample", &sample, py::arg("x"), py::arg("tokens"), py::arg("temperature"), py::arg("top_k"),
        py::arg("top_p"), py::arg("min_p"), py::arg("target_entropy"), py::arg("seed"), py::arg("offset"),
        py::arg("n_logprobs"), py::arg("token_logprob"), py::arg("top_tokens"), py::arg("top_logprobs"));
  m.def("_sample_filter", &sample_filter, py::arg("x"), py::arg("temperature"), py::arg("top_k"), py::arg("top_p"),
        py::arg("min_p"), py::arg("target_entropy"), py::arg("probs"), py::arg("kept"), py::arg("gamma"));
  m.def("_apply_penalties", &apply_penalties, py::arg("x"), py::arg("out"), py::arg("token_ids"),
        py::arg("repetition_penalty"), py::arg("frequency_penalty"), py::arg("presence_penalty"));
  m.def("_sample_uniform", &logitcore::sample_uniform, py::arg("seed"), py::arg("offset"));
}

}  // namespace lcpy
