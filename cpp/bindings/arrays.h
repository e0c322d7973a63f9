// The binding's one helper for arrays: NumPy arrays -> the public API's views. Checks what only
// the binding can know (dtypes, N-d shapes, byte strides, writeability), splits N-d batches into
// the 2-D matrices of the C++ API (batch axes merged wherever the strides of every operand
// allow: usually one call) and dispatches on the dtype once. Everything else is checked by the
// library itself.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "logitcore/logitcore.hpp"

namespace lcpy {

namespace py = pybind11;
using i64 = std::int64_t;

// ValueError(what + rest) unless ok (the message is built only on failure: these checks run on
// every call)
inline void require(bool ok, const char* msg) {
  if (!ok) throw py::value_error(msg);
}
inline void require(bool ok, const char* what, const char* rest) {
  if (!ok) throw py::value_error(std::string(what) + rest);
}

enum class DType { f32, f64, bf16, f16 };

// NumPy's float16 type number; bfloat16 (ml_dtypes) is a user-defined dtype, known by its name
constexpr int kNpyHalf = 23;

inline bool is_bfloat16(const py::dtype& d) {
  return d.itemsize() == 2 && d.kind() == 'V' && std::string(py::str(d.attr("name"))) == "bfloat16";
}

// half: the function also takes bfloat16 and float16 data (computed in float32 by the library)
inline DType dtype_of(const py::array& a, const char* name, bool half = false) {
  if (a.dtype().byteorder() != '>') {
    if (a.dtype().num() == py::detail::npy_api::NPY_FLOAT_) return DType::f32;
    if (a.dtype().num() == py::detail::npy_api::NPY_DOUBLE_) return DType::f64;
    if (half && a.dtype().num() == kNpyHalf) return DType::f16;
    if (half && is_bfloat16(a.dtype())) return DType::bf16;
  }
  throw py::type_error(std::string(name) + (half ? ": expected a float32, float64, float16 or bfloat16 array, got dtype "
                                                 : ": expected a float32 or float64 array, got dtype ") +
                       std::string(py::str(a.dtype())));
}

// f(float{}) or f(double{}): the one place the binding turns a dtype into a type.
template <class F>
auto with_dtype(DType dt, F&& f) {
  return dt == DType::f32 ? f(float{}) : f(double{});
}

// with_dtype for the functions that also take half-precision data: f(logitcore::bfloat16{}),
// f(logitcore::float16{}) as well.
template <class F>
auto with_dtype_half(DType dt, F&& f) {
  switch (dt) {
    case DType::bf16: return f(logitcore::bfloat16{});
    case DType::f16: return f(logitcore::float16{});
    case DType::f64: return f(double{});
    default: return f(float{});
  }
}

// The type of per-row results for data of type T: float for the half-precision types.
template <class T>
using result_t = std::conditional_t<std::is_same<T, double>::value, double, float>;

inline void check_same_dtype(const py::array& a, const py::array& b, const char* what) {
  require(a.dtype().num() == b.dtype().num() && b.dtype().byteorder() != '>', what,
          ": dtype differs from the input's");
}

// A per-row result array of the dtype result_t gives for x's (float32 for half-precision x).
inline void check_result_dtype(const py::array& x, const py::array& out, const char* what) {
  const int n = x.dtype().num() == py::detail::npy_api::NPY_DOUBLE_ ? py::detail::npy_api::NPY_DOUBLE_
                                                                     : py::detail::npy_api::NPY_FLOAT_;
  require(out.dtype().num() == n && out.dtype().byteorder() != '>', what,
          n == py::detail::npy_api::NPY_DOUBLE_ ? ": expected float64 (the input is float64)"
                                                : ": expected float32 (the input is float32, float16 or bfloat16)");
}

inline void check_writeable(const py::array& a, const char* what) {
  require(a.writeable(), what, ": array is read-only");
}

// element strides of an array (byte strides must be multiples of the item size)
inline std::vector<i64> elem_strides(const py::array& a, const char* what) {
  std::vector<i64> s(static_cast<size_t>(a.ndim()));
  const py::ssize_t item = a.itemsize();
  require(a.size() == 0 || reinterpret_cast<std::uintptr_t>(a.data()) % static_cast<std::uintptr_t>(item) == 0, what,
          ": the data is not aligned for its dtype");
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    require(a.strides(d) % item == 0, what, ": strides are not a multiple of the item size");
    s[static_cast<size_t>(d)] = a.strides(d) / item;
  }
  return s;
}

// A 2-D array as a matrix of T (element strides, any sign).
template <class T>
logitcore::Matrix<T> matrix_of(const py::array& a, const char* what) {
  require(a.ndim() == 2, what, ": expected a 2-D array");
  const std::vector<i64> s = elem_strides(a, what);
  return logitcore::Matrix<T>(static_cast<T*>(const_cast<void*>(a.data())), a.shape(0), a.shape(1), s[0], s[1]);
}

// The batch of a row-wise operation: rows of x along its last axis, batch shape x.shape[:-1].
// Operands are row arrays (the batch shape plus the row axis) or per-row arrays (the batch
// shape). The batch axes are merged wherever every operand allows, leaving one 2-D call in
// the common case. Fixed-size storage: no allocation per call.
class Batch {
 public:
  static constexpr int kMaxOps = 4;
  static constexpr int kMaxDims = 64;  // NumPy's limit

