// ISA-generic block kernels. This file is included by each kernels_<isa>.cpp INSIDE an
// anonymous namespace, after that file has defined the vector traits VF (float) and VD
// (double). Nothing here may have external linkage: every symbol is private to its
// translation unit, so the linker can never pick an AVX-512 copy for a baseline caller.
//
// A traits type V provides: T, R (register), W (lanes), loadu, load_tail(p, n, fill),
// storeu, store_tail(p, r, n), set1, add, sub, mul, fmadd(a, b, c) = a*b + c,
// max(a, b) / min(a, b) (returning b when either is NaN, like x86 MAXPS), select_nz(b, x, f)
// (b != 0 ? x : f), hmax, hsum (reduced in double, fixed order), exp_core(w) for
// w in [kLow, kHigh], kLow (exp(kLow) == 0 exactly) and kHigh (exp(kHigh) == inf),
// log_core(x) (natural log with log 0 = -inf, negative/NaN -> NaN, log inf = inf),
// ones_gt(a, b) / ones_eq(a, b) (1.0 in lanes where a > b / a == b, else 0), keep_lt(a, b)
// (a in lanes where a < b, else 0),
// exp2_core(a) (2^a for a >= kLow2), log2_fast(x) (log2 for finite x >= 0, no special-value
// fixups; 0 gives a huge negative or -inf), stream_store(p, r) (aligned non-temporal store)
// and fence() (orders non-temporal stores).

template <class V>
inline typename V::R exp_clamped(typename V::R x) {
  // min/max ordered so that NaN passes through (second operand is returned on NaN).
  return V::exp_core(V::min(V::set1(V::kHigh), V::max(V::set1(V::kLow), x)));
}

// Prefetch the bytes one block ahead of p (4 vectors' worth, one line per 64 bytes). A
// prefetch never faults, so reading past the end of the array is harmless.
template <class V, int kVecs = 4>
inline void prefetch_ahead(const typename V::T* p) {
  constexpr std::int64_t kBytes = kVecs * V::W * static_cast<std::int64_t>(sizeof(typename V::T));
  const char* q = reinterpret_cast<const char*>(p + kBlock);
  for (std::int64_t b = 0; b < kBytes; b += 64) __builtin_prefetch(q + b, 0, 3);
}

template <class V>
inline typename V::T block_max(const typename V::T* x, std::int64_t n) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const T ninf = -std::numeric_limits<T>::infinity();
  R m0 = V::set1(ninf), m1 = m0, m2 = m0, m3 = m0;
  std::int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    m0 = V::max(m0, V::loadu(x + i));
    m1 = V::max(m1, V::loadu(x + i + W));
    m2 = V::max(m2, V::loadu(x + i + 2 * W));
    m3 = V::max(m3, V::loadu(x + i + 3 * W));
  }
  for (; i + W <= n; i += W) m0 = V::max(m0, V::loadu(x + i));
  if (i < n) m1 = V::max(m1, V::load_tail(x + i, n - i, ninf));
  return V::hmax(V::max(V::max(m0, m1), V::max(m2, m3)));
}

// Sum of exp(x - m) computed as 2^w with w = (x - m) / ln 2 formed by one fused multiply-add
// from x: a single rounding, relative 2^-24 of |w| per term, plus a shift common to all terms
// of at most 2^-24 |m| / ln 2 (harmless: relative to |lse|). kLow2 clamps -inf and NaN passes.
// Largest |max| for which w = x * l2e - m * l2e is formed with one FMA: the rounding error of
// m * l2e (a shift common to the block, at most ulp(kFuseMax * l2e) / 2 ~ 2.4e-4 in log2 units)
// changes the result by a relative 1e-7 of |lse| at most.
template <class T>
constexpr T kFuseMax = sizeof(T) == 4 ? T(4096) : T(1099511627776.0);

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

