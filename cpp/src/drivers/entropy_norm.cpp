// Entropy normalization driver (baseline target).
//
// Per row:
//  A. a scan of every block (max, min, sum, support size; the input streams in from memory),
//     then prep, block by block, which writes the log-weights relative to the ROW maximum
//     (log2 units) into a scratch row and returns the block's moments at gamma = 1, 2 and 4
//     (sums of e, e^2 and e^4: one read of the input for three points). Relative to the row
//     maximum, equal entries get equal weights wherever they are and ties are exactly w == 0;
//  B. the block moments are summed in block order, giving H, H', H'' at the three points;
//  C. safeguarded Halley/Newton steps on the cumulative gamma (one moments pass each) inside
//     a bracket, from the best of the three; each pass keeps e = 2^(g w) so the final
//     q = e / s0 needs no exp;
//  D. q is written. On the row-parallel path the output of row r is written block by block
//     during the prep of row r + 1, so its memory traffic overlaps computation.
// Half-precision storage S (bfloat16, float16) is read by the scan and prep kernels, which
// widen it as they load it; everything after prep works on float32 scratch exactly as for
// float32 input, and q is rounded to S as it is stored (docs/math.md §1.5).
// Block results are always reduced in block order: the result does not depend on the number
// of threads.
#include "drivers/entropy_norm.h"

#include "drivers/scaffold.h"
#include "kernels/exp_constants.h"

#include <memory>
#include <type_traits>

