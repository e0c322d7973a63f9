// google-benchmark suite for the native core: the row drivers (driver.h), entropy
// normalization (entropy_norm.h) and the raw exp kernel, once per ISA this CPU supports, at
// one thread and at all threads.
//
// Benchmark names read  <op>/<isa>/rows:<R>/n:<N>/threads:<T>  (see bench/README.md).
// items_per_second counts input elements; bytes_per_second counts the algorithmic minimum
// traffic (input read once, plus the output written), not what the caches actually move.
// This file is compiled for the baseline target: ISA code is reached only through the
// kernel tables, and only tables the CPU supports are ever called.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "runtime/runtime.h"
#include "drivers/drivers.h"
#include "drivers/entropy_norm.h"
#include "kernels/kernels.h"
#include "bench_common.h"

namespace {

using logitcore::Isa;
using logitcore::KernelTable;
using logitcore::NdView;
using i64 = std::int64_t;

using bench::aligned_buffer;
using bench::batch_vector;
using bench::matrix;

// Inputs: standard normal values, generated once per (type, element count) and shared.
template <class T>
std::shared_ptr<T> input(i64 count) {
  static std::map<i64, std::shared_ptr<T>> cache;
  auto it = cache.find(count);
  if (it != cache.end()) return it->second;
  auto buf = bench::normal_buffer<T>(count, 12345);
  cache.emplace(count, buf);
  return buf;
}

enum class Op { lse, softmax, softmax_entropy, exp };

const char* op_name(Op op, bool f64) {
  switch (op) {
    case Op::lse: return f64 ? "lse_rows<f64>" : "lse_rows<f32>";
    case Op::softmax: return f64 ? "softmax_rows<f64>" : "softmax_rows<f32>";
    case Op::softmax_entropy: return f64 ? "softmax_entropy_rows<f64>" : "softmax_entropy_rows<f32>";
    case Op::exp: return f64 ? "exp<f64>" : "exp<f32>";
  }
  return "?";
}

template <class T>
void run(benchmark::State& state, Op op, const KernelTable* k, i64 rows, i64 n, int nthreads) {
  const i64 count = rows * n;
  std::shared_ptr<T> x = input<T>(count);
  const bool elementwise = op == Op::softmax || op == Op::exp;
  std::shared_ptr<T> y = aligned_buffer<T>(elementwise ? count : rows);
  // touch the output once so page faults stay out of the timing
  for (i64 i = 0, m = elementwise ? count : rows; i < m; ++i) y.get()[i] = T(0);
  const NdView xv = matrix(x.get(), rows, n);
  const NdView rv = batch_vector(y.get(), rows);
  const NdView yv = matrix(y.get(), rows, n);
  for (auto _ : state) {
    switch (op) {
      case Op::lse: logitcore::lse_rows<T>(*k, xv, nullptr, rv, nullptr, nthreads); break;
      case Op::softmax: logitcore::softmax_rows<T>(*k, xv, yv, false, nthreads); break;
      case Op::softmax_entropy: logitcore::softmax_entropy_rows<T>(*k, xv, rv, nthreads); break;
      case Op::exp:
        if constexpr (sizeof(T) == 4) logitcore::exp_f32(*k, x.get(), count, y.get());
        else logitcore::exp_f64(*k, x.get(), count, y.get());
        break;
    }
    benchmark::DoNotOptimize(y.get());
    benchmark::ClobberMemory();
  }
  const i64 out_count = elementwise ? count : rows;
  state.SetItemsProcessed(state.iterations() * count);
  state.SetBytesProcessed(state.iterations() * (count + out_count) * static_cast<i64>(sizeof(T)));
  state.counters["elements"] = static_cast<double>(count);
}

// ---- entropy normalization --------------------------------------------------------------
//
// Rows p = softmax(2 z), z ~ N(0, 1) (the input<float> values), computed in double and
// rounded to float, generated once per shape; every row is brought to entropy log(30) nats
// with tol 1e-5 (the Python default for float32), max_iter 50, probability rows checked to
// sum to 1 within 1e-6, the result written to a second array. Counters from the last call:
// n_iter_mean / n_iter_max (passes over a row spent by the search) and converged (fraction of
// rows). A row the driver rejects (bad input) turns the benchmark into an error.

std::shared_ptr<float> probabilities(i64 rows, i64 n) {
  static std::map<std::pair<i64, i64>, std::shared_ptr<float>> cache;
  const auto key = std::make_pair(rows, n);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  const float* z = input<float>(rows * n).get();
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
  cache.emplace(key, buf);
  return buf;
}

void run_entropy_normalize(benchmark::State& state, const KernelTable* k, i64 rows, i64 n, int nthreads) {
  const i64 count = rows * n;
  std::shared_ptr<float> p = probabilities(rows, n);
  std::shared_ptr<float> q = aligned_buffer<float>(count);
  for (i64 i = 0; i < count; ++i) q.get()[i] = 0.0f;  // page faults stay out of the timing
  const size_t nr = static_cast<size_t>(rows);
  std::vector<double> target(nr, std::log(30.0)), gamma(nr), h_min(nr), h_max(nr), entropy(nr);
  std::vector<std::int32_t> n_iter(nr);
  std::vector<std::uint8_t> converged(nr), clipped(nr);
  std::vector<std::int8_t> status(nr);
  logitcore::EnOptions opt;
  opt.is_prob = true;
  opt.tol = 1e-5;
  opt.max_iter = 50;
  opt.check_sum = true;
  opt.sum_tol = 1e-6;
  const logitcore::EnInfo info{gamma.data(), n_iter.data(), converged.data(), clipped.data(),
                               status.data(), h_min.data(),  h_max.data(),  entropy.data()};
  const NdView pv = matrix(p.get(), rows, n);
  const NdView qv = matrix(q.get(), rows, n);
  for (auto _ : state) {
    logitcore::entropy_normalize_rows<float>(*k, pv, qv, target.data(), opt, info, nthreads);
    benchmark::DoNotOptimize(q.get());
    benchmark::ClobberMemory();
  }
  double sum_iter = 0, max_iter = 0, ok = 0;
  for (size_t r = 0; r < nr; ++r) {
    if (status[r] >= logitcore::kEnInvalid) {
      state.SkipWithError("entropy_normalize_rows rejected a row (bad benchmark input)");
      return;
    }
    sum_iter += n_iter[r];
    max_iter = std::max(max_iter, static_cast<double>(n_iter[r]));
    ok += converged[r] ? 1 : 0;
  }
  state.SetItemsProcessed(state.iterations() * count);
  state.SetBytesProcessed(state.iterations() * 2 * count * static_cast<i64>(sizeof(float)));
  state.counters["elements"] = static_cast<double>(count);
  state.counters["n_iter_mean"] = sum_iter / static_cast<double>(rows);
  state.counters["n_iter_max"] = max_iter;
  state.counters["converged"] = ok / static_cast<double>(rows);
}

void add_entropy_normalize(Isa isa, i64 rows, i64 n, int nthreads) {
  const KernelTable* k = logitcore::table_for(isa);
  const std::string name = std::string("entropy_normalize_rows<f32>/") + k->name + "/rows:" + std::to_string(rows) +
                           "/n:" + std::to_string(n) + "/threads:" + std::to_string(nthreads);
  benchmark::RegisterBenchmark(name.c_str(),
                               [=](benchmark::State& s) { run_entropy_normalize(s, k, rows, n, nthreads); })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

void add(Op op, bool f64, Isa isa, i64 rows, i64 n, int nthreads) {
  const KernelTable* k = logitcore::table_for(isa);
  std::string name = std::string(op_name(op, f64)) + "/" + k->name + "/rows:" + std::to_string(rows) +
                     "/n:" + std::to_string(n) + "/threads:" + std::to_string(nthreads);
  benchmark::internal::Benchmark* b;
  if (f64)
    b = benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { run<double>(s, op, k, rows, n, nthreads); });
  else
    b = benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { run<float>(s, op, k, rows, n, nthreads); });
  // OpenMP threads do the work: wall-clock time is the meaningful figure.
  b->UseRealTime()->Unit(benchmark::kMicrosecond);
}

