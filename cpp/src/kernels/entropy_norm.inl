// The entropy-normalization family of block kernels (docs/math.md §2): prep writes a row's
// log-weights w (log2 units, relative to the row maximum) with the power moments at the first
// search points, moments evaluates them at each further inverse temperature g of the search,
// and exp_gamma_scale writes q = 2^(g w) / S. Its first pass, scan, and the final store,
// scale_store, are shared with the other families and live in math.inl. Builds on math.inl;
// included by each ISA unit inside its anonymous namespace (see math.inl).

// --- tuning ---

// Vectors per step of moments (two sets of four moment sums): four sums per vector already
// keep enough independent adds in flight.
constexpr std::int64_t kMomentsAcc = 2;

// --- log-weights and moments (docs/math.md §2) ---

// One pass over the row block: w, the moments at g = 1 with the ties, and the moments at the
// kPrepGamma points (see PrepMoments in kernels.h).
// x may be half-precision storage S (widened to float32 by the trait's loads, tail included).
template <class V, bool kProb, bool kExpE = !kProb, class S = typename V::T>
PrepMoments prep_impl(const S* x, std::int64_t n, typename V::T xmax, typename V::T* w) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  static_assert(kPrepExtra == 2, "prep computes e^2 and e^4");
  const T inv = T(1) / xmax;
  const R vmax = V::set1(xmax);
  // same code path for the maximum and for the entries, so ties get w == 0 exactly
  const R vs = kProb ? V::log2_fast(vmax) : vmax;
  const R vi = V::set1(inv), wmin = V::set1(kWMin<T>), lo = V::set1(V::kLow2);
  const R l2e = V::set1(kLog2e<T>);
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
    const R e = kExpE ? V::exp2_core_neg(V::max(lo, ww)) : V::mul(v, vi);
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

template <class V, class S = typename V::T>
PrepMoments prep_dispatch(const S* x, std::int64_t n, bool logits, typename V::T xmax, typename V::T* w) {
  if (logits) return prep_impl<V, false, true, S>(x, n, xmax, w);
  // e = x / xmax, unless 1 / xmax overflows (subnormal maximum): then e = 2^w
  if (!(typename V::T(1) / xmax < std::numeric_limits<typename V::T>::infinity()))
    return prep_impl<V, true, true, S>(x, n, xmax, w);
  return prep_impl<V, true, false, S>(x, n, xmax, w);
}

// The moments of w at g, e = 2^(g w), each step kMomentsAcc vectors; e stored with kStore.
template <class V, bool kStore>
Moments moments_impl(const typename V::T* w, std::int64_t n, typename V::T g, typename V::T* eo) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const R vg = V::set1(g), lo = V::set1(V::kLow2), zero = V::set1(T(0));
  R a0 = zero, a1 = zero, a2 = zero, a3 = zero;
  R b0 = zero, b1 = zero, b2 = zero, b3 = zero;
  static_assert(kMomentsAcc == 2, "written out for two sets of sums");
  std::int64_t i = 0;
  for (; i + kMomentsAcc * W <= n; i += kMomentsAcc * W) {
    const R w0 = V::loadu(w + i), w1 = V::loadu(w + i + W);
    const R e0 = V::exp2_core_neg(V::max(lo, V::mul(vg, w0)));
    const R e1 = V::exp2_core_neg(V::max(lo, V::mul(vg, w1)));
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
    const R e0 = V::exp2_core_neg(V::max(lo, V::mul(vg, w0)));
    if (kStore) V::storeu(eo + i, e0);
    const R ew0 = V::mul(e0, w0), ew20 = V::mul(ew0, w0);
    a0 = V::add(a0, e0);
    a1 = V::add(a1, ew0);
    a2 = V::add(a2, ew20);
    a3 = V::fmadd(ew20, w0, a3);
  }
  if (i < n) {
    const R w0 = V::load_tail(w + i, n - i, kWMin<T>);
    const R e0 = V::exp2_core_neg(V::max(lo, V::mul(vg, w0)));
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

// --- output (docs/math.md §2) ---

// y = 2^(g w) * scale: q at the inverse temperature found.
template <class V>
void exp_gamma_scale_impl(const typename V::T* w, std::int64_t n, typename V::T g, typename V::T scale,
                          typename V::T* y) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const R vg = V::set1(g), vs = V::set1(scale), lo = V::set1(V::kLow2);
  std::int64_t i = 0;
  for (; i + W <= n; i += W)
    V::storeu(y + i, V::mul(V::exp2_core_neg(V::max(lo, V::mul(vg, V::loadu(w + i)))), vs));
  if (i < n)
    V::store_tail(y + i, V::mul(V::exp2_core_neg(V::max(lo, V::mul(vg, V::load_tail(w + i, n - i, T(0))))), vs),
                  n - i);
}
