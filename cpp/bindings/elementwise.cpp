// Elementwise maps of the kernels (accuracy tests), and the float32 exp ULP scan built on them.
#include "arrays.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace lcpy {
namespace {

enum class Map { exp, log, exp2_core, log2_core };

template <class T>
void apply(Map f, const T* x, i64 n, T* y) {
  logitcore_status s = LOGITCORE_OK;
  if constexpr (sizeof(T) == 4) {
    switch (f) {
      case Map::exp: s = logitcore_exp_f32(x, n, y); break;
      case Map::log: s = logitcore_log_f32(x, n, y); break;
      case Map::exp2_core: s = logitcore_exp2_core_f32(x, n, y); break;
      case Map::log2_core: s = logitcore_log2_core_f32(x, n, y); break;
    }
  } else {
    switch (f) {
      case Map::exp: s = logitcore_exp_f64(x, n, y); break;
      case Map::log: s = logitcore_log_f64(x, n, y); break;
      case Map::exp2_core: s = logitcore_exp2_core_f64(x, n, y); break;
      case Map::log2_core: s = logitcore_log2_core_f64(x, n, y); break;
    }
  }
  logitcore::detail::check(s);
}

void map_array(const py::array& x, const py::array& out, Map f, const char* what) {
  const DType dt = dtype_of(x, "x");
  check_same_dtype(x, out, "out");
  check_writeable(out, "out");
  require(x.ndim() == 1 && out.ndim() == 1 && x.shape(0) == out.shape(0) &&
              (x.shape(0) <= 1 || (x.strides(0) == x.itemsize() && out.strides(0) == out.itemsize())),
          what, ": x and out must be contiguous vectors of one length");
  const i64 n = x.shape(0);
  with_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = static_cast<const T*>(x.data());
    T* op = static_cast<T*>(const_cast<void*>(out.data()));
    py::gil_scoped_release nogil;
    apply<T>(f, xp, n, op);
    return 0;
  });
}

// Largest error, in float32 ULPs of the correctly rounded result, of the library's float32 exp
// over the floats whose bit patterns lie in [lo_bits, hi_bits] (stepping by `step`), against
// the double-precision C library exp. Returns (ulps, worst input).
py::tuple exp_max_ulp(std::uint32_t lo_bits, std::uint32_t hi_bits, std::uint32_t step) {
  require(lo_bits <= hi_bits, "lo_bits must not exceed hi_bits");
  if (step == 0) step = 1;
  const std::uint64_t count = (static_cast<std::uint64_t>(hi_bits) - lo_bits) / step + 1;
  constexpr i64 kChunk = 1 << 14;
  double worst = 0;
  float worst_x = 0;
  {
    py::gil_scoped_release nogil;
    std::vector<float> xs(kChunk), ys(kChunk);
    for (std::uint64_t first = 0; first < count; first += kChunk) {
      const i64 len = static_cast<i64>(std::min<std::uint64_t>(kChunk, count - first));
      for (i64 i = 0; i < len; ++i) {
        const auto bits = static_cast<std::uint32_t>(lo_bits + (first + static_cast<std::uint64_t>(i)) * step);
        std::memcpy(&xs[static_cast<size_t>(i)], &bits, sizeof(float));
      }
      apply<float>(Map::exp, xs.data(), len, ys.data());
      for (i64 i = 0; i < len; ++i) {
        const float xv = xs[static_cast<size_t>(i)], yv = ys[static_cast<size_t>(i)];
        const double ref = std::exp(static_cast<double>(xv));
        double err;
        if (std::isnan(xv)) err = std::isnan(yv) ? 0.0 : std::numeric_limits<double>::infinity();
        else if (ref > static_cast<double>(std::numeric_limits<float>::max()))
          err = std::isinf(yv) && yv > 0 ? 0.0 : std::numeric_limits<double>::infinity();
        else {
          const int e = ref > 0 ? std::ilogb(ref) : -149;
          const double ulp = std::ldexp(1.0, std::max(e, -126) - 23);
          err = std::isnan(yv) ? std::numeric_limits<double>::infinity() : std::fabs(static_cast<double>(yv) - ref) / ulp;
        }
        if (err > worst) {
          worst = err;
          worst_x = xv;
        }
      }
    }
  }
  return py::make_tuple(worst, worst_x);
}

}  // namespace

void bind_elementwise(py::module_& m) {
  m.def("_exp", [](const py::array& x, const py::array& out) { map_array(x, out, Map::exp, "exp"); }, py::arg("x"),
        py::arg("out"));
  m.def("_log", [](const py::array& x, const py::array& out) { map_array(x, out, Map::log, "log"); }, py::arg("x"),
        py::arg("out"));
  m.def("_exp2", [](const py::array& x, const py::array& out) { map_array(x, out, Map::exp2_core, "exp2"); },
        py::arg("x"), py::arg("out"));
  m.def("_log2", [](const py::array& x, const py::array& out) { map_array(x, out, Map::log2_core, "log2"); },
        py::arg("x"), py::arg("out"));
  m.def("_exp_max_ulp", &exp_max_ulp, py::arg("lo_bits"), py::arg("hi_bits"), py::arg("step") = 1);
}

}  // namespace lcpy
