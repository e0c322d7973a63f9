// Per-call overhead of the public API: logitcore_logsumexp_f32 on one float32 row, called
// through the C ABI (logitcore.h) and through the C++ wrapper (logitcore.hpp), num_threads = 1,
// once per ISA this CPU supports.
//
// Benchmark names read  <op>/<isa>/rows:<R>/n:<N>/threads:<T>:
//   lse_c_api<f32>    logitcore_logsumexp_f32(&x, NULL, &out, NULL, T), the views built once
//   lse_cpp_api<f32>  logitcore::logsumexp(Matrix<const float>, Vector<float>, T) (builds the
//                     C views and checks the status on every call)
// Shapes:
//   rows:0/n:1000     an empty batch: the argument checks and the thread-count choice only (the
//                     call returns before the driver)
//   rows:1/n:1        one entry: the whole call path with next to no kernel work
//   rows:1/n:1000     the case: target <= 0.3 us of overhead per call
//   rows:64/n:1000/row_stride:0
//                     the per-row cost when the call's fixed cost is spread over 64 rows
//                     (counter per_row) that are all the single row of (1, 1000) (a zero row
//                     stride: the same 4 KB in L1, the same branch history), so
//                     t(1, 1000) - per_row is the overhead of a call
//   rows:64/n:1000    the same with 64 different rows (250 KB, in L2): a row of a batch
// threads:0 (process-wide setting) is also timed on (1, 1000): it adds the library's query of
// the default thread count. Every call stays on the calling thread, so the figures are CPU time
// of that thread (google-benchmark's default), which other processes on a shared machine
// disturb less than the wall clock.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.h"

namespace {

using bench::i64;

enum class Api { c, cpp };

void run(benchmark::State& state, Api api, const std::string& isa, i64 rows, i64 n, i64 row_stride, int nthreads) {
  if (!bench::use_isa(state, isa)) return;
  const i64 count = rows * n;
  auto x = bench::normal_buffer<float>(row_stride == 0 || rows == 0 ? n : count, 12345);
  auto y = bench::zero_buffer<float>(rows > 0 ? rows : 1);
  const logitcore_matrix cx{x.get(), rows, n, row_stride, 1};
  const logitcore_vector co{y.get(), rows, 1};
  const logitcore::Matrix<const float> xm(x.get(), rows, n, row_stride, 1);
  const logitcore::Vector<float> ov(y.get(), rows);
  if (api == Api::c) {
    if (logitcore_logsumexp_f32(&cx, nullptr, &co, nullptr, nthreads) != LOGITCORE_OK) {
      state.SkipWithError(logitcore_last_error());
      return;
    }
    for (auto _ : state) {
      benchmark::DoNotOptimize(logitcore_logsumexp_f32(&cx, nullptr, &co, nullptr, nthreads));
      benchmark::ClobberMemory();
    }
  } else {
    if (!bench::first_call(state, [&] { logitcore::logsumexp(xm, ov, nthreads); })) return;
    for (auto _ : state) {
      logitcore::logsumexp(xm, ov, nthreads);
      benchmark::ClobberMemory();
    }
  }
  state.SetItemsProcessed(state.iterations() * count);
  if (rows > 1)  // CPU seconds per row
    state.counters["per_row"] = benchmark::Counter(static_cast<double>(rows),
                                                   benchmark::Counter::kIsIterationInvariantRate |
                                                       benchmark::Counter::kInvert);
}

void add(Api api, const std::string& isa, i64 rows, i64 n, int nthreads, i64 row_stride = -1) {
  const std::string op = api == Api::c ? "lse_c_api<f32>" : "lse_cpp_api<f32>";
  std::string name = bench::case_name(op, isa, rows, n, nthreads);
  if (row_stride >= 0) name.insert(name.rfind("/threads:"), "/row_stride:" + std::to_string(row_stride));
  else row_stride = n;
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { run(s, api, isa, rows, n, row_stride, nthreads); })
      ->Unit(benchmark::kNanosecond);
}

void register_all() {
  for (const std::string& isa : bench::isas_to_run())
    for (Api api : {Api::c, Api::cpp}) {
      add(api, isa, 0, 1000, 1);
      add(api, isa, 1, 1, 1);
      add(api, isa, 1, 1000, 1);
      add(api, isa, 1, 1000, 0);
      add(api, isa, 64, 1000, 1, 0);
      add(api, isa, 64, 1000, 1);
    }
}

}  // namespace

int main(int argc, char** argv) { return bench::run_suite(argc, argv, register_all); }
