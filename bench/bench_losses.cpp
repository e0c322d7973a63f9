// google-benchmark cases of the fused losses through the public C++ API (logitcore::loss over
// logitcore_loss_f32): loss only, loss + gradient into a second buffer, and loss + gradient over
// the logits (in place), once per ISA this CPU supports, at one thread and at all threads.
//
// Benchmark names read  <op>/<isa>/rows:<R>/n:<N>/threads:<T>:
//   xent_fwd<f32>      no gradient: one streaming pass (stats) per row
//   xent_grad<f32>     the gradient into a separate buffer: stats pass + scaling pass
//   xent_inplace<f32>  the same with the gradient overwriting the logits
// (γ-cross-entropy, γ = 0.1, threshold 0.2, mean reduction, per-row losses written; the cost
// does not depend on the loss kind.) items_per_second counts logits. The in-place case keeps
// overwriting its buffer with gradients (finite values in [-1, 1]); the cost per element does
// not depend on the values.
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "bench_common.h"

namespace {

using bench::i64;
using logitcore::Matrix;

enum class Op { fwd, grad, inplace };

const char* op_name(Op op) {
  switch (op) {
    case Op::fwd: return "xent_fwd<f32>";
    case Op::grad: return "xent_grad<f32>";
    case Op::inplace: return "xent_inplace<f32>";
  }
  return "?";
}

void run(benchmark::State& state, Op op, const std::string& isa, i64 rows, i64 n, int nthreads) {
  if (!bench::use_isa(state, isa)) return;
  const i64 count = rows * n;
  auto x = bench::normal_buffer<float>(count, 12345);
  std::shared_ptr<float> g;
  if (op == Op::grad) g = bench::normal_buffer<float>(count, 1);  // touched: page faults stay out of the timing
  std::vector<std::int64_t> target(static_cast<size_t>(rows));
  std::mt19937_64 rng(7);
  for (auto& t : target) t = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n));
  std::vector<double> loss(static_cast<size_t>(rows));
  const logitcore::LossOptions opt = logitcore::LossOptions::gamma_cross_entropy(0.1, 0.2);  // mean reduction
  const Matrix<const float> xm(x.get(), rows, n);
  Matrix<float> gm;  // no gradient
  if (op == Op::grad) gm = Matrix<float>(g.get(), rows, n);
  if (op == Op::inplace) gm = Matrix<float>(x.get(), rows, n);
  double reduced = 0;
  auto call = [&] { reduced = logitcore::loss(xm, target.data(), opt, loss.data(), gm, nthreads); };
  if (!bench::first_call(state, call)) return;
  for (auto _ : state) {
    call();
    benchmark::DoNotOptimize(reduced);
    benchmark::DoNotOptimize(loss.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * count);
  state.counters["elements"] = static_cast<double>(count);
}

void add(Op op, const std::string& isa, i64 rows, i64 n, int nthreads) {
  const std::string name = bench::case_name(op_name(op), isa, rows, n, nthreads);
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { run(s, op, isa, rows, n, nthreads); })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

void register_all() {
  const std::vector<int> threads = bench::thread_counts();
  // language-model vocabularies (LLaMA-2 32000, LLaMA-3 128256), a classifier-sized batch,
  // and one very long row (split into blocks across threads)
  const std::vector<std::pair<i64, i64>> shapes{{64, 32000}, {8, 128256}, {4096, 1024}, {1, i64{1} << 22}};
  for (const std::string& isa : bench::isas_to_run())
    for (const auto& rn : shapes)
      for (int t : threads)
        for (Op op : {Op::fwd, Op::grad, Op::inplace}) add(op, isa, rn.first, rn.second, t);
}

}  // namespace

int main(int argc, char** argv) { return bench::run_suite(argc, argv, register_all); }
