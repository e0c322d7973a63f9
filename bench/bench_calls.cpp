// logitcore_bench_calls: a fixed number of calls of one public-API function, for instruction
// counts (valgrind --tool=callgrind) where the wall clock is too noisy. No google-benchmark: the
// number of calls is fixed, so the counts are deterministic.
//
//   logitcore_bench_calls <case> <rows> <cols> [calls=10] [num_threads=1]
//   LOGITCORE_ISA=avx2 valgrind --tool=callgrind --toggle-collect=bench_measured_calls
//       ./logitcore_bench_calls lse 64 32000 10      (one command)
//
// One untimed call runs first (one-time initialization: ISA choice, OpenMP), then `calls`
// calls inside bench_measured_calls, the function to collect. Inputs are those of the
// google-benchmark suites: x ~ N(0, 1) from mt19937_64(12345); loss targets from
// mt19937_64(7) modulo cols; entropy normalization on p = softmax(2 x) to log 30 nats.
// Cases (float32):
//   lse, lse_cpp        logitcore_logsumexp_f32 through the C ABI / logitcore::logsumexp
//   softmax             logitcore_softmax_f32 into a second buffer
//   softmax_entropy     logitcore_softmax_entropy_f32
//   loss_fwd, loss_grad logitcore_loss_f32, γ-CE (γ 0.1, threshold 0.2, mean), loss only /
//                       loss + gradient into a second buffer
//   entropy_normalize   logitcore_entropy_normalize_f32, tol 1e-5, max_iter 50, sums checked,
//                       every per-row result written
// Prints the case, shape, ISA and a checksum of the outputs.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_common.h"

using bench::i64;

extern "C" __attribute__((noinline)) void bench_measured_calls(const std::function<void()>* call, long calls) {
  for (long i = 0; i < calls; ++i) (*call)();
}

namespace {

void check(logitcore_status s) {
  if (s != LOGITCORE_OK) {
    std::fprintf(stderr, "logitcore: %s: %s\n", logitcore_status_name(s), logitcore_last_error());
    std::exit(1);
  }
}

int usage() {
  std::fprintf(stderr,
               "usage: logitcore_bench_calls <case> <rows> <cols> [calls=10] [num_threads=1]\n"
               "cases: lse lse_cpp softmax softmax_entropy loss_fwd loss_grad entropy_normalize\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return usage();
  const std::string name = argv[1];
  const i64 rows = std::atoll(argv[2]), n = std::atoll(argv[3]);
  const long calls = argc > 4 ? std::atol(argv[4]) : 10;
  const int nt = argc > 5 ? std::atoi(argv[5]) : 1;
  if (rows < 0 || n < 1 || calls < 0) return usage();
  if (const char* err = logitcore_isa_env_error()) {
    std::fprintf(stderr, "%s\n", err);
    return 1;
  }
  const i64 count = rows * n;
  auto x = bench::normal_buffer<float>(count, 12345);
  auto y = bench::zero_buffer<float>(count);
  std::vector<double> loss(static_cast<size_t>(rows)), target_h(static_cast<size_t>(rows), std::log(30.0));
  std::vector<std::int64_t> target(static_cast<size_t>(rows));
  std::mt19937_64 rng(7);
  for (auto& t : target) t = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n));
  std::shared_ptr<float> p;
  if (name == "entropy_normalize") p = bench::softmax2_rows(x.get(), rows, n);

  const logitcore_matrix cx{x.get(), rows, n, n, 1};
  const logitcore_matrix cy{y.get(), rows, n, n, 1};
  const logitcore_vector co{y.get(), rows, 1};
  const logitcore::Matrix<const float> xm(x.get(), rows, n);
  const logitcore::Vector<float> ov(y.get(), rows);
  logitcore_loss_options lopt = logitcore_loss_default_options();
  lopt.kind = LOGITCORE_LOSS_GAMMA_CE;
  lopt.param = 0.1;
  lopt.threshold = 0.2;
  double reduced = 0;  // the mean loss (not in the checksum)
  logitcore_en_options eopt = logitcore_en_default_options();
  eopt.tol = 1e-5;
  eopt.max_iter = 50;
  eopt.check_sum = 1;
  eopt.sum_tol = 1e-6;
  const logitcore_matrix cp{p ? p.get() : nullptr, rows, n, n, 1};
  logitcore::EntropyNormalizeInfo info;  // every per-row result asked for
  info.resize(rows);
  const logitcore_en_info cinfo = info.c();

  std::function<void()> call;
  if (name == "lse") call = [&] { check(logitcore_logsumexp_f32(&cx, nullptr, &co, nullptr, nt)); };
  else if (name == "lse_cpp") call = [&] { logitcore::logsumexp(xm, ov, nt); };
  else if (name == "softmax") call = [&] { check(logitcore_softmax_f32(&cx, &cy, nt)); };
  else if (name == "softmax_entropy") call = [&] { check(logitcore_softmax_entropy_f32(&cx, &co, nt)); };
  else if (name == "loss_fwd")
    call = [&] { check(logitcore_loss_f32(&cx, target.data(), &lopt, loss.data(), &reduced, nullptr, nt)); };
  else if (name == "loss_grad")
    call = [&] { check(logitcore_loss_f32(&cx, target.data(), &lopt, loss.data(), &reduced, &cy, nt)); };
  else if (name == "entropy_normalize")
    call = [&] { check(logitcore_entropy_normalize_f32(&cp, &cy, target_h.data(), 1, &eopt, &cinfo, nt)); };
  else return usage();

  call();  // one-time initialization stays out of the counts
  bench_measured_calls(&call, calls);

  double sum = 0;  // of the outputs both old and new builds write (bench/compare_old.py)
  for (i64 i = 0; i < count; ++i) sum += y.get()[i];
  for (double v : loss) sum += v;
  std::printf("%s rows=%lld cols=%lld calls=%ld threads=%d isa=%s checksum=%.17g\n", name.c_str(),
              static_cast<long long>(rows), static_cast<long long>(n), calls, nt,
              logitcore_isa_name(logitcore_get_isa()), sum);
  return 0;
}