template <class V, bool kWithT, class WF = FusedW2<V>>
BlockStats stats_impl(const typename V::T* x, std::int64_t n) {
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
  const R l2e = V::set1(T(1.4426950408889634));
  // the fused form shifts every w by the rounding error of m * l2e: fine while |m| is moderate
  if (std::is_same<WF, FusedW2<V>>::value && !(m <= kFuseMax<T> && m >= -kFuseMax<T>))
    return stats_impl<V, kWithT, SubMul<V>>(x, n);
  const R c = V::set1(-(m * T(1.4426950408889634)));
  const R lo = V::set1(V::kLow2);
  R s0 = V::set1(0), s1 = s0, s2 = s0, s3 = s0;
  R t0 = s0, t1 = s0, t2 = s0, t3 = s0;
  std::int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    // the next block (of this row or the next) streams into the cache while this one, already
    // in L1 after the max pass, is computed: memory and arithmetic overlap
    prefetch_ahead<V>(x + i);
    const R w0 = V::max(lo, WF::w2(V::loadu(x + i), vm, l2e, c));
    const R w1 = V::max(lo, WF::w2(V::loadu(x + i + W), vm, l2e, c));
    const R w2 = V::max(lo, WF::w2(V::loadu(x + i + 2 * W), vm, l2e, c));
    const R w3 = V::max(lo, WF::w2(V::loadu(x + i + 3 * W), vm, l2e, c));
    const R e0 = V::exp2_core(w0), e1 = V::exp2_core(w1), e2 = V::exp2_core(w2), e3 = V::exp2_core(w3);
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
    const R e = V::exp2_core(w);
    s0 = V::add(s0, e);
    if (kWithT) t0 = V::fmadd(e, w, t0);
  }
  if (i < n) {
    // padding lanes are -inf: w = kLow2, 2^kLow2 = 0, so they add exactly 0 to s and t.
    const R w = V::max(lo, WF::w2(V::load_tail(x + i, n - i, ninf), vm, l2e, c));
    const R e = V::exp2_core(w);
    s1 = V::add(s1, e);
    if (kWithT) t1 = V::fmadd(e, w, t1);
  }
  BlockStats st;
  st.m = static_cast<double>(m);
  st.s = V::hsum(V::add(V::add(s0, s1), V::add(s2, s3)));
  // t in nats: sum e (x - m) = ln 2 * sum e w
  st.t = kWithT ? 0.6931471805599453 * V::hsum(V::add(V::add(t0, t1), V::add(t2, t3))) : 0.0;
  return st;
}

// One pass instead of two: the sum is formed relative to the maximum of the block's FIRST
// vector (a shift that depends on the block alone, so results stay independent of threads)
// while the true maximum is tracked alongside; s is then moved to the true maximum by one
// exp in double. Terms exceed 1 only for entries above the shift; the pass is redone the
// two-pass way when that could overflow (an entry more than kOnePassSpread above the shift,
// a non-finite shift or sum), so special values and wide blocks keep their exact handling.
template <class T>
constexpr T kOnePassSpread = sizeof(T) == 4 ? T(60) : T(600);

