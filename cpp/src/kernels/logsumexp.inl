// The logsumexp / softmax / entropy family of block kernels (docs/math.md §1): the block
// statistics (m, s) and (m, s, t) of §1.1 and §1.4 (stats, stats_entropy, stats_w for weights),
// the split excess of a dominated row (excess, and split_sum of stored terms), softmax's and
// log_softmax's passes of §1.3 (exp_store_sum, exp_scale, sub) and entropy's sum of p log p
// (plogp). The losses of docs/math.md §3 run on this family too: their first pass is
// stats_store (the maximum and sum of exp of §1.1, with the terms kept for the gradient) and
// their dominated-row refinement is split_sum; both stay here, beside the stats and excess
// kernels they share their code and accuracy with. Builds on math.inl; included by each ISA
// unit inside its anonymous namespace (see math.inl).

// --- tuning ---

// Largest |max| for which w = x * l2e - m * l2e is formed with one FMA: the rounding error of
// m * l2e (a shift common to the block, at most ulp(kFuseMax * l2e) / 2 ~ 2.4e-4 in log2 units)
// changes the result by a relative 1e-7 of |lse| at most.
template <class T>
constexpr T kFuseMax = sizeof(T) == 4 ? T(4096) : T(1099511627776.0);
// stats in one pass (stats_plain): entries may exceed the shift by this much before the pass
// is redone in two, so that no term exp(x - shift) of a block can overflow its sum.
template <class T>
constexpr T kOnePassSpread = sizeof(T) == 4 ? T(60) : T(600);
// Blocks shorter than this many vectors take the two-pass stats: a second pass over so few
// vectors (already in L1) is cheap.
constexpr std::int64_t kOnePassMinVecs = 8;
// Weights stats_w takes as they are: every nonzero |b| within [2^-60, 2^60]. Then no sum
// overflows (|s| <= 2048 * 2^60) and a term lost to the underflow of exp(x - m) is below
// 2^-1000 of the maximum's term. Blocks with other weights (huge, tiny, infinite or NaN) come
// back with s = NaN, like blocks with special values, and the driver sums them in log space.
template <class T>
constexpr T kWeightLo = T(8.673617379884035e-19);  // 2^-60
template <class T>
constexpr T kWeightHi = T(1152921504606846976.0);  // 2^60
// Independent accumulators of the max and stats passes: consecutive vectors' adds and exp
// polynomials overlap instead of waiting on one dependency chain (loops written out for 4).
constexpr std::int64_t kStatsAcc = 4;
// Accumulators (and vectors per step) of the passes that also store their terms or read a
// second array (exp_sum_from, stats_entropy, stats_w, exp_scale): more registers live per vector.
constexpr std::int64_t kStoreAcc = 2;

// --- block statistics (docs/math.md §1.1, §1.4) ---

// The block maximum, kStatsAcc running maxima.
template <class V, class S = typename V::T>
inline typename V::T block_max(const S* x, std::int64_t n) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const T ninf = -std::numeric_limits<T>::infinity();
  static_assert(kStatsAcc == 4, "written out for four accumulators");
  R m0 = V::set1(ninf), m1 = m0, m2 = m0, m3 = m0;
  std::int64_t i = 0;
  for (; i + kStatsAcc * W <= n; i += kStatsAcc * W) {
    m0 = V::max(m0, V::loadu(x + i));
    m1 = V::max(m1, V::loadu(x + i + W));
    m2 = V::max(m2, V::loadu(x + i + 2 * W));
    m3 = V::max(m3, V::loadu(x + i + 3 * W));
  }
  for (; i + W <= n; i += W) m0 = V::max(m0, V::loadu(x + i));
  if (i < n) m1 = V::max(m1, V::load_tail(x + i, n - i, ninf));
  return V::hmax(V::max(V::max(m0, m1), V::max(m2, m3)));
}