namespace logitcore_impl {
using namespace detail;
namespace {

constexpr double kLn2 = expc::kLn2D;  // the log-weights are in log2 units

template <class T>
struct BlockInfo {
  PrepMoments pm;  // moments at gamma = 1 (and kPrepGamma) relative to the row maximum (log2)
  ScanStats sc;
};

// A row's scratch: log-weights, latest e = 2^(g w), per-block info.
template <class T>
struct RowBufs {
  T* w = nullptr;
  T* e = nullptr;
  bool usable = false;  // log-weights were formed (the row has a usable maximum)
  ScanStats sc{};       // the scans of all blocks combined (row_max)
  std::vector<BlockInfo<T>> blocks;
};

enum class OutMode { scaled_e, exp_w, uniform_support, uniform_ties, skip };

// What is needed to write a solved row's output, block by block.
template <class T>
struct OutPlan {
  OutMode mode = OutMode::skip;
  T g = 0, scale = 0, val = 0;
  bool stream = false;
  bool masked = false;  // exp_w below the masking gamma (see needs_mask)
};

// Entries outside the support hold w = kWMin, where the kernels' 2^(g w) is exactly 0 only while
// g kWMin is at or below the exp2 core's lower clamp (2^-160 / 2^-1100 round to 0), i.e. for
// g >= 1.6e-16 (float) / 1.1e-147 (double). A row whose support spans more than that in log2
// units (finite logits 1e16 apart next to -inf ones) can need a smaller gamma: its passes then
// zero the entries outside the support explicitly (a scalar loop; such rows are rare).
template <class T>
bool needs_mask(T g) {
  constexpr double kClamp = sizeof(T) == 4 ? -160.0 : -1100.0;
  return static_cast<double>(g) * static_cast<double>(kWMin<T>) > kClamp;
}

// e = 2^(g w) for w > kWMin, else 0, stored into e; the moments of w (log2 units) in double.
template <class T>
Moments masked_moments(const T* w, i64 n, T g, T* e) {
  Moments m{0.0, 0.0, 0.0, 0.0, 0.0};
  for (i64 i = 0; i < n; ++i) {
    const double wi = static_cast<double>(w[i]);
    const T ei = w[i] > kWMin<T> ? static_cast<T>(::exp2(static_cast<double>(g) * wi)) : T(0);
    if (e) e[i] = ei;
    const double ed = static_cast<double>(ei);
    m.s0 += ed;
    m.s1 += ed * wi;
    m.s2 += ed * wi * wi;
    m.s3 += ed * wi * wi * wi;
  }
  return m;
}

struct SearchResult {
  double gamma, s0, h;
  int iters;
  bool converged;
  bool have_e;  // the e buffer holds 2^(gamma w) of this gamma (false: it came from prep)
};

// A point where the moments are known: gamma and the moments (nats).
struct Point {
  double g;
  Moments m;
};

// a += b over the power sums (block partial sums are folded in block order with this)
void add_sums(Moments& a, const Moments& b) {
  a.s0 += b.s0;
  a.s1 += b.s1;
  a.s2 += b.s2;
  a.s3 += b.s3;
}

double entropy_of(double g, const Moments& m) { return ::log(m.s0) - g * (m.s1 / m.s0); }

// Moments (log2 units) summed in block order and converted to nats.
Moments to_nats(Moments acc) {
  acc.s1 *= kLn2;
  acc.s2 *= kLn2 * kLn2;
  acc.s3 *= kLn2 * kLn2 * kLn2;
  return acc;
}

// Safeguarded root search for H(g) = t, H decreasing in g, from the moments at g = 1.
// A bracket [lo, hi] (lo = 0, hi = inf at first) shrinks at every step. The step is Halley's
// (Newton's if Halley's leaves the bracket); when neither lies inside the bracket, or the
// last step failed to halve |f| (flat stretches of H, where H' ~ 0 and the local model is
// useless), the next point bisects the bracket geometrically (in log gamma: the root may lie
// anywhere from 1e-10 to 1e10), so the search always converges or reports that it did not.
// gamma is kept representable in T, so H is evaluated at exactly the gamma the kernels use.
template <class T, class EvalF>
SearchResult search(double t, double tol, int max_iter, const Point* pts, int npts, EvalF&& eval) {
  double lo = 0.0, hi = kInf;
  // start from the known point closest to the root (in |f|), the bracket from all of them
  int best = -1;
  double best_f = kInf;
  for (int i = 0; i < npts; ++i) {
    const double f = entropy_of(pts[i].g, pts[i].m) - t;
    if (isnan(f)) continue;
    if (f > 0) lo = std::max(lo, pts[i].g);
    else hi = std::min(hi, pts[i].g);
    if (best < 0 || ::fabs(f) < ::fabs(best_f) || (::fabs(f) == ::fabs(best_f) && pts[i].g < pts[best].g)) {
      best = i;
      best_f = f;
    }
  }
  if (best < 0) best = 0;  // every point NaN: reported below
  double g = pts[best].g;
  Moments m = pts[best].m;
  bool have_e = false;
  double f_prev = kInf;
  double grow = 16.0;  // factor of the next growing step of an unbounded bracket
  int it = 1;
  // the point closest to the target so far: what an unconverged search returns
  SearchResult closest{g, m.s0, kNaN, 0, false, false};
  double closest_f = kInf;
  for (;;) {
    const double h = entropy_of(g, m);
    const double f = h - t;
    if (::fabs(f) < closest_f) {
      closest = {g, m.s0, h, it, false, have_e};
      closest_f = ::fabs(f);
    }
    auto unconverged = [&] {
      SearchResult r = closest;
      r.iters = it;
      r.have_e = closest.gamma == g && have_e;  // the e buffer holds the last point's weights
      return r;
    };
    if (isnan(f)) return closest_f < kInf ? unconverged() : SearchResult{g, m.s0, h, it, false, have_e};
    if (::fabs(f) <= tol) return {g, m.s0, h, it, true, have_e};
    if (it >= max_iter) return unconverged();
    if (f > 0) lo = std::max(lo, g);
    else hi = std::min(hi, g);
    double next = kNaN;
    if (::fabs(f) <= 0.5 * ::fabs(f_prev)) {
      const double e1 = m.s1 / m.s0, e2 = m.s2 / m.s0, e3 = m.s3 / m.s0;
      const double var = std::max(0.0, e2 - e1 * e1);
      const double d1 = -g * var;                                 // dH/dg
      const double m3 = e3 - 3.0 * e1 * e2 + 2.0 * e1 * e1 * e1;  // third central moment
      const double d2 = -var - g * m3;                            // d2H/dg2
      if (d1 < 0) {
        const double den = 2.0 * d1 * d1 - f * d2;
        if (den != 0) next = g - 2.0 * f * d1 / den;  // Halley
        if (!(next > lo && next < hi)) next = g - f / d1;  // Newton
      }
    }
    // a step that leaves T's range (a tiny variance: logits a hair apart, whose root lies
    // beyond 1e20) falls back to the bracket as well
    const double tmax = static_cast<double>(std::numeric_limits<T>::max());
    if (!(next > lo && next < hi && next <= tmax)) {
      if (hi == kInf) {
        // growing: by 16, and by 16^2, 16^4, ... while the steps keep failing, so that a root
        // at 1e150 is bracketed in a few passes; capped at T's largest finite value
        next = std::min(tmax, grow * std::max(g, lo));
        grow = std::min(grow * grow, 1e30);
      } else if (lo == 0.0) {
        next = hi / 16.0;
      } else if (hi > 4.0 * lo) {
        next = ::sqrt(lo * hi);
      } else {
        next = 0.5 * (lo + hi);
      }
    } else {
      grow = 16.0;
    }
    next = static_cast<double>(static_cast<T>(next));
    if (!(next > lo && next < hi) || !(next > 0 && next < kInf))
      return unconverged();  // bracket exhausted at the dtype's resolution
    f_prev = f;
    g = next;
    m = eval(g);
    have_e = true;
    ++it;
  }
}

template <class S>
class RowSolver {
 public:
  using T = compute_t<S>;
  RowSolver(const KernelsT<S>& k, i64 n, const EnOptions& opt, const EnInfo& info, bool stream)
      : k_(k), n_(n), nb_(num_blocks(n)), opt_(opt), info_(info), stream_(stream) {}

