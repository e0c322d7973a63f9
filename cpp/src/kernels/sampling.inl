// Block kernels of the token sampler (docs/math.md §4). Included by each ISA unit inside its
// anonymous namespace, after math.inl (see there for the traits V). Only two primitives live
// here; the sampler's sums, histograms and searches are written once in the driver
// (drivers/sampling.cpp) over the weights these return, so every ISA takes the same decisions:
//   select_ge      the entries x >= thr of a block (comparisons only: exact on every ISA);
//   tempered_exp   e = 2^max(kExp2Low, (x - zmax) c), 0 for x = -inf, bitwise equal to
//                  tempered_weight() of exp2_repro.h on every ISA (the vector exp2_core
//                  performs the same correctly rounded operations).

template <class V>
std::int64_t select_ge_impl(const typename V::T* x, std::int64_t n, typename V::T thr, std::int64_t base,
                            std::int64_t* idx, typename V::T* val, int* nan) {
  using T = typename V::T;
  std::int64_t c = 0;
  if constexpr (V::kPortable) {
    int bad = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const T v = x[i];
      bad |= v != v;
      if (v >= thr) {
        idx[c] = base + i;
        val[c] = v;
        ++c;
      }
    }
    *nan |= bad;
  } else {
    using R = typename V::R;
    constexpr std::int64_t W = V::W;
    const R vt = V::set1(thr);
    unsigned bad = 0;
    std::int64_t i = 0;
    for (; i + W <= n; i += W) {
      const R v = V::loadu(x + i);
      bad |= V::mask_nan(v);
      unsigned m = V::mask_ge(v, vt);
      while (m) {
        const int l = __builtin_ctz(m);
        idx[c] = base + i + l;
        val[c] = x[i + l];
        ++c;
        m &= m - 1;
      }
    }
    if (i < n) {
      const std::int64_t rem = n - i;
      const R v = V::load_tail(x + i, rem, T(0));
      const unsigned live = (1u << rem) - 1u;
      bad |= V::mask_nan(v) & live;
      unsigned m = V::mask_ge(v, vt) & live;
      while (m) {
        const int l = __builtin_ctz(m);
        idx[c] = base + i + l;
        val[c] = x[i + l];
        ++c;
        m &= m - 1;
      }
    }
    *nan |= bad != 0;
  }
  return c;
}

template <class V>
void tempered_exp_impl(const typename V::T* x, std::int64_t n, typename V::T zmax, typename V::T c,
                       typename V::T* e) {
  using T = typename V::T;
  if constexpr (V::kPortable) {
    for (std::int64_t i = 0; i < n; ++i) e[i] = tempered_weight<T>(x[i], zmax, c);
  } else {
    using R = typename V::R;
    constexpr std::int64_t W = V::W;
    const R vm = V::set1(zmax), vc = V::set1(c), lo = V::set1(kExp2Low<T>);
    // V::max returns its second operand for NaN: (-inf) * 0 and -inf both become the clamp
    auto one = [&](R v) { return V::exp2_core(V::max(V::mul(V::sub(v, vm), vc), lo)); };
    std::int64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
      const R a = one(V::loadu(x + i)), b = one(V::loadu(x + i + W));
      V::storeu(e + i, a);
      V::storeu(e + i + W, b);
    }
    for (; i + W <= n; i += W) V::storeu(e + i, one(V::loadu(x + i)));
    if (i < n) V::store_tail(e + i, one(V::load_tail(x + i, n - i, zmax)), n - i);
  }
}
