// Row-kernel contracts shared by every ISA implementation.
//
// A kernel table holds plain function pointers for one ISA. Kernels see only contiguous
// blocks of at most kBlock elements; striding, threading, special values and the fixed
// block-merge order live in the portable driver (driver.cpp), so every ISA produces its
// result through the same sequence of block states.
#pragma once

#include <cstddef>
#include <cstdint>

namespace logitcore {

// Fixed block length (elements). Row results are a left-to-right fold of per-block states,
// independent of the number of threads: this constant is part of the bitwise contract.
constexpr std::int64_t kBlock = 2048;

// Statistics of one block relative to its own maximum m:
//   s = sum_i b_i * exp(x_i - m),   t = sum_i b_i * exp(x_i - m) * (x_i - m)
// (b_i = 1 when unweighted). m is -inf for an all -inf block (then s = t = 0).
// When m is +inf or NaN the kernel may return anything in s and t: the driver recomputes
// such blocks with exact special-value rules.
struct BlockStats {
  double m;
  double s;
  double t;
};

template <class T>
struct KernelsT {
  // max, sum of exp(x - max) over a contiguous block (n <= kBlock).
  BlockStats (*stats)(const T* x, std::int64_t n);
  // as stats, plus t = sum exp(x - m) * (x - m) (entropy of the softmax).
  BlockStats (*stats_t)(const T* x, std::int64_t n);
  // weighted: entries with b == 0 are excluded, s = sum b exp(x - m) over the rest.
  BlockStats (*stats_w)(const T* x, const T* b, std::int64_t n);
  // y = exp(x - shift) * scale
  void (*exp_scale)(const T* x, std::int64_t n, T shift, T scale, T* y);
  // y = (x - a) - b
  void (*sub)(const T* x, std::int64_t n, T a, T b, T* y);
  // sum of p*log(p) over a block (0 log 0 = 0); NaN/negative entries propagate NaN.
  double (*plogp)(const T* p, std::int64_t n);
  // elementwise exp (used by the accuracy tests and benchmarks)
  void (*exp)(const T* x, std::int64_t n, T* y);
};

struct KernelTable {
  const char* name;
  KernelsT<float> f32;
  KernelsT<double> f64;
};

enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2 };

const KernelTable* table_scalar();
const KernelTable* table_avx2();
const KernelTable* table_avx512();

}  // namespace logitcore