  i64 nblocks() const { return nb_; }

  // Pass A1 for block j: scan (x block already contiguous).
  void scan_block(const S* xb, i64 j, RowBufs<T>& B) const {
    const auto [off, len] = block_range(j, n_);
    ScanStats sc = k_.scan(xb, len, opt_.logits ? -std::numeric_limits<T>::infinity() : T(0));
    if (isnan(sc.sum)) {  // a NaN entry, or partial sums of huge entries overflowing: count NaN
      double nan = 0;
      for (i64 i = 0; i < len; ++i) {
        const T v = static_cast<T>(xb[i]);
        nan += v != v ? 1.0 : 0.0;
      }
      sc.nan = nan;
    }
    B.blocks[static_cast<size_t>(j)].sc = sc;
  }

  // Combines the scans of all blocks into B.sc (its max is NaN if any block holds a NaN) and
  // returns the row maximum the log-weights are formed against, with whether they can be
  // formed (positive and finite for probabilities, finite for logits; also kept in B).
  std::pair<T, bool> row_max(RowBufs<T>& B) const {
    ScanStats sc{-kInf, kInf, 0.0, 0.0};
    bool nan = false;
    for (const BlockInfo<T>& bi : B.blocks) {
      if (isnan(bi.sc.max) || bi.sc.nan > 0) nan = true;
      else sc.max = std::max(sc.max, bi.sc.max);
      sc.min = std::min(sc.min, bi.sc.min);
      sc.sum += bi.sc.sum;
      sc.count += bi.sc.count;
    }
    const double mx = sc.max;
    B.usable = !nan && (opt_.logits ? (mx > -kInf && mx < kInf) : (mx > 0 && mx < kInf));
    if (nan) sc.max = kNaN;
    B.sc = sc;
    return {static_cast<T>(B.usable ? mx : 1.0), B.usable};
  }

  // Pass A2 for block j: log-weights relative to the ROW maximum (so equal entries get equal
  // weights in every block and ties are exactly w == 0) and the block's moments at
  // gamma = 1, 2, 4.
  void prep_block(const S* xb, i64 j, std::pair<T, bool> ref, RowBufs<T>& B) const {
    const auto [off, len] = block_range(j, n_);
    BlockInfo<T>& bi = B.blocks[static_cast<size_t>(j)];
    if (ref.second) {
      bi.pm = k_.prep(xb, len, opt_.logits, ref.first, B.w + off);
    } else {
      bi.pm = PrepMoments{};
      for (i64 i = 0; i < len; ++i) B.w[off + i] = kWMin<T>;
    }
  }

