"""Run a benchmark command when the machine is quiet, and say how quiet it stayed.

    python bench/quiet_run.py [--idle 0.9] [--wait 1800] [--max-other 0.1 --tries 5] -- ./build/bench/bench/logitcore_bench ...

Waits (up to --wait seconds) until the CPUs have been at least --idle idle over a 5 s window,
runs the command (its output passes through), then prints to stderr how many CPUs other
processes kept busy on average during the run: the busy time of /proc/stat minus the
command's own CPU time. On a shared VM figures taken while that is well above 0 are disturbed
(the 2-thread ones most: an OpenMP team waits for a descheduled thread). With --max-other,
the command is run again (after waiting for idle again, up to --tries times) while other
processes kept more CPUs than that busy; a --benchmark_out file then holds the last run.
Linux only.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time


def cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    return sum(v[:8]), idle  # user..steal, in clock ticks


def idle_fraction(window: float) -> float:
    t0, i0 = cpu_times()
    time.sleep(window)
    t1, i1 = cpu_times()
    return (i1 - i0) / max(1, t1 - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--idle", type=float, default=0.9, help="idle fraction to wait for (default 0.9)")
    ap.add_argument("--wait", type=float, default=1800, help="give up waiting after this many seconds")
    ap.add_argument("--max-other", type=float, default=None,
                    help="rerun while other processes kept more CPUs than this busy during the run")
    ap.add_argument("--tries", type=int, default=5, help="runs at most, with --max-other (default 5)")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command")
    rc = 0
    for attempt in range(1, (args.tries if args.max_other is not None else 1) + 1):
        rc, other = run_once(cmd, args.idle, args.wait)
        if args.max_other is None or other <= args.max_other:
            break
        print(f"quiet_run: run {attempt} disturbed (other processes {other:.2f} CPUs > {args.max_other})",
              file=sys.stderr)
    return rc


def run_once(cmd, idle: float, wait: float):
    ncpu = os.cpu_count() or 1
    deadline = time.time() + wait
    while True:
        f = idle_fraction(5.0)
        if f >= idle:
            break
        if time.time() > deadline:
            print(f"quiet_run: still busy (idle {f:.2f}) after {wait:.0f} s; running anyway", file=sys.stderr)
            break
    tick = os.sysconf("SC_CLK_TCK")
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0, i0 = cpu_times()
    w0 = time.time()
    rc = subprocess.call(cmd)
    w1 = time.time()
    t1, i1 = cpu_times()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = ((t1 - t0) - (i1 - i0)) / tick
    own = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    other = max(0.0, busy - own) / max(1e-9, w1 - w0)
    print(f"quiet_run: {w1 - w0:.1f} s; other processes kept {other:.2f} of {ncpu} CPUs busy meanwhile "
          f"(idle {f:.2f} before the start)", file=sys.stderr)
    return rc, other

if __name__ == "__main__":
    sys.exit(main())
