// Block kernels of the token sampler (docs/math.md §4). Included by each ISA unit inside its
// anonymous namespace, after math.inl (see there for the traits V). Every value these return is
// bitwise the same on every ISA, so the sampler takes the same decisions everywhere:
//   select_nlt      the entries x that are not < thr (x >= thr, and NaN): comparisons only;
//   tempered_exp    e = 2^max(kExp2Low, (x - zmax) c), 0 for x = -inf: the vector exp2_core
//                   performs the same correctly rounded operations as tempered_weight()
//                   (sampling_math.h), which the portable unit uses;
//   tempered_split  the entries whose weight exceeds a cut gathered, the rest summed in a
//                   fixed order (16 interleaved partial sums): no sum depends on the vector width.

template <class V>
std::int64_t select_nlt_impl(const typename V::T* x, std::int64_t n, typename V::T thr, std::int64_t base,
                             std::int64_t* idx, typename V::T* val) {
  using T = typename V::T;
  std::int64_t c = 0;
  if constexpr (V::kPortable) {
    for (std::int64_t i = 0; i < n; ++i) {
      const T v = x[i];
      if (!(v < thr)) {
        idx[c] = base + i;
        val[c] = v;
        ++c;
      }
    }
  } else {
    using R = typename V::R;
    constexpr std::int64_t W = V::W;
    const R vt = V::set1(thr);
    auto take = [&](unsigned m, std::int64_t i) {
      while (m) {
        const int l = __builtin_ctz(m);
        idx[c] = base + i + l;
        val[c] = x[i + l];
        ++c;
        m &= m - 1;
      }
    };
    std::int64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
      const unsigned m0 = V::mask_nlt(V::loadu(x + i), vt), m1 = V::mask_nlt(V::loadu(x + i + W), vt);
      const unsigned m2 = V::mask_nlt(V::loadu(x + i + 2 * W), vt), m3 = V::mask_nlt(V::loadu(x + i + 3 * W), vt);
      if ((m0 | m1 | m2 | m3) == 0) continue;
      take(m0, i);
      take(m1, i + W);
      take(m2, i + 2 * W);
      take(m3, i + 3 * W);
    }
    for (; i + W <= n; i += W) take(V::mask_nlt(V::loadu(x + i), vt), i);
    if (i < n) {
      const std::int64_t rem = n - i;
      take(V::mask_nlt(V::load_tail(x + i, rem, T(0)), vt) & ((1u << rem) - 1u), i);
    }
  }
  return c;
}

// out[i] = max of x[i g, (i + 1) g) for the n / g whole groups (g a multiple of twice the
// vector width), NaN for a group holding a NaN.
template <class V>
void group_max_impl(const typename V::T* x, std::int64_t n, std::int64_t g, typename V::T* out) {
  using T = typename V::T;
  const std::int64_t groups = n / g;
  if constexpr (V::kPortable) {
    for (std::int64_t i = 0; i < groups; ++i) {
      T m = x[i * g];
      bool nan = false;
      for (std::int64_t j = 0; j < g; ++j) {
        const T v = x[i * g + j];
        nan |= v != v;
        m = v > m ? v : m;
      }
      out[i] = nan ? std::numeric_limits<T>::quiet_NaN() : m;
    }
  } else {
    using R = typename V::R;
    constexpr std::int64_t W = V::W;
    for (std::int64_t i = 0; i < groups; ++i) {
      const T* p = x + i * g;
      // a NaN entry makes the running sums NaN (so can +-inf and overflow: then the group is
      // checked entry by entry)
      R m0 = V::loadu(p), m1 = V::loadu(p + W), s0 = m0, s1 = m1;
      for (std::int64_t j = 2 * W; j < g; j += 2 * W) {
        const R v = V::loadu(p + j), u = V::loadu(p + j + W);
        m0 = V::max(v, m0);
        m1 = V::max(u, m1);
        s0 = V::add(s0, v);
        s1 = V::add(s1, u);
      }
      T m = V::hmax(V::max(m0, m1));
      if (V::mask_nan(V::add(s0, s1)))
        for (std::int64_t j = 0; j < g; ++j)
          if (p[j] != p[j]) m = std::numeric_limits<T>::quiet_NaN();
      out[i] = m;
    }
  }
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
    auto one = [&](R v) { return V::exp2_core_neg(V::max(V::mul(V::sub(v, vm), vc), lo)); };
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

// Weights of up to kChunk entries, zero where x < thr (or x is NaN).
constexpr std::int64_t kSampleChunk = 256;

template <class V>
void masked_weights(const typename V::T* x, std::int64_t n, typename V::T zmax, typename V::T c,
                    typename V::T thr, typename V::T* e) {
  using T = typename V::T;
  tempered_exp_impl<V>(x, n, zmax, c, e);
  if (thr > -std::numeric_limits<T>::infinity())
    for (std::int64_t i = 0; i < n; ++i) e[i] = x[i] >= thr ? e[i] : T(0);
}

// Splits a block at the weight ecut: the entries with x >= thr and e > ecut are gathered
// (offsets in the block, weights and their weight_bin, in order; idx and ew need room for
// n + 16 entries: the packing stores whole vectors); the weights of the others (x < thr counting 0) are
// summed into 16 partial sums, entry i into partial i mod 16 (each partial in index order, as
// the compiler's vector lanes or one at a time: the same additions either way), folded
// pairwise in a fixed order into *low.
template <class V>
std::int64_t tempered_split_impl(const typename V::T* x, std::int64_t n, typename V::T zmax, typename V::T c,
                                 typename V::T thr, typename V::T ecut, std::int32_t* idx, typename V::T* ew,
                                 std::uint8_t* bin, double* low) {
  using T = typename V::T;
  constexpr int kLanes = 16;
  T e[kSampleChunk];
  double p[kLanes] = {0};
  std::int64_t cnt = 0;
  for (std::int64_t off = 0; off < n; off += kSampleChunk) {
    const std::int64_t len = std::min(kSampleChunk, n - off);
    masked_weights<V>(x + off, len, zmax, c, thr, e);
    T r[kSampleChunk];
    for (std::int64_t i = 0; i < len; ++i) r[i] = e[i] > ecut ? T(0) : e[i];
    std::int64_t i = 0;
    for (; i + kLanes <= len; i += kLanes)
      for (int l = 0; l < kLanes; ++l) p[l] += static_cast<double>(r[i + l]);
    for (int l = 0; i < len; ++i, ++l) p[l] += static_cast<double>(r[i]);
    const std::int64_t at = cnt;
    std::int64_t k = 0;
    if constexpr (!V::kPortable) {
      // branch-free left-packing of the lanes above the cut (weights are never NaN: e > ecut
      // is "not less than" the next value up)
      using R = typename V::R;
      constexpr std::int64_t W = V::W;
      const R vc = V::set1(std::nextafter(ecut, std::numeric_limits<T>::infinity()));
      for (; k + W <= len; k += W) {
        const unsigned m = V::mask_nlt(V::loadu(e + k), vc);
        cnt += V::compress(V::loadu(e + k), m, static_cast<std::int32_t>(off + k), ew + cnt, idx + cnt);
      }
    }
    for (; k < len; ++k)
      if (e[k] > ecut) {
        idx[cnt] = static_cast<std::int32_t>(off + k);
        ew[cnt] = e[k];
        ++cnt;
      }
    for (std::int64_t q = at; q < cnt; ++q) bin[q] = static_cast<std::uint8_t>(weight_bin<T>(ew[q]));
  }
  for (int w = kLanes / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) p[l] = p[l] + p[l + w];
  *low = p[0];
  return cnt;
}
