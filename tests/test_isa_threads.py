"""Every ISA path the host supports, forced in-process (logitcore._core._set_isa) and through
the LOGITCORE_ISA environment variable (subprocess), checked against the reference around the
vector widths and the block size; and bitwise-identical results for 1, 2 and 4 threads on
every ISA. Tests that switch the ISA put back the one they found (a LOGITCORE_ISA=scalar run
stays on the scalar path)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import logitcore as lc
from logitcore import LogSumExpState, _core
from logitcore import reference as ref

from ._helpers import BEST_ISA, BLOCK, SUPPORTED_ISAS, assert_bitwise_equal, assert_close, finite_scale, forced_isa

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

LENGTHS = list(range(1, 71)) + [BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 1, 100_000]
FUNCS = ["logsumexp", "softmax", "log_softmax", "softmax_entropy", "entropy"]


def _ref(fn, x, **kw):
    return getattr(ref, fn)(x, **kw)


def _input(fn, n, dtype, rng):
    x = rng.standard_normal(n) * 4
    if fn == "entropy":
        x = np.exp(x - x.max())
        x /= x.sum()
        x[:: 7] = 0.0  # 0 log 0 = 0 inside vectors and tails
    return x.astype(dtype)


# --------------------------------------------------------------------------------------
# in-process forced ISA


def test_isa_auto_picks_best():
    found = _core._isa()
    with forced_isa(BEST_ISA):
        _core._set_isa("auto")
        assert _core._isa() == BEST_ISA  # auto picks the best supported
    assert _core._isa() == found
    assert set(SUPPORTED_ISAS) <= set(_core._compiled_isas())
    assert "scalar" in SUPPORTED_ISAS


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fn", FUNCS)
def test_isa_parity_lengths(isa, fn, dtype, rng):
    f = getattr(lc, fn)
    for n in LENGTHS:
        x = _input(fn, n, dtype, rng)
        got = f(x)
        assert np.asarray(got).dtype == dtype
        want = _ref(fn, x)
        assert_close(got, want, dtype, scale=finite_scale(x), rel=fn == "softmax", what=f"[{isa}] {fn} n={n}")
        if fn in ("logsumexp", "softmax", "log_softmax"):
            assert_close(f(x[::-1])[::-1] if fn != "logsumexp" else f(x[::-1]), want, dtype,
                         scale=finite_scale(x), rel=fn == "softmax", what=f"[{isa}] {fn} reversed n={n}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_isa_parity_weighted_and_batched(isa, dtype, rng):
    for n in list(range(1, 40)) + [BLOCK - 1, BLOCK + 1, 3 * BLOCK + 5]:
        x = (rng.standard_normal((3, n)) * 4).astype(dtype)
        b = rng.uniform(0.0, 2.0, size=(3, n)).astype(dtype)
        b[:, ::5] = 0.0
        got = lc.logsumexp(x, axis=1, b=b)
        assert_close(got, ref.logsumexp(x, axis=1, b=b), dtype, scale=finite_scale(x), what=f"[{isa}] weighted n={n}")
        got = lc.logsumexp(x, axis=0)
        assert_close(got, ref.logsumexp(x, axis=0), dtype, scale=finite_scale(x), what=f"[{isa}] axis 0 n={n}")
        st = LogSumExpState(3).update(x)
        assert_close(st.result(), ref.logsumexp(x, axis=1), dtype, scale=finite_scale(x), what=f"[{isa}] state n={n}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_isa_results_agree(dtype, rng):
    """All paths compute the same function: results agree within the dtype tolerance (and
    the scalar path, which uses the C library exp, is within it of the reference)."""
    x = (rng.standard_normal((5, 3 * BLOCK + 13)) * 10).astype(dtype)
    outs = {}
    for name in SUPPORTED_ISAS:
        with forced_isa(name):
            outs[name] = [lc.logsumexp(x, axis=1), lc.softmax(x, axis=1), lc.softmax_entropy(x, axis=1)]
    base = outs["scalar"]
    for name, o in outs.items():
        assert_close(o[0], base[0], dtype, scale=finite_scale(x), what=f"lse {name} vs scalar")
        assert_close(o[1], base[1], dtype, scale=finite_scale(x), rel=True, what=f"softmax {name} vs scalar")
        assert_close(o[2], base[2], dtype, scale=10, what=f"entropy {name} vs scalar")


def test_set_isa_errors_and_restore():
    found = _core._isa()
    with pytest.raises(ValueError, match="unknown ISA 'sse2'"):
        _core._set_isa("sse2")
    assert _core._isa() == found  # a refused name changes nothing
    try:
        for name in SUPPORTED_ISAS:
            _core._set_isa(name)
            assert lc.get_config()["isa_selected"] == name
        _core._set_isa("auto")
        assert _core._isa() == BEST_ISA
    finally:
        _core._set_isa(found)
    for name in set(_core._compiled_isas()) - set(SUPPORTED_ISAS):  # pragma: no cover - host dependent
        with pytest.raises(ValueError, match="does not support"):
            _core._set_isa(name)
        assert _core._isa() == found


# --------------------------------------------------------------------------------------
# LOGITCORE_ISA in a subprocess

_CHILD = textwrap.dedent(
    """
    import json, numpy as np, logitcore as lc
    x = np.random.default_rng(5).standard_normal((3, 5000)).astype(np.float32)
    cfg = lc.get_config()
    print(json.dumps({
        "isa": cfg["isa_selected"],
        "forced": cfg["isa_forced_by_env"],
        "lse": lc.logsumexp(x, axis=1).tobytes().hex(),
        "sm": lc.softmax(x, axis=1).tobytes().hex(),
    }))
    """
)


def _run_child(isa_env, code=_CHILD):
    env = dict(os.environ)
    env.pop("LOGITCORE_ISA", None)
    if isa_env is not None:
        env["LOGITCORE_ISA"] = isa_env
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", SUPPORTED_ISAS)
def test_env_var_forces_isa(name):
    p = _run_child(name)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["isa"] == name and out["forced"] == name
    # the child's results are bitwise those of the same path forced in-process
    x = np.random.default_rng(5).standard_normal((3, 5000)).astype(np.float32)
    with forced_isa(name):
        assert out["lse"] == lc.logsumexp(x, axis=1).tobytes().hex()
        assert out["sm"] == lc.softmax(x, axis=1).tobytes().hex()


def test_env_var_case_and_auto():
    p = _run_child(f"  {SUPPORTED_ISAS[0].upper()} ")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1])["isa"] == SUPPORTED_ISAS[0]
    p = _run_child("auto")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1])["isa"] == BEST_ISA
    p = _run_child(None)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["isa"] == BEST_ISA and out["forced"] is None


@pytest.mark.parametrize("bad", ["avx9000", "neon", "scalar,avx2"])
def test_env_var_unknown_isa_import_error(bad):
    code = "import logitcore"
    p = _run_child(bad, code)
    assert p.returncode != 0
    assert "ImportError" in p.stderr, p.stderr
    assert "LOGITCORE_ISA" in p.stderr and "unknown ISA" in p.stderr, p.stderr
    # catchable as ImportError, and the message names the variable and the value
    code = textwrap.dedent(
        """
        try:
            import logitcore
        except ImportError as e:
            print("IMPORTERROR:", e)
        """
    )
    p = _run_child(bad, code)
    assert p.returncode == 0, p.stderr
    assert f"IMPORTERROR: LOGITCORE_ISA={bad.strip().lower()!r}" in p.stdout, p.stdout


@pytest.mark.skipif(
    set(_core._compiled_isas()) <= set(SUPPORTED_ISAS), reason="every compiled ISA runs on this CPU"
)
def test_env_var_unsupported_isa_import_error():  # pragma: no cover - host dependent
    name = sorted(set(_core._compiled_isas()) - set(SUPPORTED_ISAS))[0]
    p = _run_child(name, "import logitcore")
    assert p.returncode != 0
    assert "LOGITCORE_ISA" in p.stderr and "does not support" in p.stderr, p.stderr


# --------------------------------------------------------------------------------------
# threads: bitwise-identical results for 1, 2 and 4 threads

THREADS = [1, 2, 4]


def _all_outputs(x, b, p):
    st = LogSumExpState(x.shape[0]).update(x)
    return {
        "logsumexp": lc.logsumexp(x, axis=1),
        "logsumexp_b": lc.logsumexp(x, axis=1, b=b),
        "logsumexp_strided": lc.logsumexp(x[:, ::-3], axis=1),
        "softmax": lc.softmax(x, axis=1),
        "log_softmax": lc.log_softmax(x, axis=1),
        "softmax_strided": lc.softmax(x[:, ::2], axis=1),
        "softmax_entropy": lc.softmax_entropy(x, axis=1),
        "entropy": lc.entropy(p, axis=1),
        "state_max": st.max.copy(),
        "state_sumexp": st.sumexp.copy(),
        "logsumexp_all": lc.logsumexp(x),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(64, 32000), (1, 3_000_000), (3, 500_000)], ids=["many_rows", "one_long", "three_long"])
def test_thread_count_bitwise_identical(isa, shape, dtype, restore_threads, rng):
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    b = rng.uniform(-0.5, 2.0, size=(1, shape[1])).astype(dtype)
    p = rng.random(shape).astype(dtype)
    p /= p.sum(axis=1, keepdims=True)
    results = {}
    for nt in THREADS:
        lc.set_num_threads(nt)
        assert lc.get_num_threads() == nt
        results[nt] = _all_outputs(x, b, p)
    for nt in THREADS[1:]:
        for k in results[1]:
            assert_bitwise_equal(results[nt][k], results[1][k], f"{k} shape={shape} threads {nt} vs 1")
    # and the single-thread results are right
    assert_close(results[1]["logsumexp"], ref.logsumexp(x, axis=1), dtype, scale=finite_scale(x))


def test_thread_count_bitwise_identical_long_rows(isa, restore_threads, rng):
    x = (rng.standard_normal((3, 20 * BLOCK + 17)) * 5).astype(np.float32)
    res = []
    for nt in THREADS + [3]:
        lc.set_num_threads(nt)
        res.append((lc.logsumexp(x, axis=1), lc.softmax(x, axis=1), lc.softmax_entropy(x, axis=1)))
    for r in res[1:]:
        for a, b in zip(r, res[0]):
            assert_bitwise_equal(a, b, isa)


def test_set_num_threads_zero_restores_default(restore_threads):
    default = lc.get_num_threads()
    lc.set_num_threads(3)
    assert lc.get_num_threads() == 3 and lc.get_config()["num_threads"] == 3
    lc.set_num_threads(0)
    assert lc.get_num_threads() == default
    lc.set_num_threads(-5)
    assert lc.get_num_threads() == default


def test_omp_num_threads_is_honoured():
    env = dict(os.environ, OMP_NUM_THREADS="3")
    env.pop("LOGITCORE_ISA", None)
    code = "import logitcore as lc; print(lc.get_num_threads())"
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "3"
