// AVX-512 (F, DQ, BW, VL) kernels (this file alone is compiled with -mavx512*).
// GCC 12 reports its own AVX-512 intrinsics (which start from _mm512_undefined_*(), a
// self-initialized variable) as using uninitialized values once they are inlined deeply; the
// diagnostic is located in the intrinsics headers, so it is silenced for them only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#include <math.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/kernels.h"
#include "kernels/exp_constants.h"
#include "kernels/sampling_math.h"

namespace logitcore_impl {
namespace {

struct VF {
  using T = float;
  using R = __m512;
  static constexpr std::int64_t W = 16;
  static constexpr bool kPortable = false;
  static constexpr T kLow = -110.0f;
  static constexpr T kHigh = 89.0f;
  static __mmask16 mask(std::int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static R loadu(const T* p) { return _mm512_loadu_ps(p); }
  static R load_tail(const T* p, std::int64_t n, T fill) {
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), mask(n), p);
  }
  static void storeu(T* p, R r) { _mm512_storeu_ps(p, r); }
  static void store_tail(T* p, R r, std::int64_t n) { _mm512_mask_storeu_ps(p, mask(n), r); }
  // Half-precision storage (half.h): sixteen halves widened to float32 as they are loaded
  // (bfloat16: zero-extend and shift by 16; float16: vcvtph2ps), rounded to nearest even as
  // they are stored (bfloat16 in integer arithmetic, NaN kept a quiet NaN; float16:
  // vcvtps2ph), bit for bit what half.h's portable conversions give.
  // bfloat16: one word permute puts each half into the high word of its lane, zeroing the low
  // words (one shuffle instead of a zero-extension and a shift)
  static R widen(const bf16*, __m256i h) {
    const __m512i idx = _mm512_set_epi16(15, 0, 14, 0, 13, 0, 12, 0, 11, 0, 10, 0, 9, 0, 8, 0, 7, 0, 6, 0, 5, 0, 4, 0,
                                         3, 0, 2, 0, 1, 0, 0, 0);
    return _mm512_castsi512_ps(
        _mm512_maskz_permutexvar_epi16(static_cast<__mmask32>(0xAAAAAAAAu), idx, _mm512_castsi256_si512(h)));
  }
  static R widen(const f16*, __m256i h) { return _mm512_cvtph_ps(h); }
  static __m256i narrow(const bf16*, R r) {
    const __m512i u = _mm512_castps_si512(r);
    const __m512i hi = _mm512_srli_epi32(u, 16);
    const __m512i odd = _mm512_and_si512(hi, _mm512_set1_epi32(1));
    __m512i h = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), odd), 16);
    h = _mm512_mask_mov_epi32(h, _mm512_cmp_ps_mask(r, r, _CMP_UNORD_Q), _mm512_or_si512(hi, _mm512_set1_epi32(0x40)));
    return _mm512_cvtepi32_epi16(h);
  }
  static __m256i narrow(const f16*, R r) { return _mm512_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  template <class P, class = std::enable_if_t<is_half<P>::value>>
  static R loadu(const P* p) {
    return widen(p, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  template <class P, class = std::enable_if_t<is_half<P>::value>>
  static R load_tail(const P* p, std::int64_t n, T fill) {
    const __mmask16 k = mask(n);
    return _mm512_mask_blend_ps(k, _mm512_set1_ps(fill), widen(p, _mm256_maskz_loadu_epi16(k, p)));
  }
  template <class P, class = std::enable_if_t<is_half<P>::value>>
  static void storeu(P* p, R r) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), narrow(p, r));
  }
  template <class P, class = std::enable_if_t<is_half<P>::value>>
  static void store_tail(P* p, R r, std::int64_t n) {
    _mm256_mask_storeu_epi16(p, mask(n), narrow(p, r));
  }
  template <class P, class = std::enable_if_t<is_half<P>::value>>
  static void stream_store(P* p, R r) {
    _mm256_stream_si256(reinterpret_cast<__m256i*>(p), narrow(p, r));
  }
  static unsigned mask_nlt(R a, R b) { return static_cast<unsigned>(_mm512_cmp_ps_mask(a, b, _CMP_NLT_UQ)); }
  static unsigned mask_nan(R a) { return static_cast<unsigned>(_mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q)); }
  // the lanes of m (in order) of v and of base + lane to ev / iv (room for W more entries
  // each: whole vectors are stored); returns how many
  static int compress(R v, unsigned m, std::int32_t base, T* ev, std::int32_t* iv) {
    const __mmask16 k = static_cast<__mmask16>(m);
    _mm512_storeu_ps(ev, _mm512_maskz_compress_ps(k, v));
    const __m512i lanes = _mm512_add_epi32(_mm512_set1_epi32(base),
                                           _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    _mm512_storeu_si512(iv, _mm512_maskz_compress_epi32(k, lanes));
    return __builtin_popcount(m);
  }
  static R set1(T v) { return _mm512_set1_ps(v); }
  static R add(R a, R b) { return _mm512_add_ps(a, b); }
  static R sub(R a, R b) { return _mm512_sub_ps(a, b); }
  static R mul(R a, R b) { return _mm512_mul_ps(a, b); }
  static R fmadd(R a, R b, R c) { return _mm512_fmadd_ps(a, b, c); }
  static R max(R a, R b) { return _mm512_max_ps(a, b); }
  static R min(R a, R b) { return _mm512_min_ps(a, b); }
  static R select_nz(R b, R x, R f) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(b, _mm512_setzero_ps(), _CMP_EQ_OQ), x, f);
  }
  static T hmax(R a) {
    const __m256 h = _mm256_max_ps(_mm512_castps512_ps256(a),
                                   _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)));
    __m128 v = _mm_max_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    v = _mm_max_ps(v, _mm_movehl_ps(v, v));
    v = _mm_max_ss(v, _mm_shuffle_ps(v, v, 1));
    return _mm_cvtss_f32(v);
  }
  static double hsum(R a) {
    const __m512d d = _mm512_add_pd(
        _mm512_cvtps_pd(_mm512_castps512_ps256(a)),
        _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1))));
    __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(d), _mm512_extractf64x4_pd(d, 1));
    __m128d v = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    return _mm_cvtsd_f64(_mm_add_sd(v, _mm_unpackhi_pd(v, v)));
  }
  // (x - m) / ln 2 as one fused x * l2e + c, c = -(m * l2e)
  static R w2(R x, R, R l2e, R c) { return fmadd(x, l2e, c); }
  static R ones_gt(R a, R b) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, b, _CMP_GT_OQ), _mm512_set1_ps(1.0f)); }
  static R ones_eq(R a, R b) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ), _mm512_set1_ps(1.0f)); }
  static R keep_lt(R a, R b) { return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), a); }
  static R log_core(R x) {
    // getmant/getexp handle subnormals, zero (-inf exponent), inf and NaN
    R m = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
    R e = _mm512_getexp_ps(x);
    const __mmask16 big = _mm512_cmp_ps_mask(m, _mm512_set1_ps(expc::kSqrt2F), _CMP_GT_OQ);
    m = _mm512_mask_mul_ps(m, big, m, _mm512_set1_ps(0.5f));
    e = _mm512_mask_add_ps(e, big, e, _mm512_set1_ps(1.0f));
    const R f = _mm512_sub_ps(m, _mm512_set1_ps(1.0f));
    R q = _mm512_set1_ps(expc::kL[7]);
    for (int k = 6; k >= 0; --k) q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(expc::kL[k]));
    const R f2 = _mm512_mul_ps(f, f);
    R y = _mm512_fmadd_ps(_mm512_mul_ps(f2, f), q, _mm512_fnmadd_ps(_mm512_set1_ps(0.5f), f2, f));
    y = _mm512_fmadd_ps(e, _mm512_set1_ps(expc::kLn2LoF), y);
    y = _mm512_fmadd_ps(e, _mm512_set1_ps(expc::kLn2HiF), y);
    const float inf = std::numeric_limits<float>::infinity();
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_EQ_OQ), _mm512_set1_ps(-inf));
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, _mm512_set1_ps(inf), _CMP_EQ_OQ), _mm512_set1_ps(inf));
    y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_NGE_UQ),
                           _mm512_set1_ps(std::numeric_limits<float>::quiet_NaN()));
    return y;
  }
  static R exp_core(R w) {
    const R n = _mm512_roundscale_ps(_mm512_mul_ps(w, _mm512_set1_ps(expc::kLog2eF)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    R r = _mm512_fnmadd_ps(n, _mm512_set1_ps(expc::kLn2HiF), w);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(expc::kLn2LoF), r);
    R q = _mm512_fmadd_ps(_mm512_set1_ps(expc::kF6), r, _mm512_set1_ps(expc::kF5));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(expc::kF4));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(expc::kF3));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(expc::kF2));
    const R r2 = _mm512_mul_ps(r, r);
    const R p = _mm512_add_ps(_mm512_fmadd_ps(q, r2, r), _mm512_set1_ps(1.0f));
    // scalef rounds p * 2^n once, including into the subnormal range and to +inf.
    return _mm512_scalef_ps(p, n);
  }
  static void stream_store(T* p, R r) { _mm512_stream_ps(p, r); }
  static void fence() { _mm_sfence(); }
  // log2 for finite x >= 0 (log2 0 = -inf), no special-value fixups; absolute error
  // < 1e-8 plus the final rounding (table of 16 centres, see exp_constants.h)
  static R log2_fast(R x) {
    const R m = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
    const R e = _mm512_getexp_ps(x);
    const __m512i j = _mm512_srli_epi32(_mm512_castps_si512(m), 19);  // vpermps uses bits 3..0
    const R inv = _mm512_permutexvar_ps(j, _mm512_loadu_ps(expc::kLogTabInv));
    const R lc = _mm512_permutexvar_ps(j, _mm512_loadu_ps(expc::kLogTabLog2));
    const R r = _mm512_fmsub_ps(m, inv, _mm512_set1_ps(1.0f));
    R q = _mm512_fmadd_ps(_mm512_set1_ps(expc::kLog2Taylor[4]), r, _mm512_set1_ps(expc::kLog2Taylor[3]));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(expc::kLog2Taylor[2]));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(expc::kLog2Taylor[1]));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(expc::kLog2Taylor[0]));
    return _mm512_add_ps(_mm512_fmadd_ps(q, r, lc), e);
  }
  static constexpr T kLow2 = -160.0f;
  // scalef reaches subnormals at no cost: the summing exp2 is exp2_core
  static constexpr T kLowSum = kLow2;
  static R exp2_sum(R a) { return exp2_core(a); }
  static R exp_core_neg(R w) { return exp_core(w); }
  static R exp2_core_neg(R a) { return exp2_core(a); }
  static R exp_neg(R w) { return exp_core_neg(max(set1(kLow), w)); }
  static R exp2_neg(R a) { return exp2_core_neg(max(set1(kLow2), a)); }
  static R exp2_core(R a) {
    const R n = _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const R r = _mm512_sub_ps(a, n);
    R q = _mm512_set1_ps(expc::kE2[5]);
    for (int k = 4; k >= 0; --k) q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(expc::kE2[k]));
    return _mm512_scalef_ps(_mm512_fmadd_ps(q, r, _mm512_set1_ps(1.0f)), n);
  }
};

