// The token sampler (docs/math.md §4) over the kernels' sampling primitives (group_max,
// select_nlt, tempered_exp, tempered_split). Everything that decides a token (sums, the top-p
// search, the draw) is written once here, in plain C++ compiled for the baseline target, over
// weights that are bitwise the same on every ISA: the token depends only on the row, its
// settings, seed and offset.
//
// A row goes through:
//   1. select: the maxima of small groups give a lower bound of the K-th largest logit
//      (K = max(top_k, logprobs, 1)); the groups reaching it are scanned into a small
//      candidate buffer whose threshold rises as it fills (the K largest entries and their
//      ties survive); this also finds the maximum and any NaN;
//   2. the inverse temperature: 1/T, or the gamma of the target entropy (entropy
//      normalization of logits, docs/math.md §2);
//   3a. small top_k: everything else happens on the candidates (sorted; at most a few
//      thousand entries);
//   3b. otherwise over the row in blocks of kBlock: one pass gathers the weights above 2^-16
//      with their histogram bin (4 bins per octave of the weight) and sums the rest; the
//      per-block histograms locate the top-p and min-p boundaries to one bin each, split
//      exactly inside that bin (a weighted selection, no sort); the draw takes the block where
//      the running kept mass crosses u * total and walks inside it.
#include "drivers/sampling.h"

#include <math.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <new>
#include <numeric>
#include <type_traits>
#include <vector>

#include "drivers/drivers.h"
#include "drivers/entropy_norm.h"
#include "logitcore/logitcore.h"
#include "drivers/scaffold.h"
#include "kernels/sampling_math.h"

