"""The benchmark harness: side-by-side timing of logitcore against NumPy, SciPy and PyTorch.

The machinery only (cases, timing, tables, targets, command-line options); it registers no
case and imports no case module. The case modules (:mod:`.family`, :mod:`.losses`,
:mod:`.entropy_norm`) import this one and register into it; :mod:`logitcore.bench` registers
them all.

Run it as ``python -m logitcore bench`` (``--help`` lists the options). This is a measuring
tool, not a test: it prints figures and verdicts, and exits with status 1 on a failed target
only when asked to (``--check``).

What it runs
------------
By default, a short run: the rows of the headline table (:data:`HEADLINE`: logsumexp and
softmax on ``(64, 32000)`` at one and all threads and on ``(1, 10**7)``, cross-entropy loss +
gradient and entropy normalization on ``(64, 32000)``) and the rows the performance targets
(:data:`TARGETS`) are decided on. It prints one headline table (logitcore against NumPy,
SciPy and PyTorch, times and speed-ups) and the target verdicts. ``--full`` runs every case on
all its shapes at one and all threads and prints one table per case. ``--cases`` narrows
either run to the named cases; ``--shapes`` and ``--threads`` replace their shapes and thread
counts. A missing SciPy or PyTorch is reported once, with the command that installs it.

How it measures
---------------
For each case (an operation on one array shape at one thread count) every contestant is
timed in the same repetition loop: repetition ``r`` runs the contestants one after another
(the starting contestant rotates from one repetition to the next), so a drifting clock speed
or a noisy neighbour affects all of them alike. One *sample* of a contestant is one untimed
warm-up call (it restores that contestant's own cache and thread-pool state, whatever ran
before) followed by ``number`` timed calls, ``number`` being chosen once per contestant so
that a sample lasts at least ``--min-time`` seconds. The figure reported is the median of the
samples; ratios are ratios of medians of contestants measured side by side.

Adding a benchmark
------------------
Write a case module that imports this harness and give it a ``register_*_cases()`` function,
called by :mod:`logitcore.bench`, that adds a :class:`Case` with :func:`register`: a name,
the shapes it runs on by default, and a dict of :class:`Contestant` objects, each a factory
that receives the prepared :class:`Data` (the NumPy array and, lazily, a torch tensor sharing
its memory) and returns a zero-argument callable. Optional contestants name the modules they need (``requires``) and
are skipped when those are not importable. ``ratios`` says which time ratios to print;
by default every other contestant's time over the ``baseline``'s (a speed-up of the
baseline). ``info`` computes untimed figures about an input (say, iteration counts) that are
printed as extra columns, and ``verify`` replaces the default "agrees with the baseline" check.
:data:`TARGETS` lists the performance goals evaluated at the end (``>=`` or ``<=`` a bound)
and :data:`HEADLINE` the rows of the default run's table; the case module appends its own.
:data:`GROUPS` maps a name that ``--cases`` accepts to several cases (``sampling``).
"""
from __future__ import annotations

import argparse
import datetime
import gc
import importlib
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

import logitcore

Shape = Tuple[int, ...]

__all__ = [
    "Case",
    "Contestant",
    "Data",
    "Target",
    "CASES",
    "HEADLINE",
    "TARGETS",
    "GROUPS",
    "register",
    "run_case",
    "run",
    "add_arguments",
    "exit_status",
    "optional_import",
    "machine_info",
]

# --------------------------------------------------------------------------------------------
# optional competitors


_MODULES: Dict[str, Any] = {}


def optional_import(name: str):
    """The module, or None when it is not installed (cached)."""
    if name not in _MODULES:
        try:
            _MODULES[name] = importlib.import_module(name)
        except Exception:  # ImportError, or a broken install: treat as absent
            _MODULES[name] = None
    return _MODULES[name]


def _torch():
    return optional_import("torch")


# --------------------------------------------------------------------------------------------
# cases and contestants


class Data:
    """The input of one case: a C-contiguous array ``x`` and, on demand, views of it."""

    def __init__(self, x: np.ndarray):
        self.x = x
        self._torch = None
        self._derived: Dict[str, Any] = {}

    def cached(self, key: str, make: Callable[[np.ndarray], Any]) -> Any:
        """``make(x)``, computed once per input and shared by every contestant and case (for
        inputs derived from ``x``: targets, probability rows, ...)."""
        if key not in self._derived:
            self._derived[key] = make(self.x)
        return self._derived[key]

    @property
    def torch(self):
        """A torch tensor sharing ``x``'s memory (so every contestant reads the same bytes)."""
        if self._torch is None:
            self._torch = _torch().from_numpy(self.x)
        return self._torch