// The block maximum (softmax's first pass, §1.3); it may miss a NaN entry, which the
// caller's sum then shows.
template <class V, class S = typename V::T>
double block_max_d(const S* x, std::int64_t n) {
  return static_cast<double>(block_max<V>(x, n));
}

// Sum of exp(x - m) computed as 2^w with w = (x - m) / ln 2 formed by one fused multiply-add
// from x: a single rounding, relative 2^-24 of |w| per term, plus a shift common to all terms
// of at most 2^-24 |m| / ln 2 (harmless: relative to |lse|). kLow2 clamps -inf and NaN passes.
// Blocks whose |max| exceeds kFuseMax form w unfused instead:
template <class V>
struct SubMul {  // w = (x - m) * l2e: for maxima so large that m * l2e overflows
  using R = typename V::R;
  static R w2(R x, R m, R l2e, R) { return V::mul(V::sub(x, m), l2e); }
};
template <class V>
struct FusedW2 {
  using R = typename V::R;
  static R w2(R x, R m, R l2e, R c) { return V::w2(x, m, l2e, c); }
};

template <class V, bool kWithT, class WF = FusedW2<V>, class S = typename V::T>
BlockStats stats_impl(const S* x, std::int64_t n) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const T ninf = -std::numeric_limits<T>::infinity();
  const T m = block_max<V>(x, n);
  if (m == ninf) return {-std::numeric_limits<double>::infinity(), 0.0, 0.0};
  if (!(m - m == 0)) {  // +inf or NaN: the driver recomputes with exact rules
    const double nan = std::numeric_limits<double>::quiet_NaN();
    return {static_cast<double>(m), nan, nan};
  }
  const R vm = V::set1(m);
  const R l2e = V::set1(kLog2e<T>);
  // the fused form shifts every w by the rounding error of m * l2e: fine while |m| is moderate
  if (std::is_same<WF, FusedW2<V>>::value && !(m <= kFuseMax<T> && m >= -kFuseMax<T>))
    return stats_impl<V, kWithT, SubMul<V>>(x, n);
  const R c = V::set1(-(m * kLog2e<T>));
  const R lo = V::set1(V::kLow2);
  static_assert(kStatsAcc == 4, "written out for four accumulators");
  R s0 = V::set1(0), s1 = s0, s2 = s0, s3 = s0;
  R t0 = s0, t1 = s0, t2 = s0, t3 = s0;
  std::int64_t i = 0;
  for (; i + kStatsAcc * W <= n; i += kStatsAcc * W) {
    // the next block (of this row or the next) streams into the cache while this one, already
    // in L1 after the max pass, is computed: memory and arithmetic overlap
    prefetch_ahead<V>(x + i);
    const R w0 = V::max(lo, WF::w2(V::loadu(x + i), vm, l2e, c));
    const R w1 = V::max(lo, WF::w2(V::loadu(x + i + W), vm, l2e, c));
    const R w2 = V::max(lo, WF::w2(V::loadu(x + i + 2 * W), vm, l2e, c));
    const R w3 = V::max(lo, WF::w2(V::loadu(x + i + 3 * W), vm, l2e, c));
    const R e0 = V::exp2_core_neg(w0), e1 = V::exp2_core_neg(w1), e2 = V::exp2_core_neg(w2), e3 = V::exp2_core_neg(w3);
    s0 = V::add(s0, e0);
    s1 = V::add(s1, e1);
    s2 = V::add(s2, e2);
    s3 = V::add(s3, e3);
    if (kWithT) {
      t0 = V::fmadd(e0, w0, t0);
      t1 = V::fmadd(e1, w1, t1);
      t2 = V::fmadd(e2, w2, t2);
      t3 = V::fmadd(e3, w3, t3);
    }
  }
  for (; i + W <= n; i += W) {
    const R w = V::max(lo, WF::w2(V::loadu(x + i), vm, l2e, c));
    const R e = V::exp2_core_neg(w);
    s0 = V::add(s0, e);
    if (kWithT) t0 = V::fmadd(e, w, t0);
  }
  if (i < n) {
    // padding lanes are -inf: w = kLow2, 2^kLow2 = 0, so they add exactly 0 to s and t.
    const R w = V::max(lo, WF::w2(V::load_tail(x + i, n - i, ninf), vm, l2e, c));
    const R e = V::exp2_core_neg(w);
    s1 = V::add(s1, e);
    if (kWithT) t1 = V::fmadd(e, w, t1);
  }
  BlockStats st;
  st.m = static_cast<double>(m);
  st.s = V::hsum(V::add(V::add(s0, s1), V::add(s2, s3)));
  // t in nats: sum e (x - m) = ln 2 * sum e w
  st.t = kWithT ? kLn2 * V::hsum(V::add(V::add(t0, t1), V::add(t2, t3))) : 0.0;
  return st;
}

