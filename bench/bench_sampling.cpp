// google-benchmark cases of the token sampler through the public C API (logitcore_sample_f32,
// docs/math.md §4) and of the penalties (logitcore_apply_penalties_f32, §4.4), once per ISA this
// CPU supports, at one thread and at all threads: the settings of `python -m logitcore bench
// --cases sampling` (python/logitcore/bench/sampling.py).
//
// Benchmark names read  <op>/<isa>/rows:<R>/n:<N>/threads:<T>:
//   sample_topk_topp<f32>    temperature 0.8, top-k 50, top-p 0.9
//   sample_top_p<f32>        top-p 0.95 alone (no top-k: the nucleus is thousands of tokens)
//   sample_entropy<f32>      target entropy 2 nats (the row's temperature found by a search)
//   sample_llama_chain<f32>  llama.cpp's default chain: top-k 40, top-p 0.95, min-p 0.05, T 0.8
//   apply_penalties<f32>     repetition 1.1, frequency 0.1, presence 0.1 from 256 previous
//                            tokens per row, into a second buffer
// Logits are 3 z, z ~ N(0, 1); every call passes seed 0 (stride 0) and a new offset (the
// position of the token in a server; the work does not depend on it); no log-probabilities.
// items_per_second counts logits. A call that fails turns its benchmark into an error carrying
// the library's message.
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_common.h"

namespace {

using bench::i64;

enum class Op { topk_topp, top_p, entropy, llama_chain };

const char* op_name(Op op) {
  switch (op) {
    case Op::topk_topp: return "sample_topk_topp<f32>";
    case Op::top_p: return "sample_top_p<f32>";
    case Op::entropy: return "sample_entropy<f32>";
    case Op::llama_chain: return "sample_llama_chain<f32>";
  }
  return "?";
}

// One value for every row (stride 0) of each setting the op uses; the others stay NULL (off).
struct Settings {
  double temperature = 1.0;
  std::int64_t top_k = 0;
  double top_p = 1.0;
  double min_p = 0.0;
  double target_entropy = 0.0;
  std::uint64_t seed = 0;
  std::uint64_t offset = 0;

  logitcore_sampling_params params(Op op) {
    logitcore_sampling_params p = logitcore_sampling_default_params();  // NULL pointers: the defaults
    p.seed = &seed;
    p.offset = &offset;
    switch (op) {
      case Op::topk_topp:
        temperature = 0.8, top_k = 50, top_p = 0.9;
        p.temperature = &temperature, p.top_k = &top_k, p.top_p = &top_p;
        break;
      case Op::top_p:
        top_p = 0.95;
        p.top_p = &top_p;
        break;
      case Op::entropy:
        target_entropy = 2.0;
        p.target_entropy = &target_entropy;
        break;
      case Op::llama_chain:
        temperature = 0.8, top_k = 40, top_p = 0.95, min_p = 0.05;
        p.temperature = &temperature, p.top_k = &top_k, p.top_p = &top_p, p.min_p = &min_p;
        break;
    }
    return p;
  }
};

// 3 z, z ~ N(0, 1), 64-byte aligned, every page touched.
std::shared_ptr<float> logits(i64 count) {
  auto x = bench::normal_buffer<float>(count, 12345);
  for (i64 i = 0; i < count; ++i) x.get()[i] *= 3.0f;
  return x;
}

bool ok(benchmark::State& state, logitcore_status s) {
  if (s == LOGITCORE_OK) return true;
  state.SkipWithError(logitcore_last_error());
  return false;
}

void run_sample(benchmark::State& state, Op op, const std::string& isa, i64 rows, i64 n, int nthreads) {
  if (!bench::use_isa(state, isa)) return;
  const i64 count = rows * n;
  auto x = logits(count);
  std::vector<std::int64_t> tokens(static_cast<size_t>(rows), -1);
  Settings s;  // lives as long as the params that point into it
  const logitcore_sampling_params params = s.params(op);
  const logitcore_matrix xm{x.get(), rows, n, n, 1};
  auto call = [&] {
    ++s.offset;
    return logitcore_sample_f32(&xm, &params, tokens.data(), 0, nullptr, nullptr, nullptr, nthreads);
  };
  if (!ok(state, call())) return;  // untimed: caches and the OpenMP team warm
  for (auto _ : state) {
    if (!ok(state, call())) break;
    benchmark::DoNotOptimize(tokens.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * count);
  state.counters["elements"] = static_cast<double>(count);
}

constexpr i64 kPrevious = 256;  // previous tokens per row, for the penalties

void run_penalties(benchmark::State& state, const std::string& isa, i64 rows, i64 n, int nthreads) {
  if (!bench::use_isa(state, isa)) return;
  const i64 count = rows * n;
  auto x = logits(count);
  auto y = bench::zero_buffer<float>(count);
  std::vector<std::int64_t> ids(static_cast<size_t>(rows * kPrevious));
  std::mt19937_64 rng(7);
  for (auto& t : ids) t = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n));
  const double rho = 1.1, alpha_f = 0.1, alpha_p = 0.1;  // one value for every row (stride 0)
  const logitcore_penalty_params params{&rho, 0, &alpha_f, 0, &alpha_p, 0};
  const logitcore_matrix xm{x.get(), rows, n, n, 1};
  const logitcore_matrix ym{y.get(), rows, n, n, 1};
  const logitcore_matrix im{ids.data(), rows, kPrevious, kPrevious, 1};
  auto call = [&] { return logitcore_apply_penalties_f32(&xm, &ym, &im, &params, nthreads); };
  if (!ok(state, call())) return;
  for (auto _ : state) {
    if (!ok(state, call())) break;
    benchmark::DoNotOptimize(y.get());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * count);
  state.counters["elements"] = static_cast<double>(count);
}

void add_sample(Op op, const std::string& isa, i64 rows, i64 n, int nthreads) {
  const std::string name = bench::case_name(op_name(op), isa, rows, n, nthreads);
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { run_sample(s, op, isa, rows, n, nthreads); })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

void add_penalties(const std::string& isa, i64 rows, i64 n, int nthreads) {
  const std::string name = bench::case_name("apply_penalties<f32>", isa, rows, n, nthreads);
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& s) { run_penalties(s, isa, rows, n, nthreads); })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

void register_all() {
  const std::vector<int> threads = bench::thread_counts();
  const i64 vocab = 128256;  // LLaMA-3
  const i64 batch = 64;      // a decoding batch
  for (const std::string& isa : bench::isas_to_run())
    for (int t : threads) {
      for (Op op : {Op::topk_topp, Op::top_p, Op::entropy}) add_sample(op, isa, batch, vocab, t);
      add_sample(Op::llama_chain, isa, 1, vocab, t);  // one request: the latency of a token
      add_sample(Op::llama_chain, isa, batch, vocab, t);
      add_penalties(isa, batch, vocab, t);
    }
}

}  // namespace

int main(int argc, char** argv) { return bench::run_suite(argc, argv, register_all); }