namespace logitcore_impl {

namespace {

using detail::i64;
using detail::kInf;

// top_k up to this is handled on the candidate buffer; larger k through a selection over the row.
constexpr i64 kCandidateTopK = 4096;
// The full-row path gathers the weights in the first kFineBins bins (above 2^-16 of the
// maximum's) and sums the rest.
constexpr int kFineBins = 64;
// The weighted selection of top-p inside a set of entries (value v, weight w; w is a
// non-decreasing function of v): the largest value t such that the weight of the entries >= t
// reaches `need` (> 0). Radix refinement on the bits of the weights: each level spreads the
// set's weights over 128 sub-bins (their bit patterns minus the smallest, shifted so the range
// fits), keeps the one sub-bin where the running weight (largest weights first) reaches the
// need and drops the rest; a set of at most 32 entries, or of equal weights, is sorted by value
// and walked by groups of equal values. No branch depends on the data in the wide levels.
// Deterministic for a given order of the set. If rounding leaves `need` unreached, the smallest
// value (everything kept).
template <class T>
T weighted_threshold(std::vector<T>& v, std::vector<T>& w, double need) {
  using U = typename WeightBits<T>::U;
  std::vector<i64> ord;
  T last = v.empty() ? -std::numeric_limits<T>::infinity() : *std::min_element(v.begin(), v.end());
  std::vector<U> raw;
  std::vector<int> sub;
  for (;;) {
    const size_t m = v.size();
    U lo = ~U{0}, hi = 0;
    raw.resize(m);
    for (size_t i = 0; i < m; ++i) {
      U u;
      std::memcpy(&u, &w[i], sizeof u);
      raw[i] = WeightBits<T>::kOne - u;  // larger for smaller weights
      lo = std::min(lo, raw[i]);
      hi = std::max(hi, raw[i]);
    }
    if (m <= 32 || lo == hi) {
      ord.resize(m);
      std::iota(ord.begin(), ord.end(), i64{0});
      std::sort(ord.begin(), ord.end(), [&](i64 a, i64 b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
      double cum = 0;
      for (size_t i = 0; i < m;) {
        const T g = v[ord[i]];
        for (; i < m && v[ord[i]] == g; ++i) cum += static_cast<double>(w[ord[i]]);
        if (cum >= need) return g;
      }
      return last;
    }
    int shift = 0;
    while (((hi - lo) >> shift) >= 128) ++shift;
    double mass[128] = {0};
    sub.resize(m);
    for (size_t i = 0; i < m; ++i) {
      sub[i] = static_cast<int>((raw[i] - lo) >> shift);
      mass[sub[i]] += static_cast<double>(w[i]);
    }
    int b = 0;
    double cum = 0;
    for (; b < 128; ++b) {
      if (mass[b] > 0 && cum + mass[b] >= need) break;
      cum += mass[b];
    }
    if (b == 128) return last;  // rounding: the whole set
    need -= cum;
    size_t c = 0;
    for (size_t i = 0; i < m; ++i)
      if (sub[i] == b) {
        v[c] = v[i];
        w[c] = w[i];
        ++c;
      }
    v.resize(c);
    w.resize(c);
    last = *std::min_element(v.begin(), v.end());
  }
}

// The K-th largest of v[0, m) (1 <= K <= m; no NaN), counted with multiplicity: a radix
// selection on the values' bits (8 bits per pass, most significant first), whose passes count
// and filter without data-dependent branches. v is overwritten.
template <class T>
T kth_largest(T* v, i64 m, i64 K) {
  using U = typename WeightBits<T>::U;
  constexpr int kBits = static_cast<int>(sizeof(U)) * 8;
  constexpr U kSign = U{1} << (kBits - 1);
  auto key = [](T x) {  // order-preserving: larger value, larger key
    U u;
    std::memcpy(&u, &x, sizeof u);
    return (u & kSign) ? static_cast<U>(~u) : static_cast<U>(u | kSign);
  };
  for (int shift = kBits - 8; m > 1; shift -= 8) {
    i64 count[256] = {0};
    for (i64 i = 0; i < m; ++i) ++count[(key(v[i]) >> shift) & 255];
    int d = 255;
    for (; d > 0 && count[d] < K; --d) K -= count[d];  // digits from the largest down
    i64 c = 0;
    for (i64 i = 0; i < m; ++i) {
      v[c] = v[i];
      c += static_cast<i64>(((key(v[i]) >> shift) & 255) == static_cast<U>(d));
    }
    m = c;
    if (shift == 0) break;  // every remaining entry has the same key
  }
  return v[0];
}

template <class T>
constexpr T kMaxFinite = std::numeric_limits<T>::max();

// The entropy normalization a target entropy runs: logits, clipped to the reachable range, the
// default tolerance for float32 rows (1e-5 nats; its margin for the rounding of the weights
// leaves no room below), 1e-12 for float64 rows.
template <class T>
EnOptions target_options() {
  EnOptions opt;
  opt.logits = true;
  opt.tol = sizeof(T) == 4 ? LOGITCORE_EN_DEFAULT_TOL_F32 : 1e-12;
  opt.max_iter = 60;
  opt.check_sum = false;
  opt.sum_tol = 0;
  opt.out_of_range_fails = false;
  return opt;
}

template <class T>
struct RowSampler {
  const KernelTable& kt;
  const KernelsT<T>& k;
  i64 n;
  // scratch, grown on first use
  std::vector<T> row;      // a strided row gathered, or a row with +inf entries rewritten
  std::vector<T> eb;       // one block of weights
  std::vector<i64> cidx;   // candidates
  std::vector<T> cval;
  std::vector<T> tmp;
  std::vector<T> gmax;     // group maxima of the selection's starting threshold
  std::vector<double> low, bmass;  // per block: the summed (not gathered) weights, the kept mass
  std::vector<std::int32_t> gidx;  // gathered entries: offsets in their block (weights gw, bins gb)
  std::vector<i64> gstart;         // where each block's entries start
  std::vector<T> gw;
  std::vector<std::uint8_t> gb;
  std::vector<double> hb;         // per-block histograms of the gathered weights
  std::vector<T> sv, sw, tv, tw;  // the split bin: values, weights (and copies for the selection)
  std::vector<i64> sj, spos;      // and blocks; positions among the gathered

  int nt = 1;  // threads over the blocks of a row (few long rows), else 1
  const T* next_row = nullptr;  // the row this sampler works on next (contiguous), if any

  RowSampler(const KernelTable& kt_, i64 n_) : kt(kt_), k(detail::kern<T>(kt_)), n(n_) {}

  // Pass 1: candidates >= the K-th largest (with ties); returns false on NaN. The threshold
  // starts at a lower bound of the K-th largest (the smallest of the maxima of K groups of a
  // prefix of the row: K distinct entries lie at or above it) and rises whenever the buffer
  // fills, to the K-th largest value seen so far.
  bool select(const T* x, i64 K) {
    // Groups of 32 to 256 entries, at least 8 K of them: the K-th largest of their maxima is a
    // lower bound of the row's K-th largest (K distinct entries reach it), usually close to it.
    // Only the groups whose maximum reaches it (and the tail) can hold candidates: the
    // selection reads those alone. A group holding a NaN has a NaN maximum.
    const i64 g = std::min<i64>(256, n / (8 * K)) & ~i64{31};
    if (g < 32) {
      const i64 nb = detail::num_blocks(n);
      if (nt <= 1) return select_blocks(x, 0, nb, K, -std::numeric_limits<T>::infinity(), cidx, cval, tmp);
      // the blocks split over the threads, each with its own buffer; their union holds every
      // entry >= the K-th largest (all that is used of it), whatever the split
      std::vector<std::vector<i64>> ti(static_cast<size_t>(nt));
      std::vector<std::vector<T>> tvv(static_cast<size_t>(nt)), tt(static_cast<size_t>(nt));
      std::vector<int> ok(static_cast<size_t>(nt), 1);
      detail::parallel_ranges(nb, nt, [&](i64 b0, i64 b1, int t) {
        ok[t] = select_blocks(x, b0, b1, K, -std::numeric_limits<T>::infinity(), ti[t], tvv[t], tt[t]) ? 1 : 0;
      });
      cidx.clear();
      cval.clear();
      for (int t = 0; t < nt; ++t) {
        if (!ok[t]) return false;
        cidx.insert(cidx.end(), ti[t].begin(), ti[t].end());
        cval.insert(cval.end(), tvv[t].begin(), tvv[t].end());
      }
      return true;
    }
    const i64 groups = n / g;
    gmax.resize(static_cast<size_t>(groups));
    detail::parallel_ranges(groups, nt, [&](i64 b0, i64 b1, int) {
      if (b1 > b0) k.group_max(x + b0 * g, (b1 - b0) * g, g, gmax.data() + b0);
    });
    for (const T v : gmax)
      if (v != v) return false;
    tmp.assign(gmax.begin(), gmax.end());
    T thr = kth_largest(tmp.data(), groups, K);
    // candidates: the entries >= thr of the groups reaching it, then of the tail; the
    // threshold rises to the K-th largest seen whenever the buffer fills
    i64 cap = std::max<i64>(4 * K, 1024);
    cidx.resize(static_cast<size_t>(cap + kBlock));
    cval.resize(static_cast<size_t>(cap + kBlock));
    i64 cnt = 0;
    bool nan = false;
    auto take = [&](i64 off, i64 len) {
      cnt += k.select_nlt(x + off, len, thr, off, cidx.data() + cnt, cval.data() + cnt);
      // (a NaN of the tail is seen before a compaction could drop it)
      if (cnt > cap && !raise_threshold(cidx, cval, cnt, cap, thr, K, tmp)) {
        nan = true;
        cnt = 0;
      }
    };
    for (i64 i = 0; i < groups; ++i)
      if (gmax[i] >= thr) take(i * g, g);
    if (groups * g < n) take(groups * g, n - groups * g);
    if (nan) return false;
    cidx.resize(static_cast<size_t>(cnt));
    cval.resize(static_cast<size_t>(cnt));
    for (const T v : cval)
      if (v != v) return false;
    return true;
  }

  // The candidate buffer (idx, val)[0, cnt) is full: raise the threshold to the K-th largest
  // value in it and drop what is below (room for a block more afterwards; many ties at the
  // threshold make the buffer grow). False if it holds a NaN.
  static bool raise_threshold(std::vector<i64>& idx, std::vector<T>& val, i64& cnt, i64& cap, T& thr, i64 K,
                              std::vector<T>& scratch) {
    scratch.assign(val.begin(), val.begin() + cnt);
    for (const T v : scratch)
      if (v != v) return false;
    thr = kth_largest(scratch.data(), cnt, K);
    i64 c = 0;
    for (i64 i = 0; i < cnt; ++i)
      if (val[i] >= thr) {
        idx[c] = idx[i];
        val[c] = val[i];
        ++c;
      }
    cnt = c;
    if (cnt > cap / 2) cap = 2 * cnt;
    idx.resize(static_cast<size_t>(cap + kBlock));
    val.resize(static_cast<size_t>(cap + kBlock));
    return true;
  }

  // select over blocks [b0, b1) into (idx, val), the threshold rising from thr.
  bool select_blocks(const T* x, i64 b0, i64 b1, i64 K, T thr, std::vector<i64>& idx, std::vector<T>& val,
                     std::vector<T>& scratch) const {
    i64 cap = std::max<i64>(4 * K, 1024);
    idx.resize(static_cast<size_t>(cap + kBlock));
    val.resize(static_cast<size_t>(cap + kBlock));
    i64 cnt = 0;
    for (i64 j = b0; j < b1; ++j) {
      const auto [off, len] = detail::block_range(j, n);
      cnt += k.select_nlt(x + off, len, thr, off, idx.data() + cnt, val.data() + cnt);
      if (cnt > cap && !raise_threshold(idx, val, cnt, cap, thr, K, scratch)) return false;
    }
    idx.resize(static_cast<size_t>(cnt));
    val.resize(static_cast<size_t>(cnt));
    for (const T v : val)
      if (v != v) return false;
    return true;
  }

  // The K-th largest candidate value (K <= number of candidates, else the smallest).
  T kth(i64 K) {
    tmp.assign(cval.begin(), cval.end());
    if (K >= static_cast<i64>(tmp.size())) return *std::min_element(tmp.begin(), tmp.end());
    return kth_largest(tmp.data(), static_cast<i64>(tmp.size()), K);
  }

  // The contiguous row x as a one-row view for the other families' drivers.
  NdView row_view(const T* x) const {
    NdView v;
    v.data = const_cast<T*>(x);
    v.ndim = 2;
    v.shape[0] = 1;
    v.shape[1] = n;
    v.strides[0] = n;
    v.strides[1] = 1;
    return v;
  }

  // logsumexp of the row at temperature 1 in float64, for the log-probabilities: the library's
  // exact row state (maximum and excess, m + log1p(u): full accuracy when the maximum dominates).
  double lse(const T* x) {
    double m = 0, u = 0;
    state_rows<T>(kt, row_view(x), &m, &u, nt);
    return m + ::log1p(u);
  }

  // gamma of the target entropy on the logits x (contiguous; no NaN or +inf; finite maximum),
  // solved without writing the normalized row (a view without data)
  double solve_gamma(const T* x, double target) {
    const NdView xv = row_view(x);
    NdView none = xv;
    none.data = nullptr;
    // the driver fills every field of its info
    double gamma = std::numeric_limits<double>::quiet_NaN(), h_min, h_max, h;
    std::int8_t status = 0;
    std::int32_t iters;
    std::uint8_t converged, clipped;
    const EnInfo info{&gamma, &iters, &converged, &clipped, &status, &h_min, &h_max, &h};
    entropy_normalize_rows<T>(kt, xv, none, &target, target_options<T>(), info, nt);
    return gamma;
  }

  struct Plan {
    bool greedy = false;
    T zmax;
    T c = 0;            // tempered base-2 scale
    T thr;              // logit threshold (top-k, ties of gamma = inf)
    double gamma = 1;   // reported
  };

  // Row r: returns the failure (none on success) and fills the staged outputs.
  SampleFailure run(const T* xin, i64 stride, const SampleSettings& s, i64 nlp, std::int64_t* token, double* tok_lp,
                    std::int64_t* top_ids, double* top_lp, T* probs_row, i64 probs_stride, std::uint8_t* kept_row,
                    i64 kept_stride, double* gamma_out, double gamma_pre) {
    const T* x = xin;
    if (stride != 1) {
      row.resize(static_cast<size_t>(n));
      for (i64 i = 0; i < n; ++i) row[i] = xin[i * stride];
      x = row.data();
    }
    const bool small_k = s.top_k > 0 && s.top_k <= kCandidateTopK && s.top_k < n;
    const i64 K = std::max<i64>({small_k ? s.top_k : 1, nlp, 1});
    if (!select(x, K)) return SampleFailure::nan;
    if (next_row) {
      // the next row starts streaming in while this one's candidates are worked on
      const char* nx = reinterpret_cast<const char*>(next_row);
      const i64 bytes = std::min<i64>(n * static_cast<i64>(sizeof(T)), 32768);
      for (i64 b = 0; b < bytes; b += 64) __builtin_prefetch(nx + b, 0, 1);
    }
    T zmax = *std::max_element(cval.begin(), cval.end());
    if (zmax == -std::numeric_limits<T>::infinity()) return SampleFailure::no_finite;
    bool rewritten = false;
    if (zmax == std::numeric_limits<T>::infinity()) {
      rewritten = true;
      // the limit of softmax: uniform over the +inf entries (0), every other entry -inf
      std::vector<T> z(static_cast<size_t>(n));
      for (i64 i = 0; i < n; ++i) z[i] = x[i] == zmax ? T(0) : -std::numeric_limits<T>::infinity();
      row.swap(z);
      x = row.data();
      select(x, K);
      zmax = T(0);
    }

    Plan P;
    P.zmax = zmax;
    P.thr = -std::numeric_limits<T>::infinity();
    const bool target = s.target_entropy == s.target_entropy;
    if (!target && s.temperature == 0) {
      P.greedy = true;
      P.gamma = kInf;
    } else {
      // the batch's gamma (solved for every target row at once) unless the row was rewritten
      double gamma = !target ? 1.0 / s.temperature
                             : (gamma_pre == gamma_pre && !rewritten ? gamma_pre : solve_gamma(x, s.target_entropy));
      P.gamma = gamma;
      if (gamma == kInf) {
        P.thr = zmax;  // uniform over the entries equal to the maximum
        P.c = 0;
      } else {
        const double c = gamma * expc::kLog2eD;
        P.c = c < static_cast<double>(kMaxFinite<T>) ? static_cast<T>(c) : kMaxFinite<T>;
      }
    }
    if (gamma_out) *gamma_out = P.gamma;

    std::int64_t tok = -1;
    if (P.greedy) {
      tok = n;
      for (size_t i = 0; i < cidx.size(); ++i)
        if (cval[i] == zmax && cidx[i] < tok) tok = cidx[i];
      if (probs_row || kept_row) write_onehot(tok, probs_row, probs_stride, kept_row, kept_stride);
    } else if (small_k) {
      tok = run_candidates(s, P, probs_row, probs_stride, kept_row, kept_stride);
    } else {
      tok = run_row(x, s, P, probs_row, probs_stride, kept_row, kept_stride);
    }
    if (token) *token = tok;

    if (nlp > 0 || tok_lp) {
      const double l = lse(x);
      if (tok_lp) *tok_lp = static_cast<double>(x[tok]) - l;
      if (nlp > 0) {
        // the nlp largest logits, ties in index order
        std::vector<i64> ord(cidx.size());
        std::iota(ord.begin(), ord.end(), 0);
        std::partial_sort(ord.begin(), ord.begin() + nlp, ord.end(), [&](i64 a, i64 b) {
          return cval[a] > cval[b] || (cval[a] == cval[b] && cidx[a] < cidx[b]);
        });
        for (i64 i = 0; i < nlp; ++i) {
          top_ids[i] = cidx[ord[i]];
          top_lp[i] = static_cast<double>(cval[ord[i]]) - l;
        }
      }
    }
    return SampleFailure::none;
  }

  void write_onehot(i64 tok, T* probs_row, i64 ps, std::uint8_t* kept_row, i64 ks) {
    for (i64 i = 0; i < n; ++i) {
      if (probs_row) probs_row[i * ps] = i == tok ? T(1) : T(0);
      if (kept_row) kept_row[i * ks] = i == tok ? 1 : 0;
    }
  }

  // The draw of docs/math.md §4.1 step 5 over candidates (idx ascending, weights e): the first
  // whose running sum exceeds u * total.
  static i64 walk(const i64* idx, const T* e, i64 m, double target) {
    double cum = 0;
    i64 last = -1;
    for (i64 i = 0; i < m; ++i) {
      if (e[i] <= T(0)) continue;
      cum += static_cast<double>(e[i]);
      last = idx[i];
      if (cum > target) return idx[i];
    }
    return last;
  }

  std::int64_t run_candidates(const SampleSettings& s, Plan& P, T* probs_row, i64 ps, std::uint8_t* kept_row,
                              i64 ks) {
    const T tk = kth(s.top_k);
    if (tk > P.thr) P.thr = tk;
    // the candidates kept by top-k, by value descending (index ascending on ties)
    std::vector<i64> ord;
    for (size_t i = 0; i < cidx.size(); ++i)
      if (cval[i] >= P.thr) ord.push_back(static_cast<i64>(i));
    std::sort(ord.begin(), ord.end(),
              [&](i64 a, i64 b) { return cval[a] > cval[b] || (cval[a] == cval[b] && cidx[a] < cidx[b]); });
    const size_t m = ord.size();
    // their weights by the kernels' exponential (the same bits as the full-row path's)
    std::vector<T> v(m), e(m);
    for (size_t i = 0; i < m; ++i) v[i] = cval[ord[i]];
    k.tempered_exp(v.data(), static_cast<i64>(m), P.zmax, P.c, e.data());
    double sk = 0;
    for (size_t i = 0; i < m; ++i) sk += static_cast<double>(e[i]);
    size_t keep = m;  // top-p: a prefix of whole tie groups
    if (s.top_p < 1.0) {
      const double need = s.top_p * sk;
      double cum = 0;
      for (size_t i = 0; i < m;) {
        const T g = cval[ord[i]];
        for (; i < m && cval[ord[i]] == g; ++i) cum += static_cast<double>(e[i]);
        if (cum >= need) {
          keep = i;
          break;
        }
      }
    }
    const T emin = static_cast<T>(s.min_p);
    // the kept set in index order
    std::vector<std::pair<i64, T>> kept;
    kept.reserve(keep);
    for (size_t i = 0; i < keep; ++i)
      if (e[i] >= emin && e[i] > T(0)) kept.emplace_back(cidx[ord[i]], e[i]);  // weight 0: never drawn
    std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<i64> ki(kept.size());
    std::vector<T> ke(kept.size());
    double total = 0;
    for (size_t i = 0; i < kept.size(); ++i) {
      ki[i] = kept[i].first;
      ke[i] = kept[i].second;
      total += static_cast<double>(ke[i]);
    }
    const double u = philox_uniform(s.seed, s.offset);
    const i64 tok = walk(ki.data(), ke.data(), static_cast<i64>(ki.size()), u * total);
    if (probs_row || kept_row) {
      for (i64 i = 0; i < n; ++i) {
        if (probs_row) probs_row[i * ps] = T(0);
        if (kept_row) kept_row[i * ks] = 0;
      }
      for (size_t i = 0; i < ki.size(); ++i) {
        if (probs_row) probs_row[ki[i] * ps] = static_cast<T>(static_cast<double>(ke[i]) / total);
        if (kept_row) kept_row[ki[i] * ks] = 1;
      }
    }
    return tok;
  }

  // Gathers the entries with weight above ecut over the row (gidx/gw/gb, in index order; block
  // j's are [gstart[j], gstart[j + 1])), the per-block sums of the others (low) and the
  // per-block histograms of the gathered weights over the first `fine` bins (hb), each added
  // in index order into four interleaved copies folded as (c0 + c1) + (c2 + c3).
  void split_row(const T* x, const Plan& P, T ecut, int fine) {
    const i64 nb = detail::num_blocks(n);
    low.resize(static_cast<size_t>(nb));
    gstart.resize(static_cast<size_t>(nb + 1));
    hb.resize(static_cast<size_t>(nb * kSampleBins));
    // block j gathers into its own slot of kBlock + 16 entries (the packing stores whole
    // vectors; the blocks run in parallel when the row is split over threads), then the
    // blocks' entries are packed in order
    // (one thread: the blocks pack directly one after the other)
    const i64 kSlot = nt > 1 ? kBlock + 16 : 0;
    const size_t room = static_cast<size_t>(nt > 1 ? nb * kSlot : n + 16);
    if (gidx.size() < room) {
      gidx.resize(room);
      gw.resize(room);
      gb.resize(room);
    }
    std::vector<i64> cnt(static_cast<size_t>(nb));
    i64 packed = 0;  // one thread: where the next block's entries go
    detail::parallel_for(nb, nt, [&](i64 j, int) {
      const auto [off, len] = detail::block_range(j, n);
      const i64 slot = nt > 1 ? j * kSlot : packed;
      const i64 m = k.tempered_split(x + off, len, P.zmax, P.c, P.thr, ecut, gidx.data() + slot, gw.data() + slot,
                                     gb.data() + slot, &low[static_cast<size_t>(j)]);
      cnt[j] = m;
      double h[4][kSampleBins];
      for (int c = 0; c < 4; ++c) std::fill(h[c], h[c] + fine, 0.0);
      const std::uint8_t* b = gb.data() + slot;
      const T* e = gw.data() + slot;
      i64 i = 0;
      for (; i + 4 <= m; i += 4)
        for (int c = 0; c < 4; ++c) h[c][b[i + c]] += static_cast<double>(e[i + c]);
      for (; i < m; ++i) h[i % 4][b[i]] += static_cast<double>(e[i]);
      double* out = &hb[j * kSampleBins];
      for (int c = 0; c < fine; ++c) out[c] = (h[0][c] + h[1][c]) + (h[2][c] + h[3][c]);
      if (nt <= 1) packed += m;
    });
    i64 ng = 0;
    for (i64 j = 0; j < nb; ++j) {
      const i64 off = nt > 1 ? j * kSlot : ng, m = cnt[j];
      gstart[j] = ng;
      if (ng != off) {
        std::memmove(gidx.data() + ng, gidx.data() + off, static_cast<size_t>(m) * sizeof(std::int32_t));
        std::memmove(gw.data() + ng, gw.data() + off, static_cast<size_t>(m) * sizeof(T));
        std::memmove(gb.data() + ng, gb.data() + off, static_cast<size_t>(m));
      }
      ng += m;
    }
    gstart[nb] = ng;
  }

  // The full-row path (no small top-k). One pass gathers the entries whose weight exceeds
  // 2^-16 (bins below kFineBins) and sums the rest per block; the per-block histograms of the
  // gathered weights locate the top-p and min-p boundaries to one bin each, which is then split
  // exactly (a weighted selection, no sort). Only a boundary among the weights below 2^-16
  // (top_p very close to 1, min_p below 2^-16) costs a second pass gathering every weight.
  // The draw takes the block where the running kept mass crosses u * total and walks it.
  std::int64_t run_row(const T* x, const SampleSettings& s, Plan& P, T* probs_row, i64 ps, std::uint8_t* kept_row,
                       i64 ks) {
    if (s.top_k > 0 && s.top_k < n) {
      // large k: the k-th largest logit by selection over a copy of the row
      tmp.assign(x, x + n);
      const T tk = kth_largest(tmp.data(), n, s.top_k);
      if (tk > P.thr) P.thr = tk;
    }
    const i64 nb = detail::num_blocks(n);
    const T emin = static_cast<T>(s.min_p);
    const bool filtered = s.top_p < 1.0 || emin > T(0);
    // without a filter nothing needs gathering: every weight is summed per block
    int fine = filtered ? kFineBins : 0;
    split_row(x, P, bin_upper<T>(fine), fine);
    double tot[kSampleBins + 1];
    int bp = kSampleBins, bm = kSampleBins;
    double all = 0, above_p = 0;
    for (;;) {
      // bin totals in block order, the summed weights as one more bin
      std::fill(tot, tot + fine, 0.0);
      for (i64 j = 0; j < nb; ++j)
        for (int b = 0; b < fine; ++b) tot[b] += hb[j * kSampleBins + b];
      double rest = 0;
      for (const double v : low) rest += v;
      tot[fine] = rest;
      all = 0;
      for (int b = 0; b <= fine; ++b) all += tot[b];
      bp = bm = kSampleBins;
      above_p = 0;
      if (s.top_p < 1.0) {
        const double need = s.top_p * all;
        double cum = 0;
        for (int b = 0; b <= fine; ++b) {
          if (tot[b] > 0 && cum + tot[b] >= need) {
            bp = b;
            break;
          }
          cum += tot[b];
        }
        above_p = cum;
      }
      if (emin > T(0)) bm = weight_bin<T>(emin);
      const int first = std::min(bp, bm);
      if (first >= kSampleBins || first < fine || fine == kSampleBins) break;
      // a boundary among the summed weights: gather them all
      fine = kSampleBins;
      split_row(x, P, T(0), fine);
    }
    const int bs = std::min(bp, bm);  // the one partially kept bin (kSampleBins: none)
    const bool cut_p = bs < kSampleBins && bs == bp, cut_m = bs < kSampleBins && bs == bm;
    T tp = -std::numeric_limits<T>::infinity();
    auto kept_binned = [&](T v, T e, int b) {
      return b < bs || (b == bs && (!cut_p || v >= tp) && (!cut_m || e >= emin));
    };
    auto kept_weight = [&](T v, T e) { return e > T(0) && kept_binned(v, e, weight_bin<T>(e)); };
    // kept mass per block: whole bins, the kept part of bin bs, the summed weights when nothing
    // is cut; the total in block order
    bmass.assign(static_cast<size_t>(nb), 0.0);
    if (bs < kSampleBins) {
      // the entries of bin bs, found without a data-dependent branch
      const i64 ng = gstart[nb];
      spos.resize(static_cast<size_t>(ng) + 1);
      size_t c = 0;
      for (i64 i = 0; i < ng; ++i) {
        spos[c] = i;
        c += gb[i] == bs ? 1 : 0;
      }
      sv.resize(c);
      sw.resize(c);
      sj.resize(c);
      i64 j = 0;
      for (size_t q = 0; q < c; ++q) {
        const i64 i = spos[q];
        while (gstart[j + 1] <= i) ++j;
        sv[q] = x[j * kBlock + gidx[i]];
        sw[q] = gw[i];
        sj[q] = j;
      }
      if (cut_p) {
        tv.assign(sv.begin(), sv.end());
        tw.assign(sw.begin(), sw.end());
        tp = weighted_threshold(tv, tw, s.top_p * all - above_p);
      }
      for (size_t i = 0; i < sv.size(); ++i)
        if (kept_binned(sv[i], sw[i], bs)) bmass[static_cast<size_t>(sj[i])] += static_cast<double>(sw[i]);
    }
    double total = 0;
    for (i64 j = 0; j < nb; ++j) {
      const double* h = &hb[j * kSampleBins];
      double m = 0;
      for (int b = 0; b < std::min(bs, fine); ++b) m += h[b];
      if (bs == kSampleBins) m += low[j];
      bmass[j] += m;
      total += bmass[j];
    }
    auto kept_entry = [&](T v, T e) { return v >= P.thr && kept_weight(v, e); };
    // the draw: the block where the running sum crosses u * total, then the walk inside it
    const double u = philox_uniform(s.seed, s.offset);
    const double target = u * total;
    double cum = 0;
    i64 jb = -1;
    for (i64 j = 0; j < nb; ++j) {
      if (bmass[j] > 0 && cum + bmass[j] > target) {
        jb = j;
        break;
      }
      cum += bmass[j];
    }
    if (jb < 0) {  // rounding at the very end: the last block with mass
      cum = 0;
      for (i64 j = 0; j < nb; ++j)
        if (bmass[j] > 0) jb = j;
      for (i64 j = 0; j < jb; ++j) cum += bmass[j];
    }
    i64 tok = -1;
    eb.resize(static_cast<size_t>(kBlock));
    {
      const auto [off, len] = detail::block_range(jb, n);
      T* e = eb.data();
      k.tempered_exp(x + off, len, P.zmax, P.c, e);
      double c2 = cum;
      for (i64 i = 0; i < len; ++i) {
        if (!kept_entry(x[off + i], e[i])) continue;
        c2 += static_cast<double>(e[i]);
        tok = off + i;
        if (c2 > target) break;
      }
    }
    if (probs_row || kept_row) {
      for (i64 j = 0; j < nb; ++j) {
        const auto [off, len] = detail::block_range(j, n);
        T* e = eb.data();
        k.tempered_exp(x + off, len, P.zmax, P.c, e);
        for (i64 i = 0; i < len; ++i) {
          const bool kp = kept_entry(x[off + i], e[i]);
          if (probs_row) probs_row[(off + i) * ps] = kp ? static_cast<T>(static_cast<double>(e[i]) / total) : T(0);
          if (kept_row) kept_row[(off + i) * ks] = kp ? 1 : 0;
        }
      }
    }
    return tok;
  }
};

}  // namespace

SampleSettings row_settings(const logitcore_sampling_params& p, std::int64_t r) {
  SampleSettings s;
  if (p.temperature) s.temperature = p.temperature[r * p.temperature_stride];
  if (p.top_k) s.top_k = p.top_k[r * p.top_k_stride];
  if (p.top_p) s.top_p = p.top_p[r * p.top_p_stride];
  if (p.min_p) s.min_p = p.min_p[r * p.min_p_stride];
  if (p.target_entropy) s.target_entropy = p.target_entropy[r * p.target_entropy_stride];
  if (p.seed) s.seed = p.seed[r * p.seed_stride];
  if (p.offset) s.offset = p.offset[r * p.offset_stride];
  return s;
}

void philox4x32_10(const std::uint32_t ctr[4], const std::uint32_t key[2], std::uint32_t out[4]) {
  std::uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    const std::uint64_t p0 = static_cast<std::uint64_t>(0xD2511F53u) * c0;
    const std::uint64_t p1 = static_cast<std::uint64_t>(0xCD9E8D57u) * c2;
    const std::uint32_t hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
    const std::uint32_t hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
    const std::uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

double philox_uniform(std::uint64_t seed, std::uint64_t offset) {
  const std::uint32_t ctr[4] = {static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(offset >> 32), 0, 0};
  const std::uint32_t key[2] = {static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
  std::uint32_t r[4];
  philox4x32_10(ctr, key, r);
  const std::uint64_t bits = ((static_cast<std::uint64_t>(r[0]) << 32) | r[1]) >> 11;
  return static_cast<double>(bits) * 0x1.0p-53;
}

// S: the logits' storage type. Half precision (bfloat16, float16): each row is widened to
// float32 once, by the kernels' loads, into a row of scratch, and sampled there by the float32
// path (the same draws as float32 logits holding the same values); the target entropies are
// solved on the half-precision rows directly (entropy normalization reads them natively).
template <class S>
SampleResult sample_rows(const KernelTable& kt, const NdView& x, const logitcore_sampling_params& params,
                         const SampleOutputs<S>& out, int nthreads) {
  using T = compute_t<S>;
  constexpr bool kHalf = !std::is_same<S, T>::value;
  const i64 rows = x.shape[0], n = x.shape[1];
  const i64 nlp = out.n_logprobs;
  // staged outputs: nothing reaches the caller unless every row succeeds
  std::vector<std::int64_t> tokens(static_cast<size_t>(rows));
  std::vector<double> tok_lp(out.token_logprob ? static_cast<size_t>(rows) : 0);
  std::vector<std::int64_t> top_ids(static_cast<size_t>(rows * nlp));
  std::vector<double> top_lp(static_cast<size_t>(rows * nlp));
  std::vector<double> gam(out.gamma ? static_cast<size_t>(rows) : 0);
  std::vector<T> probs(out.probs ? static_cast<size_t>(rows * n) : 0);
  std::vector<std::uint8_t> kept(out.kept ? static_cast<size_t>(rows * n) : 0);
  std::vector<int> fail(static_cast<size_t>(rows), 0);

  // the target entropies' gammas, for every row at once (NaN: no target, or solved per row)
  std::vector<double> gpre(static_cast<size_t>(rows), std::numeric_limits<double>::quiet_NaN());
  if (params.target_entropy) {
    std::vector<double> tgt(static_cast<size_t>(rows));
    bool any = false;
    for (i64 r = 0; r < rows; ++r) {
      tgt[r] = row_settings(params, r).target_entropy;
      any |= tgt[r] == tgt[r];
    }
    if (any) {
      std::vector<std::int8_t> st(static_cast<size_t>(rows));
      std::vector<std::int32_t> it(static_cast<size_t>(rows));
      std::vector<std::uint8_t> cv(static_cast<size_t>(rows)), cl(static_cast<size_t>(rows));
      std::vector<double> hmin(static_cast<size_t>(rows)), hmax(static_cast<size_t>(rows)), h(static_cast<size_t>(rows));
      const EnInfo info{gpre.data(), it.data(), cv.data(), cl.data(), st.data(), hmin.data(), hmax.data(), h.data()};
      NdView none = x;
      none.data = nullptr;
      entropy_normalize_rows<S>(kt, x, none, tgt.data(), target_options<T>(), info, nthreads);
      for (i64 r = 0; r < rows; ++r)
        if (st[r] == kEnInvalid || st[r] == kEnNoSupport) gpre[r] = std::numeric_limits<double>::quiet_NaN();
    }
  }
  const detail::Plan plan = detail::make_plan(rows, n, nthreads);
  // few long rows: one row at a time, its passes split over the threads by blocks
  const int nt = plan.split_rows ? 1 : plan.nt;
  std::vector<RowSampler<T>*> samplers(static_cast<size_t>(nt), nullptr);
  std::vector<std::vector<T>> wide(kHalf ? static_cast<size_t>(nt) : 0);  // widened rows
  for (int t = 0; t < nt; ++t) {
    samplers[t] = new RowSampler<T>(kt, n);
    samplers[t]->nt = plan.split_rows ? plan.nt : 1;
  }
  detail::parallel_for(rows, nt, [&](i64 r, int tid) {
    RowSampler<T>& Sm = *samplers[static_cast<size_t>(tid)];
    const SampleSettings s = row_settings(params, r);
    const S* xs = static_cast<const S*>(x.data) + r * x.strides[0];
    try {
      const T* xr;
      i64 xstride;
      if constexpr (kHalf) {
        std::vector<T>& w = wide[static_cast<size_t>(tid)];
        w.resize(static_cast<size_t>(n));
        if (x.strides[1] == 1) {
          detail::kern<S>(kt).widen(xs, n, w.data());
        } else {
          for (i64 i = 0; i < n; ++i) w[static_cast<size_t>(i)] = static_cast<T>(xs[i * x.strides[1]]);
        }
        xr = w.data();
        xstride = 1;
        Sm.next_row = nullptr;
      } else {
        xr = xs;
        xstride = x.strides[1];
        // the row this thread takes next: its start is prefetched once this row has been read
        Sm.next_row = x.strides[1] == 1 && r + nt < rows ? xr + nt * x.strides[0] : nullptr;
      }
      const SampleFailure f = Sm.run(xr, xstride, s, nlp, &tokens[r], out.token_logprob ? &tok_lp[r] : nullptr,
                                    nlp ? &top_ids[r * nlp] : nullptr, nlp ? &top_lp[r * nlp] : nullptr,
                                    out.probs ? &probs[r * n] : nullptr, 1, out.kept ? &kept[r * n] : nullptr, 1,
                                    out.gamma ? &gam[r] : nullptr, gpre[r]);
      fail[r] = static_cast<int>(f);
    } catch (const std::bad_alloc&) {
      fail[r] = static_cast<int>(SampleFailure::out_of_memory);
    }
  });
  for (RowSampler<T>* p : samplers) delete p;
  for (i64 r = 0; r < rows; ++r)
    if (fail[r]) return {static_cast<SampleFailure>(fail[r]), r};
  if (out.tokens) std::copy(tokens.begin(), tokens.end(), out.tokens);
  if (out.token_logprob) std::copy(tok_lp.begin(), tok_lp.end(), out.token_logprob);
  if (nlp > 0) {
    if (out.top_tokens) std::copy(top_ids.begin(), top_ids.end(), out.top_tokens);
    if (out.top_logprobs) std::copy(top_lp.begin(), top_lp.end(), out.top_logprobs);
  }
  if (out.gamma) std::copy(gam.begin(), gam.end(), out.gamma);
  if (out.probs) {
    const NdView& p = *out.probs;
    for (i64 r = 0; r < rows; ++r)
      for (i64 i = 0; i < n; ++i)
        static_cast<S*>(p.data)[r * p.strides[0] + i * p.strides[1]] = to_storage<S>(probs[static_cast<size_t>(r * n + i)]);
  }
  if (out.kept) {
    const NdView& q = *out.kept;
    for (i64 r = 0; r < rows; ++r)
      for (i64 i = 0; i < n; ++i)
        static_cast<std::uint8_t*>(q.data)[r * q.strides[0] + i * q.strides[1]] = kept[static_cast<size_t>(r * n + i)];
  }
  return {};
}

// T: the storage type (half precision: each adjusted logit is computed in double and stored
// through float32, to nearest even, as the float32 path's result would be rounded)
template <class T>
void penalty_rows(const NdView& x, const NdView& y, const NdView& ids, const logitcore_penalty_params& pp,
                  int nthreads) {
  const i64 rows = x.shape[0], n = x.shape[1], L = ids.shape[1];
  const detail::Plan plan = detail::make_plan(rows, L * 16, nthreads);
  detail::parallel_for(rows, plan.nt, [&](i64 r, int) {
    const T* xr = static_cast<const T*>(x.data) + r * x.strides[0];
    T* yr = static_cast<T*>(y.data) + r * y.strides[0];
    const i64 xs = x.strides[1], ys = y.strides[1];
    if (xr != yr || xs != ys)
      for (i64 i = 0; i < n; ++i) yr[i * ys] = xr[i * xs];
    const double rho = pp.repetition ? pp.repetition[r * pp.repetition_stride] : 1.0;
    const double af = pp.frequency ? pp.frequency[r * pp.frequency_stride] : 0.0;
    const double ap = pp.presence ? pp.presence[r * pp.presence_stride] : 0.0;
    const std::int64_t* ir = static_cast<const std::int64_t*>(ids.data) + r * ids.strides[0];
    std::vector<std::int64_t> v;
    v.reserve(static_cast<size_t>(L));
    for (i64 j = 0; j < L; ++j) {
      const std::int64_t id = ir[j * ids.strides[1]];
      if (id >= 0) v.push_back(id);
    }
    std::sort(v.begin(), v.end());
    for (size_t i = 0; i < v.size();) {
      size_t j = i;
      while (j < v.size() && v[j] == v[i]) ++j;
      T& z = yr[v[i] * ys];
      double a = static_cast<double>(z);
      if (a == a && a != kInf && a != -kInf) {
        if (rho != 1.0) a = a > 0 ? a / rho : a * rho;
        a = a - static_cast<double>(j - i) * af - ap;
        z = to_storage<T>(a);
      }
      i = j;
    }
  });
}

#define LOGITCORE_SAMPLING_INSTANTIATE(T)                                                                        \
  template SampleResult sample_rows<T>(const KernelTable&, const NdView&, const logitcore_sampling_params&,       \
                                       const SampleOutputs<T>&, int);                                           \
  template void penalty_rows<T>(const NdView&, const NdView&, const NdView&, const logitcore_penalty_params&, int);
LOGITCORE_SAMPLING_INSTANTIATE(float)
LOGITCORE_SAMPLING_INSTANTIATE(double)
LOGITCORE_SAMPLING_INSTANTIATE(bf16)
LOGITCORE_SAMPLING_INSTANTIATE(f16)
#undef LOGITCORE_SAMPLING_INSTANTIATE

}  // namespace logitcore_impl