// One pass instead of two: the sum is formed relative to the maximum of the block's FIRST
// vector (a shift that depends on the block alone, so results stay independent of threads)
// while the true maximum is tracked alongside; s is then moved to the true maximum by one
// exp in double. Terms exceed 1 only for entries above the shift; the pass is redone the
// two-pass way when that could overflow (an entry more than kOnePassSpread above the shift,
// a non-finite shift or sum), so special values and wide blocks keep their exact handling.
// With WF = SubMul, w = (x - shift) / ln 2 is formed from the difference (stats_exact): no
// shift common to the terms, so log s is accurate on its own, as log_softmax needs (x - lse
// must be right relative to itself, not to |lse|).
template <class V, class WF = FusedW2<V>, class S = typename V::T>
BlockStats stats_plain(const S* x, std::int64_t n) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  if (n < kOnePassMinVecs * W) return stats_impl<V, false, WF>(x, n);
  const T shift = V::hmax(V::loadu(x));
  if (!(shift <= kFuseMax<T> && shift >= -kFuseMax<T>)) return stats_impl<V, false, WF>(x, n);
  const T ninf = -std::numeric_limits<T>::infinity();
  const R vm = V::set1(shift);
  const R l2e = V::set1(kLog2e<T>);
  const R c = V::set1(-(shift * kLog2e<T>));
  const R lo = V::set1(V::kLowSum);  // the terms are only summed
  static_assert(kStatsAcc == 4, "written out for four accumulators");
  R s0 = V::set1(0), s1 = s0, s2 = s0, s3 = s0;
  R m0 = V::set1(ninf), m1 = m0;
  std::int64_t i = 0;
  for (; i + kStatsAcc * W <= n; i += kStatsAcc * W) {
    prefetch_ahead<V>(x + i);
    const R x0 = V::loadu(x + i), x1 = V::loadu(x + i + W), x2 = V::loadu(x + i + 2 * W),
            x3 = V::loadu(x + i + 3 * W);
    m0 = V::max(m0, V::max(x0, x1));
    m1 = V::max(m1, V::max(x2, x3));
    s0 = V::add(s0, V::exp2_sum(V::max(lo, WF::w2(x0, vm, l2e, c))));
    s1 = V::add(s1, V::exp2_sum(V::max(lo, WF::w2(x1, vm, l2e, c))));
    s2 = V::add(s2, V::exp2_sum(V::max(lo, WF::w2(x2, vm, l2e, c))));
    s3 = V::add(s3, V::exp2_sum(V::max(lo, WF::w2(x3, vm, l2e, c))));
  }
  for (; i + W <= n; i += W) {
    const R x0 = V::loadu(x + i);
    m0 = V::max(m0, x0);
    s0 = V::add(s0, V::exp2_sum(V::max(lo, WF::w2(x0, vm, l2e, c))));
  }
  if (i < n) {
    const R x0 = V::load_tail(x + i, n - i, ninf);
    m1 = V::max(m1, x0);
    s1 = V::add(s1, V::exp2_sum(V::max(lo, WF::w2(x0, vm, l2e, c))));
  }
  const T m = V::hmax(V::max(m0, m1));
  const double s = V::hsum(V::add(V::add(s0, s1), V::add(s2, s3)));
  if (!(s - s == 0) || !(m - shift <= kOnePassSpread<T>)) return stats_impl<V, false, WF>(x, n);
  const double d = static_cast<double>(shift) - static_cast<double>(m);
  return {static_cast<double>(m), d == 0 ? s : s * ::exp(d), 0.0};
}

