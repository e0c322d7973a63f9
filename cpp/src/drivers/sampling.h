// The token sampler (docs/math.md §4): tempering or a target entropy, top-k, top-p, min-p and
// one draw per row from a counter-based generator; the filtered distribution itself; and the
// repetition / frequency / presence penalties. Called by the public API (cpp/src/api), which
// has checked every argument and setting.
#pragma once

#include <cstdint>

#include "drivers/view.h"
#include "logitcore/logitcore.h"
#include "kernels/kernels.h"

namespace logitcore_impl {

// One row's settings (already validated): temperature >= 0 finite (0: greedy), top_k >= 0
// (0: off), top_p in (0, 1] (1: off), min_p in [0, 1] (0: off), target_entropy NaN (off) or
// >= 0 (replaces the temperature).
struct SampleSettings {
  double temperature = 1.0;
  std::int64_t top_k = 0;
  double top_p = 1.0;
  double min_p = 0.0;
  double target_entropy = __builtin_nan("");
  std::uint64_t seed = 0;
  std::uint64_t offset = 0;
};

// Row r's settings from the public API's strided arrays (logitcore.h: stride 0 = one value
// for all rows, a null pointer = the default).
SampleSettings row_settings(const logitcore_sampling_params& p, std::int64_t r);

// What a call produces; every pointer may be null (not wanted). Row-major contiguous arrays:
// tokens (rows), token_logprob (rows), top_tokens / top_logprobs (rows x n_logprobs). probs
// (the final renormalized distribution, zero outside the kept set) and kept (1 inside it) are
// views of x's shape; gamma receives the inverse temperature used (1/T, 0 or inf; inf also for
// greedy rows).
template <class T>
struct SampleOutputs {
  std::int64_t* tokens = nullptr;
  std::int64_t n_logprobs = 0;
  double* token_logprob = nullptr;
  std::int64_t* top_tokens = nullptr;
  double* top_logprobs = nullptr;
  const NdView* probs = nullptr;
  const NdView* kept = nullptr;  // std::uint8_t elements
  double* gamma = nullptr;
};

enum class SampleFailure : int { none = 0, nan = 1, no_finite = 2, out_of_memory = 3 };

struct SampleResult {
  SampleFailure failure = SampleFailure::none;
  std::int64_t row = -1;  // the first failing row
};

// x: (rows, n), rows along the last axis (2-D view). Nothing is written unless every row
// succeeds (the outputs are staged).
template <class T>
SampleResult sample_rows(const KernelTable& k, const NdView& x, const logitcore_sampling_params& params,
                         const SampleOutputs<T>& out, int nthreads);

// Philox4x32-10 uniform in [0, 1) of docs/math.md §4.2.
double philox_uniform(std::uint64_t seed, std::uint64_t offset);
void philox4x32_10(const std::uint32_t ctr[4], const std::uint32_t key[2], std::uint32_t out[4]);

// Penalties of docs/math.md §4.4: y = x adjusted from ids (a rows x L view of int64, -1 is
// padding, every id in [-1, n) (checked by the API)); y may be x. Settings as in logitcore.h (per-row strided arrays,
// null: off).
template <class T>
void penalty_rows(const NdView& x, const NdView& y, const NdView& ids, const logitcore_penalty_params& p,
                  int nthreads);

}  // namespace logitcore_impl
