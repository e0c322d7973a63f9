// Portable kernels: one lane, C library exp. Compiled for the baseline target.
#include <math.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "logitcore/kernels.h"

namespace logitcore {
namespace {

template <class TT>
struct VScalar {
  using T = TT;
  using R = TT;
  static constexpr std::int64_t W = 1;
  static constexpr T kLow = sizeof(T) == 4 ? T(-110) : T(-760);
  static constexpr T kHigh = sizeof(T) == 4 ? T(89) : T(710);
  static R loadu(const T* p) { return *p; }
  static R load_tail(const T* p, std::int64_t, T) { return *p; }
  static void storeu(T* p, R r) { *p = r; }
  static void store_tail(T* p, R r, std::int64_t) { *p = r; }
  static R set1(T v) { return v; }
  static R add(R a, R b) { return a + b; }
  static R sub(R a, R b) { return a - b; }
  static R mul(R a, R b) { return a * b; }
  static R fmadd(R a, R b, R c) { return a * b + c; }
  static R max(R a, R b) { return a > b ? a : b; }
  static R min(R a, R b) { return a < b ? a : b; }
  static R select_nz(R b, R x, R f) { return b != 0 ? x : f; }
  static T hmax(R a) { return a; }
  static double hsum(R a) { return static_cast<double>(a); }
  static R w2(R x, R m, R l2e, R) { return (x - m) * l2e; }
  static R ones_gt(R a, R b) { return a > b ? T(1) : T(0); }
  static R ones_eq(R a, R b) { return a == b ? T(1) : T(0); }
  static R log_core(R x) {
    if (sizeof(T) == 4) return static_cast<T>(::logf(static_cast<float>(x)));
    return static_cast<T>(::log(static_cast<double>(x)));
  }
  static R log2_fast(R x) {
    if (sizeof(T) == 4) return static_cast<T>(::log2f(static_cast<float>(x)));
    return static_cast<T>(::log2(static_cast<double>(x)));
  }
  static void stream_store(T* p, R r) { *p = r; }
  static void fence() {}
  static constexpr T kLow2 = sizeof(T) == 4 ? T(-160) : T(-1100);
  static R exp2_core(R a) {
    if (sizeof(T) == 4) return static_cast<T>(::exp2f(static_cast<float>(a)));
    return static_cast<T>(::exp2(static_cast<double>(a)));
  }
  static R exp_core(R w) {
    if (sizeof(T) == 4) return static_cast<T>(::expf(static_cast<float>(w)));
    return static_cast<T>(::exp(static_cast<double>(w)));
  }
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