void register_all() {
  const int all = logitcore::get_num_threads();
  std::vector<int> threads{1};
  if (all > 1) threads.push_back(all);
  // single rows from L1-sized (4 KiB of float32) to beyond a 32 MiB L3 (64 MiB), and the
  // (64, 32000) batch of a language-model vocabulary
  std::vector<std::pair<i64, i64>> shapes;
  for (int lg = 10; lg <= 24; lg += 2) shapes.emplace_back(1, i64{1} << lg);
  shapes.emplace_back(64, 32000);

  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (!logitcore::cpu_supports(isa)) continue;  // never call a table the CPU cannot run
    for (const auto& rn : shapes)
      for (int t : threads) {
        add(Op::lse, false, isa, rn.first, rn.second, t);
        add(Op::lse, true, isa, rn.first, rn.second, t);
        add(Op::softmax, false, isa, rn.first, rn.second, t);
        add(Op::softmax_entropy, false, isa, rn.first, rn.second, t);
      }
    // entropy normalization: the (64, 32000) batch and one LLaMA-3 vocabulary row (128256)
    for (const auto& rn : {std::pair<i64, i64>{64, 32000}, std::pair<i64, i64>{1, 128256}})
      for (int t : threads) add_entropy_normalize(isa, rn.first, rn.second, t);
    // the raw exp kernel is single-threaded by design (exp_f32 / exp_f64 loop the blocks)
    for (const auto& rn : shapes) {
      if (rn.first != 1) continue;
      add(Op::exp, false, isa, 1, rn.second, 1);
      add(Op::exp, true, isa, 1, rn.second, 1);
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return bench::run_suite(argc, argv, register_all); }
