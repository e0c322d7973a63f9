// The drivers' view of an array: a pointer, a shape and strides in elements (any sign, zero
// allowed for inputs). Row operands have the row along the LAST axis and the batch before it;
// per-row operands have the batch shape only. The public API builds these from its matrices
// (2-D) and vectors (1-D).
#pragma once

#include <cstdint>

namespace logitcore_impl {

constexpr int kMaxDims = 64;

// A strided N-d view. For row inputs the LAST axis is the row (reduction) axis and the
// leading axes are the batch; for per-row outputs all axes are batch axes.
struct NdView {
  void* data = nullptr;
  int ndim = 0;
  std::int64_t shape[kMaxDims];
  std::int64_t strides[kMaxDims];  // in elements, may be negative or zero
};

}  // namespace logitcore_impl
