"""``python -m logitcore bench`` end to end, with few, short samples: the default run prints
the headline table and the target verdicts, exits 0 unless ``--check`` is given and a target
fails, names a missing SciPy / PyTorch once with the command that installs it, and runs what
it should (default rows, ``--full``, ``--cases``). Figures are never asserted, only the
command's behaviour."""
from __future__ import annotations

import re

import pytest

import logitcore
from logitcore.__main__ import main
from logitcore.bench import harness as bench  # importing the package registers every case
from logitcore.bench.family import FLOOR_SHAPE

# few samples of >= 0.2 ms: every row in a few seconds, the figures meaningless
TINY = ["--repeat", "3", "--min-time", "0.0002"]
SMALL_ROW = (1, 100000)


def _impossible(shape=FLOOR_SHAPE):
    """A target no measurement can meet: a positive time ratio <= 0."""
    return bench.Target("impossible: lse in no time", "floor", shape, 1, "logitcore/np.max", "<=", 0.0)


def _trivial(shape=SMALL_ROW):
    """A target every measurement meets: a positive time ratio >= 0."""
    return bench.Target("trivial: lse takes some time", "floor", shape, 1, "logitcore/np.max", ">=", 0.0)


def _verdict_lines(text):
    return [ln for ln in text.splitlines() if re.match(r"\s+(PASS|FAIL|SKIP)\s", ln)]


@pytest.fixture
def bench_run(capsys, restore_threads):
    """main(['bench', *args]) -> (exit status, printed text)."""

    def run(*args):
        status = main(["bench", *TINY, *args])
        return status, capsys.readouterr().out

    return run


def test_default_run_prints_headline_and_targets_and_exits_0(bench_run, monkeypatch):
    # a target that certainly fails: without --check the exit status stays 0
    monkeypatch.setattr(bench, "TARGETS", bench.TARGETS + [_impossible()])
    status, out = bench_run()
    assert status == 0
    cfg = logitcore.get_config()
    # machine, ISA and method next to the figures
    assert f"ISA {cfg['isa_selected']}" in out
    assert "median of 3 samples" in out
    # the headline table: its title, its columns and one row per headline entry
    assert "## logitcore vs NumPy, SciPy and PyTorch" in out
    header = next(ln for ln in out.splitlines() if ln.startswith("operation"))
    assert header.split() == ["operation", "shape", "threads", "logitcore", "numpy", "scipy", "torch"]
    labels = {c.headline_label for c in bench.CASES if c.headline}
    assert {"logsumexp", "softmax", "cross-entropy loss + grad", "entropy_normalize"} <= labels
    rows = [ln for ln in out.splitlines() if any(re.match(rf"{re.escape(lab)}\s+\(", ln) for lab in labels)]
    assert len(rows) >= len(bench.headline_rows())
    for case, shape, threads in bench.headline_rows():
        label = bench._case(case).headline_label
        assert any(re.match(rf"{re.escape(label)}\s+{re.escape(bench._fmt_shape(shape))}\s+{threads}\s", r)
                   for r in rows), (case, shape, threads)
    assert re.search(r"logsumexp\s+\(64, 32000\)\s+1\s+[\d.]+ [um]?s\s+[\d.]+ [um]?s \([\d.]+x\)", out)
    # the short run prints no per-case tables
    assert "[logsumexp]" not in out and "[floor]" not in out
    # one verdict line per target, the impossible one FAIL
    assert "## targets" in out
    lines = _verdict_lines(out)
    decided = [t for t in bench.TARGETS if t.in_default]
    assert len(lines) == len(decided)
    for t, ln in zip(decided, lines):
        assert t.label in ln
    assert lines[-1].split()[0] == "FAIL"
    assert "check:" not in out
    assert re.search(r"\(total \d+ s", out)


def test_check_exits_1_when_a_target_fails(bench_run, monkeypatch):
    monkeypatch.setattr(bench, "TARGETS", [_impossible(SMALL_ROW)])
    status, out = bench_run("--cases", "floor", "--shapes", "1x100000", "--check")
    assert status == 1
    assert _verdict_lines(out)[0].split()[0] == "FAIL"
    assert "check: 1 of 1 targets failed, 0 skipped; exit status 1" in out
    # the same run without --check
    status, out = bench_run("--cases", "floor", "--shapes", "1x100000")
    assert status == 0
    assert _verdict_lines(out)[0].split()[0] == "FAIL"


