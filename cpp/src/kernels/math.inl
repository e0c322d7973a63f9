// Shared math of the ISA-generic block kernels: named constants, the clamped exp, the
// prefetch, the reductions and stores that several families use (scan, scale_store) and the
// elementwise exp / log / exp2 / log2 entries. The exponential is the one whose accuracy
// docs/math.md §1.1 ("Accuracy") states; the family headers build on these helpers:
// logsumexp.inl (docs/math.md §1, also the losses' first pass of §3), entropy_norm.inl
// (docs/math.md §2), then table.inl fills the KernelTable.
//
// Included by each ISA unit (scalar.cpp, avx2.cpp, avx512.cpp) INSIDE its anonymous
// namespace, after kernels.h, exp_constants.h and the standard headers, and after the unit
// has defined the vector traits VF (float) and VD (double). Nothing in these headers may have
// external linkage: every symbol is private to its translation unit, so the linker can never
// pick an AVX-512 copy of an inline helper for a baseline caller.
//
// A traits type V provides: T, R (register), W (lanes), loadu, load_tail(p, n, fill),
// storeu, store_tail(p, r, n), set1, add, sub, mul, fmadd(a, b, c) = a*b + c,
// max(a, b) / min(a, b) (returning b when either is NaN, like x86 MAXPS), select_nz(b, x, f)
// (b != 0 ? x : f), hmax, hsum (reduced in double, fixed order), exp_core(w) for
// w in [kLow, kHigh], kLow (exp(kLow) == 0 exactly) and kHigh (exp(kHigh) == inf),
// log_core(x) (natural log with log 0 = -inf, negative/NaN -> NaN, log inf = inf),
// ones_gt(a, b) / ones_eq(a, b) (1.0 in lanes where a > b / a == b, else 0), keep_lt(a, b)
// (a in lanes where a < b, else 0), w2(x, m, l2e, c) ((x - m) * l2e, or x * l2e + c fused),
// exp2_core(a) (2^a for a >= kLow2), log2_fast(x) (log2 for finite x >= 0, no special-value
// fixups; 0 gives a huge negative or -inf), stream_store(p, r) (aligned non-temporal store)
// and fence() (orders non-temporal stores). The float traits VF also load from and store to
// the half-precision storage types of half.h (loadu, load_tail, storeu, store_tail and
// stream_store overloaded on bf16* / f16*: widened exactly on load, rounded to nearest even on
// store), so the kernels that take their array type as a parameter S run on half data as is.

// --- constants ---

// log2 e in T: the base-2 kernels form w = (x - m) log2 e and take 2^w.
template <class T>
constexpr T kLog2e = T(expc::kLog2eD);
// ln 2 (double): converts sums weighted by w (log2 units) back to nats.
constexpr double kLn2 = expc::kLn2D;

// --- tuning ---

// Vectors of the next block prefetched per unrolled group: one group's worth, so the next
// block streams in at the pace the current one is consumed.
constexpr int kPrefetchVecs = 4;
// Vectors added in the element type before the partial sum moves to double (scan, split_sum,
// plogp): a float sum's error stays near this many eps of the total, even for a long row of
// equal terms.
constexpr std::int64_t kSumGroup = 4;

// --- helpers ---

template <class V>
inline typename V::R exp_clamped(typename V::R x) {
  // min/max ordered so that NaN passes through (second operand is returned on NaN).
  return V::exp_core(V::min(V::set1(V::kHigh), V::max(V::set1(V::kLow), x)));
}

// Prefetch the bytes one block ahead of p (kVecs vectors' worth, one line per 64 bytes). A
// prefetch never faults, so reading past the end of the array is harmless.
// Keeps a loop's accumulators in registers (an empty asm that reads and writes them there):
// without it GCC spills them in the exp loops, which puts a store and a reload on each
// accumulator's dependency chain.
template <class V>
inline void in_registers(typename V::R& a, typename V::R& b) {
  if constexpr (!V::kPortable) asm("" : "+x"(a), "+x"(b));
}

// exp_neg / exp2_neg of two vectors (V::exp_neg_pair where the ISA has one)
template <class V, class = void>
struct HasNegPair : std::false_type {};
template <class V>
struct HasNegPair<V, std::void_t<decltype(V::kNegPair)>> : std::true_type {};
template <class V, bool kBase2>
inline void exp_neg_pair(typename V::R w0, typename V::R w1, typename V::R& e0, typename V::R& e1) {
  if constexpr (HasNegPair<V>::value) {
    if constexpr (kBase2) V::exp2_neg_pair(w0, w1, e0, e1);
    else V::exp_neg_pair(w0, w1, e0, e1);
  } else {
    e0 = kBase2 ? V::exp2_neg(w0) : V::exp_neg(w0);
    e1 = kBase2 ? V::exp2_neg(w1) : V::exp_neg(w1);
  }
}

