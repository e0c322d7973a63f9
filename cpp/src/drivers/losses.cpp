// Fused losses of p_y (γ-cross-entropy, generalized cross-entropy, focal loss): loss and
// logits gradient in two streaming passes per row (docs/math.md §3). Baseline target: the ISA code
// is reached only through the KernelTable (stats for the loss alone; stats_store and
// scale_store for loss and gradient, one exp per logit).
#include "drivers/losses.h"
#include "drivers/scaffold.h"

#include <math.h>

#include <algorithm>
#include <cstdint>
#include <limits>

namespace logitcore {
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
template <class T, class EF>
void refine_split(const KernelsT<T>& k, const BlockStats* bs, i64 nb, i64 n, RowState& st, EF&& e_of) {
  double rest = 0;
  const i64 jm = dominated_block(bs, nb, st, &rest);
  if (jm < 0) return;
  const Excess e = k.split_sum(e_of(jm), std::min(kBlock, n - jm * kBlock));
  st.u = rest + e.r + (e.ties - 1.0);
}

// log p_y from the row state and the target's logit.
double log_p_target(const RowState& st, double zy) {
  if (isnan(st.m) || isnan(st.s) || st.m == -kInf) return kNaN;  // NaN present, or no support
  if (st.m == kInf) return zy == kInf ? 0.0 - ::log(st.s) : -kInf;  // uniform over the +inf entries
  return (zy - st.m) - log_sum(st);
}

struct RowPrep {
  bool ignored;
  std::int64_t t;
  double ell;  // log p_y
  double m, s;
  double wrs;  // gradient factor: w_b · scale · rowscale
};

template <class T>
RowPrep prepare_row(const KernelsT<T>& k, const LossSpec& spec, const Row<const T>& x, i64 n, std::int64_t t,
                    std::int64_t ignore_index, double rs, double* loss, int inner_nt, Scratch<T>& scratch,
                    int tid) {
  if (t == ignore_index) {
    *loss = 0.0;
    return {true, t, 0.0, 0.0, 0.0, 0.0};
  }
  const double zy = static_cast<double>(x.p[t * x.stride]);
  // same block statistics as the gradient path (fused_row), so the loss does not depend on
  // whether the gradient is requested
  const i64 nb = (n + kBlock - 1) / kBlock;
  std::vector<BlockStats> parts(static_cast<size_t>(nb));
  parallel_for(nb, inner_nt, [&](i64 j, int tt) {
    const i64 off = j * kBlock, len = std::min(kBlock, n - off);
    const T* xp = gather<T>(x, off, len, scratch.x(inner_nt > 1 ? tt : tid));
    BlockStats b = k.stats_store(xp, len, nullptr);
    if (!(b.m - b.m == 0) && b.m != -kInf) b = special_block<T>(xp, nullptr, len);
    parts[static_cast<size_t>(j)] = b;
  });
  RowState st = fold_blocks(parts.data(), nb);
  refine_split<T>(k, parts.data(), nb, n, st, [&](i64 j) {
    const i64 off = j * kBlock, len = std::min(kBlock, n - off);
    T* e = scratch.e(tid);
    k.stats_store(gather<T>(x, off, len, scratch.x(tid)), len, e);
    return static_cast<const T*>(e);
  });
  const double ell = log_p_target(st, zy);
  const LossValue lv = loss_from_logp(spec, ell);
  *loss = lv.loss;
  return {false, t, ell, st.m, st.s, lv.w * rs};
}

// Loss and gradient of one row in two passes with ONE exp per logit: pass 1 stores
// e = exp(x - m_b) per block (into the gradient row itself when it is contiguous, which may be
// the logits: in-place) and returns the block states; after the fixed-order fold, pass 2
// scales each block by w * rowscale * exp(m_b - M) / S (a multiply, no exp).
template <class T>
void fused_row(const KernelsT<T>& k, const LossSpec& spec, const Row<const T>& x, const Row<T>& g, i64 n,
               std::int64_t t, std::int64_t ignore_index, double rs, double* loss, int inner_nt,
               Scratch<T>& scratch, int tid, BlockStats* bs, T* ebuf) {
  const i64 nb = (n + kBlock - 1) / kBlock;
  auto sub_tid = [&](int tt) { return inner_nt > 1 ? tt : tid; };
  if (t == ignore_index) {
    *loss = 0.0;
    parallel_for(nb, inner_nt, [&](i64 j, int) {
      const i64 off = j * kBlock, len = std::min(kBlock, n - off);
      for (i64 i = off; i < off + len; ++i) g.p[i * g.stride] = T(0);
    });
    return;
  }
  const double zy = static_cast<double>(x.p[t * x.stride]);  // read before the logits may be overwritten
  T* eb = g.stride == 1 ? g.p : ebuf;
  parallel_for(nb, inner_nt, [&](i64 j, int tt) {
    const i64 off = j * kBlock, len = std::min(kBlock, n - off);
    const T* xp = gather<T>(x, off, len, scratch.x(sub_tid(tt)));
    BlockStats b = k.stats_store(xp, len, eb + off);
    if (!(b.m - b.m == 0) && b.m != -kInf) b = special_block<T>(xp, nullptr, len);  // x left intact
    bs[j] = b;
  });
  RowState st = fold_blocks(bs, nb);
  refine_split<T>(k, bs, nb, n, st, [&](i64 j) { return static_cast<const T*>(eb + j * kBlock); });
  const double ell = log_p_target(st, zy);
  const LossValue lv = loss_from_logp(spec, ell);
  *loss = lv.loss;
  const double wrs = lv.w * rs;
  if (isnan(ell) || isnan(wrs) || st.m == kInf) {
    const bool nan = isnan(ell) || isnan(wrs);
    parallel_for(nb, inner_nt, [&](i64 j, int) {
      const i64 off = j * kBlock, len = std::min(kBlock, n - off);
      const bool intact = bs[j].m == kInf;  // blocks holding +inf were not overwritten
      for (i64 i = off; i < off + len; ++i) {
        double v = kNaN;
        if (!nan) {
          const double p = (intact && static_cast<double>(x.p[i * x.stride]) == kInf) ? 1.0 / st.s : 0.0;
          v = wrs * (p - (i == t ? 1.0 : 0.0));
        }
        g.p[i * g.stride] = static_cast<T>(v);
      }
    });
    return;
  }
  parallel_for(nb, inner_nt, [&](i64 j, int) {
    const i64 off = j * kBlock, len = std::min(kBlock, n - off);
    const double c = bs[j].m == -kInf ? 0.0 : wrs * ::exp(bs[j].m - st.m) / st.s;
    if (::fabs(c) <= static_cast<double>(std::numeric_limits<T>::max())) {
      k.scale_store(eb + off, len, static_cast<T>(c), eb + off, false);
    } else {  // a factor beyond T's range (huge class weights): each product in double
      for (i64 i = off; i < off + len; ++i) eb[i] = static_cast<T>(static_cast<double>(eb[i]) * c);
    }
    if (g.stride != 1) scatter<T>(eb + off, g, off, len);
  });
  // the target entry: w (p_y − 1) with p_y − 1 = expm1(ℓ), formed in double
  g.p[t * g.stride] = static_cast<T>(wrs * ::expm1(ell));
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

template <class T>
void xent_rows(const KernelTable& kt, const NdView& x, const std::int64_t* target, std::int64_t ignore_index,
               const double* rowscale, double scale, const LossSpec& spec, double* loss, const NdView* grad,
               int nthreads) {
  const KernelsT<T>& k = kern<T>(kt);
  const int bnd = x.ndim - 1;
  const i64 rows = batch_rows(x, bnd);
  const i64 n = x.shape[bnd];
  if (rows == 0) return;
  const i64 nb = (n + kBlock - 1) / kBlock;
  const Plan plan = make_plan(rows, n, nthreads);
  Scratch<T> scratch(plan.nt, any_strided(x) || (grad && any_strided(*grad)));
  auto prep = [&](i64 r, int tid, int inner_nt) {
    const Row<T> xr = row_of<T>(x, r);
    const double rs = scale * (rowscale ? rowscale[r] : 1.0);
    return prepare_row<T>(k, spec, Row<const T>{xr.p, xr.stride}, n, target[r], ignore_index, rs, loss + r,
                          inner_nt, scratch, tid);
  };
  auto cx = [&](i64 r) {
    const Row<T> xr = row_of<T>(x, r);
    return Row<const T>{xr.p, xr.stride};
  };
  const bool grad_strided = grad && any_strided(*grad);
  const int bufs = plan.split_rows ? 1 : plan.nt;
  std::vector<BlockStats> bsmem(grad ? static_cast<size_t>(bufs) * nb : 0);
  std::vector<T> emem(grad_strided ? static_cast<size_t>(bufs) * n : 0);
  if (plan.split_rows) {  // few long rows: both passes split over the blocks of each row
    for (i64 r = 0; r < rows; ++r) {
      if (!grad) {
        prep(r, 0, plan.nt);
        continue;
      }
      const double rs = scale * (rowscale ? rowscale[r] : 1.0);
      fused_row<T>(k, spec, cx(r), row_of<T>(*grad, r), n, target[r], ignore_index, rs, loss + r, plan.nt, scratch,
                   0, bsmem.data(), grad_strided ? emem.data() : nullptr);
    }
    return;
  }
  parallel_for(rows, plan.nt, [&](i64 r, int tid) {
    if (!grad) {
      prep(r, tid, 1);
      return;
    }
    const double rs = scale * (rowscale ? rowscale[r] : 1.0);
    fused_row<T>(k, spec, cx(r), row_of<T>(*grad, r), n, target[r], ignore_index, rs, loss + r, 1, scratch, tid,
                 bsmem.data() + static_cast<size_t>(tid) * nb,
                 grad_strided ? emem.data() + static_cast<size_t>(tid) * n : nullptr);
  });
}

template void xent_rows<float>(const KernelTable&, const NdView&, const std::int64_t*, std::int64_t, const double*,
                               double, const LossSpec&, double*, const NdView*, int);
template void xent_rows<double>(const KernelTable&, const NdView&, const std::int64_t*, std::int64_t,
                                const double*, double, const LossSpec&, double*, const NdView*, int);

}  // namespace logitcore
