// Portable drivers: iterate rows of strided N-d arrays, thread over rows or over the blocks
// of long rows, merge block states in a fixed order, apply exact special-value rules.
// No Python here: arrays arrive as (pointer, shape, strides in elements).
#pragma once

#include <cstdint>

#include "logitcore/kernels.h"

namespace logitcore {

constexpr int kMaxDims = 64;

// A strided N-d view. For row inputs the LAST axis is the row (reduction) axis and the
// leading axes are the batch; for per-row outputs all axes are batch axes.
struct NdView {
  void* data = nullptr;
  int ndim = 0;
  std::int64_t shape[kMaxDims];
  std::int64_t strides[kMaxDims];  // in elements, may be negative or zero
};

// Online logsumexp state of one row: lse = m + log(s); t carries sum e^(x-m) (x-m).
struct RowState {
  double m;
  double s;
  double t;
};

// Merge b into a (SPEC §1: equal maxima add directly, a side at -inf contributes 0,
// +inf entries count as exp(0) = 1 relative to an infinite maximum, NaN propagates).
void merge_state(RowState& a, const RowState& b);

// logsumexp over the last axis. b (optional) has x's shape (broadcast with zero strides).
// out has the batch shape. If sign_out is given, out receives log|sum| and sign_out the
// sign (+1, 0, -1, NaN); otherwise negative sums give NaN.
template <class T>
void lse_rows(const KernelTable& k, const NdView& x, const NdView* b, const NdView& out,
              const NdView* sign_out, int nthreads);

// Per-row (m, s) states written to two contiguous float64 arrays of length rows.
template <class T>
void state_rows(const KernelTable& k, const NdView& x, double* m, double* s, int nthreads);

// softmax (or log_softmax) over the last axis; out has x's shape. out may alias x exactly.
template <class T>
void softmax_rows(const KernelTable& k, const NdView& x, const NdView& out, bool log, int nthreads);

// Entropy of softmax(x) over the last axis.
template <class T>
void softmax_entropy_rows(const KernelTable& k, const NdView& x, const NdView& out, int nthreads);

// -sum p log p over the last axis.
template <class T>
void entropy_rows(const KernelTable& k, const NdView& p, const NdView& out, int nthreads);

// a <- merge(a, b) elementwise over n states.
void merge_state_arrays(std::int64_t n, double* m, double* s, const double* m2, const double* s2);

// Elementwise exp through the kernel table (accuracy tests, benchmarks).
void exp_f32(const KernelTable& k, const float* x, std::int64_t n, float* y);
void exp_f64(const KernelTable& k, const double* x, std::int64_t n, double* y);

// Largest error, in float32 ULPs of the correctly rounded result, of the table's float32 exp
// over every float whose bit pattern lies in [lo_bits, hi_bits] (as uint32, stepping by
// `step`), against the double-precision C library exp. Writes the worst input to *worst_x.
double exp_f32_max_ulp(const KernelTable& k, std::uint32_t lo_bits, std::uint32_t hi_bits,
                       std::uint32_t step, float* worst_x, int nthreads);

}  // namespace logitcore