def test_check_exits_0_when_targets_pass_or_skip(bench_run, monkeypatch):
    skipped = _trivial((1, 12345))  # a shape this run does not measure
    monkeypatch.setattr(bench, "TARGETS", [_trivial(), skipped])
    status, out = bench_run("--cases", "floor", "--shapes", "1x100000", "--check")
    assert status == 0
    assert [ln.split()[0] for ln in _verdict_lines(out)] == ["PASS", "SKIP"]
    assert "not measured in this run" in out
    assert "check: 0 of 2 targets failed, 1 skipped; exit status 0" in out
    # a per-case table for a case named with --cases that has no headline row
    assert "[floor]" in out


def test_exit_status():
    v = [{"verdict": "PASS"}, {"verdict": "SKIP"}]
    assert bench.exit_status(v, check=True) == 0
    assert bench.exit_status(v + [{"verdict": "FAIL"}], check=True) == 1
    assert bench.exit_status(v + [{"verdict": "FAIL"}], check=False) == 0
    assert bench.exit_status([], check=True) == 0


def test_missing_competitors_are_named_once_with_the_install_command(bench_run, monkeypatch):
    # pretend neither SciPy nor PyTorch imports (optional_import reads this cache first)
    monkeypatch.setitem(bench._MODULES, "scipy", None)
    monkeypatch.setitem(bench._MODULES, "scipy.special", None)
    monkeypatch.setitem(bench._MODULES, "torch", None)
    status, out = bench_run("--cases", "logsumexp", "--shapes", "64x1000", "--threads", "1", "--check")
    assert status == 0
    assert out.count("pip install scipy") == 1
    assert out.count("pip install torch --index-url https://download.pytorch.org/whl/cpu") == 1
    row = next(ln for ln in out.splitlines() if ln.startswith("logsumexp"))
    assert row.split()[-2:] == ["-", "-"]  # scipy and torch columns
    assert re.search(r"SKIP .*scipy\.special\.logsumexp.*SciPy not installed", out)
    assert re.search(r"SKIP .*torch\.logsumexp.*PyTorch not installed", out)


def test_plan_default_full_and_cases():
    cases = list(bench.CASES)
    default = bench.build_plan(cases, full=False)
    planned = {(c.name, s, t) for c, items in default for s, t in items}
    assert planned == set(bench.default_rows())
    assert {"xent_fwd", "robust_grad"}.isdisjoint(c.name for c, _ in default)
    every = bench._parse_threads("1,all")
    full = bench.build_plan(cases, full=True)
    assert [c.name for c, _ in full] == [c.name for c in cases]
    for c, items in full:
        want = [(s, None) for s in c.shapes] if c.fixed_threads is not None else [(s, t) for s in c.shapes for t in every]
        assert sorted(items, key=str) == sorted(set(want), key=str), c.name
    # a case without default rows runs on its own shapes when named
    (case, items), = bench.build_plan([bench._case("robust_grad")], full=False, named=["robust_grad"])
    assert {s for s, _ in items} == set(map(tuple, case.shapes))
    # --shapes / --threads replace the default rows' shapes and thread counts
    (case, items), = bench.build_plan([bench._case("logsumexp")], full=False, shapes=[(4, 100)], threads=[1])
    assert items == [((4, 100), 1)]


def test_unknown_case_is_an_error(bench_run):
    with pytest.raises(SystemExit, match="unknown case"):
        bench_run("--cases", "no_such_case")


def test_memory_tool_prints_each_mode(capsys):
    """``python -m logitcore.bench.memory``: a line per mode, the resident-set growth measured
    in a fresh process (absent when that process failed)."""
    from logitcore.bench import memory

    assert memory.main(["--shape", "4x64"]) == 0
    out = capsys.readouterr().out
    assert "float32 (4, 64)" in out
    for mode in ("out-of-place", "inplace"):
        line = next(ln for ln in out.splitlines() if ln.split()[:1] == [mode])
        assert "tracemalloc_peak_bytes" in line and "rss_growth_bytes" in line, line


