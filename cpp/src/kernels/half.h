// Half-precision storage types (docs/math.md §1.5): bfloat16 and IEEE binary16, held as their
// 16 bits (layout-compatible with logitcore_bf16 / logitcore_f16 of the public header). They
// are storage only: kernels convert them to float32 as they load them and compute in float32;
// outputs of the input's shape are rounded back to nearest, ties to even.
//
// The conversions here are the portable ones (scalar kernels, drivers' special-value paths);
// the AVX2 / AVX-512 traits convert whole vectors (a shift for bfloat16, F16C for float16) and
// give the same bits.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace logitcore_impl {

inline float bits_to_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline std::uint32_t float_to_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// bfloat16: the high 16 bits of a float32. Widening is exact (a shift); narrowing rounds to
// nearest even and keeps NaN a (quiet) NaN of the same sign.
struct bf16 {
  std::uint16_t bits;
  static float widen(std::uint16_t h) { return bits_to_float(static_cast<std::uint32_t>(h) << 16); }
  static std::uint16_t narrow(float f) {
    const std::uint32_t u = float_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);  // NaN
    return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  }
  static bf16 from(float f) { return bf16{narrow(f)}; }
  template <class U, class = std::enable_if_t<std::is_arithmetic<U>::value>>
  explicit operator U() const {
    return static_cast<U>(widen(bits));
  }
};

// IEEE binary16: 1 sign, 5 exponent, 10 mantissa bits. Every half is exactly a float32
// (subnormal halves included); narrowing rounds to nearest even, overflows to inf (values of
// at least 65520 in magnitude), and keeps NaN a quiet NaN.
struct f16 {
  std::uint16_t bits;
  static float widen(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    const std::uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return bits_to_float(sign | 0x7f800000u | (m << 13));  // inf, NaN (payload kept)
    if (e != 0) return bits_to_float(sign | ((e + 112u) << 23) | (m << 13));
    // zero or subnormal: m * 2^-24 exactly
    const float v = static_cast<float>(m) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  static std::uint16_t narrow(float f) {
    const std::uint32_t u = float_to_bits(f);
    const std::uint16_t sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
    const std::uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN
    if (a >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // >= 65520 (and inf): inf
    if (a < 0x38800000u) {  // below 2^-14: a subnormal half (or zero); round |f| * 2^24 to an integer
      // |f| < 2^-14: adding 0.5 (2^-1) aligns the half's ulp 2^-24 with float's ulp of 0.5,
      // 2^-24, so the float addition itself rounds to nearest even
      const float s = bits_to_float(a) + 0.5f;
      return static_cast<std::uint16_t>(sign | (float_to_bits(s) - 0x3f000000u));
    }
    // normal: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits
    const std::uint32_t r = a + 0xfffu + ((a >> 13) & 1u) - (112u << 23);
    return static_cast<std::uint16_t>(sign | (r >> 13));
  }
  static f16 from(float f) { return f16{narrow(f)}; }
  template <class U, class = std::enable_if_t<std::is_arithmetic<U>::value>>
  explicit operator U() const {
    return static_cast<U>(widen(bits));
  }
};

template <class S>
struct is_half : std::false_type {};
template <>
struct is_half<bf16> : std::true_type {};
template <>
struct is_half<f16> : std::true_type {};

// The type a storage type is computed in: half precision in float32, others in themselves.
template <class S>
using compute_t = std::conditional_t<is_half<S>::value, float, S>;

// A computed value (float or double) stored as S: half types round the float32 value to
// nearest even (a double is first rounded to float32: the float32 result, then its storage).
template <class S>
inline S to_storage(double v) {
  if constexpr (is_half<S>::value) return S::from(static_cast<float>(v));
  else return static_cast<S>(v);
}

}  // namespace logitcore_impl