@dataclass
class Contestant:
    """make(data) -> zero-argument callable to time. ``threads``: fixed thread count for
    this contestant (None: the case's thread setting). ``requires``: importable modules."""

    make: Callable[[Data], Callable[[], Any]]
    requires: Tuple[str, ...] = ()
    threads: Optional[int] = None

    def available(self) -> bool:
        return all(optional_import(m) is not None for m in self.requires)


@dataclass
class Case:
    """A benchmark: one operation, several contestants, run per shape and thread count.

    ratios: (label, numerator contestant, denominator contestant or a float: a fixed time in
    seconds, a budget); when empty, one ratio ``other/baseline`` per other contestant.
    fixed_threads: run only at this one thread setting (for cases whose contestants pin their
    own thread counts).
    info(data) -> {label: number}: figures computed once per input and thread setting,
    outside the timing (iteration counts, errors); printed after the ratios and stored in the
    JSON. verify(data, outputs) -> [warning, ...]: receives every contestant's result
    ({name: value}) and replaces the default comparison with the baseline's result.
    headline: {column: contestant} puts the case's rows in the headline table (columns
    ``numpy``, ``scipy``, ``torch``; the baseline fills the logitcore column);
    headline_label names the operation there, headline_note says what the columns run.
    """

    name: str
    title: str
    shapes: List[Shape]
    contestants: Dict[str, Contestant]
    baseline: str = "logitcore"
    ratios: List[Tuple[str, str, Any]] = field(default_factory=list)
    note: str = ""
    fixed_threads: Optional[int] = None
    check: bool = True  # warn when a contestant's result differs from the baseline's
    repeat_scale: int = 1  # samples = repeat * repeat_scale (cheap cases that decide a target)
    info: Optional[Callable[[Data], Dict[str, float]]] = None
    verify: Optional[Callable[[Data, Dict[str, Any]], List[str]]] = None
    headline: Optional[Dict[str, str]] = None
    headline_label: str = ""
    headline_note: str = ""

    def ratio_specs(self, names: Sequence[str]) -> List[Tuple[str, str, Any]]:
        specs = self.ratios or [(f"{c}/{self.baseline}", c, self.baseline) for c in names if c != self.baseline]
        return [s for s in specs if s[1] in names and (s[2] in names or isinstance(s[2], float))]


def _time_of(times: Dict[str, float], denominator: Any) -> float:
    """A ratio's denominator: a contestant's median time, or a fixed time in seconds."""
    return denominator if isinstance(denominator, float) else times[denominator]


CASES: List[Case] = []

# Group names for --cases: a name standing for several cases (a case module adds its own).
GROUPS: Dict[str, List[str]] = {}

# Suites with their own loop, for work whose contestants take seconds per call (model fits):
# name -> run(args, out) -> report. Selected by name in --cases, and by --full.
SUITES: Dict[str, Callable[[argparse.Namespace, Any], dict]] = {}


def register(case: Case) -> Case:
    """Add a case to the suite (names must be unique)."""
    if any(c.name == case.name for c in CASES):
        raise ValueError(f"a benchmark case named {case.name!r} is already registered")
    CASES.append(case)
    return case


@dataclass
class Target:
    """A performance goal: case/shape/threads, ratio label, and the bound it must meet."""

    label: str
    case: str
    shape: Shape
    threads: Optional[int]  # None: the case's fixed setting
    ratio: str
    op: str  # ">=" or "<="
    bound: float
    min_cpus: int = 1
    # decided by the default run too (False: only when its case runs, --cases or --full; for
    # targets whose contestants take seconds per call)
    in_default: bool = True

    def verdict(self, value: float) -> bool:
        return value >= self.bound if self.op == ">=" else value <= self.bound


# The headline table of the default run: (case, shape, threads), threads "all" = the usable
# CPUs. The default run measures these rows and the rows the TARGETS are decided on, no more.
# Both lists start empty: the case modules fill them when they register their cases.
HEADLINE: List[Tuple[str, Shape, Any]] = []

TARGETS: List[Target] = []