template <class V>
BlockStats stats_plain(const typename V::T* x, std::int64_t n) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  if (n < 8 * W) return stats_impl<V, false>(x, n);
  const T shift = V::hmax(V::loadu(x));
  if (!(shift <= kFuseMax<T> && shift >= -kFuseMax<T>)) return stats_impl<V, false>(x, n);
  const T ninf = -std::numeric_limits<T>::infinity();
  const R vm = V::set1(shift);
  const R l2e = V::set1(T(1.4426950408889634));
  const R c = V::set1(-(shift * T(1.4426950408889634)));
  const R lo = V::set1(V::kLow2);
  R s0 = V::set1(0), s1 = s0, s2 = s0, s3 = s0;
  R m0 = V::set1(ninf), m1 = m0;
  std::int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    prefetch_ahead<V>(x + i);
    const R x0 = V::loadu(x + i), x1 = V::loadu(x + i + W), x2 = V::loadu(x + i + 2 * W),
            x3 = V::loadu(x + i + 3 * W);
    m0 = V::max(m0, V::max(x0, x1));
    m1 = V::max(m1, V::max(x2, x3));
    s0 = V::add(s0, V::exp2_core(V::max(lo, V::w2(x0, vm, l2e, c))));
    s1 = V::add(s1, V::exp2_core(V::max(lo, V::w2(x1, vm, l2e, c))));
    s2 = V::add(s2, V::exp2_core(V::max(lo, V::w2(x2, vm, l2e, c))));
    s3 = V::add(s3, V::exp2_core(V::max(lo, V::w2(x3, vm, l2e, c))));
  }
  for (; i + W <= n; i += W) {
    const R x0 = V::loadu(x + i);
    m0 = V::max(m0, x0);
    s0 = V::add(s0, V::exp2_core(V::max(lo, V::w2(x0, vm, l2e, c))));
  }
  if (i < n) {
    const R x0 = V::load_tail(x + i, n - i, ninf);
    m1 = V::max(m1, x0);
    s1 = V::add(s1, V::exp2_core(V::max(lo, V::w2(x0, vm, l2e, c))));
  }
  const T m = V::hmax(V::max(m0, m1));
  const double s = V::hsum(V::add(V::add(s0, s1), V::add(s2, s3)));
  if (!(s - s == 0) || !(m - shift <= kOnePassSpread<T>)) return stats_impl<V, false>(x, n);
  const double d = static_cast<double>(shift) - static_cast<double>(m);
  return {static_cast<double>(m), d == 0 ? s : s * ::exp(d), 0.0};
}

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

template <class V, bool kStore, bool kBase2, bool kSplit = false>
SumSplit exp_sum_from(const typename V::T* x, std::int64_t n, typename V::T m, typename V::T* e) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const R vm = V::set1(m), one = V::set1(T(1));
  const R lo = V::set1(kBase2 ? V::kLow2 : V::kLow), l2e = V::set1(T(1.4426950408889634));
  auto ex = [&](R xv) {
    const R d = V::sub(xv, vm);
    return kBase2 ? V::exp2_core(V::max(lo, V::mul(d, l2e))) : V::exp_core(V::max(lo, d));
  };
  R s0 = V::set1(0), s1 = s0, r0 = s0, r1 = s0;
  std::int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    prefetch_ahead<V, 2>(x + i);
    const R e0 = ex(V::loadu(x + i));
    const R e1 = ex(V::loadu(x + i + W));
    if (kStore) {
      V::storeu(e + i, e0);
      V::storeu(e + i + W, e1);
    }
    s0 = V::add(s0, e0);
    s1 = V::add(s1, e1);
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
template <class V, bool kStore>
BlockStats stats_store_impl(const typename V::T* x, std::int64_t n, typename V::T* e) {
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
template <class V>
double exp_store_sum_impl(const typename V::T* x, std::int64_t n, typename V::T shift, typename V::T* y) {
  return exp_sum_from<V, true, false>(x, n, shift, y).s;
}

template <class V>
BlockStats stats_store_dispatch(const typename V::T* x, std::int64_t n, typename V::T* e) {
  return e ? stats_store_impl<V, true>(x, n, e) : stats_store_impl<V, false>(x, n, nullptr);
}

// The terms of a block below 1, exp(x - m) by Cody-Waite (each within an ulp), summed on
// their own, and the number of terms equal to 1 (the entries at m, and any so close that
// their exp rounds to 1): s = ties + r exactly.
template <class V>
Excess excess_impl(const typename V::T* x, std::int64_t n, typename V::T m) {
  const SumSplit ss = exp_sum_from<V, false, false, true>(x, n, m, nullptr);
  return {ss.r, ::nearbyint(ss.s - ss.r)};
}

// The same split of stored terms e <= 1 (no exp): r = sum of e below 1, ties = count of e == 1.
// Float lanes add at most four vectors before the partial sum moves to double.
template <class V>
Excess split_sum_impl(const typename V::T* e, std::int64_t n) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const R one = V::set1(T(1)), zero = V::set1(T(0));
  R ties = zero, tail = zero;
  double r = 0;
  std::int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
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
template <class V>
BlockStats stats_ent(const typename V::T* x, std::int64_t n) {
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
  R s0 = V::set1(0), s1 = s0, t0 = s0, t1 = s0;
  std::int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const R w0 = V::max(lo, V::sub(V::loadu(x + i), vm));
    const R w1 = V::max(lo, V::sub(V::loadu(x + i + W), vm));
    const R e0 = V::exp_core(w0), e1 = V::exp_core(w1);
    s0 = V::add(s0, e0);
    s1 = V::add(s1, e1);
    t0 = V::fmadd(e0, w0, t0);
    t1 = V::fmadd(e1, w1, t1);
  }
  for (; i + W <= n; i += W) {
    const R w = V::max(lo, V::sub(V::loadu(x + i), vm));
    const R e = V::exp_core(w);
    s0 = V::add(s0, e);
    t0 = V::fmadd(e, w, t0);
  }
  if (i < n) {
    const R w = V::max(lo, V::sub(V::load_tail(x + i, n - i, ninf), vm));
    const R e = V::exp_core(w);
    s1 = V::add(s1, e);
    t1 = V::fmadd(e, w, t1);
  }
  return {static_cast<double>(m), V::hsum(V::add(s0, s1)), V::hsum(V::add(t0, t1))};
}

