// AVX2 + FMA (+ F16C) kernels (this file alone is compiled with -mavx2 -mfma -mf16c).
#include <immintrin.h>
#include <math.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kernels/kernels.h"
#include "kernels/exp_constants.h"
#include "kernels/sampling_math.h"

namespace logitcore_impl {
namespace {

// Subnormal inputs of the logs are scaled into the normal range first: below the smallest
// normal, multiply by 2^23 (float) / 2^52 (double) and take 23 / 52 off the exponent.
constexpr float kMinNormalF = std::numeric_limits<float>::min();
constexpr float kTwo23F = 8388608.0f;  // 2^23
constexpr double kMinNormalD = std::numeric_limits<double>::min();
constexpr double kTwo52D = 4503599627370496.0;  // 2^52

inline __m256i tail_mask32(std::int64_t n) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), iota);
}
inline __m256i tail_mask64(std::int64_t n) {
  const __m256i iota = _mm256_setr_epi64x(0, 1, 2, 3);
  return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), iota);
}

// Left-packing permutations: entry m lists the lanes set in the 8-bit mask m, in order (the
// rest zero). Built once at compile time.
struct PackTable {
  std::int32_t idx[256][8];
  constexpr PackTable() : idx() {
    for (int m = 0; m < 256; ++m) {
      int c = 0;
      for (int l = 0; l < 8; ++l)
        if (m & (1 << l)) idx[m][c++] = l;
    }
  }
};
constexpr PackTable kPack8{};
// 4 lanes of 64 bits as pairs of 32-bit lanes
struct PackTable4 {
  std::int32_t idx[16][8];
  std::int32_t lane[16][4];
  constexpr PackTable4() : idx(), lane() {
    for (int m = 0; m < 16; ++m) {
      int c = 0;
      for (int l = 0; l < 4; ++l)
        if (m & (1 << l)) {
          idx[m][2 * c] = 2 * l;
          idx[m][2 * c + 1] = 2 * l + 1;
          lane[m][c] = l;
          ++c;
        }
    }
  }
};
constexpr PackTable4 kPack4{};

