// AVX2 + FMA kernels (this file alone is compiled with -mavx2 -mfma).
#include <immintrin.h>
#include <math.h>

#include <cstdint>
#include <limits>

#include "logitcore/kernels.h"
#include "exp_constants.h"

namespace logitcore {
namespace {

inline __m256i tail_mask32(std::int64_t n) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), iota);
}
inline __m256i tail_mask64(std::int64_t n) {
  const __m256i iota = _mm256_setr_epi64x(0, 1, 2, 3);
  return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), iota);
}

struct VF {
  using T = float;
  using R = __m256;
  static constexpr std::int64_t W = 8;
  static constexpr T kLow = -110.0f;
  static constexpr T kHigh = 89.0f;
  static R loadu(const T* p) { return _mm256_loadu_ps(p); }
  static R load_tail(const T* p, std::int64_t n, T fill) {
    const __m256i m = tail_mask32(n);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
  }
  static void storeu(T* p, R r) { _mm256_storeu_ps(p, r); }
  static void store_tail(T* p, R r, std::int64_t n) { _mm256_maskstore_ps(p, tail_mask32(n), r); }
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
  // w in [kLow, kHigh]
  static R exp_core(R w) {
    const R n = _mm256_round_ps(_mm256_mul_ps(w, _mm256_set1_ps(expc::kLog2eF)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    R r = _mm256_fnmadd_ps(n, _mm256_set1_ps(expc::kLn2HiF), w);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(expc::kLn2LoF), r);
    R q = _mm256_fmadd_ps(_mm256_set1_ps(expc::kF6), r, _mm256_set1_ps(expc::kF5));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(expc::kF4));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(expc::kF3));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(expc::kF2));
    const R r2 = _mm256_mul_ps(r, r);
    const R p = _mm256_add_ps(_mm256_fmadd_ps(q, r2, r), _mm256_set1_ps(1.0f));
    // 2^n as two factors so that subnormal results and 2^128 are reached exactly.
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1);
    const __m256i n2 = _mm256_sub_epi32(ni, n1);
    const __m256i b = _mm256_set1_epi32(127);
    const R f1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, b), 23));
    const R f2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, b), 23));
    // NaN input: n is NaN and converts to INT_MIN; p is NaN and NaN * anything stays NaN.
    return _mm256_mul_ps(_mm256_mul_ps(p, f1), f2);
  }
};

struct VD {
  using T = double;
  using R = __m256d;
  static constexpr std::int64_t W = 4;
  static constexpr T kLow = -760.0;
  static constexpr T kHigh = 710.0;
  static R loadu(const T* p) { return _mm256_loadu_pd(p); }
  static R load_tail(const T* p, std::int64_t n, T fill) {
    const __m256i m = tail_mask64(n);
    return _mm256_blendv_pd(_mm256_set1_pd(fill), _mm256_maskload_pd(p, m), _mm256_castsi256_pd(m));
  }
  static void storeu(T* p, R r) { _mm256_storeu_pd(p, r); }
  static void store_tail(T* p, R r, std::int64_t n) { _mm256_maskstore_pd(p, tail_mask64(n), r); }
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
  static R exp_core(R w) {
    const R n = _mm256_round_pd(_mm256_mul_pd(w, _mm256_set1_pd(expc::kLog2eD)),
                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    R r = _mm256_fnmadd_pd(n, _mm256_set1_pd(expc::kLn2HiD), w);
    r = _mm256_fnmadd_pd(n, _mm256_set1_pd(expc::kLn2LoD), r);
    R q = _mm256_set1_pd(expc::kD[9]);
    for (int k = 8; k >= 0; --k) q = _mm256_fmadd_pd(q, r, _mm256_set1_pd(expc::kD[k]));
    const R r2 = _mm256_mul_pd(r, r);
    const R p = _mm256_add_pd(_mm256_fmadd_pd(q, r2, r), _mm256_set1_pd(1.0));
    const __m128i ni = _mm256_cvtpd_epi32(n);
    const __m128i n1 = _mm_srai_epi32(ni, 1);
    const __m128i n2 = _mm_sub_epi32(ni, n1);
    const __m256i b = _mm256_set1_epi64x(1023);
    const R f1 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(n1), b), 52));
    const R f2 = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(n2), b), 52));
    return _mm256_mul_pd(_mm256_mul_pd(p, f1), f2);
  }
};

#include "kernels_impl.inl"

}  // namespace

const KernelTable* table_avx2() {
  static const KernelTable t{"avx2", make_kernels<VF>(), make_kernels<VD>()};
  return &t;
}

}  // namespace logitcore