// Weights the block takes as they are: every nonzero |b| within [2^-60, 2^60]. Then no sum
// overflows (|s| <= 2048 * 2^60) and a term lost to the underflow of exp(x - m) is below
// 2^-1000 of the maximum's term. Blocks with other weights (huge, tiny, infinite or NaN) come
// back with s = NaN, like blocks with special values, and the driver sums them in log space.
template <class T>
constexpr T kWeightLo = T(8.673617379884035e-19);  // 2^-60
template <class T>
constexpr T kWeightHi = T(1152921504606846976.0);  // 2^60

template <class V, class WF = FusedW2<V>>
BlockStats stats_weighted(const typename V::T* x, const typename V::T* b, std::int64_t n) {
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
  std::int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
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
  const R l2e = V::set1(T(1.4426950408889634));
  if (std::is_same<WF, FusedW2<V>>::value && !(m <= kFuseMax<T> && m >= -kFuseMax<T>))
    return stats_weighted<V, SubMul<V>>(x, b, n);
  const R c = V::set1(-(m * T(1.4426950408889634)));
  const R lo = V::set1(V::kLow2);
  R s0 = V::set1(0), s1 = s0;
  i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const R b0 = V::loadu(b + i), b1 = V::loadu(b + i + W);
    const R w0 = V::max(lo, WF::w2(V::select_nz(b0, V::loadu(x + i), vninf), vm, l2e, c));
    const R w1 = V::max(lo, WF::w2(V::select_nz(b1, V::loadu(x + i + W), vninf), vm, l2e, c));
    s0 = V::fmadd(b0, V::exp2_core(w0), s0);
    s1 = V::fmadd(b1, V::exp2_core(w1), s1);
  }
  for (; i + W <= n; i += W) {
    const R b0 = V::loadu(b + i);
    const R w0 = V::max(lo, WF::w2(V::select_nz(b0, V::loadu(x + i), vninf), vm, l2e, c));
    s0 = V::fmadd(b0, V::exp2_core(w0), s0);
  }
  if (i < n) {
    const R b0 = V::load_tail(b + i, n - i, T(0));
    const R w0 = V::max(lo, WF::w2(V::select_nz(b0, V::load_tail(x + i, n - i, ninf), vninf), vm, l2e, c));
    s1 = V::fmadd(b0, V::exp2_core(w0), s1);
  }
  return {static_cast<double>(m), V::hsum(V::add(s0, s1)), 0.0};
}

