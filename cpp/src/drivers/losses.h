// Fused losses of the target probability p_y (docs/math.md §3): γ-cross-entropy and the other
// losses whose logits gradient is one scalar per row times (softmax − one-hot).
//
// Per row, one streaming pass over the logits gives (m, s, z_y), hence
// ℓ = log p_y = z_y − (m + log s); the loss and the gradient weight w come from ℓ alone,
// in log space. A second pass writes w_b · rowscale · (softmax − one-hot), optionally over
// the logits themselves. No Python here.
#pragma once

#include <cstdint>

#include "drivers/view.h"
#include "kernels/kernels.h"

namespace logitcore_impl {

enum class LossKind : int {
  // L = −log(γ + (1−γ) p) / (1−γ), γ ∈ [0, 1] (L = 1 − p at γ = 1); w = p / (γ + (1−γ) p),
  // floored at `threshold` (the paper's b) for the gradient only.
  gamma_ce = 0,
  // generalized cross-entropy L = (1 − p^q) / q, q ∈ (0, 1]; w = p^q.
  gce = 1,
  // focal loss L = −(1 − p)^g log p, g ≥ 0;
  // w = (1 − p)^g · (1 + g · p · (−log p) / (1 − p))  (the factor tends to 1 + g as p → 1).
  focal = 2,
};

struct LossSpec {
  LossKind kind = LossKind::gamma_ce;
  double param = 0.0;      // γ, q or g
  double threshold = 0.0;  // gradient weight floor b (γ-cross-entropy only), in [0, 1]
};

// Loss value and gradient weight of one row from ℓ = log p_y (ℓ ≤ 0; −inf allowed; NaN gives NaN).
// dL/dz = w · (softmax(z) − onehot(y)); w already includes the floor.
struct LossValue {
  double loss;
  double w;
};
LossValue loss_from_logp(const LossSpec& spec, double logp);

// For every row r of x (last axis = classes, V = x.shape[-1]):
//   target[r] == ignore_index: loss[r] = 0 and a zero gradient row;
//   otherwise (0 <= target[r] < V, checked by the caller): loss[r] = L(ℓ_r), and, if grad is
//   given, grad row r = w_r · scale · rowscale[r] · (softmax(x_r) − onehot(target[r]))
//   (rowscale may be null: 1).
// target, rowscale and loss are contiguous with one entry per row (C order of x's batch axes).
// grad has x's shape and may alias x exactly (same data and strides: the gradient overwrites
// the logits). Rows with NaN (or all −inf) logits give a NaN loss and a NaN gradient row; a
// row with +inf logits uses the limit softmax (uniform over its +inf entries). Results are
// bitwise identical for any nthreads.
template <class T>
void loss_rows(const KernelTable& k, const NdView& x, const std::int64_t* target, std::int64_t ignore_index,
               const double* rowscale, double scale, const LossSpec& spec, double* loss, const NdView* grad,
               int nthreads);

}  // namespace logitcore_impl
