// The scaffold every driver stands on (baseline target only; never include from ISA files):
// strided rows, the block loop (blocks of kBlock entries, the unit of the bitwise contract),
// the threading choice (rows in parallel, or the blocks of each row), per-thread scratch, the
// row state and its fixed-order fold.
#pragma once

#include <math.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#ifdef LOGITCORE_HAVE_OPENMP
#include <omp.h>
#endif

#include "drivers/tuning.h"
#include "drivers/view.h"
#include "kernels/kernels.h"

namespace logitcore_impl {

// Online logsumexp state of one row: lse = m + log(s); t carries sum e^(x-m) (x-m).
// u, when not NaN, is s - 1 formed without cancellation (the terms other than one maximal
// entry, summed on their own): rows dominated by their maximum finish with m + log1p(u).
struct RowState {
  double m;
  double s;
  double t;
  double u = std::numeric_limits<double>::quiet_NaN();
};

// log(s) of a finished row state, through log1p(u) when u is known.
inline double log_sum(const RowState& st) { return st.u == st.u ? ::log1p(st.u) : ::log(st.s); }

// Merge b into a (docs/math.md §1: equal maxima add directly, a side at -inf contributes 0,
// +inf entries count as exp(0) = 1 relative to an infinite maximum, NaN propagates).
void merge_state(RowState& a, const RowState& b);

namespace detail {


using i64 = std::int64_t;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

template <class T> const KernelsT<T>& kern(const KernelTable& k);
template <> inline const KernelsT<float>& kern<float>(const KernelTable& k) { return k.f32; }
template <> inline const KernelsT<double>& kern<double>(const KernelTable& k) { return k.f64; }

inline bool in_parallel_region() {
#ifdef LOGITCORE_HAVE_OPENMP
  return omp_in_parallel() != 0;
#else
  return false;
#endif
}

struct Plan {
  int nt;           // threads to use
  bool split_rows;  // parallelize over the blocks of each row instead of over rows
};

inline Plan make_plan(i64 rows, i64 n, int requested) {
  if (requested <= 1 || in_parallel_region() || rows * n < kMinParallelWork) return {1, false};
  if (rows >= 2 * static_cast<i64>(requested) || n < 8 * kBlock)
    return {static_cast<int>(std::min<i64>(requested, rows)), false};
  return {requested, true};
}

// Run fn(i, tid) for i in [0, count) on nt threads (static schedule).
template <class F>
void parallel_for(i64 count, int nt, F&& fn) {
#ifdef LOGITCORE_HAVE_OPENMP
  if (nt > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (i64 i = 0; i < count; ++i) fn(i, omp_get_thread_num());
    return;
  }
#endif
  (void)nt;
  for (i64 i = 0; i < count; ++i) fn(i, 0);
}

// Run fn(begin, end, tid) once per thread over a static partition of [0, count).
template <class F>
void parallel_ranges(i64 count, int nt, F&& fn) {
#ifdef LOGITCORE_HAVE_OPENMP
  if (nt > 1) {
#pragma omp parallel num_threads(nt)
    {
      const int tid = omp_get_thread_num(), used = omp_get_num_threads();
      const i64 per = count / used, extra = count % used;
      const i64 begin = tid * per + std::min<i64>(tid, extra);
      const i64 end = begin + per + (tid < extra ? 1 : 0);
      fn(begin, end, tid);
    }
    return;
  }
#endif
  (void)nt;
  fn(0, count, 0);
}

// ---- the block loop and the threading choice, written once ----

inline i64 num_blocks(i64 n) { return (n + kBlock - 1) / kBlock; }

// Block j of a row of n entries: entries [off, off + len).
struct BlockRange {
  i64 off, len;
};
inline BlockRange block_range(i64 j, i64 n) {
  const i64 off = j * kBlock;
  return {off, std::min(kBlock, n - off)};
}

// fn(j, off, len, tid) for every block j of a row of n entries, on nt threads (nt = 1: in
// block order on the calling row's thread `row_tid`); tid indexes the per-thread scratch.
template <class F>
void for_blocks(i64 n, int nt, int row_tid, F&& fn) {
  parallel_for(num_blocks(n), nt, [&](i64 j, int t) {
    const BlockRange b = block_range(j, n);
    fn(j, b.off, b.len, nt > 1 ? t : row_tid);
  });
}

// fn(r, tid, inner_nt) for every row r: rows in parallel (inner_nt = 1), or, for few long
// rows (plan.split_rows), rows in order with each row's blocks split over inner_nt threads.
template <class F>
void for_rows(const Plan& plan, i64 rows, F&& fn) {
  if (plan.split_rows) {
    for (i64 r = 0; r < rows; ++r) fn(r, 0, plan.nt);
  } else {
    parallel_for(rows, plan.nt, [&](i64 r, int tid) { fn(r, tid, 1); });
  }
}

inline i64 batch_rows(const NdView& v, int batch_nd) {
  i64 r = 1;
  for (int d = 0; d < batch_nd; ++d) r *= v.shape[d];
  return r;
}

// Offset of batch row r (r < the product of the batch extents): the outermost extent needs
// no division, so a (rows, n) view costs one multiply per row.
inline i64 row_offset(const NdView& v, int batch_nd, i64 r) {
  if (batch_nd == 0) return 0;
  i64 off = 0;
  for (int d = batch_nd - 1; d > 0; --d) {
    const i64 len = v.shape[d];
    off += (r % len) * v.strides[d];
    r /= len;
  }
  return off + r * v.strides[0];
}

// One row of an NdView whose last axis is the row.
template <class T>
struct Row {
  T* p;
  i64 stride;
};

template <class T>
Row<T> row_of(const NdView& v, i64 r) {
  const int bnd = v.ndim - 1;
  return {static_cast<T*>(v.data) + row_offset(v, bnd, r), v.strides[v.ndim - 1]};
}

// Contiguous view of elements [off, off+len) of a row: the row itself or a gathered copy.
template <class T>
const T* gather(const Row<const T>& row, i64 off, i64 len, T* buf) {
  if (row.stride == 1) return row.p + off;
  const T* src = row.p + off * row.stride;
  for (i64 i = 0; i < len; ++i) buf[i] = src[i * row.stride];
  return buf;
}

template <class T>
void scatter(const T* buf, const Row<T>& row, i64 off, i64 len) {
  T* dst = row.p + off * row.stride;
  for (i64 i = 0; i < len; ++i) dst[i * row.stride] = buf[i];
}

// Per-thread scratch: three blocks (x, b, y) per thread, and a list of block states.
template <class T>
struct Scratch {
  std::vector<T> mem;
  std::vector<std::vector<BlockStats>> parts;
  std::vector<std::vector<T>> ebuf;  // a block of e = exp(x - m), sized when first needed
  Scratch(int nt, bool needed)
      : mem(needed ? static_cast<size_t>(nt) * 3 * kBlock : 0),
        parts(static_cast<size_t>(nt)),
        ebuf(static_cast<size_t>(nt)) {}
  T* e(int tid) {
    std::vector<T>& v = ebuf[static_cast<size_t>(tid)];
    if (v.empty()) v.resize(static_cast<size_t>(kBlock));
    return v.data();
  }
  T* x(int tid) { return mem.empty() ? nullptr : mem.data() + static_cast<size_t>(tid) * 3 * kBlock; }
  T* b(int tid) { return mem.empty() ? nullptr : x(tid) + kBlock; }
  T* y(int tid) { return mem.empty() ? nullptr : x(tid) + 2 * kBlock; }
};

// plain: fast log2-domain sums (lse within 1e-7 relative); entropy: exact terms plus the entropy
// sum; exact: exact terms (every e_i within an ulp, the maximum's term exactly 1); weighted.
enum class Mode { plain, entropy, exact, weighted };

// Exact statistics of a block whose maximum is not finite (or, weighted, is -inf).
template <class T>
BlockStats special_block(const T* x, const T* b, i64 n) {
  bool nan = false;
  double m = -kInf;
  for (i64 i = 0; i < n; ++i) {
    const double bi = b ? static_cast<double>(b[i]) : 1.0;
    if (bi == 0) continue;  // zero weight removes the entry, whatever its value
    const double xi = static_cast<double>(x[i]);
    if (isnan(xi) || isnan(bi)) nan = true;
    else if (xi > m) m = xi;
  }
  if (nan) return {kNaN, kNaN, kNaN};
  double s = 0;
  bool pos = false, neg = false;
  for (i64 i = 0; i < n; ++i) {
    const double bi = b ? static_cast<double>(b[i]) : 1.0;
    if (bi == 0) continue;
    const double xi = static_cast<double>(x[i]);
    if (m == kInf) {
      // relative to an infinite maximum, exp(inf - inf) counts as 1 and finite entries as 0
      if (xi == kInf) {
        s += bi;
        (bi > 0 ? pos : neg) = true;
      }
    } else {
      if (m != -kInf) s += bi * ::exp(xi - m);
    }
  }
  if (m == -kInf) return {-kInf, 0.0, 0.0};  // no entry contributes
  if (pos && neg) return {kInf, kNaN, kNaN};  // inf - inf
  return {m, s, 0.0};
}

// A weighted block in log space: each term is sign(b) exp(L) with L = (x - mx) + log|b|
// (extended precision), relative to the largest x with a nonzero weight, mx, so that log|b|
// is not absorbed by a huge |x|; the block state is (mx + max L, sum sign(b) exp(L - max L)),
// so no finite weight overflows or underflows the sum. 0 * (+-inf) (x = -inf with an infinite
// weight) and NaN give NaN; infinite terms (x = +inf, or an infinite weight on x > -inf)
// count sign(b) relative to an infinite maximum (NaN when both signs occur), like +inf
// entries of unit weight.
template <class T>
BlockStats weighted_log_block(const T* x, const T* b, i64 n) {
  using LD = long double;
  const LD inf = std::numeric_limits<LD>::infinity();
  bool nan = false;
  LD mx = -inf;
  for (i64 i = 0; i < n; ++i) {
    const LD bi = static_cast<LD>(b[i]), xi = static_cast<LD>(x[i]);
    if (bi == 0) continue;  // zero weight removes the entry, whatever its value
    if (xi != xi || bi != bi || (xi == -inf && ::fabsl(bi) == inf)) nan = true;
    else if (xi > mx) mx = xi;
  }
  if (nan) return {kNaN, kNaN, kNaN};
  if (mx == -inf) return {-kInf, 0.0, 0.0};
  // infinite terms: x = +inf, or an infinite weight on a finite entry
  double cnt = 0;
  bool pos = false, neg = false;
  for (i64 i = 0; i < n; ++i) {
    const LD bi = static_cast<LD>(b[i]), xi = static_cast<LD>(x[i]);
    if (bi == 0 || xi == -inf || !(xi == inf || ::fabsl(bi) == inf)) continue;
    cnt += bi > 0 ? 1.0 : -1.0;
    (bi > 0 ? pos : neg) = true;
  }
  if (pos && neg) return {kInf, kNaN, kNaN};
  if (pos || neg) return {kInf, cnt, 0.0};
  LD K = -inf;
  for (i64 i = 0; i < n; ++i) {
    const LD bi = static_cast<LD>(b[i]);
    if (bi == 0) continue;
    const LD L = (static_cast<LD>(x[i]) - mx) + ::logl(::fabsl(bi));
    if (L > K) K = L;
  }
  LD s = 0;
  for (i64 i = 0; i < n; ++i) {
    const LD bi = static_cast<LD>(b[i]);
    if (bi == 0) continue;
    const LD e = ::expl((static_cast<LD>(x[i]) - mx) + ::logl(::fabsl(bi)) - K);
    s += bi > 0 ? e : -e;
  }
  // the state's maximum mx + K, rounded to double, and s relative to exactly that value;
  // when |mx| is so large that K is below its resolution (shift > 512 needs |m| > 2^62),
  // m + log s rounds to m either way and the shift is left out (it could overflow s)
  const double m = static_cast<double>(mx + K);
  const LD shift = (mx - static_cast<LD>(m)) + K;  // (mx + K) - m, without absorbing K
  return {m, static_cast<double>(::fabsl(shift) > 512 ? s : s * ::expl(shift)), 0.0};
}

template <class T>
BlockStats block_stats(const KernelsT<T>& k, Mode mode, const T* x, const T* b, i64 n) {
  BlockStats st;
  switch (mode) {
    case Mode::plain: st = k.stats(x, n); break;
    case Mode::entropy: st = k.stats_entropy(x, n); break;
    case Mode::exact: st = k.stats_exact(x, n); break;
    default: st = k.stats_w(x, b, n); break;
  }
  // Kernels may skip NaN in their running maximum; a NaN anywhere shows up either as a
  // non-finite m or s, or hides behind m == -inf. Such blocks (rare) are redone exactly.
  // Weighted blocks come back this way also for weights outside the range the kernel sums
  // directly; they are redone in log space.
  if (!(st.m - st.m == 0) || !(st.s - st.s == 0) || !(st.t - st.t == 0))
    st = mode == Mode::weighted ? weighted_log_block<T>(x, b, n) : special_block<T>(x, nullptr, n);
  return st;
}

template <class T>
BlockStats row_block(const KernelsT<T>& k, Mode mode, const Row<const T>& x, const Row<const T>& b,
                     i64 off, i64 len, T* xbuf, T* bbuf) {
  const T* xp = gather<T>(x, off, len, xbuf);
  const T* bp = mode == Mode::weighted ? gather<T>(b, off, len, bbuf) : nullptr;
  return block_stats<T>(k, mode, xp, bp, len);
}

// The fold of block states in block order.
inline RowState fold_blocks(const BlockStats* parts, i64 nb) {
  RowState st{-kInf, 0.0, 0.0};
  for (i64 j = 0; j < nb; ++j) merge_state(st, RowState{parts[j].m, parts[j].s, parts[j].t});
  return st;
}

// Rows dominated by their maximum (s < 2: the other terms add up to less than the maximum's
// term of exactly 1) lose those terms in s = 1 + r. Recover r on its own: the blocks without
// the maximum contribute s_j exp(m_j - m) (no maximal term among them: s < 2 means the
// maximum lies in one block only); the block holding it is re-read by the excess kernel
// (`block(j)` returns its contiguous data): one block of extra work, for such rows only.
// Sets st.u = r + ties - 1; leaves other rows alone.
// The block holding the maximum of a dominated row (-1 if the row is not dominated: s >= 2,
// or no finite maximum) and the other blocks' terms, sum s_j exp(m_j - m), in *rest.
inline i64 dominated_block(const BlockStats* parts, i64 nb, const RowState& st, double* rest) {
  if (!(st.m - st.m == 0) || !(st.s < 2.0)) return -1;
  i64 jm = -1;
  double r = 0;
  for (i64 j = 0; j < nb; ++j) {
    if (parts[j].m == st.m && jm < 0) jm = j;
    else if (parts[j].m != -kInf) r += parts[j].s * ::exp(parts[j].m - st.m);
  }
  *rest = r;
  return jm;
}

template <class T, class BlockF>
void refine_dominated(const KernelsT<T>& k, const BlockStats* parts, i64 nb, RowState& st, i64 n, BlockF&& block) {
  double rest = 0;
  const i64 jm = dominated_block(parts, nb, st, &rest);
  if (jm < 0) return;
  const Excess e = k.excess(block(jm), block_range(jm, n).len, static_cast<T>(st.m));
  st.u = rest + e.r + (e.ties - 1.0);
}

// A row's state: blocks of kBlock elements folded left to right, computed either in order
// on one thread or in parallel into an array and then folded in the same order. Unweighted
// rows dominated by their maximum also get u (see refine_dominated).
template <class T>
RowState row_state(const KernelsT<T>& k, Mode mode, const Row<const T>& x, const Row<const T>& b, i64 n,
                   int nt, Scratch<T>& scratch, int tid) {
  const i64 nb = num_blocks(n);
  auto block_of = [&](i64 j) {
    const BlockRange br = block_range(j, n);
    return gather<T>(x, br.off, br.len, scratch.x(tid));
  };
  if (nb == 1) {  // one block: its state is the row's (the fold of one state is itself)
    const BlockStats bs = row_block<T>(k, mode, x, b, 0, n, scratch.x(tid), scratch.b(tid));
    RowState st{bs.m, bs.s, bs.t};
    if (mode != Mode::weighted) refine_dominated<T>(k, &bs, 1, st, n, block_of);
    return st;
  }
  std::vector<BlockStats>& parts = scratch.parts[static_cast<size_t>(tid)];
  parts.resize(static_cast<size_t>(nb));
  for_blocks(n, nt, tid, [&](i64 j, i64 off, i64 len, int t) {
    parts[static_cast<size_t>(j)] = row_block<T>(k, mode, x, b, off, len, scratch.x(t), scratch.b(t));
  });
  RowState st = fold_blocks(parts.data(), nb);
  if (mode != Mode::weighted) refine_dominated<T>(k, parts.data(), nb, st, n, block_of);
  return st;
}

inline bool any_strided(const NdView& v) { return v.ndim > 0 && v.strides[v.ndim - 1] != 1; }

// Evaluate fn(r, row_state) for every row of x (and b), threading per the plan.
template <class T, class F>
void for_each_row_state(const KernelTable& kt, Mode mode, const NdView& x, const NdView* b, int nthreads,
                        F&& fn) {
  const KernelsT<T>& k = kern<T>(kt);
  const int bnd = x.ndim - 1;
  const i64 rows = batch_rows(x, bnd);
  const i64 n = x.shape[x.ndim - 1];
  if (rows == 0) return;
  const Plan plan = make_plan(rows, n, nthreads);
  Scratch<T> scratch(plan.nt, any_strided(x) || (b && any_strided(*b)));
  for_rows(plan, rows, [&](i64 r, int tid, int inner_nt) {
    const Row<T> xr = row_of<T>(x, r);
    Row<T> br{nullptr, 1};
    if (b) br = row_of<T>(*b, r);
    const RowState st = row_state<T>(k, mode, Row<const T>{xr.p, xr.stride}, Row<const T>{br.p, br.stride}, n,
                                     inner_nt, scratch, tid);
    fn(r, st);
  });
}

template <class T>
T* out_at(const NdView& out, i64 r) {
  return static_cast<T*>(out.data) + row_offset(out, out.ndim, r);
}


}  // namespace detail
}  // namespace logitcore_impl