template <class V>
void exp_scale_impl(const typename V::T* x, std::int64_t n, typename V::T shift, typename V::T scale,
                    typename V::T* y) {
  using R = typename V::R;
  constexpr std::int64_t W = V::W;
  const R vs = V::set1(shift), vc = V::set1(scale), lo = V::set1(V::kLow);
  std::int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const R a = V::loadu(x + i), b = V::loadu(x + i + W);
    V::storeu(y + i, V::mul(V::exp_core(V::max(lo, V::sub(a, vs))), vc));
    V::storeu(y + i + W, V::mul(V::exp_core(V::max(lo, V::sub(b, vs))), vc));
  }
  for (; i + W <= n; i += W)
    V::storeu(y + i, V::mul(V::exp_core(V::max(lo, V::sub(V::loadu(x + i), vs))), vc));
  if (i < n)
    V::store_tail(y + i, V::mul(V::exp_core(V::max(lo, V::sub(V::load_tail(x + i, n - i, shift), vs))), vc),
                  n - i);
}

template <class V>
void sub2_impl(const typename V::T* x, std::int64_t n, typename V::T a, typename V::T b,
               typename V::T* y) {
  using R = typename V::R;
  constexpr std::int64_t W = V::W;
  const R va = V::set1(a), vb = V::set1(b);
  std::int64_t i = 0;
  for (; i + W <= n; i += W) V::storeu(y + i, V::sub(V::sub(V::loadu(x + i), va), vb));
  if (i < n) V::store_tail(y + i, V::sub(V::sub(V::load_tail(x + i, n - i, a), va), vb), n - i);
}

template <class V>
void exp_impl(const typename V::T* x, std::int64_t n, typename V::T* y) {
  constexpr std::int64_t W = V::W;
  std::int64_t i = 0;
  for (; i + W <= n; i += W) V::storeu(y + i, exp_clamped<V>(V::loadu(x + i)));
  if (i < n) V::store_tail(y + i, exp_clamped<V>(V::load_tail(x + i, n - i, typename V::T(0))), n - i);
}

template <class V>
void log_impl(const typename V::T* x, std::int64_t n, typename V::T* y) {
  constexpr std::int64_t W = V::W;
  std::int64_t i = 0;
  for (; i + W <= n; i += W) V::storeu(y + i, V::log_core(V::loadu(x + i)));
  if (i < n) V::store_tail(y + i, V::log_core(V::load_tail(x + i, n - i, typename V::T(1))), n - i);
}

// Float lanes add at most four vectors before the partial sum moves to double (like scan),
// so a long row of equal terms keeps its sum to a few eps.
template <class V>
double plogp_vec(const typename V::T* p, std::int64_t n) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const R zero = V::set1(T(0));
  // p == 0 contributes 0 (0 log 0 = 0); select_nz keeps p * log p only where p != 0
  auto term = [&](R p0) { return V::select_nz(p0, V::mul(p0, V::log_core(p0)), zero); };
  double total = 0;
  R a0 = zero;
  std::int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    const R part = V::add(V::add(term(V::loadu(p + i)), term(V::loadu(p + i + W))),
                          V::add(term(V::loadu(p + i + 2 * W)), term(V::loadu(p + i + 3 * W))));
    total += V::hsum(part);
  }
  for (; i + W <= n; i += W) a0 = V::add(a0, term(V::loadu(p + i)));
  if (i < n) a0 = V::add(a0, term(V::load_tail(p + i, n - i, T(0))));
  return total + V::hsum(a0);
}

