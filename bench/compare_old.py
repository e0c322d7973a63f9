"""Compare the C++ figures of this tree with a pre-restructure commit (default 4965d4d, the last
one before the public native API), side by side in one session.

    python bench/compare_old.py                       # callgrind instruction counts (AVX2 path)
    python bench/compare_old.py --wall 7              # and 7 interleaved wall-clock rounds
    python bench/compare_old.py --new-src /path/to/other/checkout --old 4965d4d

Instruction counts: valgrind's callgrind on the same calls in both builds: this tree's
`logitcore_bench_calls` (the public C API, bench/bench_calls.cpp) and, for the old commit, the
same program written against its internal driver API (OLD_DRIVER below: the old suite called
the drivers directly, which is what the old bench measured). Both collect only
`bench_measured_calls` (after one warm-up call) on the same inputs (N(0, 1) from mt19937_64(12345),
targets from mt19937_64(7)). Valgrind lacks AVX-512, so both run LOGITCORE_ISA=avx2 (set
through the public API here, through set_isa in the old driver). The new counts include the
C API's argument checks, which the old driver calls did not have.

Wall clock (--wall N): the old google-benchmark executables (logitcore_bench,
logitcore_bench_xent) and the new ones (logitcore_bench, logitcore_bench_losses) run the matching
cases in alternating order, N rounds, one repetition each; the table gives the medians. On a
shared VM these move by +-30 %: trust the instruction counts first.

The old commit is checked out in a temporary `git worktree` (removed afterwards unless --keep)
and built with -DLOGITCORE_BUILD_BENCH=ON; the new tree is built in --build-dir.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import quiet_run  # noqa: E402  (bench/quiet_run.py: idle checks)

# (case of logitcore_bench_calls, rows, cols): the representative calls
CASES = [
    ("lse", 64, 32000),
    ("softmax", 64, 32000),
    ("softmax_entropy", 64, 32000),
    ("loss_fwd", 64, 32000),
    ("loss_grad", 64, 32000),
    ("entropy_normalize", 64, 32000),
    ("lse", 1, 1000),
    ("lse", 1, 1),
]

# wall clock: (old executable, old name, new executable, new name); {isa} and {t} filled in
WALL = [
    ("logitcore_bench", "lse_rows<f32>/{isa}/rows:64/n:32000/threads:{t}",
     "logitcore_bench", "logsumexp<f32>/{isa}/rows:64/n:32000/threads:{t}"),
    ("logitcore_bench", "softmax_rows<f32>/{isa}/rows:64/n:32000/threads:{t}",
     "logitcore_bench", "softmax<f32>/{isa}/rows:64/n:32000/threads:{t}"),
    ("logitcore_bench", "softmax_entropy_rows<f32>/{isa}/rows:64/n:32000/threads:{t}",
     "logitcore_bench", "softmax_entropy<f32>/{isa}/rows:64/n:32000/threads:{t}"),
    ("logitcore_bench", "entropy_normalize_rows<f32>/{isa}/rows:64/n:32000/threads:{t}",
     "logitcore_bench", "entropy_normalize<f32>/{isa}/rows:64/n:32000/threads:{t}"),
    ("logitcore_bench_xent", "xent_fwd<f32>/{isa}/rows:64/n:32000/threads:{t}",
     "logitcore_bench_losses", "xent_fwd<f32>/{isa}/rows:64/n:32000/threads:{t}"),
    ("logitcore_bench_xent", "xent_grad<f32>/{isa}/rows:64/n:32000/threads:{t}",
     "logitcore_bench_losses", "xent_grad<f32>/{isa}/rows:64/n:32000/threads:{t}"),
]

# The same calls as bench/bench_calls.cpp, against the pre-restructure internal API.
OLD_DRIVER = r"""
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "logitcore/dispatch.h"
#include "logitcore/driver.h"
#include "logitcore/entropy_norm.h"
#include "logitcore/xent.h"

using i64 = std::int64_t;
using namespace logitcore;

extern "C" __attribute__((noinline)) void bench_measured_calls(const std::function<void()>* call, long calls) {
  for (long i = 0; i < calls; ++i) (*call)();
}