// --- terms stored and split (softmax §1.3, the losses' first pass §3, dominated rows §1.1) ---

// e = exp(x - m) for x <= m (or -inf), summed and, with kStore, stored into e (e may alias
// x). kBase2 forms e as 2^((x - m) log2 e) (one rounding of the product: relative error below
// |x - m| 2^-24), otherwise by Cody-Waite reduction (within an ulp whatever |x - m|); both give
// exactly 1 at x == m. With kSplit the terms below 1 are also summed on their own (r): the
// sum s = (number of terms equal to 1) + r splits exactly, and r keeps its relative accuracy
// when one term of 1 dominates the block.
struct SumSplit {
  double s;
  double r;
};

template <class V, bool kStore, bool kBase2, bool kSplit = false, class S = typename V::T>
SumSplit exp_sum_from(const S* x, std::int64_t n, typename V::T m, typename V::T* e) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const R vm = V::set1(m), one = V::set1(T(1));
  const R l2e = V::set1(kLog2e<T>);
  auto ex = [&](R xv) {
    const R d = V::sub(xv, vm);
    return kBase2 ? V::exp2_neg(V::mul(d, l2e)) : V::exp_neg(d);
  };
  static_assert(kStoreAcc == 2, "written out for two accumulators");
  R s0 = V::set1(0), s1 = s0, r0 = s0, r1 = s0;
  std::int64_t i = 0;
  for (; i + kStoreAcc * W <= n; i += kStoreAcc * W) {
    prefetch_ahead<V, kStoreAcc>(x + i);
    const R d0 = V::sub(V::loadu(x + i), vm), d1 = V::sub(V::loadu(x + i + W), vm);
    R e0, e1;
    if (kBase2) exp_neg_pair<V, true>(V::mul(d0, l2e), V::mul(d1, l2e), e0, e1);
    else exp_neg_pair<V, false>(d0, d1, e0, e1);
    if (kStore) {
      V::storeu(e + i, e0);
      V::storeu(e + i + W, e1);
    }
    s0 = V::add(s0, e0);
    s1 = V::add(s1, e1);
    in_registers<V>(s0, s1);
    if (kSplit) {
      r0 = V::add(r0, V::keep_lt(e0, one));
      r1 = V::add(r1, V::keep_lt(e1, one));
    }
  }
  for (; i + W <= n; i += W) {
    const R e0 = ex(V::loadu(x + i));
    if (kStore) V::storeu(e + i, e0);
    s0 = V::add(s0, e0);
    if (kSplit) r0 = V::add(r0, V::keep_lt(e0, one));
  }
  if (i < n) {
    const R e0 = ex(V::load_tail(x + i, n - i, -std::numeric_limits<T>::infinity()));
    if (kStore) V::store_tail(e + i, e0, n - i);
    s1 = V::add(s1, e0);
    if (kSplit) r1 = V::add(r1, V::keep_lt(e0, one));
  }
  return {V::hsum(V::add(s0, s1)), kSplit ? V::hsum(V::add(r0, r1)) : 0.0};
}

