// Sparse (CSR) times dense rows: out[r, c0:c1] = sum over p in [indptr[r], indptr[r+1]) of
// data[p] * b[indices[p], c0:c1]. Included by each ISA unit inside its anonymous namespace,
// after math.inl (see there for the traits V); table.inl hands out csr_rows_impl<V, I>.
//
// The columns are cut into tiles of kCsrVecs vectors (the last one partial, masked), and for
// each tile the row's non-zeros are walked in order with the tile's accumulators held in
// registers: every output element is data[p0] * b[..] + data[p0+1] * b[..] + ... formed left to
// right in nnz order, one multiply-add per non-zero, whatever the tile, panel or thread that
// computes it. The AVX2 and AVX-512 units use fused multiply-adds on T (bitwise the same
// results on both); the portable unit computes in double lanes (float rows summed in double,
// rounded once at the store) without fusing. The B row of the non-zero kCsrAhead places ahead
// is prefetched, tile by tile: the gathers by column index are what costs, not the arithmetic.

// Accumulator vectors per tile (W lanes each): 4 vectors of AVX2 doubles = 16 columns,
// of AVX-512 floats = 64 columns.
constexpr int kCsrVecs = 4;
// Non-zeros ahead whose B row segment is prefetched.
constexpr std::int64_t kCsrAhead = 8;

// One tile of one output row: NV whole vectors and, if tail > 0, a masked partial vector of
// `tail` columns, starting at column c (b and o already point at column c).
// b may be half-precision storage S, widened to float32 by the trait's loads.
template <class V, class I, int NV, bool kTail, class S>
inline void csr_tile(const I* idx, const typename V::T* val, std::int64_t p0, std::int64_t p1, const S* b,
                     std::int64_t ldb, std::int64_t tail, typename V::T* o) {
  using R = typename V::R;
  using T = typename V::T;
  constexpr std::int64_t W = V::W;
  constexpr int NA = NV + (kTail ? 1 : 0);
  constexpr std::int64_t kBytes = NA * W * static_cast<std::int64_t>(sizeof(S));
  R acc[NA];
  for (int j = 0; j < NA; ++j) acc[j] = V::set1(T(0));
  for (std::int64_t p = p0; p < p1; ++p) {
    if (p + kCsrAhead < p1) {
      const char* q = reinterpret_cast<const char*>(b + static_cast<std::int64_t>(idx[p + kCsrAhead]) * ldb);
      for (std::int64_t k = 0; k < kBytes; k += 64) __builtin_prefetch(q + k, 0, 3);
    }
    const S* br = b + static_cast<std::int64_t>(idx[p]) * ldb;
    const R v = V::set1(val[p]);
    for (int j = 0; j < NV; ++j) acc[j] = V::fmadd(v, V::loadu(br + j * W), acc[j]);
    if constexpr (kTail) acc[NV] = V::fmadd(v, V::load_tail(br + NV * W, tail, T(0)), acc[NV]);
  }
  for (int j = 0; j < NV; ++j) V::storeu(o + j * W, acc[j]);
  if constexpr (kTail) V::store_tail(o + NV * W, acc[NV], tail);
}

// The last tile of a row, narrower than kCsrVecs vectors: `full` whole vectors (< kCsrVecs) and
// a tail of `tail` columns (< W), dispatched to the instantiation of that width.
template <class V, class I, class S, int NV = 0>
inline void csr_last_tile(const I* idx, const typename V::T* val, std::int64_t p0, std::int64_t p1, const S* b,
                          std::int64_t ldb, int full, std::int64_t tail, typename V::T* o) {
  if constexpr (NV < kCsrVecs) {
    if (full == NV) {
      if (tail > 0) csr_tile<V, I, NV, true, S>(idx, val, p0, p1, b, ldb, tail, o);
      else if (NV > 0) csr_tile<V, I, NV, false, S>(idx, val, p0, p1, b, ldb, 0, o);
      return;
    }
    csr_last_tile<V, I, S, NV + 1>(idx, val, p0, p1, b, ldb, full, tail, o);
  }
}

// Rows [r0, r1) of a.out, columns [c0, c1) (the caller's panel), tile by tile per row.
template <class V, class I, class S = typename V::T>
void csr_rows_impl(const CsrProduct<typename V::T, I, S>& a, std::int64_t r0, std::int64_t r1, std::int64_t c0,
                   std::int64_t c1) {
  using T = typename V::T;
  constexpr std::int64_t TW = kCsrVecs * V::W;
  const std::int64_t whole = c0 + (c1 - c0) / TW * TW;
  const std::int64_t rest = c1 - whole;
  const int full = static_cast<int>(rest / V::W);
  const std::int64_t tail = rest % V::W;
  for (std::int64_t r = r0; r < r1; ++r) {
    const std::int64_t p0 = static_cast<std::int64_t>(a.indptr[r]), p1 = static_cast<std::int64_t>(a.indptr[r + 1]);
    T* o = a.out + r * a.ldo;
    for (std::int64_t c = c0; c < whole; c += TW)
      csr_tile<V, I, kCsrVecs, false, S>(a.indices, a.data, p0, p1, a.b + c, a.ldb, 0, o + c);
    if (rest > 0) csr_last_tile<V, I, S>(a.indices, a.data, p0, p1, a.b + whole, a.ldb, full, tail, o + whole);
  }
}
