// Row-kernel contracts shared by every ISA implementation.
//
// A kernel table holds plain function pointers for one ISA. Kernels see only contiguous
// blocks of at most kBlock elements; striding, threading, special values and the fixed
// block-merge order live in the portable driver (driver.cpp), so every ISA produces its
// result through the same sequence of block states.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "kernels/half.h"

namespace logitcore_impl {

// Fixed block length (elements). Row results are a left-to-right fold of per-block states,
// independent of the number of threads: this constant is part of the bitwise contract.
constexpr std::int64_t kBlock = 2048;

// Statistics of one block relative to its own maximum m:
//   s = sum_i b_i * exp(x_i - m),   t = sum_i b_i * exp(x_i - m) * (x_i - m)
// (b_i = 1 when unweighted). m is -inf for an all -inf block (then s = t = 0).
// When m is +inf or NaN the kernel may return anything in s and t: the driver recomputes
// such blocks with exact special-value rules.
struct BlockStats {
  double m;
  double s;
  double t;
};

// Block scan of raw values: max, min, sum (NaN if any NaN; max and min may miss a NaN) and how
// many entries exceed thr. nan is left 0 by the kernels: callers that need the NaN count (a
// NaN sum can also come from finite values whose partial sums overflowed) fill it.
struct ScanStats {
  double max;
  double min;
  double sum;
  double count;
  double nan = 0.0;
};

// The block holding the row maximum m (every x <= m), split: r = the sum of the terms
// exp(x_i - m) below 1 (Cody-Waite, each within an ulp; no term is 1, so r keeps its
// relative accuracy however small it is) and ties = the number of terms equal to 1.
// lse = m + log1p(r + ties - 1) then has full relative accuracy when the maximum dominates.
struct Excess {
  double r;
  double ties;
};

// Power moments of a block of centred log-weights w <= 0 at inverse temperature g:
//   s0 = sum e, s1 = sum e w, s2 = sum e w^2, s3 = sum e w^3,  e = exp(g w)
// plus ties = number of entries with w == 0 (filled by prep only).
struct Moments {
  double s0;
  double s1;
  double s2;
  double s3;
  double ties;  // prep only: entries with w == 0
};

// prep also returns the moments at g = 2 and g = 4 (e^2 and e^4: two multiplications per
// entry in the pass that must read the input anyway), so the search starts from three points.
constexpr int kPrepExtra = 2;
constexpr double kPrepGamma[kPrepExtra] = {2.0, 4.0};
struct PrepMoments {
  Moments m;                     // g = 1, with ties
  Moments extra[kPrepExtra];     // g = kPrepGamma[i] (s0..s3 only)
  double support;                // entries with w > kWMin: the support the search works on
};

// Entries of w at or below this value stand for -inf (zero probability): exp(g * w) is
// exactly 0 for every g >= 1e-16 and products with it stay finite. Logits further below the
// row maximum than |kWMin| ln 2 (about 6.9e17 in float32, 6.9e149 in float64) are clamped
// here and so are outside the support, like -inf; the support count, the uniform output at
// gamma = 0 and the reachable range all use this same support.
template <class T>
constexpr T kWMin = sizeof(T) == 4 ? T(-1e18) : T(-1e150);

// A sparse (CSR) times dense product: out (rows x k) = A (CSR: indptr, indices, data) times b,
// element (i, j) of b at b[i * ldb + j], of out at out[r * ldo + j] (contiguous columns). The
// public API has checked every index; see sparse.inl for the summation order.
// b may be half-precision storage S (computed in T = float32, widened as it is loaded).
template <class T, class I, class S = T>
struct CsrProduct {
  const I* indptr;
  const I* indices;
  const T* data;
  const S* b;
  std::int64_t ldb;
  T* out;
  std::int64_t ldo;
};

// The kernels of one storage type S, computed in T = compute_t<S>: float and double in
// themselves; the half-precision storage types (half.h) in float32, converted as they are
// loaded and rounded to nearest even where an output of S is stored (the loads and stores of
// the ISA's traits). Pointers to S are the caller's data (or a gathered copy of it); pointers
// to T are scratch in the compute type. The half tables fill the logsumexp family's entries
// (stats .. plogp, scan, scale_store), entropy normalization's (prep reads S; the passes over
// compute-type scratch are the float kernels), widen and the sparse product (b of S); the
// sampler's kernels and the elementwise maps stay null (the sampler widens each row once).
template <class S>
struct KernelsT {
  using T = compute_t<S>;
  // max, sum of exp(x - max) over a contiguous block (n <= kBlock).
  BlockStats (*stats)(const S* x, std::int64_t n);
  // as stats, plus t = sum exp(x - m) * (x - m) (entropy of the softmax).
  BlockStats (*stats_entropy)(const S* x, std::int64_t n);
  // max and sum of e_i = exp(x_i - m) (double: Cody-Waite, within an ulp; float: 2^((x - m)
  // log2 e), relative error below |x_i - m| 2^-24; the maximum's term is exactly 1 in both),
  // storing e into e unless it is null (e may alias x). Stores nothing when m is +inf or
  // NaN; stores zeros when m is -inf.
  BlockStats (*stats_store)(const S* x, std::int64_t n, T* e);
  // as stats, with each term's exponent formed from x - max rather than fused with the shift:
  // log s accurate to itself (softmax and log_softmax rows, docs/math.md §1.3).
  BlockStats (*stats_exact)(const S* x, std::int64_t n);
  // Excess of the block holding the row maximum m (see Excess); x <= m, no NaN.
  Excess (*excess)(const S* x, std::int64_t n, T m);
  // The same split of terms already stored by stats_store (0 <= e <= 1): r = the sum of the
  // e below 1, ties = the number equal to 1.
  Excess (*split_sum)(const T* e, std::int64_t n);
  // y = exp(x - shift) by Cody-Waite reduction, returning {max x (with with_max, else -inf),
  // sum y, 0} (y may alias x): softmax's middle pass, one exp per element. Entries more than
  // the caller's spread limit above the shift give meaningless terms: the caller checks the
  // returned maximum.
  BlockStats (*exp_store_sum)(const S* x, std::int64_t n, T shift, T* y, bool with_max);
  // weighted: entries with b == 0 are excluded, s = sum b exp(x - m) over the rest.
  // Blocks with a nonzero |b| outside [2^-60, 2^60] (or NaN/inf) return s = NaN: the driver
  // sums those in log space.
  BlockStats (*stats_w)(const S* x, const S* b, std::int64_t n);
  // y = exp(x - shift) * scale; stream: non-temporal stores (outputs larger than the caches)
  void (*exp_scale)(const S* x, std::int64_t n, T shift, T scale, S* y, bool stream);
  // y = (x - a) - b; stream as above
  void (*sub)(const S* x, std::int64_t n, T a, T b, S* y, bool stream);
  // sum of p*log(p) over a block (0 log 0 = 0); NaN/negative entries propagate NaN.
  double (*plogp)(const S* p, std::int64_t n);
  // elementwise exp (used by the accuracy tests and benchmarks)
  void (*exp)(const T* x, std::int64_t n, T* y);
  // elementwise natural log (log 0 = -inf, log of a negative or NaN = NaN)
  void (*log)(const T* x, std::int64_t n, T* y);

