// Sparse (CSR) times dense products: out = A b, rows of A split over the threads, the columns of b
// taken in panels that stay in cache while a thread's rows gather from them. Called by the public
// API (cpp/src/api), which has checked every argument and every index.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"

namespace logitcore_impl {

// out (rows x k) = A (rows x cols, CSR) times b (cols x k); a's pointers and strides as in
// CsrProduct. Every output element is summed by one thread in nnz order (sparse.inl): results
// are bitwise the same for any nthreads and panel width. S: b's storage type (T, or a
// half-precision type with T float: widened as it is loaded, the same sums as float b).
template <class T, class I, class S = T>
void csr_matmul(const KernelTable& k, const CsrProduct<T, I, S>& a, std::int64_t rows, std::int64_t cols,
                std::int64_t k_cols, int nthreads);

}  // namespace logitcore_impl