template <class V, int kVecs = kPrefetchVecs, class S = typename V::T>
inline void prefetch_ahead(const S* p) {
  constexpr std::int64_t kBytes = kVecs * V::W * static_cast<std::int64_t>(sizeof(S));
  const char* q = reinterpret_cast<const char*>(p + kBlock);
  for (std::int64_t b = 0; b < kBytes; b += 64) __builtin_prefetch(q + b, 0, 3);
}

// --- reductions and stores shared by the families ---

// Block scan of raw values (max, min, sum, count above thr): entropy normalization's first
// pass (docs/math.md §2, the validity checks and the reachable range) and softmax's maximum
// pass (docs/math.md §1.3).
template <class V, class S = typename V::T>
ScanStats scan_impl(const S* x, std::int64_t n, typename V::T thr) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  const T inf = std::numeric_limits<T>::infinity();
  R mx = V::set1(-inf), mn = V::set1(inf), sm = V::set1(T(0)), ct = sm;
  const R vt = V::set1(thr);
  // the sum feeds the "rows sum to 1 within 1e-6" check: float lanes add at most kSumGroup
  // terms before the partial sum moves to double, so its error stays near kSumGroup eps of
  // the total
  double total = 0;
  std::int64_t i = 0;
  for (; i + kSumGroup * W <= n; i += kSumGroup * W) {
    prefetch_ahead<V>(x + i);
    R part = V::set1(T(0));
    for (int u = 0; u < kSumGroup; ++u) {
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

// y[i..i+W) = f(i) for a whole vector, y[i..i+len) = ft(i, len) for a part: with stream, the
// part up to the first vector-aligned address of y, then aligned non-temporal stores (two
// vectors per step: f's work of consecutive vectors overlaps) and a fence; otherwise plain
// stores. The values are the same either way; only how they reach memory differs.
template <class V, class F, class FT, class S = typename V::T>
inline void store_pass(S* y, std::int64_t n, bool stream, F&& f, FT&& ft) {
  using T = S;  // the stored type: its size sets the alignment of the streamed part
  constexpr std::int64_t W = V::W;
  std::int64_t i = 0;
  const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(y);
  if (stream && W > 1 && a % sizeof(T) == 0) {
    const std::int64_t vb = W * static_cast<std::int64_t>(sizeof(T));
    std::int64_t head = ((vb - static_cast<std::int64_t>(a % vb)) % vb) / static_cast<std::int64_t>(sizeof(T));
    head = head < n ? head : n;
    if (head > 0) V::store_tail(y, ft(std::int64_t(0), head), head);
    i = head;
    for (; i + 2 * W <= n; i += 2 * W) {
      const auto r0 = f(i), r1 = f(i + W);
      V::stream_store(y + i, r0);
      V::stream_store(y + i + W, r1);
    }
    for (; i + W <= n; i += W) V::stream_store(y + i, f(i));
    V::fence();
  } else {
    for (; i + 2 * W <= n; i += 2 * W) {
      const auto r0 = f(i), r1 = f(i + W);
      V::storeu(y + i, r0);
      V::storeu(y + i + W, r1);
    }
    for (; i + W <= n; i += W) V::storeu(y + i, f(i));
  }
  if (i < n) V::store_tail(y + i, ft(i, n - i), n - i);
}

// y = e * c, the last pass of all three families: softmax's rescale by 1/S (docs/math.md
// §1.3), entropy normalization's output q (§2) and the losses' gradient rows (§3). With
// stream, non-temporal stores from the first vector-aligned address of y.
template <class V, class S = typename V::T>
void scale_store_impl(const typename V::T* e, std::int64_t n, typename V::T c, S* y, bool stream) {
  using T = typename V::T;
  const auto vc = V::set1(c);
  store_pass<V>(
      y, n, stream, [&](std::int64_t i) { return V::mul(V::loadu(e + i), vc); },
      [&](std::int64_t i, std::int64_t len) { return V::mul(V::load_tail(e + i, len, T(0)), vc); });
}

// --- elementwise exp / log / exp2 / log2 (accuracy tests and benchmarks) ---

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