// Block max, then e = exp(x - m) stored and summed: the gradient of softmax-based losses
// reuses e instead of a second exp. Float uses the base-2 form (the loss pass is hot),
// double Cody-Waite.
template <class V, bool kStore, class S = typename V::T>
BlockStats stats_store_impl(const S* x, std::int64_t n, typename V::T* e) {
  using T = typename V::T;
  const T ninf = -std::numeric_limits<T>::infinity();
  const T m = block_max<V>(x, n);
  if (m == ninf) {
    if (kStore)
      for (std::int64_t i = 0; i < n; ++i) e[i] = T(0);
    return {-std::numeric_limits<double>::infinity(), 0.0, 0.0};
  }
  if (!(m - m == 0)) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    return {static_cast<double>(m), nan, nan};
  }
  return {static_cast<double>(m), exp_sum_from<V, kStore, sizeof(T) == 4>(x, n, m, e).s, 0.0};
}

// softmax's middle pass: Cody-Waite exp relative to the row maximum, stored and summed.
template <class V, class S = typename V::T>
double exp_store_sum_impl(const S* x, std::int64_t n, typename V::T shift, typename V::T* y) {
  return exp_sum_from<V, true, false>(x, n, shift, y).s;
}

template <class V, class S = typename V::T>
BlockStats stats_store_dispatch(const S* x, std::int64_t n, typename V::T* e) {
  return e ? stats_store_impl<V, true>(x, n, e) : stats_store_impl<V, false>(x, n, nullptr);
}

// The terms of a block below 1, exp(x - m) by Cody-Waite (each within an ulp), summed on
// their own, and the number of terms equal to 1 (the entries at m, and any so close that
// their exp rounds to 1): s = ties + r exactly.
template <class V, class S = typename V::T>
Excess excess_impl(const S* x, std::int64_t n, typename V::T m) {
  const SumSplit ss = exp_sum_from<V, false, false, true>(x, n, m, nullptr);
  return {ss.r, ::nearbyint(ss.s - ss.r)};
}

// The same split of stored terms e <= 1 (no exp): r = sum of e below 1, ties = count of e == 1.
// Float lanes add at most kSumGroup vectors before the partial sum moves to double.
template <class V>
Excess split_sum_impl(const typename V::T* e, std::int64_t n) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const R one = V::set1(T(1)), zero = V::set1(T(0));
  R ties = zero, tail = zero;
  double r = 0;
  static_assert(kSumGroup == 4, "written out for groups of four vectors");
  std::int64_t i = 0;
  for (; i + kSumGroup * W <= n; i += kSumGroup * W) {
    const R v0 = V::loadu(e + i), v1 = V::loadu(e + i + W), v2 = V::loadu(e + i + 2 * W),
            v3 = V::loadu(e + i + 3 * W);
    ties = V::add(V::add(ties, V::add(V::ones_eq(v0, one), V::ones_eq(v1, one))),
                  V::add(V::ones_eq(v2, one), V::ones_eq(v3, one)));
    r += V::hsum(V::add(V::add(V::keep_lt(v0, one), V::keep_lt(v1, one)),
                        V::add(V::keep_lt(v2, one), V::keep_lt(v3, one))));
  }
  for (; i + W <= n; i += W) {
    const R v = V::loadu(e + i);
    ties = V::add(ties, V::ones_eq(v, one));
    tail = V::add(tail, V::keep_lt(v, one));
  }
  if (i < n) {
    const R v = V::load_tail(e + i, n - i, T(0));  // padding: 0, below 1, adds nothing
    ties = V::add(ties, V::ones_eq(v, one));
    tail = V::add(tail, V::keep_lt(v, one));
  }
  return {r + V::hsum(tail), V::hsum(ties)};
}