template <class V>
ScanStats scan_impl(const typename V::T* x, std::int64_t n, typename V::T thr) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const T inf = std::numeric_limits<T>::infinity();
  R mx = V::set1(-inf), mn = V::set1(inf), sm = V::set1(T(0)), ct = sm;
  const R vt = V::set1(thr);
  // the sum feeds the "rows sum to 1 within 1e-6" check: float lanes add at most 4 terms
  // before the partial sum moves to double, so its error stays near 4 eps of the total
  double total = 0;
  std::int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    prefetch_ahead<V>(x + i);
    R part = V::set1(T(0));
    for (int u = 0; u < 4; ++u) {
      const R v = V::loadu(x + i + u * W);
      mx = V::max(mx, v);
      mn = V::min(mn, v);
      part = V::add(part, v);
      ct = V::add(ct, V::ones_gt(v, vt));
    }
    total += V::hsum(part);
  }
  for (; i + W <= n; i += W) {
    const R v = V::loadu(x + i);
    mx = V::max(mx, v);
    mn = V::min(mn, v);
    sm = V::add(sm, v);
    ct = V::add(ct, V::ones_gt(v, vt));
  }
  if (i < n) {
    const R v = V::load_tail(x + i, n - i, thr);  // padding: not counted, neutral for max/min
    const R z = V::load_tail(x + i, n - i, T(0));
    mx = V::max(mx, v);
    mn = V::min(mn, v);
    sm = V::add(sm, z);
    ct = V::add(ct, V::ones_gt(v, vt));
  }
  ScanStats st;
  st.max = static_cast<double>(V::hmax(mx));
  st.min = -static_cast<double>(V::hmax(V::sub(V::set1(T(0)), mn)));
  st.sum = total + V::hsum(sm);
  st.count = V::hsum(ct);
  return st;
}

template <class V, bool kProb, bool kExpE = !kProb>
PrepMoments prep_impl(const typename V::T* x, std::int64_t n, typename V::T xmax, typename V::T* w) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  static_assert(kPrepExtra == 2, "prep computes e^2 and e^4");
  const T inv = T(1) / xmax;
  const R vmax = V::set1(xmax);
  // same code path for the maximum and for the entries, so ties get w == 0 exactly
  const R vs = kProb ? V::log2_fast(vmax) : vmax;
  const R vi = V::set1(inv), wmin = V::set1(kWMin<T>), lo = V::set1(V::kLow2);
  const R l2e = V::set1(T(1.4426950408889634));
  const R zero = V::set1(T(0));
  const R tiny = V::set1(-std::numeric_limits<T>::min());
  R a[3][4];
  for (auto& row : a)
    for (R& r : row) r = zero;
  R ties = zero, support = zero;
  auto acc = [&](R (&s)[4], R e, R ww) {
    const R ew = V::mul(e, ww);
    const R ew2 = V::mul(ew, ww);
    s[0] = V::add(s[0], e);
    s[1] = V::add(s[1], ew);
    s[2] = V::add(s[2], ew2);
    s[3] = V::fmadd(ew2, ww, s[3]);
  };
  auto step = [&](R v, R& ww) {
    R tie;
    if (kProb) {
      // w < 0 strictly below the maximum, w == 0 exactly at it, zeros out of the support
      // whatever log2_fast(0) returns
      tie = V::ones_eq(v, vmax);
      ww = V::max(wmin, V::min(V::sub(V::log2_fast(v), vs), tiny));
      ww = V::select_nz(tie, zero, ww);
      ww = V::select_nz(v, ww, wmin);
    } else {
      ww = V::max(wmin, V::mul(V::sub(v, vs), l2e));
      tie = V::ones_eq(ww, zero);
    }
    const R e = kExpE ? V::exp2_core(V::max(lo, ww)) : V::mul(v, vi);
    const R e2 = V::mul(e, e);
    const R e4 = V::mul(e2, e2);
    acc(a[0], e, ww);
    acc(a[1], e2, ww);
    acc(a[2], e4, ww);
    ties = V::add(ties, tie);
    support = V::add(support, V::ones_gt(ww, wmin));
  };
  std::int64_t i = 0;
  R ww;
  for (; i + W <= n; i += W) {
    step(V::loadu(x + i), ww);
    V::storeu(w + i, ww);
  }
  if (i < n) {
    // padding lanes: probability 0 / logit -inf -> w = kWMin, e = 0, not a tie
    const T pad = kProb ? T(0) : -std::numeric_limits<T>::infinity();
    step(V::load_tail(x + i, n - i, pad), ww);
    V::store_tail(w + i, ww, n - i);
  }
  PrepMoments pm;
  for (int k = 0; k < 3; ++k) {
    Moments& m = k == 0 ? pm.m : pm.extra[k - 1];
    m = Moments{V::hsum(a[k][0]), V::hsum(a[k][1]), V::hsum(a[k][2]), V::hsum(a[k][3]), 0.0};
  }
  pm.m.ties = V::hsum(ties);
  pm.support = V::hsum(support);
  return pm;
}