  // Steps B and C for row r (after every block went through prep_block). Returns the plan
  // for writing the output; fills the row's info. `pass` runs fn(j) over all blocks and
  // returns the per-block moments in block order.
  template <class PassF>
  OutPlan<T> solve(i64 r, double t, RowBufs<T>& B, PassF&& pass) const {
    OutPlan<T> plan;
    plan.stream = stream_;
    const ScanStats& sc = B.sc;  // the scans combined by row_max
    auto fail = [&](EnStatus s) {
      info_.status[r] = s;
      info_.gamma[r] = kNaN;
      info_.n_iter[r] = 0;
      info_.converged[r] = 0;
      info_.clipped[r] = 0;
      info_.h_min[r] = kNaN;
      info_.h_max[r] = kNaN;
      info_.entropy[r] = kNaN;
      plan.mode = OutMode::skip;  // a failed row is not written
      return plan;
    };
    if (sc.max == kInf || isnan(sc.max) || (!opt_.logits && (sc.min < 0 || isnan(sc.sum)))) return fail(kEnInvalid);
    if (sc.count == 0) return fail(kEnNoSupport);
    if (!opt_.logits && opt_.check_sum && !(::fabs(sc.sum - 1.0) <= opt_.sum_tol)) return fail(kEnBadSum);
    if (!B.usable) return fail(kEnNoSupport);
    // moments at gamma = 1 and at the kPrepGamma points, summed in block order (every block's
    // log-weights are relative to the row maximum already)
    Point pts[1 + kPrepExtra];
    for (int p = 0; p <= kPrepExtra; ++p) pts[p] = Point{p == 0 ? 1.0 : kPrepGamma[p - 1], Moments{}};
    double ties = 0, support = 0;
    for (const BlockInfo<T>& bi : B.blocks) {
      for (int p = 0; p <= kPrepExtra; ++p) add_sums(pts[p].m, p == 0 ? bi.pm.m : bi.pm.extra[p - 1]);
      ties += bi.pm.m.ties;
      support += bi.pm.support;
    }
    for (Point& pt : pts) pt.m = to_nats(pt.m);
    Moments m1 = pts[0].m;
    m1.ties = ties;
    if (isnan(m1.s0) || isnan(m1.s1)) return fail(kEnInvalid);
    // the support is what the log-weights keep (w > kWMin): logits clamped at kWMin are
    // outside it, consistently for the range, the search and the output
    const double h_max = ::log(support), h_min = ::log(m1.ties);
    const bool masked_row = support < static_cast<double>(n_);  // entries outside the support
    info_.h_min[r] = h_min;
    info_.h_max[r] = h_max;
    double gamma, s0 = m1.s0, h;
    int iters = 1;
    bool converged = true, clipped = false, have_e = false;
    EnStatus status = kEnOk;
    if (t > h_max + opt_.tol || t < h_min - opt_.tol) {
      const bool above = t > h_max;
      status = above ? kEnAboveRange : kEnBelowRange;
      clipped = true;
      converged = false;
      gamma = above ? 0.0 : kInf;
      h = above ? h_max : h_min;
    } else if (t >= h_max - opt_.tol) {
      gamma = 0.0;
      h = h_max;
    } else if (t <= h_min + opt_.tol) {
      gamma = kInf;
      h = h_min;
    } else {
      // The output q is rounded to T, which moves its entropy by up to a few ulps times
      // (2 + H) (relative rounding of each q_i and of the 2^(g w) it is formed from): the
      // search meets tol with that margin, so the returned q itself is within tol.
      const double margin = 4.0 * std::numeric_limits<T>::epsilon() * (2.0 + ::fabs(t));
      auto eval = [&](double g) {
        // keep e = 2^(g w) of every evaluation: if it is the last, q = e / s0 needs no exp
        const T gt = static_cast<T>(g);
        const bool mask = masked_row && needs_mask(gt);
        return to_nats(pass([&](i64 j) {
          const auto [off, len] = block_range(j, n_);
          return mask ? masked_moments<T>(B.w + off, len, gt, B.e + off) : k_.moments(B.w + off, len, gt, B.e + off);
        }));
      };
      const double tol_eff = opt_.tol - margin;
      const SearchResult res = search<T>(t, tol_eff, opt_.max_iter, pts, 1 + kPrepExtra, eval);
      gamma = res.gamma;
      s0 = res.s0;
      h = res.h;
      iters = res.iters;
      converged = res.converged;
      have_e = res.have_e;
      if (!have_e && !opt_.logits && gamma > 0 && gamma < kInf && iters < opt_.max_iter) {
        // The search ended at a point of the first pass, whose moments for probabilities
        // come from p / max p while the output is 2^(gamma w): one pass at that gamma makes
        // the normalizer, the entropy and the written q agree.
        const Moments me = eval(gamma);
        s0 = me.s0;
        h = entropy_of(gamma, me);
        converged = ::fabs(h - t) <= tol_eff;
        have_e = true;
        ++iters;
      }
    }
    if (clipped && opt_.out_of_range_fails) {
      plan.mode = OutMode::skip;  // the caller raises: the row is not written
    } else if (gamma == 0.0) {
      plan.mode = OutMode::uniform_support;
      plan.val = static_cast<T>(1.0 / support);
    } else if (gamma == kInf) {
      plan.mode = OutMode::uniform_ties;
      plan.val = static_cast<T>(1.0 / m1.ties);
    } else {
      plan.mode = have_e ? OutMode::scaled_e : OutMode::exp_w;
      plan.g = static_cast<T>(gamma);
      plan.scale = static_cast<T>(1.0 / s0);
      plan.masked = masked_row && needs_mask(plan.g);
    }
    info_.gamma[r] = gamma;
    info_.n_iter[r] = iters;
    info_.converged[r] = converged ? 1 : 0;
    info_.clipped[r] = clipped ? 1 : 0;
    info_.status[r] = status;
    info_.entropy[r] = h;
    return plan;
  }