struct VF {
  using T = float;
  using R = __m256;
  static constexpr std::int64_t W = 8;
  static constexpr bool kPortable = false;
  static constexpr T kLow = -110.0f;
  static constexpr T kHigh = 89.0f;
  static R loadu(const T* p) { return _mm256_loadu_ps(p); }
  static R load_tail(const T* p, std::int64_t n, T fill) {
    const __m256i m = tail_mask32(n);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
  }
  static void storeu(T* p, R r) { _mm256_storeu_ps(p, r); }
  static void store_tail(T* p, R r, std::int64_t n) { _mm256_maskstore_ps(p, tail_mask32(n), r); }
  // Half-precision storage (half.h): eight halves widened to float32 as they are loaded
  // (bfloat16: zero-extend and shift by 16; float16: F16C), and rounded to nearest even as
  // they are stored (bfloat16 in integer arithmetic, NaN kept a quiet NaN; float16: F16C),
  // bit for bit what half.h's portable conversions give.
  // bfloat16: the eight halves in both 128-bit lanes, then one byte shuffle puts each into the
  // high word of its lane and zeroes the low words (instead of a zero-extension and a shift)
  static R widen(const bf16*, __m128i h) {
    const __m256i idx = _mm256_setr_epi8(-128, -128, 0, 1, -128, -128, 2, 3, -128, -128, 4, 5, -128, -128, 6, 7,
                                         -128, -128, 8, 9, -128, -128, 10, 11, -128, -128, 12, 13, -128, -128, 14, 15);
    return _mm256_castsi256_ps(_mm256_shuffle_epi8(_mm256_broadcastsi128_si256(h), idx));
  }
  static R widen(const f16*, __m128i h) { return _mm256_cvtph_ps(h); }
  static __m128i narrow(const bf16*, R r) {
    const __m256i u = _mm256_castps_si256(r);
    const __m256i hi = _mm256_srli_epi32(u, 16);
    const __m256i odd = _mm256_and_si256(hi, _mm256_set1_epi32(1));
    __m256i h = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), odd), 16);
    h = _mm256_blendv_epi8(h, _mm256_or_si256(hi, _mm256_set1_epi32(0x40)),
                           _mm256_castps_si256(_mm256_cmp_ps(r, r, _CMP_UNORD_Q)));
    // the 16-bit values of both 128-bit lanes next to each other, then the two lanes' halves
    return _mm256_castsi256_si128(_mm256_permute4x64_epi64(_mm256_packus_epi32(h, h), 0x08));
  }
  static __m128i narrow(const f16*, R r) { return _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  template <class P, class = std::enable_if_t<is_half<P>::value>>
  static R loadu(const P* p) {
    return widen(p, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  template <class P, class = std::enable_if_t<is_half<P>::value>>
  static R load_tail(const P* p, std::int64_t n, T fill) {
    alignas(16) std::uint16_t b[8] = {};
    std::memcpy(b, p, static_cast<size_t>(n) * sizeof(P));
    const R v = widen(p, _mm_load_si128(reinterpret_cast<const __m128i*>(b)));
    return _mm256_blendv_ps(_mm256_set1_ps(fill), v, _mm256_castsi256_ps(tail_mask32(n)));
  }
  template <class P, class = std::enable_if_t<is_half<P>::value>>
  static void storeu(P* p, R r) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), narrow(p, r));
  }
  template <class P, class = std::enable_if_t<is_half<P>::value>>
  static void store_tail(P* p, R r, std::int64_t n) {
    alignas(16) std::uint16_t b[8];
    _mm_store_si128(reinterpret_cast<__m128i*>(b), narrow(p, r));
    std::memcpy(p, b, static_cast<size_t>(n) * sizeof(P));
  }
  template <class P, class = std::enable_if_t<is_half<P>::value>>
  static void stream_store(P* p, R r) {
    _mm_stream_si128(reinterpret_cast<__m128i*>(p), narrow(p, r));
  }
  // the lanes of m (in order) of v and of base + lane to ev / iv (room for W more entries
  // each: whole vectors are stored); returns how many
  static int compress(R v, unsigned m, std::int32_t base, T* ev, std::int32_t* iv) {
    const __m256i perm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kPack8.idx[m]));
    _mm256_storeu_ps(ev, _mm256_permutevar8x32_ps(v, perm));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(iv), _mm256_add_epi32(_mm256_set1_epi32(base), perm));
    return __builtin_popcount(m);
  }
  static R set1(T v) { return _mm256_set1_ps(v); }
  static R add(R a, R b) { return _mm256_add_ps(a, b); }
  static R sub(R a, R b) { return _mm256_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm256_mul_ps(a, b); }
  static R fmadd(R a, R b, R c) { return _mm256_fmadd_ps(a, b, c); }
  static R max(R a, R b) { return _mm256_max_ps(a, b); }
  static R min(R a, R b) { return _mm256_min_ps(a, b); }
  static R select_nz(R b, R x, R f) {
    return _mm256_blendv_ps(x, f, _mm256_cmp_ps(b, _mm256_setzero_ps(), _CMP_EQ_OQ));
  }
  // bit l set where a[l] >= b[l] or either is NaN (not less than, unordered) / where a[l] is NaN
  static unsigned mask_nlt(R a, R b) { return static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_NLT_UQ))); }
  static unsigned mask_nan(R a) { return static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(a, a, _CMP_UNORD_Q))); }
  static T hmax(R a) {
    __m128 v = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    v = _mm_max_ps(v, _mm_movehl_ps(v, v));
    v = _mm_max_ss(v, _mm_shuffle_ps(v, v, 1));
    return _mm_cvtss_f32(v);
  }
  static double hsum(R a) {
    __m256d d = _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(a)),
                              _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)));
    __m128d v = _mm_add_pd(_mm256_castpd256_pd128(d), _mm256_extractf128_pd(d, 1));
    return _mm_cvtsd_f64(_mm_add_sd(v, _mm_unpackhi_pd(v, v)));
  }
  // (x - m) / ln 2 as one fused x * l2e + c, c = -(m * l2e)
  static R w2(R x, R, R l2e, R c) { return fmadd(x, l2e, c); }
  static R ones_gt(R a, R b) { return _mm256_and_ps(_mm256_cmp_ps(a, b, _CMP_GT_OQ), _mm256_set1_ps(1.0f)); }
  static R ones_eq(R a, R b) { return _mm256_and_ps(_mm256_cmp_ps(a, b, _CMP_EQ_OQ), _mm256_set1_ps(1.0f)); }
  static R keep_lt(R a, R b) { return _mm256_and_ps(_mm256_cmp_ps(a, b, _CMP_LT_OQ), a); }
  static R log_core(R x) {
    // subnormals: scale by 2^23 first
    const R sub = _mm256_cmp_ps(x, _mm256_set1_ps(kMinNormalF), _CMP_LT_OQ);
    const R xs = _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(kTwo23F)), sub);
    const __m256i bits = _mm256_castps_si256(xs);
    R e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127)));
    e = _mm256_sub_ps(e, _mm256_and_ps(sub, _mm256_set1_ps(23.0f)));
    R m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)),
                                              _mm256_set1_epi32(0x3f800000)));
    const R big = _mm256_cmp_ps(m, _mm256_set1_ps(expc::kSqrt2F), _CMP_GT_OQ);
    m = _mm256_blendv_ps(m, _mm256_mul_ps(m, _mm256_set1_ps(0.5f)), big);
    e = _mm256_add_ps(e, _mm256_and_ps(big, _mm256_set1_ps(1.0f)));
    const R f = _mm256_sub_ps(m, _mm256_set1_ps(1.0f));
    R q = _mm256_set1_ps(expc::kL[7]);
    for (int k = 6; k >= 0; --k) q = _mm256_fmadd_ps(q, f, _mm256_set1_ps(expc::kL[k]));
    const R f2 = _mm256_mul_ps(f, f);
    R y = _mm256_fmadd_ps(_mm256_mul_ps(f2, f), q, _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), f2, f));
    y = _mm256_fmadd_ps(e, _mm256_set1_ps(expc::kLn2LoF), y);
    y = _mm256_fmadd_ps(e, _mm256_set1_ps(expc::kLn2HiF), y);
    const float inf = std::numeric_limits<float>::infinity();
    y = _mm256_blendv_ps(y, _mm256_set1_ps(-inf), _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_EQ_OQ));
    y = _mm256_blendv_ps(y, _mm256_set1_ps(inf), _mm256_cmp_ps(x, _mm256_set1_ps(inf), _CMP_EQ_OQ));
    y = _mm256_blendv_ps(y, _mm256_set1_ps(std::numeric_limits<float>::quiet_NaN()),
                         _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_NGE_UQ));
    return y;
  }
  // exp(w - n ln 2) for the integral n nearest w log2 e: Cody-Waite reduction and the
  // polynomial shared by exp_core and exp_core_neg
  static R exp_reduced(R w, R n) {
    R r = _mm256_fnmadd_ps(n, _mm256_set1_ps(expc::kLn2HiF), w);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(expc::kLn2LoF), r);
    R q = _mm256_fmadd_ps(_mm256_set1_ps(expc::kF6), r, _mm256_set1_ps(expc::kF5));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(expc::kF4));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(expc::kF3));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(expc::kF2));
    const R r2 = _mm256_mul_ps(r, r);
    const R p = _mm256_add_ps(_mm256_fmadd_ps(q, r2, r), _mm256_set1_ps(1.0f));
    return p;
  }
  // w in [kLow, kHigh]
  static R exp_core(R w) {
    const R n = _mm256_round_ps(_mm256_mul_ps(w, _mm256_set1_ps(expc::kLog2eF)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const R p = exp_reduced(w, n);
    return scale2n(p, n);
  }
  // exp(w) for w <= 0 in [kLow, 0], or NaN: exp_core's value bit for bit, cheaper. n =
  // round(w log2 e) comes from one add of 1.5 * 2^23 (the same ties-to-even rounding as
  // round_ps while |w log2 e| < 2^22) and leaves n in the low mantissa bits of t, from which
  // 2^n is two integer operations; one multiply then scales wherever 2^n is normal (w > -87
  // gives n >= -126). A vector holding a smaller w (a subnormal result) or a NaN takes
  // scale2n's two factors instead.
  static R exp_core_neg(R w) {
    const R magic = _mm256_set1_ps(kRoundMagicF);
    const R t = _mm256_add_ps(_mm256_mul_ps(w, _mm256_set1_ps(expc::kLog2eF)), magic);
    const R n = _mm256_sub_ps(t, magic);
    const R p = exp_reduced(w, n);
    if (_mm256_movemask_ps(_mm256_cmp_ps(w, _mm256_set1_ps(kNormalNegF), _CMP_NGE_UQ))) return scale2n(p, n);
    return _mm256_mul_ps(p, pow2_from_round(t));
  }
  // 2^a for a <= 0 in [kLow2, 0], or NaN: exp2_core's value bit for bit, scaled as exp_core_neg.
  static R exp2_core_neg(R a) {
    const R magic = _mm256_set1_ps(kRoundMagicF);
    const R t = _mm256_add_ps(a, magic);
    const R n = _mm256_sub_ps(t, magic);
    const R p = exp2_poly(_mm256_sub_ps(a, n));
    if (_mm256_movemask_ps(_mm256_cmp_ps(a, _mm256_set1_ps(-126.0f), _CMP_NGE_UQ))) return scale2n(p, n);
    return _mm256_mul_ps(p, pow2_from_round(t));
  }
  // exp_core_neg and exp2_core_neg of max(kLow, w) and max(kLow2, a) for any w, a <= 0, -inf
  // or NaN (the same bits), with the clamp only on the path of vectors with a small or NaN
  // entry: one operation less per vector on the others.
  static R exp_neg(R w) {
    const R magic = _mm256_set1_ps(kRoundMagicF);
    const R t = _mm256_add_ps(_mm256_mul_ps(w, _mm256_set1_ps(expc::kLog2eF)), magic);
    if (_mm256_movemask_ps(_mm256_cmp_ps(w, _mm256_set1_ps(kNormalNegF), _CMP_NGE_UQ)))
      return exp_core_neg(_mm256_max_ps(_mm256_set1_ps(kLow), w));
    return _mm256_mul_ps(exp_reduced(w, _mm256_sub_ps(t, magic)), pow2_from_round(t));
  }
  static R exp2_neg(R a) {
    const R magic = _mm256_set1_ps(kRoundMagicF);
    const R t = _mm256_add_ps(a, magic);
    if (_mm256_movemask_ps(_mm256_cmp_ps(a, _mm256_set1_ps(-126.0f), _CMP_NGE_UQ)))
      return exp2_core_neg(_mm256_max_ps(_mm256_set1_ps(kLow2), a));
    return _mm256_mul_ps(exp2_poly(_mm256_sub_ps(a, _mm256_sub_ps(t, magic))), pow2_from_round(t));
  }
  // exp_neg and exp2_neg of two vectors with one test for the clamped path (the pair's
  // temporaries then fit in the sixteen registers with the polynomial's constants)
  static constexpr bool kNegPair = true;
  static void exp_neg_pair(R w0, R w1, R& e0, R& e1) {
    const R magic = _mm256_set1_ps(kRoundMagicF), l2e = _mm256_set1_ps(expc::kLog2eF), lim = _mm256_set1_ps(kNormalNegF);
    const R t0 = _mm256_add_ps(_mm256_mul_ps(w0, l2e), magic), t1 = _mm256_add_ps(_mm256_mul_ps(w1, l2e), magic);
    if (_mm256_movemask_ps(_mm256_or_ps(_mm256_cmp_ps(w0, lim, _CMP_NGE_UQ), _mm256_cmp_ps(w1, lim, _CMP_NGE_UQ)))) {
      e0 = exp_neg(w0);
      e1 = exp_neg(w1);
      return;
    }
    e0 = _mm256_mul_ps(exp_reduced(w0, _mm256_sub_ps(t0, magic)), pow2_from_round(t0));
    e1 = _mm256_mul_ps(exp_reduced(w1, _mm256_sub_ps(t1, magic)), pow2_from_round(t1));
  }
  static void exp2_neg_pair(R a0, R a1, R& e0, R& e1) {
    const R magic = _mm256_set1_ps(kRoundMagicF), lim = _mm256_set1_ps(-126.0f);
    const R t0 = _mm256_add_ps(a0, magic), t1 = _mm256_add_ps(a1, magic);
    if (_mm256_movemask_ps(_mm256_or_ps(_mm256_cmp_ps(a0, lim, _CMP_NGE_UQ), _mm256_cmp_ps(a1, lim, _CMP_NGE_UQ)))) {
      e0 = exp2_neg(a0);
      e1 = exp2_neg(a1);
      return;
    }
    e0 = _mm256_mul_ps(exp2_poly(_mm256_sub_ps(a0, _mm256_sub_ps(t0, magic))), pow2_from_round(t0));
    e1 = _mm256_mul_ps(exp2_poly(_mm256_sub_ps(a1, _mm256_sub_ps(t1, magic))), pow2_from_round(t1));
  }
  // t = 1.5 * 2^23 + n holds n in its low mantissa bits: (bits + 127) << 23 is 2^n (the
  // higher bits shift out) for n in [-126, 127]
  static constexpr float kRoundMagicF = 12582912.0f;
  static constexpr float kNormalNegF = -87.0f;
  static R pow2_from_round(R t) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(127)), 23));
  }
  // p * 2^n (n integral), with 2^n as two factors so that subnormal results and 2^128 are
  // reached exactly. NaN: n converts to INT_MIN, but p is NaN and NaN * anything stays NaN.
  static R scale2n(R p, R n) {
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1);
    const __m256i n2 = _mm256_sub_epi32(ni, n1);
    const __m256i b = _mm256_set1_epi32(127);
    const R f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, b), 23));
    const R f2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, b), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, f1), f2);
  }
  static void stream_store(T* p, R r) { _mm256_stream_ps(p, r); }
  static void fence() { _mm_sfence(); }
  // log2 for finite x >= 0 (0 gives a huge negative number), no special-value fixups;
  // table-driven like the AVX-512 one, with 8 centres (see exp_constants.h)
  static R log2_fast(R x) {
    const R sub = _mm256_cmp_ps(x, _mm256_set1_ps(kMinNormalF), _CMP_LT_OQ);
    const R xs = _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(kTwo23F)), sub);
    const __m256i bits = _mm256_castps_si256(xs);
    R e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(127)));
    e = _mm256_sub_ps(e, _mm256_and_ps(sub, _mm256_set1_ps(23.0f)));
    const __m256i mb = _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)),
                                       _mm256_set1_epi32(0x3f800000));
    const R m = _mm256_castsi256_ps(mb);
    const __m256i j = _mm256_srli_epi32(mb, 20);  // vpermps uses bits 2..0: the top 3 mantissa bits
    const R inv = _mm256_permutevar8x32_ps(_mm256_loadu_ps(expc::kLogTab8Inv), j);
    const R lc = _mm256_permutevar8x32_ps(_mm256_loadu_ps(expc::kLogTab8Log2), j);
    const R r = _mm256_fmsub_ps(m, inv, _mm256_set1_ps(1.0f));
    R q = _mm256_fmadd_ps(_mm256_set1_ps(expc::kLog2Taylor6), r, _mm256_set1_ps(expc::kLog2Taylor[4]));
    for (int k = 3; k >= 0; --k) q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(expc::kLog2Taylor[k]));
    return _mm256_add_ps(_mm256_fmadd_ps(q, r, lc), e);
  }
  static constexpr T kLow2 = -160.0f;
  // 2^a for a in [kLowSum, 127] whose terms are only summed (the sums of the stats passes, at
  // least 1): n = round(a) and 2^n come from one add of 1.5 * 2^23 + 127 (the biased exponent
  // lands in the low mantissa bits), a single scaling; subnormal results are not needed, so a
  // is clamped at -126 by the caller. The same bits as exp2_core wherever 2^a is normal.
  static constexpr T kLowSum = -126.0f;
  static R exp2_sum(R a) {
    const R magic = _mm256_set1_ps(12582912.0f + 127.0f);
    const R t = _mm256_add_ps(a, magic);
    const R r = _mm256_sub_ps(a, _mm256_sub_ps(t, magic));
    R q = _mm256_set1_ps(expc::kE2Sum[4]);
    for (int k = 3; k >= 0; --k) q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(expc::kE2Sum[k]));
    const R p = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f));
    return _mm256_mul_ps(p, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(t), 23)));
  }
  // 2^a for a in [kLow2, 129]
  static R exp2_core(R a) {
    const R n = _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return scale2n(exp2_poly(_mm256_sub_ps(a, n)), n);
  }
  // 2^r for |r| <= 1/2 (exp2_core's and exp2_core_neg's polynomial)
  static R exp2_poly(R r) {
    R q = _mm256_set1_ps(expc::kE2[5]);
    for (int k = 4; k >= 0; --k) q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(expc::kE2[k]));
    return _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.0f));
  }
};

