// google-benchmark cases of the sparse (CSR) times dense product through the public C++ API
// (logitcore::csr_matmul over logitcore_csr_matmul_f32/f64), once per ISA this CPU supports, at
// one thread and at all threads.
//
// Benchmark names read  <op>/<isa>/rows:<R>/n:<K>/threads:<T>:
//   csr_matmul<f64>  out (R x K) = A (R x 20000, 0.5 % non-zeros, uniform random columns,
//   csr_matmul<f32>  int32 indices) times b (20000 x K): the maximum-entropy scores X W^T
// items_per_second counts multiply-adds (non-zeros times K).
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "bench_common.h"

namespace {

using bench::i64;

constexpr i64 kCols = 20000;
constexpr double kDensity = 0.005;

template <class T>
void run(benchmark::State& state, const std::string& isa, i64 rows, i64 k, int nthreads) {
  if (!bench::use_isa(state, isa)) return;
  std::mt19937_64 rng(0);
  std::binomial_distribution<int> per_row(static_cast<int>(kCols), kDensity);
  std::vector<std::int32_t> indptr{0}, indices;
  std::vector<T> data;
  for (i64 r = 0; r < rows; ++r) {
    const int n = per_row(rng);
    for (int p = 0; p < n; ++p) {
      indices.push_back(static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(kCols)));
      data.push_back(static_cast<T>(std::uniform_real_distribution<double>(0, 1)(rng)));
    }
    indptr.push_back(static_cast<std::int32_t>(indices.size()));
  }
  auto b = bench::normal_buffer<T>(kCols * k, 1);
  auto out = bench::zero_buffer<T>(rows * k);
  const logitcore::CsrMatrix<T, std::int32_t> a(indptr.data(), indices.data(), data.data(), rows, kCols);
  const logitcore::Matrix<const T> bm(b.get(), kCols, k);
  const logitcore::Matrix<T> om(out.get(), rows, k);
  auto call = [&] { logitcore::csr_matmul(a, bm, om, nthreads); };
  if (!bench::first_call(state, call)) return;
  for (auto _ : state) {
    call();
    benchmark::DoNotOptimize(out.get());
    benchmark::ClobberMemory();
  }
  const i64 madds = static_cast<i64>(indices.size()) * k;
  state.SetItemsProcessed(state.iterations() * madds);
  state.counters["nnz"] = static_cast<double>(indices.size());
}

template <class T>
void add(const char* op, const std::string& isa, i64 rows, i64 k, int nthreads) {
  const std::string name = bench::case_name(op, isa, rows, k, nthreads);
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { run<T>(s, isa, rows, k, nthreads); })
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

void register_all() {
  for (const std::string& isa : bench::isas_to_run())
    for (const i64 k : {i64{16}, i64{200}})
      for (int t : bench::thread_counts()) {
        add<double>("csr_matmul<f64>", isa, 20000, k, t);
        add<float>("csr_matmul<f32>", isa, 20000, k, t);
      }
}

}  // namespace

int main(int argc, char** argv) { return bench::run_suite(argc, argv, register_all); }