  // Step D for block j: write q for the block into y (dst contiguous; caller scatters).
  // Half-precision output: the modes other than scaled_e form the float32 block in ftmp (a
  // block of compute-type scratch) and round it to S as they store it.
  void write_block(const OutPlan<T>& plan, const RowBufs<T>& B, i64 j, S* dst, bool direct, T* ftmp) const {
    const auto [off, len] = block_range(j, n_);
    if (plan.mode == OutMode::scaled_e) {
      k_.scale_store(B.e + off, len, plan.scale, dst, direct && plan.stream);
      return;
    }
    if constexpr (std::is_same<S, T>::value) {
      write_computed(plan, B, off, len, dst);
    } else {
      write_computed(plan, B, off, len, ftmp);
      k_.scale_store(ftmp, len, T(1), dst, false);
    }
  }

 private:
  // The output modes other than scaled_e, in the compute type.
  void write_computed(const OutPlan<T>& plan, const RowBufs<T>& B, i64 off, i64 len, T* dst) const {
    const T* w = B.w + off;
    switch (plan.mode) {
      case OutMode::exp_w:
        if (plan.masked) {
          masked_moments<T>(w, len, plan.g, dst);
          for (i64 i = 0; i < len; ++i) dst[i] *= plan.scale;
        } else {
          k_.exp_gamma_scale(w, len, plan.g, plan.scale, dst);
        }
        break;
      case OutMode::uniform_support:
        for (i64 i = 0; i < len; ++i) dst[i] = w[i] > kWMin<T> ? plan.val : T(0);
        break;
      case OutMode::uniform_ties:
        for (i64 i = 0; i < len; ++i) dst[i] = (w[i] == T(0) && B.usable) ? plan.val : T(0);
        break;
      default:  // skip and scaled_e: never reached (write_block handles them first)
        break;
    }
  }