struct VD {
  using T = double;
  using R = __m256d;
  static constexpr std::int64_t W = 4;
  static constexpr bool kPortable = false;
  static constexpr T kLow = -760.0;
  static constexpr T kHigh = 710.0;
  static R loadu(const T* p) { return _mm256_loadu_pd(p); }
  static R load_tail(const T* p, std::int64_t n, T fill) {
    const __m256i m = tail_mask64(n);
    return _mm256_blendv_pd(_mm256_set1_pd(fill), _mm256_maskload_pd(p, m), _mm256_castsi256_pd(m));
  }
  static void storeu(T* p, R r) { _mm256_storeu_pd(p, r); }
  static void store_tail(T* p, R r, std::int64_t n) { _mm256_maskstore_pd(p, tail_mask64(n), r); }
  static unsigned mask_nlt(R a, R b) { return static_cast<unsigned>(_mm256_movemask_pd(_mm256_cmp_pd(a, b, _CMP_NLT_UQ))); }
  static unsigned mask_nan(R a) { return static_cast<unsigned>(_mm256_movemask_pd(_mm256_cmp_pd(a, a, _CMP_UNORD_Q))); }
  static int compress(R v, unsigned m, std::int32_t base, T* ev, std::int32_t* iv) {
    const __m256i perm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kPack4.idx[m]));
    _mm256_storeu_pd(ev, _mm256_castps_pd(_mm256_permutevar8x32_ps(_mm256_castpd_ps(v), perm)));
    const __m128i lanes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kPack4.lane[m]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(iv), _mm_add_epi32(_mm_set1_epi32(base), lanes));
    return __builtin_popcount(m);
  }
  static R set1(T v) { return _mm256_set1_pd(v); }
  static R add(R a, R b) { return _mm256_add_pd(a, b); }
  static R sub(R a, R b) { return _mm256_sub_pd(a, b); }
  static R mul(R a, R b) { return _mm256_mul_pd(a, b); }
  static R fmadd(R a, R b, R c) { return _mm256_fmadd_pd(a, b, c); }
  static R max(R a, R b) { return _mm256_max_pd(a, b); }
  static R min(R a, R b) { return _mm256_min_pd(a, b); }
  static R select_nz(R b, R x, R f) {
    return _mm256_blendv_pd(x, f, _mm256_cmp_pd(b, _mm256_setzero_pd(), _CMP_EQ_OQ));
  }
  static T hmax(R a) {
    __m128d v = _mm_max_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    v = _mm_max_sd(v, _mm_unpackhi_pd(v, v));
    return _mm_cvtsd_f64(v);
  }
  static double hsum(R a) {
    __m128d v = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(v, _mm_unpackhi_pd(v, v)));
  }
  // (x - m) / ln 2 as one fused x * l2e + c, c = -(m * l2e)
  static R w2(R x, R, R l2e, R c) { return fmadd(x, l2e, c); }
  static R ones_gt(R a, R b) { return _mm256_and_pd(_mm256_cmp_pd(a, b, _CMP_GT_OQ), _mm256_set1_pd(1.0)); }
  static R ones_eq(R a, R b) { return _mm256_and_pd(_mm256_cmp_pd(a, b, _CMP_EQ_OQ), _mm256_set1_pd(1.0)); }
  static R keep_lt(R a, R b) { return _mm256_and_pd(_mm256_cmp_pd(a, b, _CMP_LT_OQ), a); }
  static R log_core(R x) {
    const R sub = _mm256_cmp_pd(x, _mm256_set1_pd(kMinNormalD), _CMP_LT_OQ);
    const R xs = _mm256_blendv_pd(x, _mm256_mul_pd(x, _mm256_set1_pd(kTwo52D)), sub);
    const __m256i bits = _mm256_castpd_si256(xs);
    // biased exponent as a double: OR it into the mantissa of 2^52 and subtract 2^52
    const __m256i eb = _mm256_srli_epi64(bits, 52);
    R e = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(eb, _mm256_set1_epi64x(0x4330000000000000LL))),
                        _mm256_set1_pd(kTwo52D + 1023.0));
    e = _mm256_sub_pd(e, _mm256_and_pd(sub, _mm256_set1_pd(52.0)));
    R m = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi64x(0x000fffffffffffffLL)),
                                              _mm256_set1_epi64x(0x3ff0000000000000LL)));
    const R big = _mm256_cmp_pd(m, _mm256_set1_pd(expc::kSqrt2D), _CMP_GT_OQ);
    m = _mm256_blendv_pd(m, _mm256_mul_pd(m, _mm256_set1_pd(0.5)), big);
    e = _mm256_add_pd(e, _mm256_and_pd(big, _mm256_set1_pd(1.0)));
    const R f = _mm256_sub_pd(m, _mm256_set1_pd(1.0));
    const R sv = _mm256_div_pd(f, _mm256_add_pd(f, _mm256_set1_pd(2.0)));
    const R s2 = _mm256_mul_pd(sv, sv);
    R q = _mm256_set1_pd(2.0 / 19.0);
    for (int k = 7; k >= 0; --k) q = _mm256_fmadd_pd(q, s2, _mm256_set1_pd(2.0 / (2 * k + 3)));
    R y = _mm256_fmadd_pd(_mm256_mul_pd(sv, s2), q, _mm256_add_pd(sv, sv));
    y = _mm256_fmadd_pd(e, _mm256_set1_pd(expc::kLn2LoD), y);
    y = _mm256_fmadd_pd(e, _mm256_set1_pd(expc::kLn2HiD), y);
    const double inf = std::numeric_limits<double>::infinity();
    y = _mm256_blendv_pd(y, _mm256_set1_pd(-inf), _mm256_cmp_pd(x, _mm256_setzero_pd(), _CMP_EQ_OQ));
    y = _mm256_blendv_pd(y, _mm256_set1_pd(inf), _mm256_cmp_pd(x, _mm256_set1_pd(inf), _CMP_EQ_OQ));
    y = _mm256_blendv_pd(y, _mm256_set1_pd(std::numeric_limits<double>::quiet_NaN()),
                         _mm256_cmp_pd(x, _mm256_setzero_pd(), _CMP_NGE_UQ));
    return y;
  }
  static R exp_core(R w) {
    const R n = _mm256_round_pd(_mm256_mul_pd(w, _mm256_set1_pd(expc::kLog2eD)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    R r = _mm256_fnmadd_pd(n, _mm256_set1_pd(expc::kLn2HiD), w);
    r = _mm256_fnmadd_pd(n, _mm256_set1_pd(expc::kLn2LoD), r);
    R q = _mm256_set1_pd(expc::kD[9]);
    for (int k = 8; k >= 0; --k) q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(expc::kD[k]));
    const R r2 = _mm256_mul_pd(r, r);
    const R p = _mm256_add_pd(_mm256_fmadd_pd(q, r2, r), _mm256_set1_pd(1.0));
    return scale2n(p, n);
  }
  static R scale2n(R p, R n) {
    const __m128i ni = _mm256_cvtpd_epi32(n);
    const __m128i n1 = _mm_srai_epi32(ni, 1);
    const __m128i n2 = _mm_sub_epi32(ni, n1);
    const __m256i b = _mm256_set1_epi64x(1023);
    const R f1 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(n1), b), 52));
    const R f2 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(n2), b), 52));
    return _mm256_mul_pd(_mm256_mul_pd(p, f1), f2);
  }
  static void stream_store(T* p, R r) { _mm256_stream_pd(p, r); }
  static void fence() { _mm_sfence(); }
  static R log2_fast(R x) { return _mm256_mul_pd(log_core(x), _mm256_set1_pd(expc::kLog2eD)); }
  static constexpr T kLow2 = -1100.0;
  static constexpr T kLowSum = kLow2;
  static R exp2_sum(R a) { return exp2_core(a); }
  static R exp_core_neg(R w) { return exp_core(w); }
  static R exp2_core_neg(R a) { return exp2_core(a); }
  static R exp_neg(R w) { return exp_core_neg(max(set1(kLow), w)); }
  static R exp2_neg(R a) { return exp2_core_neg(max(set1(kLow2), a)); }
  static R exp2_core(R a) {
    const R n = _mm256_round_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const R r = _mm256_sub_pd(a, n);
    R q = _mm256_set1_pd(expc::kE2D[11]);
    for (int k = 10; k >= 0; --k) q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(expc::kE2D[k]));
    return scale2n(_mm256_fmadd_pd(q, r, _mm256_set1_pd(1.0)), n);
  }
};

// The generic block kernels, one header per family, compiled here for this ISA and kept
// inside this anonymous namespace (see math.inl); table.inl last.
#include "kernels/math.inl"
#include "kernels/logsumexp.inl"
#include "kernels/entropy_norm.inl"
#include "kernels/sampling.inl"
#include "kernels/sparse.inl"
#include "kernels/table.inl"

}  // namespace

const KernelTable* table_avx2() {
  static const KernelTable t{"avx2", make_kernels<VF>(), make_kernels<VD>(), make_half_kernels<VF, bf16>(),
                             make_half_kernels<VF, f16>()};
  return &t;
}

}  // namespace logitcore_impl
