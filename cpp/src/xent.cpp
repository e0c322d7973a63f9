// Fused losses of p_y (γ-cross-entropy, generalized cross-entropy, focal loss): loss and
// logits gradient in two streaming passes per row (SPEC §3). Baseline target: the ISA code
// is reached only through the KernelTable (stats for pass 1, exp_scale for pass 2).
#include "logitcore/xent.h"
#include "driver_common.h"

#include <math.h>

#include <algorithm>
#include <cstdint>

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
  const RowState st = row_state<T>(k, Mode::plain, x, Row<const T>{nullptr, 1}, n, inner_nt, scratch, tid);
  double ell;
  if (isnan(st.m) || isnan(st.s) || st.m == -kInf) ell = kNaN;  // NaN present, or no support
  else if (st.m == kInf) ell = zy == kInf ? 0.0 - ::log(st.s) : -kInf;  // uniform over the +inf entries
  else ell = zy - (st.m + ::log(st.s));
  const LossValue lv = loss_from_logp(spec, ell);
  *loss = lv.loss;
  return {false, t, ell, st.m, st.s, lv.w * rs};
}

// Gradient of one prepared row over its blocks [j0, j1).
template <class T>
void grad_write(const KernelsT<T>& k, const Row<const T>& x, const Row<T>& g, i64 n, const RowPrep& rp, i64 j0,
                i64 j1, T* xbuf, T* ybuf) {
  const i64 lo = j0 * kBlock, hi = std::min(n, j1 * kBlock);
  if (rp.ignored) {
    for (i64 i = lo; i < hi; ++i) g.p[i * g.stride] = T(0);
    return;
  }
  if (isnan(rp.ell) || isnan(rp.wrs) || rp.m == kInf) {
    const bool nan = isnan(rp.ell) || isnan(rp.wrs);
    for (i64 i = lo; i < hi; ++i) {
      double v = kNaN;
      if (!nan) {
        const double p = static_cast<double>(x.p[i * x.stride]) == kInf ? 1.0 / rp.s : 0.0;
        v = rp.wrs * (p - (i == rp.t ? 1.0 : 0.0));
      }
      g.p[i * g.stride] = static_cast<T>(v);
    }
    return;
  }
  const T shift = static_cast<T>(rp.m);  // exact: m is the largest entry
  const T sc = static_cast<T>(rp.wrs / rp.s);
  for (i64 j = j0; j < j1; ++j) {
    const i64 off = j * kBlock, len = std::min(kBlock, n - off);
    const T* xp = gather<T>(x, off, len, xbuf);
    T* yp = g.stride == 1 ? g.p + off : ybuf;
    k.exp_scale(xp, len, shift, sc, yp);
    if (g.stride != 1) scatter<T>(yp, g, off, len);
  }
  // the target entry: w (p_y − 1) with p_y − 1 = expm1(ℓ), formed in double
  if (rp.t >= lo && rp.t < hi) g.p[rp.t * g.stride] = static_cast<T>(rp.wrs * ::expm1(rp.ell));
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
  if (plan.split_rows) {  // few long rows: both passes split over the blocks of each row
    for (i64 r = 0; r < rows; ++r) {
      const RowPrep rp = prep(r, 0, plan.nt);
      if (!grad) continue;
      const Row<const T> xr = cx(r);
      const Row<T> gr = row_of<T>(*grad, r);
      parallel_for(nb, plan.nt, [&](i64 j, int tid) {
        grad_write<T>(k, xr, gr, n, rp, j, j + 1, scratch.x(tid), scratch.y(tid));
      });
    }
    return;
  }
  parallel_for(rows, plan.nt, [&](i64 r, int tid) {
    const RowPrep rp = prep(r, tid, 1);
    if (grad) grad_write<T>(k, cx(r), row_of<T>(*grad, r), n, rp, 0, nb, scratch.x(tid), scratch.y(tid));
  });
}

template void xent_rows<float>(const KernelTable&, const NdView&, const std::int64_t*, std::int64_t, const double*,
                               double, const LossSpec&, double*, const NdView*, int);
template void xent_rows<double>(const KernelTable&, const NdView&, const std::int64_t*, std::int64_t,
                                const double*, double, const LossSpec&, double*, const NdView*, int);

}  // namespace logitcore