template <class V>
PrepMoments prep_dispatch(const typename V::T* x, std::int64_t n, bool is_prob, typename V::T xmax,
                          typename V::T* w) {
  if (!is_prob) return prep_impl<V, false>(x, n, xmax, w);
  // e = x / xmax, unless 1 / xmax overflows (subnormal maximum): then e = 2^w
  if (!(typename V::T(1) / xmax < std::numeric_limits<typename V::T>::infinity()))
    return prep_impl<V, true, true>(x, n, xmax, w);
  return prep_impl<V, true>(x, n, xmax, w);
}

template <class V, bool kStore>
Moments moments_impl(const typename V::T* w, std::int64_t n, typename V::T g, typename V::T* eo) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const R vg = V::set1(g), lo = V::set1(V::kLow2), zero = V::set1(T(0));
  R a0 = zero, a1 = zero, a2 = zero, a3 = zero;
  R b0 = zero, b1 = zero, b2 = zero, b3 = zero;
  std::int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const R w0 = V::loadu(w + i), w1 = V::loadu(w + i + W);
    const R e0 = V::exp2_core(V::max(lo, V::mul(vg, w0)));
    const R e1 = V::exp2_core(V::max(lo, V::mul(vg, w1)));
    if (kStore) {
      V::storeu(eo + i, e0);
      V::storeu(eo + i + W, e1);
    }
    const R ew0 = V::mul(e0, w0), ew1 = V::mul(e1, w1);
    const R ew20 = V::mul(ew0, w0), ew21 = V::mul(ew1, w1);
    a0 = V::add(a0, e0);
    b0 = V::add(b0, e1);
    a1 = V::add(a1, ew0);
    b1 = V::add(b1, ew1);
    a2 = V::add(a2, ew20);
    b2 = V::add(b2, ew21);
    a3 = V::fmadd(ew20, w0, a3);
    b3 = V::fmadd(ew21, w1, b3);
  }
  for (; i + W <= n; i += W) {
    const R w0 = V::loadu(w + i);
    const R e0 = V::exp2_core(V::max(lo, V::mul(vg, w0)));
    if (kStore) V::storeu(eo + i, e0);
    const R ew0 = V::mul(e0, w0), ew20 = V::mul(ew0, w0);
    a0 = V::add(a0, e0);
    a1 = V::add(a1, ew0);
    a2 = V::add(a2, ew20);
    a3 = V::fmadd(ew20, w0, a3);
  }
  if (i < n) {
    const R w0 = V::load_tail(w + i, n - i, kWMin<T>);
    const R e0 = V::exp2_core(V::max(lo, V::mul(vg, w0)));
    if (kStore) V::store_tail(eo + i, e0, n - i);
    const R ew0 = V::mul(e0, w0), ew20 = V::mul(ew0, w0);
    b0 = V::add(b0, e0);
    b1 = V::add(b1, ew0);
    b2 = V::add(b2, ew20);
    b3 = V::fmadd(ew20, w0, b3);
  }
  return {V::hsum(V::add(a0, b0)), V::hsum(V::add(a1, b1)), V::hsum(V::add(a2, b2)), V::hsum(V::add(a3, b3)),
          0.0};
}

template <class V>
Moments moments_dispatch(const typename V::T* w, std::int64_t n, typename V::T g, typename V::T* eo) {
  return eo ? moments_impl<V, true>(w, n, g, eo) : moments_impl<V, false>(w, n, g, nullptr);
}