# --------------------------------------------------------------------------------------------
# timing


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def set_threads(n: int) -> None:
    """Thread count for logitcore and (if loaded) PyTorch. NumPy/SciPy stay single-threaded."""
    logitcore.set_num_threads(n)
    t = _MODULES.get("torch")
    if t is not None:
        t.set_num_threads(n)


def _calibrate(fn: Callable[[], Any], min_time: float) -> int:
    """Calls per sample so that one sample lasts at least min_time (after a warm-up call)."""
    fn()
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time or number >= 1 << 20:
            return number
        # aim a little beyond min_time, grow at most 100x per step
        number = max(number + 1, min(number * 100, int(math.ceil(number * 1.2 * min_time / max(dt, 1e-9)))))


def _sample(fn: Callable[[], Any], number: int) -> float:
    fn()  # warm-up: this contestant's data in cache, its threads awake
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


@dataclass
class Result:
    case: str
    shape: Shape
    dtype: str
    threads: Optional[int]
    times: Dict[str, float]  # median seconds per call
    samples: Dict[str, List[float]]
    number: Dict[str, int]
    ratios: Dict[str, float]
    warnings: List[str]
    info: Dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "case": self.case,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "threads": self.threads,
            "median_s": self.times,
            "samples_s": self.samples,
            "calls_per_sample": self.number,
            "ratios": self.ratios,
            "info": self.info,
            "warnings": self.warnings,
        }


def _agree(a, b, dtype) -> bool:
    try:
        a = np.asarray(a.numpy() if hasattr(a, "numpy") else a, dtype=np.float64)
        b = np.asarray(b.numpy() if hasattr(b, "numpy") else b, dtype=np.float64)
        tol = 1e-3 if np.dtype(dtype) == np.float32 else 1e-9
        scale = float(np.max(np.abs(b), initial=0.0)) if b.size else 0.0
        return a.shape == b.shape and bool(np.allclose(a, b, rtol=tol, atol=tol * 1e-3 * scale, equal_nan=True))
    except Exception:
        return False


def run_case(case: Case, data: Data, threads: Optional[int], repeat: int, min_time: float) -> Result:
    """Time every available contestant of ``case`` on ``data``, interleaved, at ``threads``."""
    names = [n for n, c in case.contestants.items() if c.available()]
    fns = {n: case.contestants[n].make(data) for n in names}
    nthreads = {n: (case.contestants[n].threads or threads or 1) for n in names}
    warnings: List[str] = []

    def prepare(n: str) -> None:
        set_threads(nthreads[n])

    # sanity (not a test): a contestant that disagrees with the baseline is flagged
    if case.verify is not None:
        outputs = {}
        for n in names:
            prepare(n)
            outputs[n] = fns[n]()
        warnings += case.verify(data, outputs)
        del outputs
    elif case.check and case.baseline in fns:
        prepare(case.baseline)
        ref = fns[case.baseline]()
        for n in names:
            if n != case.baseline:
                prepare(n)
                if not _agree(fns[n](), ref, data.x.dtype):
                    warnings.append(f"{n} result differs from {case.baseline}")
    info: Dict[str, float] = {}
    if case.info is not None:
        set_threads(threads or 1)
        info = dict(case.info(data))

    number = {}
    for n in names:
        prepare(n)
        number[n] = _calibrate(fns[n], min_time)
    samples: Dict[str, List[float]] = {n: [] for n in names}
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for r in range(repeat if names else 0):  # no contestant available (e.g. PyTorch's cases without it)
            k = r % len(names)
            for n in names[k:] + names[:k]:
                prepare(n)
                samples[n].append(_sample(fns[n], number[n]))
    finally:
        if gc_was_enabled:
            gc.enable()
    times = {n: statistics.median(s) for n, s in samples.items()}
    ratios = {label: times[a] / _time_of(times, b) for label, a, b in case.ratio_specs(names)}
    return Result(case.name, tuple(data.x.shape), str(data.x.dtype), threads, times, samples, number, ratios,
                  warnings, info)


# --------------------------------------------------------------------------------------------
# machine description


def _cpuinfo() -> Dict[str, str]:
    info: Dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" in line:
                    k, v = (s.strip() for s in line.split(":", 1))
                    if k in ("model name", "flags") and k not in info:
                        info[k] = v
                if not line.strip() and info:
                    break
    except OSError:
        pass
    return info


