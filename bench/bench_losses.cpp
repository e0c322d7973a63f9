// google-benchmark cases for the fused losses (xent.h): loss only, loss + gradient into a
// second buffer, and loss + gradient over the logits (in place), once per ISA this CPU
// supports, at one thread and at all threads.
//
// Benchmark names read  <op>/<isa>/rows:<R>/n:<N>/threads:<T>:
//   xent_fwd<f32>      xent_rows without a gradient: one streaming pass (stats) per row
//   xent_grad<f32>     xent_rows with a separate gradient buffer: stats pass + exp_scale pass
//   xent_inplace<f32>  the same with the gradient overwriting the logits
// (γ-cross-entropy, γ = 0.1, b = 0.2; the cost does not depend on the loss kind.)
// items_per_second counts logits. The in-place case keeps overwriting its buffer with
// gradients (finite values in [-1, 1]); the cost per element does not depend on the values.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "runtime/runtime.h"
#include "drivers/drivers.h"
#include "kernels/kernels.h"
#include "drivers/losses.h"
#include "bench_common.h"

namespace {

using logitcore::Isa;
using logitcore::KernelTable;
using logitcore::NdView;
using i64 = std::int64_t;

using bench::matrix;
using bench::normal_buffer;

enum class Op { fwd, grad, inplace };

const char* op_name(Op op) {
  switch (op) {
    case Op::fwd: return "xent_fwd<f32>";
    case Op::grad: return "xent_grad<f32>";
    case Op::inplace: return "xent_inplace<f32>";
  }
  return "?";
}

void run(benchmark::State& state, Op op, const KernelTable* k, i64 rows, i64 n, int nthreads) {
  const i64 count = rows * n;
  auto x = normal_buffer<float>(count, 12345);
  std::shared_ptr<float> g;
  if (op == Op::grad) g = normal_buffer<float>(count, 1);  // touched: page faults stay out of the timing
  std::vector<std::int64_t> target(static_cast<size_t>(rows));
  std::mt19937_64 rng(7);
  for (auto& t : target) t = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n));
  std::vector<double> loss(static_cast<size_t>(rows));
  logitcore::LossSpec spec;
  spec.kind = logitcore::LossKind::gamma_ce;
  spec.param = 0.1;
  spec.threshold = 0.2;
  const NdView xv = matrix(x.get(), rows, n);
  const NdView gv = op == Op::grad ? matrix(g.get(), rows, n) : xv;
  const double scale = 1.0 / static_cast<double>(rows);
  for (auto _ : state) {
    logitcore::xent_rows<float>(*k, xv, target.data(), -100, nullptr, scale, spec, loss.data(),
                                op == Op::fwd ? nullptr : &gv, nthreads);
    benchmark::DoNotOptimize(loss.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * count);
  state.counters["elements"] = static_cast<double>(count);
}

void add(Op op, Isa isa, i64 rows, i64 n, int nthreads) {
  const KernelTable* k = logitcore::table_for(isa);
  const std::string name = std::string(op_name(op)) + "/" + k->name + "/rows:" + std::to_string(rows) +
                           "/n:" + std::to_string(n) + "/threads:" + std::to_string(nthreads);
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { run(s, op, k, rows, n, nthreads); })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

void register_all() {
  const int all = logitcore::get_num_threads();
  std::vector<int> threads{1};
  if (all > 1) threads.push_back(all);
  // language-model vocabularies (LLaMA-2 32000, LLaMA-3 128256), a classifier-sized batch,
  // and one very long row (split into blocks across threads)
  const std::vector<std::pair<i64, i64>> shapes{{64, 32000}, {8, 128256}, {4096, 1024}, {1, i64{1} << 22}};
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512}) {
    if (!logitcore::cpu_supports(isa)) continue;
    for (const auto& rn : shapes)
      for (int t : threads)
        for (Op op : {Op::fwd, Op::grad, Op::inplace}) add(op, isa, rn.first, rn.second, t);
  }
}

}  // namespace

int main(int argc, char** argv) { return bench::run_suite(argc, argv, register_all); }