  const KernelsT<S>& k_;
  i64 n_, nb_;
  const EnOptions& opt_;
  const EnInfo& info_;
  bool stream_;
};

template <class S, class T = compute_t<S>>
void write_block_to(const RowSolver<S>& R, const OutPlan<T>& plan, const RowBufs<T>& B, i64 j, const Row<S>& y,
                    i64 n, S* ybuf, T* ftmp) {
  if (plan.mode == OutMode::skip) return;  // failed rows are left as they were
  const auto [off, len] = block_range(j, n);
  const bool direct = y.stride == 1;
  S* dst = direct ? y.p + off : ybuf;
  R.write_block(plan, B, j, dst, direct, ftmp);
  if (!direct) scatter<S>(dst, y, off, len);
}

}  // namespace

template <class St>
void entropy_normalize_rows(const KernelTable& kt, const NdView& x, const NdView& out, const double* target,
                            const EnOptions& opt, const EnInfo& info, int nthreads) {
  using T = compute_t<St>;
  const KernelsT<St>& k = kern<St>(kt);
  const int bnd = x.ndim - 1;
  const i64 rows = batch_rows(x, bnd);
  const i64 n = x.shape[x.ndim - 1];
  if (rows == 0 || n == 0) return;
  const bool stream = static_cast<double>(rows) * static_cast<double>(n) * sizeof(St) >= kStreamBytes;
  const RowSolver<St> S(k, n, opt, info, stream);
  const i64 nb = S.nblocks();
  Plan plan = make_plan(rows, n, nthreads);
  if (plan.split_rows && nb < kMinSplitBlocksEntropyNorm) plan = Plan{static_cast<int>(std::min<i64>(plan.nt, rows)), false};
  Scratch<St> scratch(plan.nt, true);
  const size_t per_row = 2 * static_cast<size_t>(n);

  if (plan.split_rows) {
    // few long rows: every pass runs block-parallel
    // scratch rows are fully written before they are read: no zero-filling
    std::unique_ptr<T[]> mem(new T[per_row]);
    RowBufs<T> B;
    B.w = mem.get();
    B.e = mem.get() + n;
    B.blocks.resize(static_cast<size_t>(nb));
    std::vector<Moments> parts(static_cast<size_t>(nb));
    for (i64 r = 0; r < rows; ++r) {
      const Row<St> xr = row_of<St>(x, r);
      const Row<const St> xrow{xr.p, xr.stride};
      const Row<St> y = out.data ? row_of<St>(out, r) : Row<St>{nullptr, 1};
      parallel_for(nb, plan.nt, [&](i64 j, int tid) {
        const auto [off, len] = block_range(j, n);
        S.scan_block(gather<St>(xrow, off, len, scratch.x(tid)), j, B);
      });
      const std::pair<T, bool> ref = S.row_max(B);
      parallel_for(nb, plan.nt, [&](i64 j, int tid) {
        const auto [off, len] = block_range(j, n);
        S.prep_block(gather<St>(xrow, off, len, scratch.x(tid)), j, ref, B);
      });
      const OutPlan<T> op = S.solve(r, target[r], B, [&](auto&& fn) {
        parallel_for(nb, plan.nt, [&](i64 j, int) { parts[static_cast<size_t>(j)] = fn(j); });
        Moments acc{};
        for (const Moments& m : parts) add_sums(acc, m);
        return acc;
      });
      if (out.data)
        parallel_for(nb, plan.nt, [&](i64 j, int tid) { write_block_to<St>(S, op, B, j, y, n, scratch.y(tid), scratch.e(tid)); });
    }
    return;
  }

  // many rows: rows in parallel; each thread pipelines the output of its previous row into
  // the first pass of its next row
  std::unique_ptr<T[]> mem(new T[static_cast<size_t>(plan.nt) * 2 * per_row]);
  parallel_ranges(rows, plan.nt, [&](i64 begin, i64 end, int tid) {
    RowBufs<T> bufs[2];
    for (int p = 0; p < 2; ++p) {
      T* base = mem.get() + (static_cast<size_t>(tid) * 2 + p) * per_row;
      bufs[p].w = base;
      bufs[p].e = base + n;
      bufs[p].blocks.resize(static_cast<size_t>(nb));
    }
    St* xbuf = scratch.x(tid);
    St* ybuf = scratch.y(tid);
    T* ftmp = std::is_same<St, T>::value ? nullptr : scratch.e(tid);
    OutPlan<T> pending;
    i64 pending_row = -1;
    int cur = 0;
    auto seq_pass = [&](auto&& fn) {
      Moments acc{};
      for (i64 j = 0; j < nb; ++j) add_sums(acc, fn(j));
      return acc;
    };
    for (i64 r = begin; r < end; ++r) {
      RowBufs<T>& B = bufs[cur];
      const RowBufs<T>& P = bufs[1 - cur];
      const Row<St> xr = row_of<St>(x, r);
      const Row<const St> xrow{xr.p, xr.stride};
      const Row<St> yprev = pending_row >= 0 && out.data ? row_of<St>(out, pending_row) : Row<St>{nullptr, 1};
      for (i64 j = 0; j < nb; ++j) {
        const auto [off, len] = block_range(j, n);
        S.scan_block(gather<St>(xrow, off, len, xbuf), j, B);
      }
      const std::pair<T, bool> ref = S.row_max(B);
      for (i64 j = 0; j < nb; ++j) {
        const auto [off, len] = block_range(j, n);
        S.prep_block(gather<St>(xrow, off, len, xbuf), j, ref, B);
        if (pending_row >= 0 && out.data) write_block_to<St>(S, pending, P, j, yprev, n, ybuf, ftmp);
      }
      pending = S.solve(r, target[r], B, [&](auto&& fn) { return seq_pass(fn); });
      pending_row = r;
      cur = 1 - cur;
    }
    if (pending_row >= 0 && out.data) {
      const Row<St> y = row_of<St>(out, pending_row);
      for (i64 j = 0; j < nb; ++j) write_block_to<St>(S, pending, bufs[1 - cur], j, y, n, ybuf, ftmp);
    }
  });
}

template void entropy_normalize_rows<float>(const KernelTable&, const NdView&, const NdView&, const double*,
                                            const EnOptions&, const EnInfo&, int);
template void entropy_normalize_rows<double>(const KernelTable&, const NdView&, const NdView&, const double*,
                                             const EnOptions&, const EnInfo&, int);
template void entropy_normalize_rows<bf16>(const KernelTable&, const NdView&, const NdView&, const double*,
                                           const EnOptions&, const EnInfo&, int);
template void entropy_normalize_rows<f16>(const KernelTable&, const NdView&, const NdView&, const double*,
                                          const EnOptions&, const EnInfo&, int);

}  // namespace logitcore_impl