def machine_info() -> dict:
    ci = _cpuinfo()
    flags = set(ci.get("flags", "").split())
    cfg = logitcore.get_config()
    versions = {"python": platform.python_version(), "numpy": np.__version__, "logitcore": logitcore.__version__}
    for mod in ("scipy", "torch"):
        m = optional_import(mod)
        versions[mod] = getattr(m, "__version__", "?") if m is not None else None
    return {
        "cpu": ci.get("model name") or platform.processor() or platform.machine(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": available_cpus(),
        "simd_flags": sorted(f for f in flags if f in ("avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl")),
        "platform": platform.platform(),
        "logitcore_config": cfg,
        "versions": versions,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }


def _busy_jiffies() -> Optional[float]:
    """Non-idle CPU time of the whole machine, in seconds (None off Linux)."""
    try:
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    steal = v[7] if len(v) > 7 else 0
    return (sum(v[:8]) - idle - steal) / os.sysconf("SC_CLK_TCK")


class LoadMeter:
    """CPU time used by other processes while the benchmark runs (machine busy time minus
    this process's own and its finished children's, e.g. the dask suite's worker processes),
    as an average number of busy CPUs: a noisy-neighbour gauge."""

    def __init__(self):
        self.t0 = time.perf_counter()
        self.busy0 = _busy_jiffies()
        self.self0 = self._own()

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def other_cpus(self) -> Optional[float]:
        busy1 = _busy_jiffies()
        if self.busy0 is None or busy1 is None:
            return None
        own = self._own() - self.self0
        dt = time.perf_counter() - self.t0
        return max(0.0, (busy1 - self.busy0 - own) / dt) if dt > 0 else None


# --------------------------------------------------------------------------------------------
# reporting


def _fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _fmt_shape(shape: Shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _print_table(case: Case, results: List[Result], out) -> None:
    if not results:
        return
    names: List[str] = []
    for r in results:
        names += [n for n in r.times if n not in names]
    labels: List[str] = []
    for r in results:
        labels += [lab for lab in r.ratios if lab not in labels]
    infos: List[str] = []
    for r in results:
        infos += [k for k in r.info if k not in infos]
    hdr = ["shape", "threads"] + names + labels + infos
    rows = []
    for r in results:
        thr = "/".join(str(case.contestants[n].threads) for n in r.times) if r.threads is None else str(r.threads)
        row = [_fmt_shape(r.shape), thr]
        row += [_fmt_time(r.times[n]) if n in r.times else "-" for n in names]
        row += [f"{r.ratios[lab]:.2f}x" if lab in r.ratios else "-" for lab in labels]
        row += [f"{r.info[k]:.3g}" if k in r.info else "-" for k in infos]
        rows.append(row)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(hdr)]
    nsamp = len(next(iter(results[0].samples.values()), []))
    print(f"\n## {case.title} [{case.name}], {results[0].dtype}, median of {nsamp} samples", file=out)
    if case.note:
        print(f"   {case.note}", file=out)
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(hdr, widths)))
    print(line, file=out)
    print("-" * len(line), file=out)
    for row in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))), file=out)
    for r in results:
        for w in r.warnings:
            print(f"   ! {_fmt_shape(r.shape)} threads={r.threads}: {w}", file=out)


def _find(results: List[Result], case: str, shape: Shape, threads: Optional[int]) -> Optional[Result]:
    for r in results:
        if r.case == case and r.shape == tuple(shape) and r.threads == threads:
            return r
    return None


def _case(name: str) -> Optional[Case]:
    return next((c for c in CASES if c.name == name), None)


# How to get an optional competitor: (display name, command). Printed once when it is missing.
INSTALL_HINTS: Dict[str, Tuple[str, str]] = {
    "scipy": ("SciPy", "pip install scipy"),
    "torch": ("PyTorch", "pip install torch --index-url https://download.pytorch.org/whl/cpu  (CPU-only build)"),
}


def missing_competitors() -> List[str]:
    """The optional competitors (keys of INSTALL_HINTS) that do not import."""
    return [m for m in INSTALL_HINTS if optional_import(m) is None]


