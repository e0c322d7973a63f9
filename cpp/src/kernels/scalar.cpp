// Portable kernels: four lanes of double in plain C++, C library exp. Compiled for the
// baseline target.
#include <math.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/kernels.h"
#include "kernels/exp_constants.h"
#include "kernels/sampling_math.h"

namespace logitcore_impl {
namespace {

// Four lanes of double in plain C++ for both element types (the compiler may map them to
// SSE2): the generic kernels then keep several partial sums per accumulator, like the SIMD
// paths, instead of one 2048-term chain; float blocks are computed and summed in double; the
// C library's double functions serve both types.
struct R4 {
  double v[4];
};

template <class F>
inline R4 map4(F&& f) {
  R4 r;
  for (int l = 0; l < 4; ++l) r.v[l] = f(l);
  return r;
}

template <class TT>
struct VScalar {
  using T = TT;
  using R = R4;
  static constexpr std::int64_t W = 4;
  static constexpr bool kPortable = true;  // the sampler uses its plain C++ loops (sampling_math.h)
  static constexpr T kLow = T(-760);    // exp(-760) == 0 in double
  static constexpr T kHigh = T(710);    // exp(710) == inf in double
  static constexpr T kLow2 = T(-1100);  // 2^-1100 == 0 in double
  // P is T or, for float, a half-precision storage type (half.h): widened exactly on load,
  // rounded to nearest even from the float value on store
  template <class P>
  static R loadu(const P* p) { return map4([&](int l) { return static_cast<double>(p[l]); }); }
  template <class P>
  static R load_tail(const P* p, std::int64_t n, T fill) {
    return map4([&](int l) { return l < n ? static_cast<double>(p[l]) : static_cast<double>(fill); });
  }
  template <class P>
  static void storeu(P* p, R r) {
    for (int l = 0; l < 4; ++l) p[l] = to_storage<P>(static_cast<T>(r.v[l]));
  }
  template <class P>
  static void store_tail(P* p, R r, std::int64_t n) {
    for (int l = 0; l < n; ++l) p[l] = to_storage<P>(static_cast<T>(r.v[l]));
  }
  static R set1(T v) { return map4([&](int) { return static_cast<double>(v); }); }
  static R add(R a, R b) { return map4([&](int l) { return a.v[l] + b.v[l]; }); }
  static R sub(R a, R b) { return map4([&](int l) { return a.v[l] - b.v[l]; }); }
  static R mul(R a, R b) { return map4([&](int l) { return a.v[l] * b.v[l]; }); }
  static R fmadd(R a, R b, R c) { return map4([&](int l) { return a.v[l] * b.v[l] + c.v[l]; }); }
  // like x86 MAXPS/MINPS: the second operand when either is NaN
  static R max(R a, R b) { return map4([&](int l) { return a.v[l] > b.v[l] ? a.v[l] : b.v[l]; }); }
  static R min(R a, R b) { return map4([&](int l) { return a.v[l] < b.v[l] ? a.v[l] : b.v[l]; }); }
  static R select_nz(R b, R x, R f) { return map4([&](int l) { return b.v[l] != 0 ? x.v[l] : f.v[l]; }); }
  static T hmax(R a) {
    const double m01 = a.v[0] > a.v[1] ? a.v[0] : a.v[1];
    const double m23 = a.v[2] > a.v[3] ? a.v[2] : a.v[3];
    return static_cast<T>(m01 > m23 ? m01 : m23);
  }
  static double hsum(R a) { return (a.v[0] + a.v[1]) + (a.v[2] + a.v[3]); }
  static R w2(R x, R m, R l2e, R) { return map4([&](int l) { return (x.v[l] - m.v[l]) * l2e.v[l]; }); }
  static R ones_gt(R a, R b) { return map4([&](int l) { return a.v[l] > b.v[l] ? 1.0 : 0.0; }); }
  static R ones_eq(R a, R b) { return map4([&](int l) { return a.v[l] == b.v[l] ? 1.0 : 0.0; }); }
  static R keep_lt(R a, R b) { return map4([&](int l) { return a.v[l] < b.v[l] ? a.v[l] : 0.0; }); }
  static R log_core(R x) { return map4([&](int l) { return ::log(x.v[l]); }); }
  static R log2_fast(R x) { return map4([&](int l) { return ::log2(x.v[l]); }); }
  template <class P>
  static void stream_store(P* p, R r) { storeu(p, r); }
  static void fence() {}
  static R exp2_core(R a) { return map4([&](int l) { return ::exp2(a.v[l]); }); }
  static constexpr T kLowSum = kLow2;
  static R exp2_sum(R a) { return exp2_core(a); }
  static R exp_core_neg(R w) { return exp_core(w); }
  static R exp2_core_neg(R a) { return exp2_core(a); }
  static R exp_neg(R w) { return exp_core_neg(max(set1(kLow), w)); }
  static R exp2_neg(R a) { return exp2_core_neg(max(set1(kLow2), a)); }
  static R exp_core(R w) { return map4([&](int l) { return ::exp(w.v[l]); }); }
};

using VF = VScalar<float>;
using VD = VScalar<double>;

// The generic block kernels, one header per family, compiled here for this ISA and kept
// inside this anonymous namespace (see math.inl); table.inl last.
#include "kernels/math.inl"
#include "kernels/logsumexp.inl"
#include "kernels/entropy_norm.inl"
#include "kernels/sampling.inl"
#include "kernels/sparse.inl"
#include "kernels/table.inl"

}  // namespace

const KernelTable* table_scalar() {
  static const KernelTable t{"scalar", make_kernels<VF>(), make_kernels<VD>(), make_half_kernels<VF, bf16>(),
                             make_half_kernels<VF, f16>()};
  return &t;
}

}  // namespace logitcore_impl
