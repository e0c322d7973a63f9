// Portable kernels: one lane, C library exp. Compiled for the baseline target.
#include <math.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "logitcore/kernels.h"

namespace logitcore {
namespace {

// One lane held in double for both element types: float blocks are summed in double (no
// 2048-term float accumulations) and the C library's double functions serve both types.
template <class TT>
struct VScalar {
  using T = TT;
  using R = double;
  static constexpr std::int64_t W = 1;
  static constexpr T kLow = T(-760);    // exp(-760) == 0 in double
  static constexpr T kHigh = T(710);    // exp(710) == inf in double
  static constexpr T kLow2 = T(-1100);  // 2^-1100 == 0 in double
  static R loadu(const T* p) { return static_cast<R>(*p); }
  static R load_tail(const T* p, std::int64_t, T) { return static_cast<R>(*p); }
  static void storeu(T* p, R r) { *p = static_cast<T>(r); }
  static void store_tail(T* p, R r, std::int64_t) { *p = static_cast<T>(r); }
  static R set1(T v) { return static_cast<R>(v); }
  static R add(R a, R b) { return a + b; }
  static R sub(R a, R b) { return a - b; }
  static R mul(R a, R b) { return a * b; }
  static R fmadd(R a, R b, R c) { return a * b + c; }
  static R max(R a, R b) { return a > b ? a : b; }
  static R min(R a, R b) { return a < b ? a : b; }
  static R select_nz(R b, R x, R f) { return b != 0 ? x : f; }
  static T hmax(R a) { return static_cast<T>(a); }
  static double hsum(R a) { return a; }
  static R w2(R x, R m, R l2e, R) { return (x - m) * l2e; }
  static R ones_gt(R a, R b) { return a > b ? 1.0 : 0.0; }
  static R ones_eq(R a, R b) { return a == b ? 1.0 : 0.0; }
  static R log_core(R x) { return ::log(x); }
  static R log2_fast(R x) { return ::log2(x); }
  static void stream_store(T* p, R r) { *p = static_cast<T>(r); }
  static void fence() {}
  static R exp2_core(R a) { return ::exp2(a); }
  static R exp_core(R w) { return ::exp(w); }
};

using VF = VScalar<float>;
using VD = VScalar<double>;

#include "kernels_impl.inl"

}  // namespace

const KernelTable* table_scalar() {
  static const KernelTable t{"scalar", make_kernels<VF>(), make_kernels<VD>()};
  return &t;
}

}  // namespace logitcore
