// What the sampler's kernels and its driver share (docs/math.md §4): the exponential and the
// histogram bins of the weights.
//
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

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

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

// Histogram of the weights 0 <= e <= 1 by their bits: 4 bins per octave, bin 0 holding
// (2^-1/4, 1], bin b holding (E(b+1), E(b)] with E(b) the number whose bits are those of 1
// minus b quarter-octaves; the last bin, kSampleBins - 1, holds everything at or below
// E(kSampleBins - 1) ~ 2^-32, zero included. Monotone: a larger weight never has a larger bin.
constexpr int kSampleBins = 128;

template <class T>
struct WeightBits;
template <>
struct WeightBits<float> {
  using U = std::uint32_t;
  static constexpr U kOne = 0x3F800000u;
  static constexpr int kShift = 21;  // 23 mantissa bits - 2: four bins per octave
};
template <>
struct WeightBits<double> {
  using U = std::uint64_t;
  static constexpr U kOne = 0x3FF0000000000000ull;
  static constexpr int kShift = 50;
};

template <class T>
inline int weight_bin(T e) {
  using B = WeightBits<T>;
  typename B::U u;
  std::memcpy(&u, &e, sizeof u);
  const typename B::U key = (B::kOne - u) >> B::kShift;
  return key < static_cast<typename B::U>(kSampleBins) ? static_cast<int>(key) : kSampleBins - 1;
}

// E(b): the upper end of bin b (E(0) = 1); E(kSampleBins) is taken as 0.
template <class T>
inline T bin_upper(int b) {
  using B = WeightBits<T>;
  if (b >= kSampleBins) return T(0);
  const typename B::U u = B::kOne - (static_cast<typename B::U>(b) << B::kShift);
  T e;
  std::memcpy(&e, &u, sizeof e);
  return e;
}

}  // namespace
}  // namespace logitcore_impl
