// Batched entropy normalization (docs/math.md §2): for each row find gamma >= 0 such that
// q = p^gamma / sum p^gamma (= softmax(gamma * z) for logits z) has entropy H* (nats).
#pragma once

#include <cstdint>

#include "drivers/view.h"
#include "kernels/kernels.h"

namespace logitcore_impl {

enum EnStatus : std::int8_t {
  kEnOk = 0,
  kEnAboveRange = 1,   // H* > log|support| (+tol): only gamma = 0 comes closest
  kEnBelowRange = 2,   // H* < log|ties at the maximum| (-tol): only gamma = inf comes closest
  kEnInvalid = 3,      // probability < 0, NaN or inf; logit NaN or +inf
  kEnBadSum = 4,       // probability row does not sum to 1 within the tolerance
  kEnNoSupport = 5,    // every probability is 0 / every logit is -inf
};

// Every field is set by the caller (the public API holds the defaults, logitcore.h).
struct EnOptions {
  bool logits;             // rows are logits (else probabilities)
  double tol;              // |H(gamma) - H*| <= tol (nats)
  int max_iter;            // passes over the row spent on the search (the first is at gamma = 1)
  bool check_sum;          // probabilities must sum to 1 within sum_tol
  double sum_tol;
  // rows whose target lies outside their reachable range count as failed (not written)
  // instead of being clipped to the nearest boundary
  bool out_of_range_fails;
};

// Per-row results, each a contiguous array with one entry per row.
struct EnInfo {
  double* gamma;            // gamma found (0: uniform over the support; inf: uniform over the ties)
  std::int32_t* n_iter;     // passes over the row spent on the search
  std::uint8_t* converged;  // |H - H*| <= tol reached
  std::uint8_t* clipped;    // target outside [log|ties|, log|support|]: clipped to the boundary
  std::int8_t* status;      // EnStatus
  double* h_min;            // log |ties at the maximum| (lowest reachable entropy)
  double* h_max;            // log |support| (highest reachable entropy)
  double* entropy;          // entropy of the returned row, as computed by the search
};

// x: rows along the last axis (any strides); out: same shape, or out.data null to solve for
// gamma only (the info) without writing any row; target: one per row.
// Rows that fail (status kEnInvalid, kEnBadSum, kEnNoSupport, and with out_of_range_fails
// kEnAboveRange / kEnBelowRange) are not written: out keeps what it held there. Every other
// row of out is written. A converged row's output q has |H(q) - target| <= tol after its
// rounding to T (the search keeps a margin of a few ulps times (2 + target) for it).
template <class T>
void entropy_normalize_rows(const KernelTable& k, const NdView& x, const NdView& out, const double* target,
                            const EnOptions& opt, const EnInfo& info, int nthreads);

}  // namespace logitcore_impl