def _missing_for(case: Case, ratio: str) -> List[str]:
    """Display names of the uninstalled modules that keep ``ratio`` of ``case`` from being measured."""
    spec = next((s for s in case.ratio_specs(list(case.contestants)) if s[0] == ratio), None)
    if spec is None:
        return []
    mods = {m.split(".")[0] for n in spec[1:] if n in case.contestants
            for m in case.contestants[n].requires if optional_import(m) is None}
    return [INSTALL_HINTS.get(m, (m, ""))[0] for m in sorted(mods)]


def evaluate_targets(results: List[Result], dtype: str, cpus: int) -> List[dict]:
    """One verdict per target: PASS / FAIL with the measured ratio, or SKIP with the reason."""
    verdicts = []
    for t in TARGETS:
        entry = {"target": t.label, "case": t.case, "shape": list(t.shape), "threads": t.threads,
                 "ratio": t.ratio, "bound": f"{t.op} {t.bound:g}", "value": None, "verdict": "SKIP"}
        r = _find(results, t.case, t.shape, t.threads)
        case = _case(t.case)
        missing = _missing_for(case, t.ratio) if case is not None else []
        if dtype != "float32":
            entry["why"] = "targets are defined for float32"
        elif cpus < t.min_cpus:
            entry["why"] = f"needs {t.min_cpus} CPUs, {cpus} usable"
        elif missing:
            entry["why"] = f"{' and '.join(missing)} not installed (see the note at the top)"
        elif r is None or t.ratio not in r.ratios:
            entry["why"] = "not measured in this run (case, shape or thread count not selected)"
        else:
            v = r.ratios[t.ratio]
            entry["value"] = v
            entry["verdict"] = "PASS" if t.verdict(v) else "FAIL"
            spec = next(s for s in case.ratio_specs(list(r.times)) if s[0] == t.ratio)
            entry["times_s"] = [r.times[spec[1]], _time_of(r.times, spec[2])]
        verdicts.append(entry)
    return verdicts


def exit_status(verdicts: List[dict], check: bool) -> int:
    """The command's exit status: 1 when ``check`` is set and a target failed, else 0.
    Skipped targets never fail a check."""
    return 1 if check and any(v["verdict"] == "FAIL" for v in verdicts) else 0


def _print_targets(verdicts: List[dict], out, ran: Optional[Sequence[str]] = None) -> None:
    """Print the verdicts; with ``ran`` (case names), only those of the cases that ran."""
    shown = [v for v in verdicts if ran is None or v["case"] in ran]
    if not shown:
        return
    print("\n## targets (float32, one thread unless stated; ratio = numerator time / denominator time)", file=out)
    for v in shown:
        shape = _fmt_shape(tuple(v["shape"]))
        if v["value"] is None:
            print(f"  SKIP  {v['target']} on {shape}: {v.get('why', '')}", file=out)
        else:
            a, b = v["times_s"]
            print(f"  {v['verdict']}  {v['target']} on {shape}: {v['ratio']} = {v['value']:.2f}x "
                  f"({_fmt_time(a)} / {_fmt_time(b)}; target {v['bound']})", file=out)
    if len(shown) < len(verdicts):
        print(f"  ({len(verdicts) - len(shown)} more targets belong to cases not run)", file=out)


# --- the headline table ----------------------------------------------------------------------

HEADLINE_COLUMNS = ("numpy", "scipy", "torch")
_HL_WIDTHS = (26, 14, 7, 10) + (17,) * len(HEADLINE_COLUMNS)


def _hl_line(cells: Sequence[str]) -> str:
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, _HL_WIDTHS))).rstrip()


def _print_headline_header(info: dict, dtype: str, nsamp: int, out) -> None:
    cfg = info["logitcore_config"]
    print(f"\n## logitcore vs NumPy, SciPy and PyTorch: {dtype}, ISA {cfg['isa_selected']}, {info['cpu']}, "
          f"median of {nsamp} samples", file=out)
    print("   each competitor: its median time (its time / logitcore's time, measured side by side: the "
          "speed-up of logitcore); NumPy and SciPy run on one thread", file=out)
    line = _hl_line(["operation", "shape", "threads", "logitcore"] + list(HEADLINE_COLUMNS))
    print(line, file=out)
    print("-" * len(line), file=out)