static NdView matrix(void* d, i64 rows, i64 n) {
  NdView v; v.data = d; v.ndim = 2; v.shape[0] = rows; v.shape[1] = n; v.strides[0] = n; v.strides[1] = 1;
  return v;
}
static NdView vec(void* d, i64 rows) {
  NdView v; v.data = d; v.ndim = 1; v.shape[0] = rows; v.strides[0] = 1;
  return v;
}

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  const std::string name = argv[1];
  const i64 rows = std::atoll(argv[2]), n = std::atoll(argv[3]);
  const long calls = argc > 4 ? std::atol(argv[4]) : 10;
  const int nt = argc > 5 ? std::atoi(argv[5]) : 1;
  if (const char* e = std::getenv("LOGITCORE_ISA")) {
    const std::string err = set_isa(e);
    if (!err.empty()) { std::fprintf(stderr, "%s\n", err.c_str()); return 1; }
  }
  const KernelTable& k = *active_table();
  const i64 count = rows * n;
  std::vector<float> x(static_cast<size_t>(count)), y(static_cast<size_t>(count), 0.0f), p;
  std::mt19937_64 rng(12345);
  std::normal_distribution<double> dist(0.0, 1.0);
  for (auto& v : x) v = static_cast<float>(dist(rng));
  std::vector<double> loss(static_cast<size_t>(rows)), target_h(static_cast<size_t>(rows), std::log(30.0));
  std::vector<std::int64_t> target(static_cast<size_t>(rows));
  std::mt19937_64 trng(7);
  for (auto& t : target) t = static_cast<std::int64_t>(trng() % static_cast<std::uint64_t>(n));
  if (name == "entropy_normalize") {  // p = softmax(2 x) per row, as bench_common.h's softmax2_rows
    p.resize(static_cast<size_t>(count));
    std::vector<double> e(static_cast<size_t>(n));
    for (i64 r = 0; r < rows; ++r) {
      const float* zr = x.data() + r * n;
      double m = -std::numeric_limits<double>::infinity();
      for (i64 i = 0; i < n; ++i) m = std::max(m, 2.0 * zr[i]);
      double s = 0;
      for (i64 i = 0; i < n; ++i) s += (e[static_cast<size_t>(i)] = std::exp(2.0 * zr[i] - m));
      for (i64 i = 0; i < n; ++i) p[static_cast<size_t>(r * n + i)] = static_cast<float>(e[static_cast<size_t>(i)] / s);
    }
  }
  const NdView xv = matrix(x.data(), rows, n), yv = matrix(y.data(), rows, n), ov = vec(y.data(), rows);
  const NdView pv = matrix(p.data(), rows, n);
  LossSpec spec;
  spec.kind = LossKind::gamma_ce;
  spec.param = 0.1;
  spec.threshold = 0.2;
  EnOptions eo;
  eo.is_prob = true; eo.tol = 1e-5; eo.max_iter = 50; eo.check_sum = true; eo.sum_tol = 1e-6;
  const size_t nr = static_cast<size_t>(rows);
  std::vector<double> gamma(nr), h_min(nr), h_max(nr), ent(nr);
  std::vector<std::int32_t> n_iter(nr);
  std::vector<std::uint8_t> conv(nr), clip(nr);
  std::vector<std::int8_t> status(nr);
  const EnInfo info{gamma.data(), n_iter.data(), conv.data(), clip.data(), status.data(), h_min.data(), h_max.data(), ent.data()};
  const double scale = 1.0 / static_cast<double>(rows);
  std::function<void()> call;
  if (name == "lse") call = [&] { lse_rows<float>(k, xv, nullptr, ov, nullptr, nt); };
  else if (name == "softmax") call = [&] { softmax_rows<float>(k, xv, yv, false, nt); };
  else if (name == "softmax_entropy") call = [&] { softmax_entropy_rows<float>(k, xv, ov, nt); };
  else if (name == "loss_fwd")
    call = [&] { xent_rows<float>(k, xv, target.data(), -100, nullptr, scale, spec, loss.data(), nullptr, nt); };
  else if (name == "loss_grad")
    call = [&] { xent_rows<float>(k, xv, target.data(), -100, nullptr, scale, spec, loss.data(), &yv, nt); };
  else if (name == "entropy_normalize")
    call = [&] { entropy_normalize_rows<float>(k, pv, yv, target_h.data(), eo, info, nt); };
  else return 2;
  call();
  bench_measured_calls(&call, calls);
  double sum = 0;
  for (float v : y) sum += v;
  for (double v : loss) sum += v;
  std::printf("%s rows=%lld cols=%lld calls=%ld threads=%d isa=%s checksum=%.17g\n", name.c_str(),
              static_cast<long long>(rows), static_cast<long long>(n), calls, nt, k.name, sum);
  return 0;
}
"""


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def build(src: Path, build_dir: Path, targets):
    run(["cmake", "-S", str(src), "-B", str(build_dir), "-DLOGITCORE_BUILD_BENCH=ON", "-DCMAKE_BUILD_TYPE=Release"])
    run(["cmake", "--build", str(build_dir), "-j2", "--target", *targets])


def callgrind(exe: Path, case, rows, cols, calls, isa, outdir: Path):
    out = outdir / f"cg.{exe.name}.{case}.{rows}x{cols}"
    env = dict(os.environ, LOGITCORE_ISA=isa, OMP_NUM_THREADS="1")
    r = run(["valgrind", "--tool=callgrind", "--toggle-collect=bench_measured_calls", f"--callgrind-out-file={out}",
             str(exe), case, str(rows), str(cols), str(calls), "1"], env=env)
    m = re.search(r"Collected : (\d+)", r.stderr)
    check = re.search(r"checksum=(\S+)", r.stdout)
    if not m or f"isa={isa}" not in r.stdout:
        sys.exit(f"callgrind run failed or ran another ISA: {r.stdout}\n{r.stderr[-2000:]}")
    return int(m.group(1)) / calls, check.group(1), out


def wall_round(exe: Path, names, min_time):
    pattern = "^(" + "|".join(re.escape(n) for n in names) + ")(/real_time)?$"
    r = run([str(exe), f"--benchmark_filter={pattern}", f"--benchmark_min_time={min_time}",
             "--benchmark_format=json"])
    data = json.loads(r.stdout)
    res = {}
    for b in data["benchmarks"]:
        base = b["name"].removesuffix("/real_time")
        res[base] = b["real_time"]  # microseconds (the suites' unit)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", default="4965d4d", help="pre-restructure revision (default 4965d4d)")
    ap.add_argument("--new-src", type=Path, default=HERE.parent, help="source tree to compare (default: this one)")
    ap.add_argument("--build-dir", type=Path, default=None, help="build directory of the new tree "
                    "(default <new-src>/build/compare)")
    ap.add_argument("--calls", type=int, default=10, help="calls per callgrind run (default 10)")
    ap.add_argument("--isa", default="avx2", help="ISA of the callgrind runs (default avx2; valgrind lacks AVX-512)")
    ap.add_argument("--wall", type=int, default=0, metavar="ROUNDS", help="interleaved wall-clock rounds (default 0)")
    ap.add_argument("--wall-isa", default="avx512")
    ap.add_argument("--wall-threads", default="1")
    ap.add_argument("--min-time", default="0.2", help="--benchmark_min_time per case and round (seconds)")
    ap.add_argument("--idle", type=float, default=0.9,
                    help="before each wall-clock round wait (up to --wait s) for this idle fraction")
    ap.add_argument("--wait", type=float, default=600)
    ap.add_argument("--no-callgrind", action="store_true", help="wall clock only")
    ap.add_argument("--keep", action="store_true", help="keep the old worktree and the callgrind files")
    args = ap.parse_args()

    new_src = args.new_src.resolve()
    new_build = (args.build_dir or new_src / "build" / "compare").resolve()
    tmp = Path(tempfile.mkdtemp(prefix="logitcore-compare-"))
    old_src = tmp / "old"
    repo = run(["git", "-C", str(HERE), "rev-parse", "--show-toplevel"]).stdout.strip()
    old_rev = run(["git", "-C", repo, "rev-parse", "--short", args.old]).stdout.strip()
    new_rev = run(["git", "-C", str(new_src), "rev-parse", "--short", "HEAD"]).stdout.strip()
    dirty = run(["git", "-C", str(new_src), "status", "--porcelain", "--untracked-files=no", "--", "cpp",
                 "CMakeLists.txt"]).stdout.strip()
    run(["git", "-C", repo, "worktree", "add", "--detach", str(old_src), args.old])
    try:
        (old_src / "bench" / "old_calls.cpp").write_text(OLD_DRIVER)
        with open(old_src / "bench" / "CMakeLists.txt", "a") as f:
            f.write("\nadd_executable(logitcore_bench_calls old_calls.cpp)\n"
                    "target_link_libraries(logitcore_bench_calls PRIVATE logitcore_kernels)\n")
        print(f"building old {old_rev} in {old_src} ...", file=sys.stderr)
        old_targets = ["logitcore_bench_calls"] + (["logitcore_bench", "logitcore_bench_xent"] if args.wall else [])
        build(old_src, old_src / "build", old_targets)
        print(f"building new {new_rev}{' + uncommitted cpp/ edits' if dirty else ''} in {new_build} ...",
              file=sys.stderr)
        new_targets = ["logitcore_bench_calls"] + (["logitcore_bench", "logitcore_bench_losses"] if args.wall else [])
        build(new_src, new_build, new_targets)
        old_bin, new_bin = old_src / "build" / "bench", new_build / "bench"

        if args.no_callgrind:
            CASES.clear()
        else:
            print(f"\nInstructions per call (callgrind, LOGITCORE_ISA={args.isa}, 1 thread, float32, {args.calls} calls "
                  f"after one warm-up): old {old_rev} (driver call) vs new {new_rev}"
                  f"{' + uncommitted cpp/ edits' if dirty else ''} (C API call)\n")
            print("| call | shape | old | new | new/old | outputs match |")
            print("|---|---|---:|---:|---:|---|")
        for case, rows, cols in CASES:
            o, oc, _ = callgrind(old_bin / "logitcore_bench_calls", case, rows, cols, args.calls, args.isa, tmp)
            n, nc, _ = callgrind(new_bin / "logitcore_bench_calls", case, rows, cols, args.calls, args.isa, tmp)
            print(f"| {case} | ({rows}, {cols}) | {o:,.0f} | {n:,.0f} | {n / o:.3f} | "
                  f"{'yes' if oc == nc else f'no ({oc} vs {nc})'} |", flush=True)

        if args.wall:
            threads = [int(t) for t in args.wall_threads.split(",")]
            pairs = [(oe, on.format(isa=args.wall_isa, t=t), ne, nn.format(isa=args.wall_isa, t=t))
                     for t in threads for oe, on, ne, nn in WALL]
            samples = {p: ([], []) for p in pairs}
            others = []
            ncpu = os.cpu_count() or 1
            for rnd in range(args.wall):
                deadline = time.time() + args.wait
                while quiet_run.idle_fraction(5.0) < args.idle and time.time() < deadline:
                    pass
                tick = os.sysconf("SC_CLK_TCK")
                r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0, i0 = quiet_run.cpu_times()
                w0 = time.time()
                order = ["old", "new"] if rnd % 2 == 0 else ["new", "old"]
                for side in order:
                    for exe in sorted({p[0] if side == "old" else p[2] for p in pairs}):
                        names = [p[1] if side == "old" else p[3] for p in pairs if (p[0] if side == "old" else p[2]) == exe]
                        res = wall_round((old_bin if side == "old" else new_bin) / exe, names, args.min_time)
                        for p in pairs:
                            key = p[1] if side == "old" else p[3]
                            if key in res and (p[0] if side == "old" else p[2]) == exe:
                                samples[p][0 if side == "old" else 1].append(res[key])
                t1, i1 = quiet_run.cpu_times()
                r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                own = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
                others.append(max(0.0, ((t1 - t0) - (i1 - i0)) / tick - own) / (time.time() - w0))
                print(f"wall round {rnd + 1}/{args.wall} done (other processes: {others[-1]:.2f} CPUs)",
                      file=sys.stderr)
            print(f"\nWall clock, median of {args.wall} interleaved rounds (us per call, "
                  f"--benchmark_min_time={args.min_time}, {args.wall_isa}); other processes kept "
                  f"{', '.join(f'{o:.2f}' for o in others)} of {ncpu} CPUs busy in the rounds:\n")
            print("| new case | old case | old | new | new/old | new/old per round |")
            print("|---|---|---:|---:|---:|---|")
            for p in pairs:
                o, n = samples[p]
                if not o or not n:
                    print(f"| {p[3]} | {p[1]} | missing | | | |")
                    continue
                ratios = ", ".join(f"{b / a:.2f}" for a, b in zip(o, n))
                print(f"| `{p[3]}` | `{p[1]}` | {statistics.median(o):.1f} | {statistics.median(n):.1f} | "
                      f"{statistics.median(n) / statistics.median(o):.3f} | {ratios} |")
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            subprocess.run(["git", "-C", repo, "worktree", "remove", "--force", str(old_src)], check=False)
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
