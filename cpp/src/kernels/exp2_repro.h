// The sampler's exponential, written once in portable C++: 2^a for a in [kLow2, 128) (float)
// or [kLow2, 1024) (double), computed with exactly the operations of the AVX2 and AVX-512
// exp2_core (round to nearest even, the same polynomial evaluated by fused multiply-adds, an
// exact scaling by 2^n), each of which is correctly rounded. So this function, the vector
// cores and therefore every ISA give bitwise the same weight for the same input: the
// sampler's token does not depend on the ISA (docs/math.md §4.1). fma is the C
// library's correctly rounded fma (a hardware instruction where the CPU has one).
//
// Internal linkage (anonymous namespace): the ISA units include this header too, and an
// inline function with external linkage compiled there could be the copy the linker keeps.
#pragma once

#include <math.h>

#include "kernels/exp_constants.h"

namespace logitcore_impl {
namespace {

// The clamp applied before the exponential: 2^kExp2Low rounds to zero in T.
template <class T>
constexpr T kExp2Low = sizeof(T) == 4 ? T(-160) : T(-1100);

inline float exp2_repro(float a) {
  const float n = ::nearbyintf(a);
  const float r = a - n;
  float q = expc::kE2[5];
  for (int k = 4; k >= 0; --k) q = ::fmaf(q, r, expc::kE2[k]);
  return ::ldexpf(::fmaf(q, r, 1.0f), static_cast<int>(n));
}

inline double exp2_repro(double a) {
  const double n = ::nearbyint(a);
  const double r = a - n;
  double q = expc::kE2D[11];
  for (int k = 10; k >= 0; --k) q = ::fma(q, r, expc::kE2D[k]);
  return ::ldexp(::fma(q, r, 1.0), static_cast<int>(n));
}

// The sampler's relative weight of logit x under the row maximum zmax and the tempered base-2
// scale c (= log2(e) / temperature, finite, >= 0): 2^max(kExp2Low, (x - zmax) c), 0 for x = -inf.
template <class T>
inline T tempered_weight(T x, T zmax, T c) {
  const T d = x - zmax;
  if (d == -static_cast<T>(HUGE_VAL)) return T(0);
  T a = d * c;
  if (!(a >= kExp2Low<T>)) a = kExp2Low<T>;
  return exp2_repro(a);
}

}  // namespace
}  // namespace logitcore_impl