def _print_headline_row(case: Case, r: Result, out) -> None:
    base = r.times.get(case.baseline)
    cells = [case.headline_label or case.name, _fmt_shape(r.shape), str(r.threads),
             _fmt_time(base) if base is not None else "-"]
    for col in HEADLINE_COLUMNS:
        name = (case.headline or {}).get(col)
        if name in r.times and base:
            cells.append(f"{_fmt_time(r.times[name])} ({r.times[name] / base:.1f}x)")
        else:
            cells.append("-")
    print(_hl_line(cells), file=out)
    for w in r.warnings:
        print(f"   ! {case.name} {_fmt_shape(r.shape)} threads={r.threads}: {w}", file=out)


def _print_headline_notes(cases: Sequence[Case], out) -> None:
    for c in cases:
        if c.headline_note:
            print(f"   {c.headline_label or c.name}: {c.headline_note}", file=out)
    missing = [INSTALL_HINTS[m][0] for m in missing_competitors()]
    print("   -: no such competitor" + (f", or {' and '.join(missing)} not installed" if missing else ""), file=out)


def _print_machine(info: dict, out) -> None:
    cfg = info["logitcore_config"]
    print("# logitcore benchmark", file=out)
    print(f"machine  : {info['cpu']}; {info['logical_cpus']} logical CPUs ({info['usable_cpus']} usable); "
          f"flags: {' '.join(info['simd_flags']) or 'none of avx2/avx512'}", file=out)
    print(f"platform : {info['platform']}", file=out)
    print(f"logitcore: {cfg['version']}, ISA {cfg['isa_selected']} (compiled: {', '.join(cfg['isa_compiled'])}; "
          f"CPU supports: {', '.join(cfg['isa_supported_by_cpu'])}; forced: {cfg['isa_forced_by_env']}), "
          f"OpenMP {'on' if cfg['openmp'] else 'off'}, default threads {cfg['num_threads']}, "
          f"block {cfg['block_size']}", file=out)
    v = info["versions"]
    print("versions : " + ", ".join(f"{k} {v[k] or 'not installed'}" for k in v), file=out)
    if info["OMP_NUM_THREADS"]:
        print(f"OMP_NUM_THREADS={info['OMP_NUM_THREADS']}", file=out)


# --------------------------------------------------------------------------------------------
# command line


def _parse_shapes(text: str) -> List[Shape]:
    shapes = []
    for part in text.split(","):
        part = part.strip().lower().replace("**", "^")
        if not part:
            continue
        dims = []
        for d in part.split("x"):
            d = d.strip().replace("_", "")
            if "^" in d:
                base, exp = d.split("^")
                dims.append(int(base) ** int(exp))
            elif "e" in d:
                dims.append(int(float(d)))
            else:
                dims.append(int(d))
        if not dims or any(n <= 0 for n in dims):
            raise argparse.ArgumentTypeError(f"bad shape {part!r}")
        shapes.append(tuple(dims))
    if not shapes:
        raise argparse.ArgumentTypeError("no shapes given")
    return shapes


def _parse_threads(text: str) -> List[int]:
    out = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        n = available_cpus() if part == "all" else int(part)
        if n < 1:
            raise argparse.ArgumentTypeError(f"bad thread count {part!r}")
        if n not in out:
            out.append(n)
    if not out:
        raise argparse.ArgumentTypeError("no thread counts given")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--full", action="store_true",
                   help="every case on all its shapes at 1 and all threads, one table per case "
                        "(about 2 minutes on two cores); default: the headline table and the performance targets")
    p.add_argument("--check", action="store_true",
                   help="exit with status 1 when a measured target fails (skipped targets do not fail)")
    p.add_argument("--repeat", type=int, default=None,
                   help="samples per contestant; the median is reported (default 21, --quick 7)")
    p.add_argument("--min-time", type=float, default=None,
                   help="minimum seconds per sample; short calls are looped (default 0.002, --quick 0.001)")
    p.add_argument("--shapes", type=_parse_shapes, default=None,
                   help="comma-separated shapes such as '64x32000,1x10^7', replacing the selected cases' "
                        "shapes; the reduction is over the last axis")
    p.add_argument("--threads", type=_parse_threads, default=None,
                   help="comma-separated thread counts, 'all' = usable CPUs, replacing the selected cases' "
                        "(--full: default '1,all')")
    p.add_argument("--cases", default=None,
                   help="comma-separated case names, group names (" + ", ".join(GROUPS) + ") or suites ("
                        + ", ".join(SUITES) + ": model fits, minutes) (default: those "
                        "of the headline and the targets; with --full all: " + ", ".join(c.name for c in CASES) + ")")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--quick", action="store_true", help="fewer samples, shorter samples: a rough look")
    p.add_argument("--seed", type=int, default=0, help="seed of the N(0, 1) inputs (the same input per shape)")
    p.add_argument("--json", metavar="PATH", default=None, help="also write every figure to PATH as JSON")


