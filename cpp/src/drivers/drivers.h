// The drivers of the logsumexp family (docs/math.md §1) and the elementwise maps: rows of
// strided views, threaded over rows or over the blocks of long rows, block states merged in a
// fixed order, exact special-value rules. Called by the public API (cpp/src/api), which has
// checked every argument; arrays arrive as views (pointer, shape, strides in elements).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "drivers/view.h"
#include "kernels/kernels.h"

namespace logitcore_impl {

// logsumexp over the last axis. b (optional) has x's shape (broadcast with zero strides).
// out has the batch shape. If sign_out is given, out receives log|sum| and sign_out the
// sign (+1, 0, -1, NaN); otherwise negative sums give NaN.
template <class T>
void lse_rows(const KernelTable& k, const NdView& x, const NdView* b, const NdView& out,
              const NdView* sign_out, int nthreads);

// Per-row states in excess form written to two contiguous float64 arrays of length rows:
// the maximum m and u = s - 1 (the sum of exp(x - m) without one maximal term, formed on its
// own for rows dominated by their maximum), so lse = m + log1p(u). An empty row is (-inf, -1).
template <class T>
void state_rows(const KernelTable& k, const NdView& x, double* m, double* u, int nthreads);

// softmax (or log_softmax) over the last axis; out has x's shape. out may alias x exactly.
template <class T>
void softmax_rows(const KernelTable& k, const NdView& x, const NdView& out, bool log, int nthreads);

// Entropy of softmax(x) over the last axis.
template <class T>
void softmax_entropy_rows(const KernelTable& k, const NdView& x, const NdView& out, int nthreads);

// -sum p log p over the last axis.
template <class T>
void entropy_rows(const KernelTable& k, const NdView& p, const NdView& out, int nthreads);

// a <- merge(a, b) elementwise over n states in excess form (m, u = s - 1):
//   equal maxima: u = ua + ub + 1; otherwise u = u_hi + exp(m_lo - m_hi) (1 + u_lo).
void merge_excess_arrays(std::int64_t n, double* m, double* u, const double* m2, const double* u2);

// Elementwise maps of the kernel table over a contiguous vector, block by block (y may be x):
// exp and log on their whole domains; the vector cores exp2 and log2 on the domains kernels.h
// gives them (accuracy tests).
enum class Elementwise { exp, log, exp2_core, log2_core };
template <class T>
void elementwise(const KernelTable& k, Elementwise op, const T* x, std::int64_t n, T* y);

}  // namespace logitcore_impl
