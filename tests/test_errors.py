"""Bad input raises the documented exception with a useful message, never a crash."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import logitcore as lc
from logitcore import _core

X = np.arange(6.0).reshape(2, 3)
REDUCTIONS = ["logsumexp", "softmax_entropy", "entropy"]
ALL = ["logsumexp", "softmax", "log_softmax", "softmax_entropy", "entropy"]


@pytest.mark.parametrize("fn", ALL)
@pytest.mark.parametrize(
    "bad, match",
    [
        (np.array([1 + 2j, 3 + 0j]), "complex"),
        (np.array([1.0, 2.0], dtype=np.complex64), "complex"),
        (np.array([1.0, "a"], dtype=object), "dtype object"),
        (np.array(["a", "b"]), "dtype <U1"),
        (np.array([b"a"]), "dtype \\|S1"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime64"),
        ([[1.0, 2.0], [3.0]], "could not be converted"),
        (None, "dtype object"),
    ],
    ids=["complex128", "complex64", "object", "str", "bytes", "datetime", "ragged", "None"],
)
def test_bad_dtype_is_type_error(fn, bad, match):
    with pytest.raises(TypeError, match=match):
        getattr(lc, fn)(bad)


@pytest.mark.skipif(np.dtype(np.longdouble).itemsize <= 8, reason="long double is float64 here")
@pytest.mark.parametrize("fn", ALL)
def test_longdouble_is_type_error(fn):
    with pytest.raises(TypeError, match=r"float128|longdouble.*cast it to float64"):
        getattr(lc, fn)(np.ones(3, dtype=np.longdouble))
    if fn == "logsumexp":
        with pytest.raises(TypeError, match="b has dtype"):
            lc.logsumexp(np.ones(3), b=np.ones(3, dtype=np.longdouble))


@pytest.mark.parametrize("fn", ALL)
def test_axis_errors(fn):
    f = getattr(lc, fn)
    for axis in (2, -3, (0, 5)):
        with pytest.raises(np.exceptions.AxisError, match="out of bounds for array of dimension 2") as ei:
            f(X, axis=axis)
        assert isinstance(ei.value, ValueError) and isinstance(ei.value, IndexError)
    for axis in ((0, 0), (1, -1), [0, 1, 0]):
        with pytest.raises(ValueError, match="repeated axis"):
            f(X, axis=axis)
    for axis in (1.0, "0", True, np.bool_(False), (0, 1.5), (None,)):
        with pytest.raises(TypeError, match="axis must be an integer or a tuple of integers"):
            f(X, axis=axis)


def test_axis_accepts_numpy_integers_and_lists():
    np.testing.assert_array_equal(lc.logsumexp(X, axis=np.int64(1)), lc.logsumexp(X, axis=1))
    np.testing.assert_array_equal(lc.logsumexp(X, axis=[1]), lc.logsumexp(X, axis=1))
    np.testing.assert_array_equal(lc.softmax(X, axis=np.int32(-1)), lc.softmax(X, axis=1))


@pytest.mark.parametrize("fn", ["logsumexp", "softmax", "log_softmax"])
def test_out_errors(fn):
    f = getattr(lc, fn)
    kw = {"axis": 1}
    shape = (2,) if fn == "logsumexp" else (2, 3)
    with pytest.raises(ValueError, match=r"out has shape \(4,\), expected"):
        f(X, out=np.zeros(4), **kw)
    if fn == "logsumexp":
        with pytest.raises(ValueError, match=r"out has shape \(2, 1\), expected \(2,\)"):
            f(X, out=np.zeros((2, 1)), **kw)  # keepdims shape without keepdims
        with pytest.raises(ValueError, match=r"out has shape \(2,\), expected \(2, 1\)"):
            f(X, out=np.zeros(2), keepdims=True, **kw)
    with pytest.raises(ValueError, match="out has dtype float32, expected float64"):
        f(X, out=np.zeros(shape, np.float32), **kw)
    with pytest.raises(ValueError, match="out has dtype float64, expected float32"):
        f(X.astype(np.float32), out=np.zeros(shape), **kw)
    with pytest.raises(ValueError, match="out has dtype float32, expected float16"):
        f(X.astype(np.float16), out=np.zeros(shape, np.float32), **kw)
    with pytest.raises(TypeError, match="out must be a numpy.ndarray, got list"):
        f(X, out=[0.0] * int(np.prod(shape)), **kw)
    ro = np.zeros(shape)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        f(X, out=ro, **kw)
    # never silently replaced: the failed call left the arrays untouched
    assert not ro.any()


def test_b_and_where_errors():
    with pytest.raises(ValueError, match=r"could not be broadcast together \(shapes \(2, 3\), \(2,\)\)"):
        lc.logsumexp(X, b=np.ones(2))
    with pytest.raises(ValueError, match="could not be broadcast"):
        lc.logsumexp(X, b=np.ones((3, 3)))
    with pytest.raises(ValueError, match="could not be broadcast"):
        lc.logsumexp(X, where=np.ones(4, bool))
    with pytest.raises(TypeError, match="b has complex dtype"):
        lc.logsumexp(X, b=np.ones(3, complex))
    with pytest.raises(TypeError, match="b has dtype <U"):
        lc.logsumexp(X, b="abc")
    for w in (np.ones((2, 3)), [1, 0, 1], np.ones(3, np.int8)):
        with pytest.raises(TypeError, match="where must be a boolean array, got dtype"):
            lc.logsumexp(X, where=w)


def test_set_num_threads_errors(restore_threads):
    for bad in ("x", 2.5, None, [2]):
        with pytest.raises(TypeError, match="n must be an integer, got"):
            lc.set_num_threads(bad)
    lc.set_num_threads(np.int64(2))  # operator.index works
    assert lc.get_num_threads() == 2
    with pytest.raises(TypeError, match="got bool"):
        lc.set_num_threads(True)
    # the limit is the library's (logitcore_set_num_threads), reached through the C++ API: a
    # refused count leaves the setting alone
    for big in (_core.MAX_THREADS + 1, 2**40):
        with pytest.raises(ValueError, match=f"n must be at most {_core.MAX_THREADS} threads, got {big}"):
            lc.set_num_threads(big)
        with pytest.raises(ValueError, match="at most"):
            _core._set_num_threads(min(big, 2**31 - 1))
        assert lc.get_num_threads() == 2
    lc.set_num_threads(_core.MAX_THREADS)
    assert lc.get_num_threads() == _core.MAX_THREADS


def test_state_constructor_errors():
    with pytest.raises(ValueError, match="rows must be >= 0, got -1"):
        lc.LogSumExpState(-1)
    with pytest.raises(TypeError, match="rows must be an integer, got float"):
        lc.LogSumExpState(2.0)
    with pytest.raises(TypeError, match="dtype must be float16, bfloat16, float32 or float64, got int32"):
        lc.LogSumExpState(2, dtype=np.int32)


def test_private_core_rejects_mismatched_arrays_without_crashing():
    """The binding checks shapes/dtypes/strides itself (a caller mistake can never write out of
    bounds). Run in a subprocess so that a crash fails this test instead of killing pytest."""
    code = textwrap.dedent(
        """
        import numpy as np
        from logitcore import _core
        x = np.ones((3, 5)); x32 = x.astype(np.float32)
        cases = [
            lambda: _core._lse(x, None, np.zeros(4), None),
            lambda: _core._lse(x, None, np.zeros(3, np.float32), None),
            lambda: _core._lse(x, np.ones((3, 4)), np.zeros(3), None),
            lambda: _core._lse(x, np.ones((3, 5), np.float32), np.zeros(3), None),
            lambda: _core._lse(x, None, np.zeros(3), np.zeros(2)),
            lambda: _core._lse(np.ones((3, 5), np.int64), None, np.zeros(3), None),
            lambda: _core._lse(np.float64(1.0), None, np.zeros(()), None),
            lambda: _core._softmax(x, np.zeros((3, 4)), False),
            lambda: _core._softmax(x32, np.zeros((3, 5)), True),
            lambda: _core._softmax(x.astype('>f8'), np.zeros((3, 5)), False),
            lambda: _core._softmax_entropy(x, np.zeros(5)),
            lambda: _core._entropy(x, np.zeros((3, 1))),
            lambda: _core._state_update(np.zeros(2), np.zeros(3), x),
            lambda: _core._state_update(np.zeros(6)[::2], np.zeros(3), x),
            lambda: _core._state_merge(np.zeros(3), np.zeros(3), np.zeros(2), np.zeros(2)),
            lambda: _core._state_result(np.zeros(3), np.zeros(3), np.zeros(2)),
            lambda: _core._exp(np.ones(8)[::2], np.zeros(4)),
            lambda: _core._exp(np.ones(4), np.zeros(5)),
            lambda: _core._softmax(x, x[:, ::-1], False),
            lambda: _core._exp_max_ulp(10, 5, 1),
            lambda: _core._set_isa("mmx"),
        ]
        ro = np.zeros(3); ro.flags.writeable = False
        cases.append(lambda: _core._lse(x, None, ro, None))
        for i, c in enumerate(cases):
            try:
                c()
            except (ValueError, TypeError) as e:
                print(i, type(e).__name__, str(e).splitlines()[0])
            else:
                print(i, "NO ERROR")
        print("DONE")
        """
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"subprocess crashed (rc={p.returncode}): {p.stderr[-2000:]}"
    lines = p.stdout.strip().splitlines()
    assert lines[-1] == "DONE"
    assert not [ln for ln in lines if "NO ERROR" in ln], p.stdout
    assert len(lines) == 23, p.stdout


@pytest.mark.parametrize("fn", ALL)
def test_errors_leave_state_usable(fn):
    """A failed call does not poison later calls (no stuck ISA/thread state, no GIL leak)."""
    f = getattr(lc, fn)
    before = f(X, axis=1)
    for bad in (dict(axis=7), dict(axis=(0, 0))):
        with pytest.raises((ValueError, TypeError)):
            f(X, **bad)
    np.testing.assert_array_equal(f(X, axis=1), before)