def _unique(items) -> list:
    out: list = []
    for it in items:
        if it not in out:
            out.append(it)
    return out


def headline_rows() -> List[Tuple[str, Shape, Optional[int]]]:
    """(case, shape, threads) of the HEADLINE rows, "all" threads resolved."""
    cpus = available_cpus()
    return _unique((c, tuple(s), cpus if t == "all" else t) for c, s, t in HEADLINE)


def default_rows() -> List[Tuple[str, Shape, Optional[int]]]:
    """(case, shape, threads) of the default run: the HEADLINE rows, then the rows each target
    is decided on (threads None: the case's fixed setting)."""
    return _unique(headline_rows() + [(t.case, tuple(t.shape), t.threads) for t in TARGETS if t.in_default])


def build_plan(cases: Sequence[Case], full: bool, shapes: Optional[Sequence[Shape]] = None,
               threads: Optional[Sequence[int]] = None, named: Sequence[str] = ()
               ) -> List[Tuple[Case, List[Tuple[Shape, Optional[int]]]]]:
    """What to measure: per case, the (shape, threads) settings, in order.

    Default (``full`` false): the case's rows in :func:`default_rows`; a case without any runs
    only when it is ``named`` (on its own shapes at 1 and all threads). ``full``: every case on
    its own shapes at 1 and all threads. ``shapes`` / ``threads`` replace the shapes / thread
    counts so chosen. A case with ``fixed_threads`` runs once per shape at its own setting.
    """
    defaults = default_rows()
    every = _parse_threads("1,all")
    plan = []
    for case in cases:
        own = [(s, t) for c, s, t in defaults if c == case.name]
        if full or not own:
            if not full and case.name not in named:
                continue
            base = [(tuple(s), t) for s in case.shapes for t in every]
        else:
            base = own
        shape_list = _unique(tuple(s) for s in shapes) if shapes else _unique(s for s, _ in base)
        items: List[Tuple[Shape, Optional[int]]] = []
        for s in shape_list:
            if case.fixed_threads is not None:
                thr: List[Optional[int]] = [None]
            elif threads:
                thr = list(threads)
            else:
                thr = _unique(t for s2, t in base if s2 == s) or _unique(t for _, t in base)
                thr = [t for t in thr if t is not None] or every
            items += [(s, t) for t in thr]
        plan.append((case, _unique(items)))
    return plan