  // --- entropy normalization (docs/math.md §2) ---
  ScanStats (*scan)(const S* x, std::int64_t n, T thr);
  // The block maximum (may miss a NaN entry).
  double (*max)(const S* x, std::int64_t n);
  // Writes the log-weights of a block relative to the reference xmax (the row maximum), in
  // log2 units: w = max(kWMin, log2 x - log2 xmax) for probabilities or
  // max(kWMin, (x - xmax) / ln 2) for logits (entries equal to xmax get w == 0 exactly), and
  // returns the moments at g = 1 (e = x / xmax for probabilities, 2^w for logits) and the
  // number of ties w == 0, plus the moments at the kPrepGamma points. Needs xmax > 0 (finite)
  // for probabilities.
  PrepMoments (*prep)(const S* x, std::int64_t n, bool logits, T xmax, T* w);
  // moments of w at g, e = 2^(g w) (ties not computed). If e_out is not null, e is stored
  // there.
  Moments (*moments)(const T* w, std::int64_t n, T g, T* e_out);
  // y = 2^(g w) * scale
  void (*exp_gamma_scale)(const T* w, std::int64_t n, T g, T scale, T* y);
  // y = e * c; with stream, non-temporal stores (for outputs larger than the caches)
  void (*scale_store)(const T* e, std::int64_t n, T c, S* y, bool stream);

