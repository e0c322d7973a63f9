// Sparse (CSR) times dense: out = A b from SciPy's CSR arrays (or a CSC's arrays: A^T b). The
// package (logitcore.sparse) normalizes the dtypes and the layout of b; the library checks the
// shapes and every index.
#include "arrays.h"

namespace lcpy {
namespace {

// A 1-D contiguous array (any length), or a ValueError naming it.
void require_vector(const py::array& a, const char* what) {
  require(a.ndim() == 1 && (a.shape(0) <= 1 || a.strides(0) == a.itemsize()), what,
          ": expected a contiguous 1-D array");
}

// S: b's type (T, or a half-precision type with T float)
template <class T, class I, class S = T>
void run(const py::array& indptr, const py::array& indices, const py::array& data, i64 n_cols, const py::array& b,
         const py::array& out) {
  const i64 rows = indptr.shape(0) - 1;
  const I* ip = static_cast<const I*>(indptr.data());
  // the library reads indptr[rows] entries of indices and data: they must exist
  const i64 nnz = static_cast<i64>(ip[rows]);
  if (nnz > indices.shape(0))
    throw py::value_error("indptr[-1] = " + std::to_string(nnz) + " exceeds the " + std::to_string(indices.shape(0)) +
                          " entries of indices and data");
  const logitcore::CsrMatrix<T, I> a(ip, static_cast<const I*>(indices.data()), static_cast<const T*>(data.data()),
                                     rows, n_cols);
  const logitcore::Matrix<const S> mb = matrix_of<S>(b, "b");
  const logitcore::Matrix<T> mo = matrix_of<T>(out, "out");
  py::gil_scoped_release nogil;
  logitcore::csr_matmul(a, mb, mo);
}

void csr_matmul(const py::array& indptr, const py::array& indices, const py::array& data, i64 n_cols,
                const py::array& b, const py::array& out) {
  const int it = indptr.dtype().num();
  const bool i32 = it == py::dtype::of<std::int32_t>().num(), i64_ = it == py::dtype::of<std::int64_t>().num();
  if (!(i32 || i64_) || indptr.dtype().byteorder() == '>')
    throw py::type_error("indptr: expected an int32 or int64 array, got dtype " + std::string(py::str(indptr.dtype())));
  if (indices.dtype().num() != it || indices.dtype().byteorder() == '>')
    throw py::type_error("indices: dtype " + std::string(py::str(indices.dtype())) + " differs from indptr's " +
                         std::string(py::str(indptr.dtype())));
  const DType dt = dtype_of(data, "data");
  const DType bt = dtype_of(b, "b", true);
  const bool half_b = bt == DType::bf16 || bt == DType::f16;
  if (half_b) require(dt == DType::f32, "data: expected float32 with a half-precision b");
  else check_same_dtype(data, b, "b");
  check_same_dtype(data, out, "out");
  check_writeable(out, "out");
  require_vector(indptr, "indptr");
  require_vector(indices, "indices");
  require_vector(data, "data");
  require(indptr.shape(0) >= 1, "indptr: expected rows + 1 >= 1 entries, got an empty array");
  require(indices.shape(0) == data.shape(0), "indices and data must have the same length");
  if (half_b) {  // half-precision b (widened as it is loaded): a's data and out float32
    with_dtype_half(bt, [&](auto tag) {
      using S = decltype(tag);
      if constexpr (!std::is_same<S, float>::value && !std::is_same<S, double>::value) {
        if (i32) run<float, std::int32_t, S>(indptr, indices, data, n_cols, b, out);
        else run<float, std::int64_t, S>(indptr, indices, data, n_cols, b, out);
      }
      return 0;
    });
    return;
  }
  with_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    if (i32) run<T, std::int32_t>(indptr, indices, data, n_cols, b, out);
    else run<T, std::int64_t>(indptr, indices, data, n_cols, b, out);
    return 0;
  });
}

}  // namespace

void bind_sparse(py::module_& m) {
  m.def("_csr_matmul", &csr_matmul, py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("n_cols"),
        py::arg("b"), py::arg("out"),
        "out = A b, A (len(indptr) - 1 rows, n_cols columns) given by SciPy's CSR arrays (a CSC "
        "matrix's arrays give A^T b). Bitwise the same for any thread count.");
}

}  // namespace lcpy
