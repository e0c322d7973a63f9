// Helpers shared by the google-benchmark executables: aligned buffers of normal deviates and
// NdViews of contiguous matrices / vectors.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "runtime/runtime.h"
#include "drivers/drivers.h"
#include "kernels/kernels.h"

namespace bench {

using i64 = std::int64_t;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// 64-byte aligned buffer of n values (uninitialized).
template <class T>
std::shared_ptr<T> aligned_buffer(i64 n) {
  const size_t bytes = ((static_cast<size_t>(n) * sizeof(T) + 63) / 64) * 64;
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

inline logitcore::NdView matrix(void* data, i64 rows, i64 n) {
  logitcore::NdView v;
  v.data = data;
  v.ndim = 2;
  v.shape[0] = rows;
  v.shape[1] = n;
  v.strides[0] = n;
  v.strides[1] = 1;
  return v;
}

inline logitcore::NdView batch_vector(void* data, i64 rows) {
  logitcore::NdView v;
  v.data = data;
  v.ndim = 1;
  v.shape[0] = rows;
  v.strides[0] = 1;
  return v;
}

// main() of a suite: google-benchmark's flags, the logitcore build facts as context, then
// the suite's own registrations.
template <class RegisterF>
int run_suite(int argc, char** argv, RegisterF&& register_all) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::string isas;
  for (const std::string& s : logitcore::supported_isas()) isas += (isas.empty() ? "" : ",") + s;
  benchmark::AddCustomContext("logitcore_isa_supported", isas);
  benchmark::AddCustomContext("logitcore_isa_auto", logitcore::active_isa_name());
  benchmark::AddCustomContext("logitcore_openmp", logitcore::have_openmp() ? "yes" : "no");
  benchmark::AddCustomContext("logitcore_threads_all", std::to_string(logitcore::get_num_threads()));
  benchmark::AddCustomContext("logitcore_block", std::to_string(logitcore::kBlock));
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace bench