  explicit Batch(const py::array& x) {
    require(x.ndim() >= 1, "input must have at least one dimension");
    require(x.ndim() <= kMaxDims, "input has too many dimensions");
    bnd_ = static_cast<int>(x.ndim()) - 1;
    rows_ = 1;
    for (int d = 0; d < bnd_; ++d) rows_ *= (shape_[d] = x.shape(d));
    n_ = x.shape(bnd_);
  }
  i64 rows() const { return rows_; }
  i64 cols() const { return n_; }

  // Adds an operand, returning its index. row: the array has the row axis (x's shape).
  int add(const py::array& a, bool row, const char* what) {
    bool ok = a.ndim() == bnd_ + (row ? 1 : 0) && nops_ < kMaxOps;
    for (int d = 0; ok && d < bnd_; ++d) ok = a.shape(d) == shape_[d];
    if (ok && row) ok = a.shape(bnd_) == n_;
    require(ok, what, row ? ": shape does not match the input's shape" : ": shape does not match the input's batch shape");
    Op& op = ops_[nops_];
    const py::ssize_t item = a.itemsize();
    for (int d = 0; d < a.ndim(); ++d)
      require(a.strides(d) % item == 0, what, ": strides are not a multiple of the item size");
    op.data = static_cast<char*>(const_cast<void*>(a.data()));
    op.col_stride = row ? a.strides(bnd_) / item : 0;
    for (int d = 0; d < bnd_; ++d) op.batch[d] = a.strides(d) / item;
    return nops_++;
  }

  struct Chunk {
    i64 rows;              // rows in this chunk
    i64 row0;              // C-order index of its first row in the batch
    const i64* offs;       // element offset of each operand's first row
    const i64* row_stride; // each operand's stride between rows
  };

  // fn(const Chunk&) for every 2-D piece of the batch, in C order of the rows.
  template <class F>
  void for_each(F&& fn) const {
    if (rows_ == 0) return;
    // merged dims, innermost last: extent and per-operand stride
    i64 ext[kMaxDims];
    i64 st[kMaxDims][kMaxOps];
    int nm = 0;
    for (int d = 0; d < bnd_; ++d) {
      if (shape_[d] == 1) continue;
      bool merge = nm > 0;
      for (int o = 0; merge && o < nops_; ++o) merge = st[nm - 1][o] == ops_[o].batch[d] * shape_[d];
      if (merge) {
        ext[nm - 1] *= shape_[d];
      } else {
        ext[nm] = shape_[d];
        ++nm;
      }
      for (int o = 0; o < nops_; ++o) st[nm - 1][o] = ops_[o].batch[d];
    }
    i64 offs[kMaxOps] = {}, rs[kMaxOps] = {};
    if (nm == 0) {
      fn(Chunk{1, 0, offs, rs});
      return;
    }
    const int inner = nm - 1;
    for (int o = 0; o < nops_; ++o) rs[o] = st[inner][o];
    i64 idx[kMaxDims] = {};
    for (i64 row0 = 0; row0 < rows_; row0 += ext[inner]) {
      for (int o = 0; o < nops_; ++o) {
        i64 off = 0;
        for (int d = 0; d < inner; ++d) off += idx[d] * st[d][o];
        offs[o] = off;
      }
      fn(Chunk{ext[inner], row0, offs, rs});
      for (int d = inner; d-- > 0;) {  // odometer over the outer dims
        if (++idx[d] < ext[d]) break;
        idx[d] = 0;
      }
    }
  }

  // The operand's matrix (row operands) or vector (per-row operands) of a chunk.
  template <class T>
  logitcore::Matrix<T> matrix(int op, const Chunk& c) const {
    return logitcore::Matrix<T>(reinterpret_cast<T*>(ops_[op].data) + c.offs[op], c.rows, n_, c.row_stride[op],
                                ops_[op].col_stride);
  }
  template <class T>
  logitcore::Vector<T> vector(int op, const Chunk& c) const {
    return logitcore::Vector<T>(reinterpret_cast<T*>(ops_[op].data) + c.offs[op], c.rows, c.row_stride[op]);
  }
  // Whether the whole batch is one chunk (one call).
  bool single() const {
    int n = 0;
    for_each([&](const Chunk&) { ++n; });
    return n <= 1;
  }

 private:
  struct Op {
    char* data = nullptr;
    i64 col_stride = 0;
    i64 batch[kMaxDims] = {};
  };
  int bnd_ = 0, nops_ = 0;
  i64 shape_[kMaxDims] = {};
  i64 n_ = 0, rows_ = 0;
  Op ops_[kMaxOps];
};

// a contiguous 1-D array of `n` entries of type T
template <class T>
T* vector_data(const py::array& a, i64 n, bool writeable, const char* what) {
  if (!(py::isinstance<py::array_t<T>>(a) && a.ndim() == 1 && a.shape(0) == n &&
        (n <= 1 || a.strides(0) == static_cast<py::ssize_t>(sizeof(T)))))
    throw py::value_error(std::string(what) + ": expected a contiguous " + std::string(py::str(py::dtype::of<T>())) +
                          " vector with one entry per row");
  if (n > 0 && reinterpret_cast<std::uintptr_t>(a.data()) % alignof(T) != 0)
    throw py::value_error(std::string(what) + ": the vector's data is not aligned for its dtype");
  if (writeable) check_writeable(a, what);
  return static_cast<T*>(const_cast<void*>(a.data()));
}

void bind_runtime(py::module_& m);
void bind_family(py::module_& m);
void bind_entropy_norm(py::module_& m);
void bind_losses(py::module_& m);
void bind_elementwise(py::module_& m);
void bind_sampling(py::module_& m);
void bind_sparse(py::module_& m);

}  // namespace lcpy