template <class V>
void exp_gamma_scale_impl(const typename V::T* w, std::int64_t n, typename V::T g, typename V::T scale,
                          typename V::T* y) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const R vg = V::set1(g), vs = V::set1(scale), lo = V::set1(V::kLow2);
  std::int64_t i = 0;
  for (; i + W <= n; i += W)
    V::storeu(y + i, V::mul(V::exp2_core(V::max(lo, V::mul(vg, V::loadu(w + i)))), vs));
  if (i < n)
    V::store_tail(y + i, V::mul(V::exp2_core(V::max(lo, V::mul(vg, V::load_tail(w + i, n - i, T(0))))), vs),
                  n - i);
}

template <class V>
void scale_store_impl(const typename V::T* e, std::int64_t n, typename V::T c, typename V::T* y, bool stream) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const R vc = V::set1(c);
  std::int64_t i = 0;
  const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(y);
  if (stream && W > 1 && a % sizeof(T) == 0) {
    // head: up to the first address aligned to the vector size, then aligned streaming stores
    const std::int64_t vb = W * static_cast<std::int64_t>(sizeof(T));
    std::int64_t head = ((vb - static_cast<std::int64_t>(a % vb)) % vb) / static_cast<std::int64_t>(sizeof(T));
    head = head < n ? head : n;
    if (head > 0) V::store_tail(y, V::mul(V::load_tail(e, head, T(0)), vc), head);
    i = head;
    for (; i + W <= n; i += W) V::stream_store(y + i, V::mul(V::loadu(e + i), vc));
    V::fence();
  } else {
    for (; i + W <= n; i += W) V::storeu(y + i, V::mul(V::loadu(e + i), vc));
  }
  if (i < n) V::store_tail(y + i, V::mul(V::load_tail(e + i, n - i, T(0)), vc), n - i);
}

// exp2_core / log2_fast elementwise (the exp2 / log2 entries of KernelsT): no clamping, the
// caller keeps x inside the contracts of kernels.h. Tail lanes are padded with 2^0 / log2 1.
template <class V>
void exp2_impl(const typename V::T* x, std::int64_t n, typename V::T* y) {
  constexpr std::int64_t W = V::W;
  std::int64_t i = 0;
  for (; i + W <= n; i += W) V::storeu(y + i, V::exp2_core(V::loadu(x + i)));
  if (i < n) V::store_tail(y + i, V::exp2_core(V::load_tail(x + i, n - i, typename V::T(0))), n - i);
}

template <class V>
void log2_impl(const typename V::T* x, std::int64_t n, typename V::T* y) {
  constexpr std::int64_t W = V::W;
  std::int64_t i = 0;
  for (; i + W <= n; i += W) V::storeu(y + i, V::log2_fast(V::loadu(x + i)));
  if (i < n) V::store_tail(y + i, V::log2_fast(V::load_tail(x + i, n - i, typename V::T(1))), n - i);
}

template <class V>
KernelsT<typename V::T> make_kernels() {
  KernelsT<typename V::T> k;
  k.stats = &stats_plain<V>;
  k.stats_t = &stats_ent<V>;
  k.stats_store = &stats_store_dispatch<V>;
  k.excess = &excess_impl<V>;
  k.split_sum = &split_sum_impl<V>;
  k.exp_store_sum = &exp_store_sum_impl<V>;
  k.stats_w = &stats_weighted<V>;
  k.exp_scale = &exp_scale_impl<V>;
  k.sub = &sub2_impl<V>;
  k.plogp = &plogp_vec<V>;
  k.exp = &exp_impl<V>;
  k.log = &log_impl<V>;
  k.scan = &scan_impl<V>;
  k.prep = &prep_dispatch<V>;
  k.moments = &moments_dispatch<V>;
  k.scale_store = &scale_store_impl<V>;
  k.exp_gamma_scale = &exp_gamma_scale_impl<V>;
  k.exp2 = &exp2_impl<V>;
  k.log2 = &log2_impl<V>;
  return k;
}
