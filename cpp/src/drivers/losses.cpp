// Fused losses of p_y (γ-cross-entropy, generalized cross-entropy, focal loss): loss and
// logits gradient in two streaming passes per row (docs/math.md §3). Baseline target: the ISA
// code is reached only through the KernelTable (stats_store for the first pass, split_sum for
// rows dominated by their maximum, scale_store for the gradient: one exp per logit).
#include "drivers/losses.h"
#include "drivers/scaffold.h"

#include <math.h>

#include <algorithm>
#include <cstdint>
#include <limits>

namespace logitcore_impl {
using namespace detail;
namespace {

double logaddexp(double a, double b) {
  const double mx = a > b ? a : b;
  if (mx == -kInf) return -kInf;
  return mx + ::log1p(::exp(-::fabs(a - b)));
}

// L = −log(γ + (1−γ)p)/(1−γ), w = p/(γ + (1−γ)p), from l = log p without forming p/p.
LossValue gamma_ce(double g, double l) {
  if (g == 0) return {0.0 - l, 1.0};  // cross-entropy; w = 1 even when p underflows
  if (g == 1) return {0.0 - ::expm1(l), ::exp(l)};
  // a = log(γ + (1−γ)p). For p >= 1/2 write the argument as 1 + (1−γ)(p − 1): log1p of a
  // small, exactly formed expm1 keeps full accuracy as p → 1 or γ → 1. Otherwise
  // logaddexp(log γ, log1p(−γ) + l) adds two positive terms: no cancellation, and no
  // underflow of p for very negative l.
  const double em1 = ::expm1(l);
  const double a = em1 > -0.5 ? ::log1p((1 - g) * em1) : logaddexp(::log(g), ::log1p(-g) + l);
  const double w = ::exp(l - a);
  return {(0.0 - a) / (1 - g), w > 1 ? 1.0 : w};
}

LossValue gce(double q, double l) { return {(0.0 - ::expm1(q * l)) / q, ::exp(q * l)}; }

// L = −(1−p)^g l. dL/dl = g (1−p)^(g−1) p l − (1−p)^g, and dl/dz = onehot − softmax, so
// dL/dz = w (softmax − onehot) with w = −dL/dl = (1−p)^g (1 + g p (−l)/(1−p)).
LossValue focal(double g, double l) {
  const double omp = 0.0 - ::expm1(l);  // 1 − p, exact near p = 1
  const double pw = ::pow(omp, g);      // pow(0, 0) = 1: g = 0 is cross-entropy
  const double p = ::exp(l);
  double extra = 0.0;
  if (g != 0 && p > 0) extra = g * p * (omp > 0 ? (0.0 - l) / omp : 1.0);  // (−log p)/(1−p) → 1 as p → 1
  return {pw * (0.0 - l), pw * (1.0 + extra)};
}

// Rows dominated by their maximum (s < 2): u = s - 1 without cancellation, from the other
// blocks' states and the split of the e = exp(x - m) that stats_store forms for the block
// holding the maximum (`e_of(j)` returns them): the loss uses the same terms whether or not
// the gradient is requested, and in-place gradients (e written over the logits) need no x.
template <class S, class EF>
void refine_split(const KernelsT<S>& k, const BlockStats* bs, i64 nb, i64 n, RowState& st, EF&& e_of) {
  double rest = 0;
  const i64 jm = dominated_block(bs, nb, st, &rest);
  if (jm < 0) return;
  const Excess e = k.split_sum(e_of(jm), block_range(jm, n).len);
  st.u = rest + e.r + (e.ties - 1.0);
}

// log p_y from the row state and the target's logit.
double log_p_target(const RowState& st, double zy) {
  if (isnan(st.m) || isnan(st.s) || st.m == -kInf) return kNaN;  // NaN present, or no support
  if (st.m == kInf) return zy == kInf ? 0.0 - ::log(st.s) : -kInf;  // uniform over the +inf entries
  return (zy - st.m) - log_sum(st);
}

// Pass 1 of a row: block states with e = exp(x - m_b) stored at eb + off when eb is set (the
// gradient row itself when contiguous, possibly over the logits: in place), folded in block
// order, and u for rows dominated by their maximum (from the stored e, or, without eb, from the
// block holding the maximum recomputed into scratch). The loss does not depend on whether the
// gradient is requested: both take these same block statistics.
template <class S>
RowState first_pass(const KernelsT<S>& k, const Row<const S>& x, i64 n, int inner_nt, Scratch<S>& scratch, int tid,
                    BlockStats* bs, compute_t<S>* eb) {
  using T = compute_t<S>;
  for_blocks(n, inner_nt, tid, [&](i64 j, i64 off, i64 len, int t) {
    const S* xp = gather<S>(x, off, len, scratch.x(t));
    BlockStats b = k.stats_store(xp, len, eb ? eb + off : nullptr);
    if (!(b.m - b.m == 0) && b.m != -kInf) b = special_block<S>(xp, nullptr, len);  // x left intact
    bs[j] = b;
  });
  const i64 nb = num_blocks(n);
  RowState st = fold_blocks(bs, nb);
  refine_split<S>(k, bs, nb, n, st, [&](i64 j) {
    if (eb) return static_cast<const T*>(eb + j * kBlock);
    const BlockRange br = block_range(j, n);
    T* e = scratch.e(tid);
    k.stats_store(gather<S>(x, br.off, br.len, scratch.x(tid)), br.len, e);
    return static_cast<const T*>(e);
  });
  return st;
}

// Loss (and, with g set, gradient) of one row. With a gradient: two passes and ONE exp per
// logit: pass 1 stores e = exp(x - m_b) per block; after the fixed-order fold, pass 2 scales
// each block by w * rowscale * exp(m_b - M) / S (a multiply, no exp). Half-precision storage
// S keeps e in the float32 row ebuf (kf: the float32 kernels) and rounds each gradient entry
// once, as it is stored.
template <class S>
void loss_row(const KernelsT<S>& k, const KernelsT<compute_t<S>>& kf, const LossSpec& spec, const Row<const S>& x,
              const Row<S>* g, i64 n, std::int64_t t, std::int64_t ignore_index, double rs, double* loss, int inner_nt,
              Scratch<S>& scratch, int tid, BlockStats* bs, compute_t<S>* ebuf) {
  using T = compute_t<S>;
  constexpr bool half = is_half<S>::value;
  if (t == ignore_index) {
    *loss = 0.0;
    if (g)
      for_blocks(n, inner_nt, tid, [&](i64, i64 off, i64 len, int) {
        for (i64 i = off; i < off + len; ++i) g->p[i * g->stride] = to_storage<S>(0.0);
      });
    return;
  }
  const double zy = static_cast<double>(x.p[t * x.stride]);  // read before the logits may be overwritten
  T* eb = g ? (!half && g->stride == 1 ? reinterpret_cast<T*>(g->p) : ebuf) : nullptr;  // S is T when direct
  const RowState st = first_pass<S>(k, x, n, inner_nt, scratch, tid, bs, eb);
  const double ell = log_p_target(st, zy);
  const LossValue lv = loss_from_logp(spec, ell);
  *loss = lv.loss;
  if (!g) return;
  const double wrs = lv.w * rs;
  if (isnan(ell) || isnan(wrs) || st.m == kInf) {
    const bool nan = isnan(ell) || isnan(wrs);
    for_blocks(n, inner_nt, tid, [&](i64 j, i64 off, i64 len, int) {
      const bool intact = bs[j].m == kInf;  // blocks holding +inf were not overwritten
      for (i64 i = off; i < off + len; ++i) {
        double v = kNaN;
        if (!nan) {
          const double p = (intact && static_cast<double>(x.p[i * x.stride]) == kInf) ? 1.0 / st.s : 0.0;
          v = wrs * (p - (i == t ? 1.0 : 0.0));
        }
        g->p[i * g->stride] = to_storage<S>(v);
      }
    });
    return;
  }
  for_blocks(n, inner_nt, tid, [&](i64 j, i64 off, i64 len, int) {
    const double c = bs[j].m == -kInf ? 0.0 : wrs * ::exp(bs[j].m - st.m) / st.s;
    if (::fabs(c) <= static_cast<double>(std::numeric_limits<T>::max())) {
      if (half && g->stride == 1) {
        k.scale_store(eb + off, len, static_cast<T>(c), g->p + off, false);
        return;
      }
      kf.scale_store(eb + off, len, static_cast<T>(c), eb + off, false);
    } else {  // a factor beyond T's range (huge class weights): each product in double
      for (i64 i = off; i < off + len; ++i) eb[i] = static_cast<T>(static_cast<double>(eb[i]) * c);
    }
    if (half || g->stride != 1) scatter_rounded<S>(eb + off, *g, off, len);
  });
  // the target entry: w (p_y − 1) with p_y − 1 = expm1(ℓ), formed in double
  g->p[t * g->stride] = to_storage<S>(wrs * ::expm1(ell));
}

}  // namespace

LossValue loss_from_logp(const LossSpec& spec, double l) {
  if (isnan(l)) return {kNaN, kNaN};
  if (l > 0) l = 0;  // rounding only: log p <= 0
  LossValue v;
  switch (spec.kind) {
    case LossKind::gamma_ce:
      v = gamma_ce(spec.param, l);
      if (v.w < spec.threshold) v.w = spec.threshold;
      break;
    case LossKind::gce: v = gce(spec.param, l); break;
    default: v = focal(spec.param, l); break;
  }
  return v;
}

template <class S>
void loss_rows(const KernelTable& kt, const NdView& x, const std::int64_t* target, std::int64_t ignore_index,
               const double* rowscale, double scale, const LossSpec& spec, double* loss, const NdView* grad,
               int nthreads) {
  using T = compute_t<S>;
  const KernelsT<S>& k = kern<S>(kt);
  const KernelsT<T>& kf = kern<T>(kt);
  const int bnd = x.ndim - 1;
  const i64 rows = batch_rows(x, bnd);
  const i64 n = x.shape[bnd];
  if (rows == 0) return;
  const i64 nb = num_blocks(n);
  const Plan plan = make_plan(rows, n, nthreads);
  const bool grad_strided = grad && any_strided(*grad);
  // a row of e per thread for strided gradients and half-precision ones (e stays float32)
  const bool grad_buffered = grad && (grad_strided || is_half<S>::value);
  Scratch<S> scratch(plan.nt, any_strided(x) || grad_strided);
  // per row thread: block states, and a gradient row of e for buffered gradients
  std::vector<BlockStats> bsmem(static_cast<size_t>(plan.nt) * static_cast<size_t>(nb));
  std::vector<T> emem(grad_buffered ? static_cast<size_t>(plan.nt) * static_cast<size_t>(n) : 0);
  for_rows(plan, rows, [&](i64 r, int tid, int inner_nt) {
    const Row<S> xr = row_of<S>(x, r);
    Row<S> gr{nullptr, 1};
    if (grad) gr = row_of<S>(*grad, r);
    const double rs = scale * (rowscale ? rowscale[r] : 1.0);
    loss_row<S>(k, kf, spec, Row<const S>{xr.p, xr.stride}, grad ? &gr : nullptr, n, target[r], ignore_index, rs,
                loss + r, inner_nt, scratch, tid, bsmem.data() + static_cast<size_t>(tid) * static_cast<size_t>(nb),
                grad_buffered ? emem.data() + static_cast<size_t>(tid) * static_cast<size_t>(n) : nullptr);
  });
}

template void loss_rows<float>(const KernelTable&, const NdView&, const std::int64_t*, std::int64_t, const double*,
                               double, const LossSpec&, double*, const NdView*, int);
template void loss_rows<double>(const KernelTable&, const NdView&, const std::int64_t*, std::int64_t,
                                const double*, double, const LossSpec&, double*, const NdView*, int);
template void loss_rows<bf16>(const KernelTable&, const NdView&, const std::int64_t*, std::int64_t, const double*,
                              double, const LossSpec&, double*, const NdView*, int);
template void loss_rows<f16>(const KernelTable&, const NdView&, const std::int64_t*, std::int64_t, const double*,
                             double, const LossSpec&, double*, const NdView*, int);

}  // namespace logitcore_impl
