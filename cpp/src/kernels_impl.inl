// ISA-generic block kernels. This file is included by each kernels_<isa>.cpp INSIDE an
// anonymous namespace, after that file has defined the vector traits VF (float) and VD
// (double). Nothing here may have external linkage: every symbol is private to its
// translation unit, so the linker can never pick an AVX-512 copy for a baseline caller.
//
// A traits type V provides: T, R (register), W (lanes), loadu, load_tail(p, n, fill),
// storeu, store_tail(p, r, n), set1, add, sub, mul, fmadd(a, b, c) = a*b + c,
// max(a, b) / min(a, b) (returning b when either is NaN, like x86 MAXPS), select_nz(b, x, f)
// (b != 0 ? x : f), hmax, hsum (reduced in double, fixed order), exp_core(w) for
// w in [kLow, kHigh], kLow (exp(kLow) == 0 exactly) and kHigh (exp(kHigh) == inf).

template <class V>
inline typename V::R exp_clamped(typename V::R x) {
  // min/max ordered so that NaN passes through (second operand is returned on NaN).
  return V::exp_core(V::min(V::set1(V::kHigh), V::max(V::set1(V::kLow), x)));
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

template <class V, bool kWithT>
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
  const R lo = V::set1(V::kLow);
  R s0 = V::set1(0), s1 = s0, s2 = s0, s3 = s0;
  R t0 = s0, t1 = s0, t2 = s0, t3 = s0;
  std::int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    const R w0 = V::max(lo, V::sub(V::loadu(x + i), vm));
    const R w1 = V::max(lo, V::sub(V::loadu(x + i + W), vm));
    const R w2 = V::max(lo, V::sub(V::loadu(x + i + 2 * W), vm));
    const R w3 = V::max(lo, V::sub(V::loadu(x + i + 3 * W), vm));
    const R e0 = V::exp_core(w0), e1 = V::exp_core(w1), e2 = V::exp_core(w2), e3 = V::exp_core(w3);
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
    const R w = V::max(lo, V::sub(V::loadu(x + i), vm));
    const R e = V::exp_core(w);
    s0 = V::add(s0, e);
    if (kWithT) t0 = V::fmadd(e, w, t0);
  }
  if (i < n) {
    // padding lanes are -inf: w = kLow, exp(kLow) = 0, so they add exactly 0 to s and t.
    const R w = V::max(lo, V::sub(V::load_tail(x + i, n - i, ninf), vm));
    const R e = V::exp_core(w);
    s1 = V::add(s1, e);
    if (kWithT) t1 = V::fmadd(e, w, t1);
  }
  BlockStats st;
  st.m = static_cast<double>(m);
  st.s = V::hsum(V::add(V::add(s0, s1), V::add(s2, s3)));
  st.t = kWithT ? V::hsum(V::add(V::add(t0, t1), V::add(t2, t3))) : 0.0;
  return st;
}

template <class V>
BlockStats stats_plain(const typename V::T* x, std::int64_t n) { return stats_impl<V, false>(x, n); }

template <class V>
BlockStats stats_ent(const typename V::T* x, std::int64_t n) { return stats_impl<V, true>(x, n); }

template <class V>
BlockStats stats_weighted(const typename V::T* x, const typename V::T* b, std::int64_t n) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const T ninf = -std::numeric_limits<T>::infinity();
  const R vninf = V::set1(ninf);
  R m0 = vninf, m1 = vninf;
  std::int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    m0 = V::max(m0, V::select_nz(V::loadu(b + i), V::loadu(x + i), vninf));
    m1 = V::max(m1, V::select_nz(V::loadu(b + i + W), V::loadu(x + i + W), vninf));
  }
  for (; i + W <= n; i += W) m0 = V::max(m0, V::select_nz(V::loadu(b + i), V::loadu(x + i), vninf));
  if (i < n)
    m1 = V::max(m1, V::select_nz(V::load_tail(b + i, n - i, T(0)), V::load_tail(x + i, n - i, ninf), vninf));
  const T m = V::hmax(V::max(m0, m1));
  if (m == ninf) return {-std::numeric_limits<double>::infinity(), 0.0, 0.0};
  if (!(m - m == 0)) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    return {static_cast<double>(m), nan, nan};
  }
  const R vm = V::set1(m);
  const R lo = V::set1(V::kLow);
  R s0 = V::set1(0), s1 = s0;
  i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const R b0 = V::loadu(b + i), b1 = V::loadu(b + i + W);
    const R w0 = V::max(lo, V::sub(V::select_nz(b0, V::loadu(x + i), vninf), vm));
    const R w1 = V::max(lo, V::sub(V::select_nz(b1, V::loadu(x + i + W), vninf), vm));
    s0 = V::fmadd(b0, V::exp_core(w0), s0);
    s1 = V::fmadd(b1, V::exp_core(w1), s1);
  }
  for (; i + W <= n; i += W) {
    const R b0 = V::loadu(b + i);
    const R w0 = V::max(lo, V::sub(V::select_nz(b0, V::loadu(x + i), vninf), vm));
    s0 = V::fmadd(b0, V::exp_core(w0), s0);
  }
  if (i < n) {
    const R b0 = V::load_tail(b + i, n - i, T(0));
    const R w0 = V::max(lo, V::sub(V::select_nz(b0, V::load_tail(x + i, n - i, ninf), vninf), vm));
    s1 = V::fmadd(b0, V::exp_core(w0), s1);
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

template <class T>
double plogp_impl(const T* p, std::int64_t n) {
  // Four partial sums in a fixed order; log is the C library's (correctly rounded in practice).
  double acc[4] = {0, 0, 0, 0};
  for (std::int64_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(p[i]);
    acc[i & 3] += (v == 0.0) ? 0.0 : v * ::log(v);
  }
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

template <class V>
KernelsT<typename V::T> make_kernels() {
  KernelsT<typename V::T> k;
  k.stats = &stats_plain<V>;
  k.stats_t = &stats_ent<V>;
  k.stats_w = &stats_weighted<V>;
  k.exp_scale = &exp_scale_impl<V>;
  k.sub = &sub2_impl<V>;
  k.plogp = &plogp_impl<typename V::T>;
  k.exp = &exp_impl<V>;
  return k;
}