  // --- the vector cores one element at a time (accuracy tests); no clamping or fixups ---
  // y = 2^x by the ISA's exp2_core. Contract: kLow2 <= x <= 128 (float) or 1024 (double),
  // where kLow2 (-160 / -1100; 2^kLow2 rounds to 0) is the clamp the kernels apply first;
  // subnormal results are rounded, not flushed, 2^128 / 2^1024 give +inf. Outside the
  // contract (below kLow2, above it, NaN) the result is unspecified.
  void (*exp2)(const T* x, std::int64_t n, T* y);
  // y = log2 x by the ISA's log2_fast (the log-weights of entropy normalization). Contract:
  // finite x > 0, subnormals included; x = 0 gives -inf or a finite value below
  // log2(smallest subnormal of T); negative, infinite and NaN x are outside the contract.
  void (*log2)(const T* x, std::int64_t n, T* y);

  // --- token sampling (docs/math.md §4); every result bitwise the same on every ISA ---
  // The entries of a block that are not < thr (x >= thr, and NaN), in order: offsets base + i
  // into idx, values into val (room for n entries); returns how many.
  std::int64_t (*select_nlt)(const T* x, std::int64_t n, T thr, std::int64_t base, std::int64_t* idx, T* val);
  // out[i] = max of group i, x[i g, (i + 1) g), for the n / g whole groups (g a multiple of 32);
  // NaN for a group holding a NaN.
  void (*group_max)(const T* x, std::int64_t n, std::int64_t g, T* out);
  // e = 2^max(kExp2Low, (x - zmax) c), 0 where x = -inf (x <= zmax, zmax finite, c >= 0
  // finite): tempered_weight() of sampling_math.h.
  void (*tempered_exp)(const T* x, std::int64_t n, T zmax, T c, T* e);
  // The entries with x >= thr and e > ecut gathered in order: their offsets in the block (idx),
  // weights (e) and weight_bin (bin), returning how many (idx and e need room for n + 16
  // entries); *low = the sum of the other weights (entries x < thr count 0) in 16 partial sums,
  // entry i of the block into partial i mod 16 in index order, folded pairwise in a fixed order.
  std::int64_t (*tempered_split)(const T* x, std::int64_t n, T zmax, T c, T thr, T ecut, std::int32_t* idx, T* e,
                                 std::uint8_t* bin, double* low);

  // y = x widened to the compute type (a copy for float and double): the sampler's rows.
  void (*widen)(const S* x, std::int64_t n, T* y);

  // --- sparse times dense (sparse.inl); bitwise the same on AVX2 and AVX-512 ---
  // Rows [r0, r1) and columns [c0, c1) of out = A b, each element summed in nnz order.
  void (*csr_rows_i32)(const CsrProduct<T, std::int32_t, S>& a, std::int64_t r0, std::int64_t r1, std::int64_t c0,
                       std::int64_t c1);
  void (*csr_rows_i64)(const CsrProduct<T, std::int64_t, S>& a, std::int64_t r0, std::int64_t r1, std::int64_t c0,
                       std::int64_t c1);
};

struct KernelTable {
  const char* name;
  KernelsT<float> f32;
  KernelsT<double> f64;
  KernelsT<bf16> bfloat16;
  KernelsT<f16> float16;
};

enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2 };

const KernelTable* table_scalar();
const KernelTable* table_avx2();
const KernelTable* table_avx512();

}  // namespace logitcore_impl
