// The drivers' tuning thresholds, in one place. None of them changes a result: the block
// length kBlock (kernels.h) fixes every fold, whatever path or thread count is taken.
#pragma once

#include <cstdint>

namespace logitcore_impl {
namespace detail {

// Below this many elements a call stays on the calling thread (a parallel region costs more).
constexpr std::int64_t kMinParallelWork = 1 << 15;
// Softmax rows whose output fits in about half an L2 store exp(x - max) once and rescale it
// in cache (one exp per entry); longer rows re-read x (two exps, no second pass over y).
constexpr std::int64_t kCachedSoftmaxBytes = 512 * 1024;
// softmax rows whose output is at most this long have it prefetched for writing before pass 1
// (the whole row's lines then fit beside x in L1/L2 while the max pass runs)
constexpr std::int64_t kPrefetchOutputBytes = 64 * 1024;
// Entropy-normalization outputs at least this large are written with non-temporal stores.
constexpr double kStreamBytes = 4.0 * 1024 * 1024;
// Entropy normalization splits a row's passes over threads only from this many blocks on: each
// pass is one parallel region, which below ~64k entries costs more than a second core gains.
constexpr std::int64_t kMinSplitBlocksEntropyNorm = 32;

// Sparse times dense: the columns of b are taken in panels of at most this many bytes (b's rows
// times the panel's width), reused from cache by all of a thread's rows before the next panel;
// panel widths are multiples of kCsrPanelStep columns (a whole number of the widest kernel tile),
// at least one step, so a b of more than about 4000 rows gets 64-column panels (20000 float64
// rows: 10 MB, in L3; measured 2x faster than one panel of 200 columns, bench/RESULTS.md).
constexpr double kCsrPanelBytes = 2.0 * 1024 * 1024;
constexpr std::int64_t kCsrPanelStep = 64;

}  // namespace detail
}  // namespace logitcore_impl