// Entropy statistics: w = x - m (exact when x is near m) and exp by Cody-Waite reduction, so
// each term is accurate to an ulp whatever |w| (t weighs the terms by w).
template <class V, class S = typename V::T>
BlockStats stats_entropy(const S* x, std::int64_t n) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const T ninf = -std::numeric_limits<T>::infinity();
  const T m = block_max<V>(x, n);
  if (m == ninf) return {-std::numeric_limits<double>::infinity(), 0.0, 0.0};
  if (!(m - m == 0)) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    return {static_cast<double>(m), nan, nan};
  }
  const R vm = V::set1(m), lo = V::set1(V::kLow);
  static_assert(kStoreAcc == 2, "written out for two accumulators");
  R s0 = V::set1(0), s1 = s0, t0 = s0, t1 = s0;
  std::int64_t i = 0;
  for (; i + kStoreAcc * W <= n; i += kStoreAcc * W) {
    const R w0 = V::max(lo, V::sub(V::loadu(x + i), vm));
    const R w1 = V::max(lo, V::sub(V::loadu(x + i + W), vm));
    const R e0 = V::exp_core_neg(w0), e1 = V::exp_core_neg(w1);
    s0 = V::add(s0, e0);
    s1 = V::add(s1, e1);
    t0 = V::fmadd(e0, w0, t0);
    t1 = V::fmadd(e1, w1, t1);
  }
  for (; i + W <= n; i += W) {
    const R w = V::max(lo, V::sub(V::loadu(x + i), vm));
    const R e = V::exp_core_neg(w);
    s0 = V::add(s0, e);
    t0 = V::fmadd(e, w, t0);
  }
  if (i < n) {
    const R w = V::max(lo, V::sub(V::load_tail(x + i, n - i, ninf), vm));
    const R e = V::exp_core_neg(w);
    s1 = V::add(s1, e);
    t1 = V::fmadd(e, w, t1);
  }
  return {static_cast<double>(m), V::hsum(V::add(s0, s1)), V::hsum(V::add(t0, t1))};
}

// Weighted statistics: entries with b == 0 excluded, s = sum b exp(x - m) (docs/math.md §1.1,
// "Weights"); weights outside [kWeightLo, kWeightHi] give s = NaN for the driver's log-space path.
template <class V, class WF = FusedW2<V>, class S = typename V::T>
BlockStats stats_weighted(const S* x, const S* b, std::int64_t n) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const T ninf = -std::numeric_limits<T>::infinity();
  const R vninf = V::set1(ninf), vinf = V::set1(-ninf), zero = V::set1(T(0));
  R m0 = vninf, m1 = vninf, amax = zero, amin = vinf;
  auto look = [&](R bv, R xv, R& mm) {
    mm = V::max(mm, V::select_nz(bv, xv, vninf));
    const R a = V::max(bv, V::sub(zero, bv));  // |b|
    amax = V::max(amax, a);
    amin = V::min(amin, V::select_nz(bv, a, vinf));
  };
  static_assert(kStoreAcc == 2, "written out for two accumulators");
  std::int64_t i = 0;
  for (; i + kStoreAcc * W <= n; i += kStoreAcc * W) {
    look(V::loadu(b + i), V::loadu(x + i), m0);
    look(V::loadu(b + i + W), V::loadu(x + i + W), m1);
  }
  for (; i + W <= n; i += W) look(V::loadu(b + i), V::loadu(x + i), m0);
  if (i < n) look(V::load_tail(b + i, n - i, T(0)), V::load_tail(x + i, n - i, ninf), m1);
  const T m = V::hmax(V::max(m0, m1));
  const T bmax = V::hmax(amax), bmin = -V::hmax(V::sub(zero, amin));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (!(bmax <= kWeightHi<T>) || !(bmin >= kWeightLo<T>)) return {static_cast<double>(m), nan, nan};
  if (m == ninf) return {-std::numeric_limits<double>::infinity(), 0.0, 0.0};
  if (!(m - m == 0)) return {static_cast<double>(m), nan, nan};
  const R vm = V::set1(m);
  const R l2e = V::set1(kLog2e<T>);
  if (std::is_same<WF, FusedW2<V>>::value && !(m <= kFuseMax<T> && m >= -kFuseMax<T>))
    return stats_weighted<V, SubMul<V>>(x, b, n);
  const R c = V::set1(-(m * kLog2e<T>));
  const R lo = V::set1(V::kLow2);
  R s0 = V::set1(0), s1 = s0;
  i = 0;
  for (; i + kStoreAcc * W <= n; i += kStoreAcc * W) {
    const R b0 = V::loadu(b + i), b1 = V::loadu(b + i + W);
    const R w0 = V::max(lo, WF::w2(V::select_nz(b0, V::loadu(x + i), vninf), vm, l2e, c));
    const R w1 = V::max(lo, WF::w2(V::select_nz(b1, V::loadu(x + i + W), vninf), vm, l2e, c));
    s0 = V::fmadd(b0, V::exp2_core_neg(w0), s0);
    s1 = V::fmadd(b1, V::exp2_core_neg(w1), s1);
  }
  for (; i + W <= n; i += W) {
    const R b0 = V::loadu(b + i);
    const R w0 = V::max(lo, WF::w2(V::select_nz(b0, V::loadu(x + i), vninf), vm, l2e, c));
    s0 = V::fmadd(b0, V::exp2_core_neg(w0), s0);
  }
  if (i < n) {
    const R b0 = V::load_tail(b + i, n - i, T(0));
    const R w0 = V::max(lo, WF::w2(V::select_nz(b0, V::load_tail(x + i, n - i, ninf), vninf), vm, l2e, c));
    s1 = V::fmadd(b0, V::exp2_core_neg(w0), s1);
  }
  return {static_cast<double>(m), V::hsum(V::add(s0, s1)), 0.0};
}

