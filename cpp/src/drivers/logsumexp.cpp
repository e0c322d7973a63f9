// Portable drivers (baseline target): row iteration over strided N-d arrays, threading,
// the fixed block-merge order and exact special-value rules. ISA code is reached only
// through the KernelTable's function pointers.
#include "drivers/drivers.h"
#include "drivers/scaffold.h"

#include <math.h>

#include <cmath>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#ifdef LOGITCORE_HAVE_OPENMP
#include <omp.h>
#endif

namespace logitcore_impl {
using namespace detail;
namespace {

double finalize_lse(const RowState& st, double* sign) {
  if (sign) {
    const double s = st.s;
    *sign = s > 0 ? 1.0 : (s < 0 ? -1.0 : (s == 0 ? 0.0 : kNaN));
    if (isnan(st.m)) *sign = kNaN;
    return st.m + (s > 0 ? log_sum(st) : ::log(::fabs(s)));
  }
  if (st.s < 0) return kNaN;
  return st.m + log_sum(st);
}

}  // namespace

void merge_state(RowState& a, const RowState& b) {
  if (isnan(a.m)) return;
  if (isnan(b.m)) {
    a = RowState{kNaN, kNaN, kNaN};
    return;
  }
  if (b.m == a.m) {  // also both -inf (0 + 0) and both +inf (counts add)
    if (a.m == kInf && ((a.s > 0 && b.s < 0) || (a.s < 0 && b.s > 0))) {
      a = RowState{kInf, kNaN, kNaN};  // +inf terms of both signs: inf - inf
      return;
    }
    a.s += b.s;
    a.t += b.t;
    return;
  }
  // the side with the smaller maximum is rescaled by f = exp(d), d < 0
  const bool b_larger = b.m > a.m;
  const RowState& lo = b_larger ? a : b;
  const RowState& hi = b_larger ? b : a;
  const double d = lo.m - hi.m;
  const double f = ::exp(d);
  double s_lo, t_lo;
  if (f == 0) {  // contributes nothing, except a NaN
    s_lo = isnan(lo.s) ? kNaN : 0.0;
    t_lo = isnan(lo.t) ? kNaN : 0.0;
  } else {
    s_lo = f * lo.s;
    t_lo = f * (lo.t + d * lo.s);
  }
  a = RowState{hi.m, hi.s + s_lo, hi.t + t_lo};
}

void merge_excess_arrays(i64 n, double* m, double* u, const double* m2, const double* u2) {
  for (i64 i = 0; i < n; ++i) {
    const double ma = m[i], mb = m2[i], ua = u[i], ub = u2[i];
    if (isnan(ma)) continue;
    if (isnan(mb)) {
      m[i] = u[i] = kNaN;
      continue;
    }
    if (ma == mb) {  // s = (1 + ua) + (1 + ub); also both -inf (u = -1) and both +inf (counts)
      u[i] = ua + ub + 1.0;
      continue;
    }
    const bool b_larger = mb > ma;
    const double hi_m = b_larger ? mb : ma, hi_u = b_larger ? ub : ua;
    const double lo_m = b_larger ? ma : mb, lo_u = b_larger ? ua : ub;
    const double f = ::exp(lo_m - hi_m);
    double add = 0.0;
    if (isnan(lo_u)) add = kNaN;
    else if (f != 0) add = f * (1.0 + lo_u);
    m[i] = hi_m;
    u[i] = hi_u + add;
  }
}

// Half-precision storage S writes its per-row results in float32 (T = compute_t<S>).
template <class S>
void lse_rows(const KernelTable& kt, const NdView& x, const NdView* b, const NdView& out, const NdView* sign_out,
              int nthreads) {
  using T = compute_t<S>;
  for_each_row_state<S>(kt, b ? Mode::weighted : Mode::plain, x, b, nthreads, [&](i64 r, const RowState& st) {
    double sign = 0;
    const double v = finalize_lse(st, sign_out ? &sign : nullptr);
    *out_at<T>(out, r) = static_cast<T>(v);
    if (sign_out) *out_at<T>(*sign_out, r) = static_cast<T>(sign);
  });
}

template <class S>
void state_rows(const KernelTable& kt, const NdView& x, double* m, double* u, int nthreads) {
  for_each_row_state<S>(kt, Mode::plain, x, nullptr, nthreads, [&](i64 r, const RowState& st) {
    m[r] = st.m;
    u[r] = st.u == st.u ? st.u : st.s - 1.0;
  });
}

template <class S>
void softmax_entropy_rows(const KernelTable& kt, const NdView& x, const NdView& out, int nthreads) {
  using T = compute_t<S>;
  for_each_row_state<S>(kt, Mode::entropy, x, nullptr, nthreads, [&](i64 r, const RowState& st) {
    double h;
    if (isnan(st.m) || isnan(st.s) || isnan(st.t)) h = kNaN;
    else if (st.m == -kInf) h = 0.0;  // no support: softmax is the zero vector
    else h = std::max(0.0, log_sum(st) - st.t / st.s);
    *out_at<T>(out, r) = static_cast<T>(h);
  });
}

namespace {

// Requests the lines of [p, p + bytes) for writing (PREFETCHW: a no-op on processors without it)
void prefetch_for_write(const char* p, i64 bytes) {
  for (i64 b = 0; b < bytes; b += 64) asm volatile("prefetchw %0" : : "m"(*(p + b)));
}

// Second softmax pass over block j of a row, given the row's state (stores rounded to S).
template <class S>
void softmax_write(const KernelsT<S>& k, const Row<const S>& x, const Row<S>& y, i64 n, const RowState& st,
                   bool log, i64 j, S* xbuf, S* ybuf, bool stream) {
  using T = compute_t<S>;
  const auto [off, len] = block_range(j, n);
  if (isnan(st.m) || isnan(st.s) || st.m == kInf || st.m == -kInf) {
    const double nan = kNaN;
    for (i64 i = off; i < off + len; ++i) {
      const double xi = static_cast<double>(x.p[i * x.stride]);
      double v;
      if (isnan(st.m) || isnan(st.s)) v = nan;
      else if (st.m == -kInf) v = log ? -kInf : 0.0;  // no support: zero probability everywhere
      else if (static_cast<double>(xi) == kInf) v = log ? -::log(st.s) : 1.0 / st.s;  // uniform on +inf
      else v = log ? -kInf : 0.0;
      y.p[i * y.stride] = to_storage<S>(v);
    }
    return;
  }
  const T m = static_cast<T>(st.m);
  // a row dominated by its maximum has s = 1 + u with u summed on its own (>= 0)
  const T scale = static_cast<T>(1.0 / (st.u == st.u ? 1.0 + st.u : st.s));
  const T logs = static_cast<T>(log_sum(st));
  const S* xp = gather<S>(x, off, len, xbuf);
  S* yp = y.stride == 1 ? y.p + off : ybuf;
  const bool nt = stream && y.stride == 1;  // a gathered output goes through the row buffer
  if (log) k.sub(xp, len, m, logs, yp, nt);
  else k.exp_scale(xp, len, m, scale, yp, nt);
  if (y.stride != 1) scatter<S>(yp, y, off, len);
}

}  // namespace

// Pass 1 is logsumexp's one-pass row state with each exponent formed from x - max (so log S
// is accurate relative to itself, not only to |lse|); pass 2 writes exp(x - M) / S or x - M - log S.
// S >= 1 and log S >= 0, so no probability exceeds 1 and no log-probability exceeds 0: a row
// whose sum is below 2 is dominated by its maximum and has S = 1 + u, u >= 0 summed on its
// own (refine_dominated); any other has S >= 2. Both writes are monotone in x, so the order of
// the entries is preserved.
// Rows whose output fits in about half an L2 (kCachedSoftmaxBytes) take the one-exp path
// (softmax_cached): e = exp(x - c) stored into the output with its sum S and the row maximum
// M, for c the maximum of the row's first block (one short scan), then an in-cache rescale by
// 1/S. Each e is within an ulp whatever c, so p = e / S has the accuracy it would have with
// c = M, and S >= 1 (the term of the entry at c is exactly 1), e <= S: no p exceeds 1. A row
// whose maximum exceeds c by more than kSoftmaxShiftSpread (a term could overflow), or whose
// entries above c would round x - c by more than u, redoes the pass with c = M (the maximum
// that pass found); a row whose first block has no finite maximum finds M by a max pass first. Longer rows re-read x instead of y (two exps). Half-precision rows keep e in a
// float32 row buffer (kf: the float32 kernels) and round once, in the rescale.
template <class S>
bool softmax_cached(const KernelsT<S>& k, const KernelsT<compute_t<S>>& kf, const Row<const S>& xr, const Row<S>& yr,
                    i64 n, int nt, Scratch<S>& scratch, int tid, std::vector<double>& parts,
                    std::vector<compute_t<S>>& rowbuf) {
  using T = compute_t<S>;
  constexpr bool half = is_half<S>::value;
  const i64 nb = num_blocks(n);
  const double ninf = -kInf;
  // (an output over the row's own entries, as in place, also goes through the row buffer:
  // x stays readable for a second pass)
  const i64 ybytes = n * static_cast<i64>(sizeof(T));
  const char* xlo = reinterpret_cast<const char*>(xr.stride >= 0 ? xr.p : xr.p + (n - 1) * xr.stride);
  const char* xhi = xlo + ((n - 1) * (xr.stride >= 0 ? xr.stride : -xr.stride) + 1) * static_cast<i64>(sizeof(S));
  const char* ylo = reinterpret_cast<const char*>(yr.p);
  const bool overlap = ylo < xhi && xlo < ylo + ybytes;
  T* y;
  const bool direct = !half && yr.stride == 1 && !overlap;
  if (direct) {
    y = reinterpret_cast<T*>(yr.p);  // S is T
  } else {
    rowbuf.resize(static_cast<size_t>(n));
    y = rowbuf.data();
  }
  // A short output row is requested for writing first: its lines arrive during the first
  // scan, instead of pass 1's stores missing and the rescale's loads waiting for them (AVX2,
  // (4096, 1024) float32: 7.9 -> 7.0 TSC ticks per 8 entries).
  if (direct && nt == 1 && ybytes <= kPrefetchOutputBytes)
    prefetch_for_write(reinterpret_cast<const char*>(yr.p), ybytes);
  // e = exp(x - c) into y (or, for a strided y, a row buffer); block sums folded in block order
  parts.assign(static_cast<size_t>(2 * nb), 0.0);
  auto exp_pass = [&](double c, bool with_max) {
    const T ct = static_cast<T>(c);  // a value of x: exact
    for_blocks(n, nt, tid, [&](i64 j, i64 off, i64 len, int t) {
      const BlockStats bs = k.exp_store_sum(gather<S>(xr, off, len, scratch.x(t)), len, ct, y + off, with_max);
      parts[static_cast<size_t>(2 * j)] = bs.s;
      parts[static_cast<size_t>(2 * j + 1)] = bs.m;
    });
    double s = 0, m = ninf;
    for (i64 j = 0; j < nb; ++j) {
      s += parts[static_cast<size_t>(2 * j)];
      m = std::max(m, parts[static_cast<size_t>(2 * j + 1)]);
    }
    return std::pair<double, double>(s, m);
  };
  const BlockRange b0 = block_range(0, n);
  const double c = k.max(gather<S>(xr, b0.off, b0.len, scratch.x(tid)), b0.len);
  double s = kNaN;
  double m = kNaN;       // the row maximum, when the shifted pass found it
  bool shifted = false;  // c below the row maximum
  if (c - c == 0) {
    // (a row of one block: c is its maximum)
    const auto [s1, m1] = exp_pass(c, nb > 1);
    // Entries above c: x - c exact (Sterbenz: c and every such x of one sign, within a
    // factor 2) or below 1 (rounded by at most u), so that the largest terms are as accurate
    // as with c = M; entries below c have x - c nearer 0 than x - M.
    const bool exact_above = c > 0 ? m1 <= 2 * c : c < 0 ? m1 <= 0.5 * c : true;
    if ((nb == 1 || (m1 - c <= kSoftmaxShiftSpread<T> && (exact_above || m1 - c <= 1))) && s1 - s1 == 0) {
      s = s1;
      shifted = nb > 1 && m1 > c;
    } else if (nb > 1) {
      m = m1;
    }
  }
  if (!(s - s == 0)) {
    // c = M: the maximum the shifted pass found, or else a max pass (+inf, a NaN maximum or
    // no finite entry: the exact path). Either maximum may miss a NaN entry: its term then
    // makes S NaN, and 1/S every output NaN, as a row with a NaN gives.
    if (!(m - m == 0)) {
      for_blocks(n, nt, tid, [&](i64 j, i64 off, i64 len, int t) {
        parts[static_cast<size_t>(j)] = k.max(gather<S>(xr, off, len, scratch.x(t)), len);
      });
      m = ninf;
      for (i64 j = 0; j < nb; ++j) {
        if (isnan(parts[static_cast<size_t>(j)])) return false;
        m = std::max(m, parts[static_cast<size_t>(j)]);
      }
      if (!(m - m == 0)) return false;
    }
    s = exp_pass(m, false).first;
  }
  // y /= S (S >= 1: the term of the entry at the shift is exactly 1). Shifted, the largest
  // term is not 1 and 1/S is rounded down, so that it times any term stays at most 1 (in
  // the portable kernels, whose lanes sum the unrounded terms, too).
  const double inv = 1.0 / s;
  T scale = static_cast<T>(inv);
  if (shifted && static_cast<double>(scale) > inv) scale = std::nextafter(scale, T(0));
  for_blocks(n, nt, tid, [&](i64, i64 off, i64 len, int) {
    if (direct) {
      kf.scale_store(y + off, len, scale, y + off, false);
    } else if (yr.stride == 1) {  // from the row buffer (in cache): plain stores
      k.scale_store(y + off, len, scale, yr.p + off, false);
    } else {
      kf.scale_store(y + off, len, scale, y + off, false);
      scatter_rounded<S>(y + off, yr, off, len);
    }
  });
  return true;
}

template <class S>
void softmax_rows(const KernelTable& kt, const NdView& x, const NdView& out, bool log, int nthreads) {
  using T = compute_t<S>;
  const KernelsT<S>& k = kern<S>(kt);
  const KernelsT<T>& kf = kern<T>(kt);
  const int bnd = x.ndim - 1;
  const i64 rows = batch_rows(x, bnd);
  const i64 n = x.shape[x.ndim - 1];
  if (rows == 0 || n == 0) return;
  const Plan plan = make_plan(rows, n, nthreads);
  Scratch<S> scratch(plan.nt, any_strided(x) || any_strided(out));
  // (the same choice for every storage type: half rows give float32's values, rounded)
  const bool cached = !log && n * static_cast<i64>(sizeof(T)) <= kCachedSoftmaxBytes;
  // Rows longer than the one-exp path's limit write their output in a last pass over lines
  // that are not cached: when the whole output exceeds the caches, non-temporal stores (no
  // read of each destination line before it is overwritten). Measured on the (1, 10^7)
  // float32 row: softmax 4.6 -> 3.8 ms, log_softmax 5.6 -> 3.7 ms with out=. Shorter rows
  // keep plain stores: streaming the rescale of y where it sits in L2 was 1.5x slower on
  // (64, 32000), and log_softmax's write of such rows gained nothing.
  const bool stream = static_cast<double>(rows) * static_cast<double>(n) * sizeof(S) >= kStreamBytes &&
                      n * static_cast<i64>(sizeof(T)) > kCachedSoftmaxBytes;
  std::vector<std::vector<double>> parts(static_cast<size_t>(plan.nt));
  std::vector<std::vector<T>> rowbufs(static_cast<size_t>(plan.nt));
  for_rows(plan, rows, [&](i64 r, int tid, int inner_nt) {
    const Row<S> xw = row_of<S>(x, r);
    const Row<const S> xr{xw.p, xw.stride};
    const Row<S> yr = row_of<S>(out, r);
    if (cached && softmax_cached<S>(k, kf, xr, yr, n, inner_nt, scratch, tid, parts[static_cast<size_t>(tid)],
                                    rowbufs[static_cast<size_t>(tid)]))
      return;
    const RowState st = row_state<S>(k, Mode::exact, xr, Row<const S>{nullptr, 1}, n, inner_nt, scratch, tid);
    for_blocks(n, inner_nt, tid, [&](i64 j, i64, i64, int t) {
      softmax_write<S>(k, xr, yr, n, st, log, j, scratch.x(t), scratch.y(t), stream);
    });
  });
}

template <class S>
void entropy_rows(const KernelTable& kt, const NdView& p, const NdView& out, int nthreads) {
  using T = compute_t<S>;
  const KernelsT<S>& k = kern<S>(kt);
  const int bnd = p.ndim - 1;
  const i64 rows = batch_rows(p, bnd);
  const i64 n = p.shape[p.ndim - 1];
  if (rows == 0) return;
  const Plan plan = make_plan(rows, n, nthreads);
  Scratch<S> scratch(plan.nt, any_strided(p));
  std::vector<std::vector<double>> parts(static_cast<size_t>(plan.nt));
  for_rows(plan, rows, [&](i64 r, int tid, int inner_nt) {
    const Row<S> pr = row_of<S>(p, r);
    const Row<const S> row{pr.p, pr.stride};
    std::vector<double>& part = parts[static_cast<size_t>(tid)];
    part.resize(static_cast<size_t>(num_blocks(n)));
    for_blocks(n, inner_nt, tid, [&](i64 j, i64 off, i64 len, int t) {
      part[static_cast<size_t>(j)] = k.plogp(gather<S>(row, off, len, scratch.x(t)), len);
    });
    double acc = 0;  // block sums in block order
    for (double v : part) acc += v;
    *out_at<T>(out, r) = static_cast<T>(0.0 - acc);
  });
}

template <class T>
void elementwise(const KernelTable& kt, Elementwise op, const T* x, i64 n, T* y) {
  const KernelsT<T>& k = kern<T>(kt);
  void (*f)(const T*, i64, T*) = nullptr;
  switch (op) {
    case Elementwise::exp: f = k.exp; break;
    case Elementwise::log: f = k.log; break;
    case Elementwise::exp2_core: f = k.exp2; break;
    case Elementwise::log2_core: f = k.log2; break;
  }
  for_blocks(n, 1, 0, [&](i64, i64 off, i64 len, int) { f(x + off, len, y + off); });
}

#define LOGITCORE_INSTANTIATE(T)                                                                              \
  template void lse_rows<T>(const KernelTable&, const NdView&, const NdView*, const NdView&, const NdView*, int); \
  template void state_rows<T>(const KernelTable&, const NdView&, double*, double*, int);                     \
  template void softmax_rows<T>(const KernelTable&, const NdView&, const NdView&, bool, int);               \
  template void softmax_entropy_rows<T>(const KernelTable&, const NdView&, const NdView&, int);             \
  template void entropy_rows<T>(const KernelTable&, const NdView&, const NdView&, int);

LOGITCORE_INSTANTIATE(float)
LOGITCORE_INSTANTIATE(double)
LOGITCORE_INSTANTIATE(bf16)
LOGITCORE_INSTANTIATE(f16)
template void elementwise<float>(const KernelTable&, Elementwise, const float*, i64, float*);
template void elementwise<double>(const KernelTable&, Elementwise, const double*, i64, double*);

}  // namespace logitcore_impl