struct VD {
  using T = double;
  using R = __m512d;
  static constexpr std::int64_t W = 8;
  static constexpr bool kPortable = false;
  static constexpr T kLow = -760.0;
  static constexpr T kHigh = 710.0;
  static __mmask8 mask(std::int64_t n) { return static_cast<__mmask8>((1u << n) - 1u); }
  static R loadu(const T* p) { return _mm512_loadu_pd(p); }
  static R load_tail(const T* p, std::int64_t n, T fill) {
    return _mm512_mask_loadu_pd(_mm512_set1_pd(fill), mask(n), p);
  }
  static void storeu(T* p, R r) { _mm512_storeu_pd(p, r); }
  static void store_tail(T* p, R r, std::int64_t n) { _mm512_mask_storeu_pd(p, mask(n), r); }
  static unsigned mask_nlt(R a, R b) { return static_cast<unsigned>(_mm512_cmp_pd_mask(a, b, _CMP_NLT_UQ)); }
  static unsigned mask_nan(R a) { return static_cast<unsigned>(_mm512_cmp_pd_mask(a, a, _CMP_UNORD_Q)); }
  static int compress(R v, unsigned m, std::int32_t base, T* ev, std::int32_t* iv) {
    const __mmask8 k = static_cast<__mmask8>(m);
    _mm512_storeu_pd(ev, _mm512_maskz_compress_pd(k, v));
    const __m256i lanes = _mm256_add_epi32(_mm256_set1_epi32(base), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(iv), _mm256_maskz_compress_epi32(k, lanes));
    return __builtin_popcount(m);
  }
  static R set1(T v) { return _mm512_set1_pd(v); }
  static R add(R a, R b) { return _mm512_add_pd(a, b); }
  static R sub(R a, R b) { return _mm512_sub_pd(a, b); }
  static R mul(R a, R b) { return _mm512_mul_pd(a, b); }
  static R fmadd(R a, R b, R c) { return _mm512_fmadd_pd(a, b, c); }
  static R max(R a, R b) { return _mm512_max_pd(a, b); }
  static R min(R a, R b) { return _mm512_min_pd(a, b); }
  static R select_nz(R b, R x, R f) {
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(b, _mm512_setzero_pd(), _CMP_EQ_OQ), x, f);
  }
  static T hmax(R a) {
    const __m256d h = _mm256_max_pd(_mm512_castpd512_pd256(a), _mm512_extractf64x4_pd(a, 1));
    __m128d v = _mm_max_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    v = _mm_max_sd(v, _mm_unpackhi_pd(v, v));
    return _mm_cvtsd_f64(v);
  }
  static double hsum(R a) {
    __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(a), _mm512_extractf64x4_pd(a, 1));
    __m128d v = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    return _mm_cvtsd_f64(_mm_add_sd(v, _mm_unpackhi_pd(v, v)));
  }
  // (x - m) / ln 2 as one fused x * l2e + c, c = -(m * l2e)
  static R w2(R x, R, R l2e, R c) { return fmadd(x, l2e, c); }
  static R ones_gt(R a, R b) { return _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(a, b, _CMP_GT_OQ), _mm512_set1_pd(1.0)); }
  static R ones_eq(R a, R b) { return _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(a, b, _CMP_EQ_OQ), _mm512_set1_pd(1.0)); }
  static R keep_lt(R a, R b) { return _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(a, b, _CMP_LT_OQ), a); }
  static R log_core(R x) {
    R m = _mm512_getmant_pd(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
    R e = _mm512_getexp_pd(x);
    const __mmask8 big = _mm512_cmp_pd_mask(m, _mm512_set1_pd(expc::kSqrt2D), _CMP_GT_OQ);
    m = _mm512_mask_mul_pd(m, big, m, _mm512_set1_pd(0.5));
    e = _mm512_mask_add_pd(e, big, e, _mm512_set1_pd(1.0));
    const R f = _mm512_sub_pd(m, _mm512_set1_pd(1.0));
    const R sv = _mm512_div_pd(f, _mm512_add_pd(f, _mm512_set1_pd(2.0)));
    const R s2 = _mm512_mul_pd(sv, sv);
    R q = _mm512_set1_pd(2.0 / 19.0);
    for (int k = 7; k >= 0; --k) q = _mm512_fmadd_pd(q, s2, _mm512_set1_pd(2.0 / (2 * k + 3)));
    R y = _mm512_fmadd_pd(_mm512_mul_pd(sv, s2), q, _mm512_add_pd(sv, sv));
    y = _mm512_fmadd_pd(e, _mm512_set1_pd(expc::kLn2LoD), y);
    y = _mm512_fmadd_pd(e, _mm512_set1_pd(expc::kLn2HiD), y);
    const double inf = std::numeric_limits<double>::infinity();
    y = _mm512_mask_mov_pd(y, _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_EQ_OQ), _mm512_set1_pd(-inf));
    y = _mm512_mask_mov_pd(y, _mm512_cmp_pd_mask(x, _mm512_set1_pd(inf), _CMP_EQ_OQ), _mm512_set1_pd(inf));
    y = _mm512_mask_mov_pd(y, _mm512_cmp_pd_mask(x, _mm512_setzero_pd(), _CMP_NGE_UQ),
                           _mm512_set1_pd(std::numeric_limits<double>::quiet_NaN()));
    return y;
  }
  static R exp_core(R w) {
    const R n = _mm512_roundscale_pd(_mm512_mul_pd(w, _mm512_set1_pd(expc::kLog2eD)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    R r = _mm512_fnmadd_pd(n, _mm512_set1_pd(expc::kLn2HiD), w);
    r = _mm512_fnmadd_pd(n, _mm512_set1_pd(expc::kLn2LoD), r);
    R q = _mm512_set1_pd(expc::kD[9]);
    for (int k = 8; k >= 0; --k) q = _mm512_fmadd_pd(q, r, _mm512_set1_pd(expc::kD[k]));
    const R r2 = _mm512_mul_pd(r, r);
    const R p = _mm512_add_pd(_mm512_fmadd_pd(q, r2, r), _mm512_set1_pd(1.0));
    return _mm512_scalef_pd(p, n);
  }
  static void stream_store(T* p, R r) { _mm512_stream_pd(p, r); }
  static void fence() { _mm_sfence(); }
  static R log2_fast(R x) { return _mm512_mul_pd(log_core(x), _mm512_set1_pd(expc::kLog2eD)); }
  static constexpr T kLow2 = -1100.0;
  // scalef reaches subnormals at no cost: the summing exp2 is exp2_core
  static constexpr T kLowSum = kLow2;
  static R exp2_sum(R a) { return exp2_core(a); }
  static R exp_core_neg(R w) { return exp_core(w); }
  static R exp2_core_neg(R a) { return exp2_core(a); }
  static R exp_neg(R w) { return exp_core_neg(max(set1(kLow), w)); }
  static R exp2_neg(R a) { return exp2_core_neg(max(set1(kLow2), a)); }
  static R exp2_core(R a) {
    const R n = _mm512_roundscale_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const R r = _mm512_sub_pd(a, n);
    R q = _mm512_set1_pd(expc::kE2D[11]);
    for (int k = 10; k >= 0; --k) q = _mm512_fmadd_pd(q, r, _mm512_set1_pd(expc::kE2D[k]));
    return _mm512_scalef_pd(_mm512_fmadd_pd(q, r, _mm512_set1_pd(1.0)), n);
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

const KernelTable* table_avx512() {
  static const KernelTable t{"avx512", make_kernels<VF>(), make_kernels<VD>(), make_half_kernels<VF, bf16>(),
                             make_half_kernels<VF, f16>()};
  return &t;
}

}  // namespace logitcore_impl