// --- softmax and log_softmax writes (docs/math.md §1.3) ---

// y = exp(x - shift) * scale, Cody-Waite.
template <class V, class S = typename V::T>
void exp_scale_impl(const S* x, std::int64_t n, typename V::T shift, typename V::T scale, S* y, bool stream) {
  const auto vs = V::set1(shift), vc = V::set1(scale);
  store_pass<V>(
      y, n, stream, [&](std::int64_t i) { return V::mul(V::exp_neg(V::sub(V::loadu(x + i), vs)), vc); },
      [&](std::int64_t i, std::int64_t len) {
        return V::mul(V::exp_neg(V::sub(V::load_tail(x + i, len, shift), vs)), vc);
      });
}

// y = (x - a) - b: log_softmax as x - m - log s.
template <class V, class S = typename V::T>
void sub2_impl(const S* x, std::int64_t n, typename V::T a, typename V::T b, S* y, bool stream) {
  const auto va = V::set1(a), vb = V::set1(b);
  store_pass<V>(
      y, n, stream, [&](std::int64_t i) { return V::sub(V::sub(V::loadu(x + i), va), vb); },
      [&](std::int64_t i, std::int64_t len) { return V::sub(V::sub(V::load_tail(x + i, len, a), va), vb); });
}

// --- entropy of probabilities (docs/math.md §1.4) ---

// Float lanes add at most kSumGroup vectors before the partial sum moves to double (like
// scan), so a long row of equal terms keeps its sum to a few eps.
template <class V, class S = typename V::T>
double plogp_vec(const S* p, std::int64_t n) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const R zero = V::set1(T(0));
  // p == 0 contributes 0 (0 log 0 = 0); select_nz keeps p * log p only where p != 0
  auto term = [&](R p0) { return V::select_nz(p0, V::mul(p0, V::log_core(p0)), zero); };
  double total = 0;
  R a0 = zero;
  static_assert(kSumGroup == 4, "written out for groups of four vectors");
  std::int64_t i = 0;
  for (; i + kSumGroup * W <= n; i += kSumGroup * W) {
    const R part = V::add(V::add(term(V::loadu(p + i)), term(V::loadu(p + i + W))),
                          V::add(term(V::loadu(p + i + 2 * W)), term(V::loadu(p + i + 3 * W))));
    total += V::hsum(part);
  }
  for (; i + W <= n; i += W) a0 = V::add(a0, term(V::loadu(p + i)));
  if (i < n) a0 = V::add(a0, term(V::load_tail(p + i, n - i, T(0))));
  return total + V::hsum(a0);
}
