// AVX-512 (F, DQ, BW, VL) kernels (this file alone is compiled with -mavx512*).
#include <immintrin.h>
#include <math.h>

#include <cstdint>
#include <limits>

#include "logitcore/kernels.h"
#include "exp_constants.h"

namespace logitcore {
namespace {

struct VF {
  using T = float;
  using R = __m512;
  static constexpr std::int64_t W = 16;
  static constexpr T kLow = -110.0f;
  static constexpr T kHigh = 89.0f;
  static __mmask16 mask(std::int64_t n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static R loadu(const T* p) { return _mm512_loadu_ps(p); }
  static R load_tail(const T* p, std::int64_t n, T fill) {
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), mask(n), p);
  }
  static void storeu(T* p, R r) { _mm512_storeu_ps(p, r); }
  static void store_tail(T* p, R r, std::int64_t n) { _mm512_mask_storeu_ps(p, mask(n), r); }
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
};

struct VD {
  using T = double;
  using R = __m512d;
  static constexpr std::int64_t W = 8;
  static constexpr T kLow = -760.0;
  static constexpr T kHigh = 710.0;
  static __mmask8 mask(std::int64_t n) { return static_cast<__mmask8>((1u << n) - 1u); }
  static R loadu(const T* p) { return _mm512_loadu_pd(p); }
  static R load_tail(const T* p, std::int64_t n, T fill) {
    return _mm512_mask_loadu_pd(_mm512_set1_pd(fill), mask(n), p);
  }
  static void storeu(T* p, R r) { _mm512_storeu_pd(p, r); }
  static void store_tail(T* p, R r, std::int64_t n) { _mm512_mask_storeu_pd(p, mask(n), r); }
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
};

#include "kernels_impl.inl"

}  // namespace

const KernelTable* table_avx512() {
  static const KernelTable t{"avx512", make_kernels<VF>(), make_kernels<VD>()};
  return &t;
}

}  // namespace logitcore
