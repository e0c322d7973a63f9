// google-benchmark suite of the logsumexp family, entropy normalization and the elementwise exp,
// through the public C++ API (logitcore.hpp over the C ABI of the shared library), once per ISA
// this CPU supports, at one thread and at all threads.
//
// Benchmark names read  <op>/<isa>/rows:<R>/n:<N>/threads:<T>  (see bench/README.md).
// items_per_second counts input elements; bytes_per_second counts the algorithmic minimum
// traffic (input read once, plus the output written), not what the caches actually move.
// Every timed call is a full API call: argument checks, the thread-count choice, the driver
// and the kernels.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench_common.h"

namespace {

using bench::i64;
using logitcore::Matrix;
using logitcore::Vector;

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

enum class Op { lse, softmax, log_softmax, softmax_entropy, exp };

template <class T>
std::string op_name(Op op) {
  const std::string t = sizeof(T) == 8 ? "<f64>" : "<f32>";
  switch (op) {
    case Op::lse: return "logsumexp" + t;
    case Op::softmax: return "softmax" + t;
    case Op::log_softmax: return "log_softmax" + t;
    case Op::softmax_entropy: return "softmax_entropy" + t;
    case Op::exp: return "exp" + t;
  }
  return "?";
}

template <class T>
void run(benchmark::State& state, Op op, const std::string& isa, i64 rows, i64 n, int nthreads) {
  if (!bench::use_isa(state, isa)) return;
  const i64 count = rows * n;
  std::shared_ptr<T> x = input<T>(count);
  const bool elementwise = op == Op::softmax || op == Op::log_softmax || op == Op::exp;
  const i64 out_count = elementwise ? count : rows;
  std::shared_ptr<T> y = bench::zero_buffer<T>(out_count);
  const Matrix<const T> xm(x.get(), rows, n);
  const Matrix<T> ym(y.get(), rows, n);
  const Vector<T> rv(y.get(), rows);
  auto call = [&] {
    switch (op) {
      case Op::lse: logitcore::logsumexp(xm, rv, nthreads); break;
      case Op::softmax: logitcore::softmax(xm, ym, nthreads); break;
      case Op::log_softmax: logitcore::log_softmax(xm, ym, nthreads); break;
      case Op::softmax_entropy: logitcore::softmax_entropy(xm, rv, nthreads); break;
      case Op::exp: logitcore::exp(x.get(), count, y.get()); break;  // always one thread
    }
  };
  if (!bench::first_call(state, call)) return;
  for (auto _ : state) {
    call();
    benchmark::DoNotOptimize(y.get());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * count);
  state.SetBytesProcessed(state.iterations() * (count + out_count) * static_cast<i64>(sizeof(T)));
  state.counters["elements"] = static_cast<double>(count);
}

// ---- entropy normalization --------------------------------------------------------------
//
// Rows p = softmax(2 z), z ~ N(0, 1) (the input<float> values), computed in double and
// rounded to float, generated once per shape; every row is brought to entropy log(30) nats
// with tol 1e-5 (the Python default for float32), max_iter 50, probability rows checked to
// sum to 1 within 1e-6, the result written to a second array, every per-row result reported.
// Counters from the last call: n_iter_mean / n_iter_max (passes over a row spent by the
// search) and converged (fraction of rows). A row the library rejects (bad input) turns the
// benchmark into an error.

std::shared_ptr<float> probabilities(i64 rows, i64 n) {
  static std::map<std::pair<i64, i64>, std::shared_ptr<float>> cache;
  const auto key = std::make_pair(rows, n);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  auto buf = bench::softmax2_rows(input<float>(rows * n).get(), rows, n);
  cache.emplace(key, buf);
  return buf;
}

void run_entropy_normalize(benchmark::State& state, const std::string& isa, i64 rows, i64 n, int nthreads) {
  if (!bench::use_isa(state, isa)) return;
  const i64 count = rows * n;
  std::shared_ptr<float> p = probabilities(rows, n);
  std::shared_ptr<float> q = bench::zero_buffer<float>(count);
  const std::vector<double> target(static_cast<size_t>(rows), std::log(30.0));
  logitcore::EntropyNormalizeOptions opt;  // probabilities, sums checked
  opt.tol = 1e-5;
  opt.max_iter = 50;
  opt.check_sum = 1;
  opt.sum_tol = 1e-6;
  logitcore::EntropyNormalizeInfo info;
  info.resize(rows);  // the call resizes to the same size: no allocation in the loop
  const Matrix<const float> pm(p.get(), rows, n);
  const Matrix<float> qm(q.get(), rows, n);
  auto call = [&] { logitcore::entropy_normalize(pm, qm, target.data(), 1, opt, &info, nthreads); };
  if (!bench::first_call(state, call)) return;
  for (auto _ : state) {
    call();
    benchmark::DoNotOptimize(q.get());
    benchmark::ClobberMemory();
  }
  double sum_iter = 0, max_iter = 0, ok = 0;
  for (size_t r = 0; r < static_cast<size_t>(rows); ++r) {
    if (info.status[r] >= LOGITCORE_EN_INVALID) {
      state.SkipWithError("entropy_normalize rejected a row (bad benchmark input)");
      return;
    }
    sum_iter += info.n_iter[r];
    max_iter = std::max(max_iter, static_cast<double>(info.n_iter[r]));
    ok += info.converged[r] ? 1 : 0;
  }
  state.SetItemsProcessed(state.iterations() * count);
  state.SetBytesProcessed(state.iterations() * 2 * count * static_cast<i64>(sizeof(float)));
  state.counters["elements"] = static_cast<double>(count);
  state.counters["n_iter_mean"] = sum_iter / static_cast<double>(rows);
  state.counters["n_iter_max"] = max_iter;
  state.counters["converged"] = ok / static_cast<double>(rows);
}

void add_entropy_normalize(const std::string& isa, i64 rows, i64 n, int nthreads) {
  const std::string name = bench::case_name("entropy_normalize<f32>", isa, rows, n, nthreads);
  benchmark::RegisterBenchmark(name.c_str(),
                               [=](benchmark::State& s) { run_entropy_normalize(s, isa, rows, n, nthreads); })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

template <class T>
void add(Op op, const std::string& isa, i64 rows, i64 n, int nthreads) {
  const std::string name = bench::case_name(op_name<T>(op), isa, rows, n, nthreads);
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { run<T>(s, op, isa, rows, n, nthreads); })
      ->UseRealTime()  // OpenMP threads do the work: wall-clock time is the meaningful figure
      ->Unit(benchmark::kMicrosecond);
}

void register_all() {
  const std::vector<int> threads = bench::thread_counts();
  // single rows from L1-sized (4 KiB of float32) to beyond a 32 MiB L3 (64 MiB), and the
  // (64, 32000) batch of a language-model vocabulary
  std::vector<std::pair<i64, i64>> shapes;
  for (int lg = 10; lg <= 24; lg += 2) shapes.emplace_back(1, i64{1} << lg);
  shapes.emplace_back(64, 32000);
  // the other shapes of the softmax targets: a LLaMA-3 vocabulary batch and many short rows
  shapes.emplace_back(8, 128256);
  shapes.emplace_back(4096, 1024);

  for (const std::string& isa : bench::isas_to_run()) {
    for (const auto& rn : shapes)
      for (int t : threads) {
        add<float>(Op::lse, isa, rn.first, rn.second, t);
        add<double>(Op::lse, isa, rn.first, rn.second, t);
        add<float>(Op::softmax, isa, rn.first, rn.second, t);
        add<float>(Op::log_softmax, isa, rn.first, rn.second, t);
        add<float>(Op::softmax_entropy, isa, rn.first, rn.second, t);
      }
    // entropy normalization: the (64, 32000) batch and one LLaMA-3 vocabulary row (128256)
    for (const auto& rn : {std::pair<i64, i64>{64, 32000}, std::pair<i64, i64>{1, 128256}})
      for (int t : threads) add_entropy_normalize(isa, rn.first, rn.second, t);
    // logitcore_exp_f32 / _f64 take no thread count: one thread
    for (const auto& rn : shapes) {
      if (rn.first != 1) continue;
      add<float>(Op::exp, isa, 1, rn.second, 1);
      add<double>(Op::exp, isa, 1, rn.second, 1);
    }
  }
}

}  // namespace

int main(int argc, char** argv) { return bench::run_suite(argc, argv, register_all); }