def test_sampling_group_runs_every_sampling_case_on_tiny_shapes(bench_run, monkeypatch):
    """``--cases sampling`` names the group of the sampler's cases: each runs and prints its
    table (the 40 us budget of the llama.cpp chain as a ratio column), the tokens and penalties
    of logitcore pass the untimed contract check, and without PyTorch its columns and the
    targets that need it are skipped with the reason."""
    from logitcore.bench.sampling import CASE_NAMES

    assert bench.GROUPS["sampling"] == CASE_NAMES
    assert all(n.startswith("sample_") for n in CASE_NAMES)
    status, out = bench_run("--cases", "sampling", "--shapes", "4x1000", "--threads", "1", "--check")
    assert status == 0  # the targets are on other shapes: SKIP, never FAIL
    for name in CASE_NAMES:
        assert f"[{name}]" in out, name
    assert "logitcore/40us" in out
    assert not [ln for ln in out.splitlines() if re.match(r"\s+! .*(logitcore|lc inplace):", ln)]
    # the same without PyTorch
    monkeypatch.setitem(bench._MODULES, "torch", None)
    status, out = bench_run("--cases", "sampling", "--shapes", "4x1000", "--threads", "1", "--check")
    assert status == 0
    for name in CASE_NAMES:
        assert f"[{name}]" in out, name
    assert out.count("pip install torch --index-url https://download.pytorch.org/whl/cpu") == 1
    assert re.search(r"SKIP .*sample.*PyTorch not installed", out)


def test_maxent_suite_runs_from_cases_and_reports_targets(bench_run, monkeypatch):
    """``--cases maxent`` runs the fit suite (its own loop, not the harness's rows): the table,
    the label-noise figures and the target verdicts; here on the digits problem only, one fit
    each, so that it takes seconds."""
    pytest.importorskip("sklearn")
    from logitcore.bench import maxent

    monkeypatch.setattr(maxent, "PROBLEMS", ["digits"])
    monkeypatch.setattr(maxent, "FIT_REPEATS", 1)
    monkeypatch.setattr(maxent, "TARGETS", [("digits", 1, 0.0), ("sparse_20k_20k", 1, 4.0)])
    status, out = bench_run("--cases", "maxent", "--check")
    assert status == 0  # the trivial target passes, the other is skipped
    row = next(ln for ln in out.splitlines() if ln.startswith("digits ") and ln.split()[1] == "1")
    assert "x" in row
    assert "loss=gamma 0.5" in out and "hold-out" in out
    assert re.search(r"PASS\s+digits at 1 thread", out)
    assert re.search(r"SKIP\s+sparse_20k_20k at 1 thread\(s\) \(problem not run\)", out)
    # a failing suite target fails --check
    monkeypatch.setattr(maxent, "TARGETS", [("digits", 1, 1e9)])
    status, out = bench_run("--cases", "maxent", "--check")
    assert status == 1 and re.search(r"FAIL\s+digits", out)


def test_dask_suite_runs_from_cases_on_a_tiny_shape(bench_run, monkeypatch):
    """``--cases dask`` runs the Dask suite (its own two-process LocalCluster, not the harness's
    rows): the three contestants and the comparison line; here on a tiny array, one run each.
    ``--shapes`` replaces the 31 GB shape."""
    from ._helpers import optional_import

    optional_import("dask")
    optional_import("distributed")
    from logitcore.bench import dask as dask_bench

    monkeypatch.setattr(dask_bench, "REPEATS", 1)
    monkeypatch.setattr(dask_bench, "MEMORY_LIMIT", "1GiB")
    status, out = bench_run("--cases", "dask", "--shapes", "300x1000")
    assert status == 0
    assert "dask: float32 logits 300 x 1000 (0.00 GB), chunks 300 x 125 (1 x 8 blocks)" in out
    for name in ("generation", "logitcore", "dask.array NumPy"):
        assert re.search(rf"^  {re.escape(name)}\s+[\d.]+ s\s+[\d.]+ GB/s", out, re.M), name
    m = re.search(r"results agree within ([\d.e+-]+)", out)
    assert m and float(m.group(1)) < 1e-5
    # the suite is part of --full's suites, not of the default run
    from logitcore.bench import harness

    assert "dask" in harness.SUITES