def run(args: argparse.Namespace, out=None) -> dict:
    """Measure, print, and return the report (also written to ``args.json`` when set)."""
    out = out or sys.stdout
    full = bool(getattr(args, "full", False))
    check = bool(getattr(args, "check", False))
    repeat = args.repeat or (7 if args.quick else 21)
    min_time = args.min_time if args.min_time is not None else (0.001 if args.quick else 0.002)
    wanted: List[str] = []
    suites: List[str] = list(SUITES) if full else []
    if args.cases:
        wanted = [s.strip() for s in args.cases.split(",") if s.strip()]
        suites = _unique(suites + [w for w in wanted if w in SUITES])
        wanted = [w for w in wanted if w not in SUITES]
        wanted = _unique(n for w in wanted for n in GROUPS.get(w, [w]))  # a group name: its cases
        unknown = [w for w in wanted if w not in {c.name for c in CASES}]
        if unknown:
            raise SystemExit(f"unknown case(s) {', '.join(unknown)}; known: "
                             f"{', '.join([c.name for c in CASES] + list(SUITES))}")
        cases = [c for c in CASES if c.name in wanted]
    else:
        cases = list(CASES)
    plan = build_plan(cases, full, args.shapes, args.threads, named=wanted)

    info = machine_info()  # imports the optional competitors
    _print_machine(info, out)
    scope = ("every case on all its shapes (--full)" if full else
             "the headline rows and the rows the targets need (--full: every case and shape)")
    print(f"run      : {scope}", file=out)
    print(f"method   : median of {repeat} samples per contestant (more for cases marked so); each sample = 1 "
          f"untimed warm-up call + >= {min_time * 1e3:g} ms of timed calls; contestants interleaved within each "
          f"repetition; x ~ N(0, 1) (seed {args.seed}), {args.dtype}, C-contiguous", file=out)
    for m in missing_competitors():
        name, cmd = INSTALL_HINTS[m]
        print(f"note     : {name} is not installed, so its columns and targets are skipped; "
              f"for the full table: {cmd}", file=out)
    out.flush()

    torch = _MODULES.get("torch")
    torch_threads0 = torch.get_num_threads() if torch is not None else None
    data_cache: Dict[Shape, Data] = {}

    def data_for(shape: Shape) -> Data:
        if shape not in data_cache:
            data_cache.clear()  # keep at most one (possibly large) input alive
            rng = np.random.default_rng(args.seed)  # the same input for a shape in every case
            data_cache[shape] = Data(rng.standard_normal(shape, dtype=np.float32).astype(args.dtype, copy=False))
        return data_cache[shape]

    headline_cases = [c for c, items in plan if c.headline is not None and items]
    stream_headline = not full and bool(headline_cases)
    if stream_headline:  # rows are printed as they are measured
        _print_headline_header(info, args.dtype, repeat, out)
    results: List[Result] = []
    deferred: List[Tuple[Case, List[Result]]] = []  # tables printed after the streamed headline
    t_start = time.perf_counter()
    load = LoadMeter()
    try:
        for case, items in plan:
            case_results = []
            for shape, thr in items:
                r = run_case(case, data_for(shape), thr, repeat * max(1, case.repeat_scale), min_time)
                case_results.append(r)
                if stream_headline and case.headline is not None:
                    _print_headline_row(case, r, out)
                    out.flush()
            results += case_results
            if full:
                _print_table(case, case_results, out)
                out.flush()
            elif case.headline is None and case.name in wanted:
                deferred.append((case, case_results))
    finally:
        logitcore.set_num_threads(0)
        if torch is not None:
            torch.set_num_threads(torch_threads0)

    if stream_headline:
        _print_headline_notes(headline_cases, out)
    for case, case_results in deferred:
        _print_table(case, case_results, out)
    if full:  # the headline rows again, as a summary of the tables above
        rows = [(_case(c), _find(results, c, s, t)) for c, s, t in headline_rows()]
        rows = [(c, r) for c, r in rows if c is not None and r is not None]
        if rows:
            _print_headline_header(info, args.dtype, repeat, out)
            for case, r in rows:
                _print_headline_row(case, r, out)
            _print_headline_notes(_unique(c for c, _ in rows), out)

    suite_reports = {}
    for name in suites:
        suite_reports[name] = SUITES[name](args, out)
        out.flush()

    verdicts = evaluate_targets(results, args.dtype, available_cpus())
    for rep in suite_reports.values():
        verdicts += [dict(v, suite=True) for v in rep.get("targets", [])]
    if plan and any(items for _, items in plan):
        _print_targets([v for v in verdicts if not v.get("suite")], out, ran=[c.name for c, items in plan if items])
    status = exit_status(verdicts, check)
    if check:
        failed = sum(v["verdict"] == "FAIL" for v in verdicts)
        skipped = sum(v["verdict"] == "SKIP" for v in verdicts)
        print(f"\ncheck: {failed} of {len(verdicts)} targets failed, {skipped} skipped; exit status {status}",
              file=out)
    elapsed = time.perf_counter() - t_start
    other = load.other_cpus()
    print(f"\n(total {elapsed:.0f} s", end="", file=out)
    if other is not None:
        print(f"; other processes kept {other:.2f} of {os.cpu_count()} CPUs busy meanwhile"
              + (": figures are disturbed, rerun on a quiet machine" if other > 0.25 else ""), end="", file=out)
    print(")", file=out)
    report = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([os.path.basename(sys.executable), "-m", "logitcore"] + sys.argv[1:]),
        "machine": info,
        "settings": {"full": full, "repeat": repeat, "min_time_s": min_time,
                     "threads": list(args.threads) if args.threads else None, "dtype": args.dtype,
                     "seed": args.seed, "cases": [c.name for c, _ in plan]},
        "results": [r.to_json() for r in results],
        "targets": verdicts,
        "suites": suite_reports,
        "exit_status": status,
        "elapsed_s": elapsed,
        "other_processes_busy_cpus": other,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"wrote {args.json}", file=out)
    return report
