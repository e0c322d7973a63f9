// Helpers shared by the google-benchmark executables. They are clients of the public API only
// (logitcore.h / logitcore.hpp, linked as logitcore::logitcore, the shared library): no internal
// header, no internal include directory. ISAs are chosen with logitcore_set_isa (or, when the
// LOGITCORE_ISA environment variable is set, by the library itself), threads by each call's
// num_threads argument.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <random>
#include <limits>
#include <string>
#include <vector>

#include <logitcore/logitcore.h>
#include <logitcore/logitcore.hpp>

namespace bench {

using i64 = std::int64_t;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// 64-byte aligned buffer of n values (uninitialized).
template <class T>
std::shared_ptr<T> aligned_buffer(i64 n) {
  const size_t bytes = ((static_cast<size_t>(n > 0 ? n : 1) * sizeof(T) + 63) / 64) * 64;
  T* p = static_cast<T*>(std::aligned_alloc(64, bytes));
  if (!p) throw std::bad_alloc();
  return std::shared_ptr<T>(p, FreeDeleter());
}

// 64-byte aligned buffer of n standard normal values from the given seed (every page touched).
template <class T>
std::shared_ptr<T> normal_buffer(i64 n, unsigned seed) {
  auto buf = aligned_buffer<T>(n);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> dist(0.0, 1.0);
  T* p = buf.get();
  for (i64 i = 0; i < n; ++i) p[i] = static_cast<T>(dist(rng));
  return buf;
}

// 64-byte aligned buffer of n zeros (every page touched: page faults stay out of the timing).
template <class T>
std::shared_ptr<T> zero_buffer(i64 n) {
  auto buf = aligned_buffer<T>(n);
  for (i64 i = 0; i < n; ++i) buf.get()[i] = T(0);
  return buf;
}

// Probability rows p = softmax(2 z) of the rows of z (rows x n, contiguous), computed in double
// and rounded to float: the entropy-normalization input.
inline std::shared_ptr<float> softmax2_rows(const float* z, i64 rows, i64 n) {
  auto buf = aligned_buffer<float>(rows * n);
  std::vector<double> e(static_cast<size_t>(n));
  for (i64 r = 0; r < rows; ++r) {
    const float* zr = z + r * n;
    double m = -std::numeric_limits<double>::infinity();
    for (i64 i = 0; i < n; ++i) m = std::max(m, 2.0 * zr[i]);
    double s = 0;
    for (i64 i = 0; i < n; ++i) s += (e[static_cast<size_t>(i)] = std::exp(2.0 * zr[i] - m));
    for (i64 i = 0; i < n; ++i) buf.get()[r * n + i] = static_cast<float>(e[static_cast<size_t>(i)] / s);
  }
  return buf;
}

// ---- ISA and threads through the public API ------------------------------------------------

// True when LOGITCORE_ISA is set (non-empty): the library then picks the ISA itself and the
// suite neither changes it nor registers other ISAs.
inline bool isa_from_env() {
  const char* e = std::getenv("LOGITCORE_ISA");
  return e != nullptr && *e != '\0';
}

// The ISAs to register: the library's choice when LOGITCORE_ISA is set, otherwise every ISA this
// build contains and this CPU supports (logitcore_isa_supported), best first.
inline std::vector<std::string> isas_to_run() {
  std::vector<std::string> v;
  if (isa_from_env()) {
    v.emplace_back(logitcore_isa_name(logitcore_get_isa()));
    return v;
  }
  for (int i = LOGITCORE_ISA_COUNT - 1; i >= 0; --i)
    if (logitcore_isa_supported(i)) v.emplace_back(logitcore_isa_name(i));
  return v;
}

// Make `isa` the one in use for the calls that follow (process-wide; benchmarks run one at a
// time). Under LOGITCORE_ISA nothing is changed. On failure the benchmark becomes an error.
inline bool use_isa(benchmark::State& state, const std::string& isa) {
  if (!isa_from_env() && logitcore_set_isa(isa.c_str()) != LOGITCORE_OK) {
    state.SkipWithError(logitcore_last_error());
    return false;
  }
  if (isa != logitcore_isa_name(logitcore_get_isa())) {
    state.SkipWithError("the library runs another ISA than the benchmark's name says");
    return false;
  }
  return true;
}

// 1, and the process-wide default (logitcore_get_num_threads: OMP_NUM_THREADS, else every CPU)
// when that is more.
inline std::vector<int> thread_counts() {
  std::vector<int> t{1};
  const int all = logitcore_get_num_threads();
  if (all > 1) t.push_back(all);
  return t;
}

// <op>/<isa>/rows:<R>/n:<N>/threads:<T>
inline std::string case_name(const std::string& op, const std::string& isa, i64 rows, i64 n, int threads) {
  return op + "/" + isa + "/rows:" + std::to_string(rows) + "/n:" + std::to_string(n) +
         "/threads:" + std::to_string(threads);
}

// One untimed call that must succeed before the timed loop (it also warms caches and the
// OpenMP team); a failing call (a std::exception from logitcore.hpp) turns the benchmark into
// an error with the library's message.
template <class F>
bool first_call(benchmark::State& state, F&& call) {
  try {
    call();
    return true;
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return false;
  }
}

// main() of a suite: google-benchmark's flags, the library's facts as context, then the suite's
// own registrations.
template <class RegisterF>
int run_suite(int argc, char** argv, RegisterF&& register_all) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (const char* err = logitcore_isa_env_error()) {
    std::fprintf(stderr, "%s: refusing to run on the library's fallback ISA\n", err);
    return 1;
  }
  std::string isas;
  for (const std::string& s : logitcore::supported_isas()) isas += (isas.empty() ? "" : ",") + s;
  const char* env = std::getenv("LOGITCORE_ISA");
  benchmark::AddCustomContext("logitcore_version", logitcore_version());
  benchmark::AddCustomContext("logitcore_isa_supported", isas);
  benchmark::AddCustomContext("logitcore_isa_default", logitcore::isa());
  benchmark::AddCustomContext("LOGITCORE_ISA", env ? env : "(unset)");
  benchmark::AddCustomContext("logitcore_openmp", logitcore::have_openmp() ? "yes" : "no");
  benchmark::AddCustomContext("logitcore_threads_all", std::to_string(logitcore::num_threads()));
  benchmark::AddCustomContext("logitcore_block", std::to_string(logitcore::block_size()));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace bench
