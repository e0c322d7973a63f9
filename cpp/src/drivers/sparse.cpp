// Sparse (CSR) times dense products (sparse.h). Baseline target: the ISA code is reached only
// through the KernelTable (csr_rows_i32 / csr_rows_i64).
#include "drivers/sparse.h"

#include <algorithm>
#include <cstdint>

#include "drivers/scaffold.h"

namespace logitcore_impl {
using namespace detail;
namespace {

template <class S>
auto rows_kernel(const KernelsT<S>& k, std::int32_t) { return k.csr_rows_i32; }
template <class S>
auto rows_kernel(const KernelsT<S>& k, std::int64_t) { return k.csr_rows_i64; }

// Columns of b per panel: all of them when b fits in kCsrPanelBytes, else as many as fit, in
// whole multiples of kCsrPanelStep (at least one step).
i64 panel_width(i64 cols, i64 k_cols, i64 elem) {
  const double per_col = static_cast<double>(cols) * static_cast<double>(elem);
  if (per_col * static_cast<double>(k_cols) <= static_cast<double>(kCsrPanelBytes)) return k_cols;
  const i64 w = static_cast<i64>(static_cast<double>(kCsrPanelBytes) / per_col) / kCsrPanelStep * kCsrPanelStep;
  return std::min(k_cols, std::max(kCsrPanelStep, w));
}

// The first row r whose work before it (indptr[r] + r: a non-zero or a row each) reaches target.
template <class I>
i64 row_at_work(const I* indptr, i64 rows, double target) {
  i64 lo = 0, hi = rows;
  while (lo < hi) {
    const i64 mid = lo + (hi - lo) / 2;
    if (static_cast<double>(indptr[mid]) + static_cast<double>(mid) < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

}  // namespace

template <class T, class I, class S>
void csr_matmul(const KernelTable& kt, const CsrProduct<T, I, S>& a, i64 rows, i64 cols, i64 k_cols, int nthreads) {
  if (rows == 0 || k_cols == 0) return;
  if (a.indptr[rows] == 0) {  // no entries (b may even be empty, its pointer null): zeros
    for (i64 r = 0; r < rows; ++r) std::fill(a.out + r * a.ldo, a.out + r * a.ldo + k_cols, T(0));
    return;
  }
  const auto kernel = rows_kernel(kern<S>(kt), I{});
  const double work = (static_cast<double>(a.indptr[rows]) + static_cast<double>(rows));
  int nt = 1;
  if (nthreads > 1 && !in_parallel_region() && work * static_cast<double>(k_cols) >= kMinParallelWork)
    nt = static_cast<int>(std::min<i64>(nthreads, rows));
  const i64 pw = panel_width(cols, k_cols, static_cast<i64>(sizeof(S)));
  // thread t takes the rows holding its share of the work, and within them one panel of b at a time
  parallel_for(nt, nt, [&](i64 t, int) {
    const i64 r0 = t == 0 ? 0 : row_at_work(a.indptr, rows, work * static_cast<double>(t) / nt);
    const i64 r1 = t + 1 == nt ? rows : row_at_work(a.indptr, rows, work * static_cast<double>(t + 1) / nt);
    if (r0 >= r1) return;
    for (i64 c0 = 0; c0 < k_cols; c0 += pw) kernel(a, r0, r1, c0, std::min(k_cols, c0 + pw));
  });
}

template void csr_matmul<float, std::int32_t>(const KernelTable&, const CsrProduct<float, std::int32_t>&, i64, i64,
                                              i64, int);
template void csr_matmul<float, std::int64_t>(const KernelTable&, const CsrProduct<float, std::int64_t>&, i64, i64,
                                              i64, int);
template void csr_matmul<double, std::int32_t>(const KernelTable&, const CsrProduct<double, std::int32_t>&, i64, i64,
                                               i64, int);
template void csr_matmul<double, std::int64_t>(const KernelTable&, const CsrProduct<double, std::int64_t>&, i64, i64,
                                               i64, int);
#define LOGITCORE_CSR_HALF_(S)                                                                                   \
  template void csr_matmul<float, std::int32_t, S>(const KernelTable&, const CsrProduct<float, std::int32_t, S>&, \
                                                   i64, i64, i64, int);                                          \
  template void csr_matmul<float, std::int64_t, S>(const KernelTable&, const CsrProduct<float, std::int64_t, S>&, \
                                                   i64, i64, i64, int);
LOGITCORE_CSR_HALF_(bf16)
LOGITCORE_CSR_HALF_(f16)
#undef LOGITCORE_CSR_HALF_

}  // namespace logitcore_impl
