"""Memory layouts, dtypes and out= semantics.

Layouts: strided / transposed / negative-stride / byte-swapped inputs, including rows longer
than a block (the driver gathers strided blocks into scratch). Dtypes: float16 is computed in
float32 and returned as float16, integers and booleans in float64. out=: filled and returned,
exact aliasing (softmax(x, out=x)) works, partial overlap still gives the right result,
keepdims-shaped out, float16 out, strided out.
"""
from __future__ import annotations

import numpy as np
import pytest

import logitcore as lc
from logitcore import reference as ref

from ._helpers import BLOCK, assert_close, assert_same_kind, finite_scale

# every test runs on every ISA the host supports (strided rows are gathered per block and
# handed to each ISA's kernels)
pytestmark = pytest.mark.usefixtures("isa")

FUNCS = ["logsumexp", "softmax", "log_softmax", "softmax_entropy"]
REF = {
    "logsumexp": ref.logsumexp,
    "softmax": ref.softmax,
    "log_softmax": ref.log_softmax,
    "softmax_entropy": ref.softmax_entropy,
    "entropy": ref.entropy,
}


def _check(fn, x, axis, dtype=None):
    got = getattr(lc, fn)(x, axis=axis)
    want = REF[fn](x, axis=axis)
    dt = dtype or np.asarray(got).dtype
    assert_close(got, want, dt, scale=finite_scale(x), rel=fn == "softmax", what=f"{fn} axis={axis}")
    return got


# --------------------------------------------------------------------------------------
# layouts with rows longer than a block


def _layouts(rng, dtype):
    n = 2 * BLOCK + 37
    base = (rng.standard_normal((3, 2 * n + 3)) * 4).astype(dtype)
    yield "strided_cols", base[:, 1 : 2 * n + 1 : 2]
    yield "neg_stride", base[:, ::-1][:, :n]
    yield "neg_stride_step3", base[::-1, ::-3]
    yield "fortran", np.asfortranarray(base[:, :n])
    t = (rng.standard_normal((n, 3)) * 4).astype(dtype)
    yield "transposed", t.T
    yield "byteswapped", base[:, :n].astype(np.dtype(dtype).newbyteorder())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fn", FUNCS)
def test_long_strided_rows(fn, dtype, rng):
    for name, x in _layouts(rng, dtype):
        contiguous = np.ascontiguousarray(x, dtype=dtype)
        got = _check(fn, x, -1, np.dtype(dtype))
        assert np.asarray(got).dtype == dtype, name
        # identical to the contiguous copy: layout changes gathering, not arithmetic
        again = getattr(lc, fn)(contiguous, axis=-1)
        np.testing.assert_array_equal(got, again, err_msg=f"{fn} {name}: layout changed the bits")
        # reducing the leading axis of the transposed layout
        _check(fn, x.T, 0, np.dtype(dtype))


@pytest.mark.parametrize("fn", FUNCS)
def test_multi_axis_noncontiguous_copy_path(fn, rng):
    # axes whose merge is not a view (non-adjacent axes of a sliced array): the copy path
    x = (rng.standard_normal((4, 5, 6, 7)) * 3)[:, ::2, :, ::-2]
    for axis in [(0, 2), (1, 3), (0, 1, 3), (3, 0)]:
        _check(fn, x, axis)


# --------------------------------------------------------------------------------------
# dtypes


@pytest.mark.parametrize("fn", FUNCS + ["entropy"])
def test_float16_computed_in_float32(fn, rng):
    x = (rng.standard_normal((5, 300)) * 3).astype(np.float16)
    if fn == "entropy":
        x = lc.softmax(x, axis=1)
    got = getattr(lc, fn)(x, axis=1)
    assert got.dtype == np.float16
    # same as computing in float32 and rounding once to float16
    want32 = getattr(lc, fn)(x.astype(np.float32), axis=1)
    np.testing.assert_array_equal(got, want32.astype(np.float16))
    assert_close(got, REF[fn](x, axis=1), np.float16, scale=finite_scale(x), rel=fn == "softmax")


@pytest.mark.parametrize("fn", FUNCS + ["entropy"])
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint64, np.bool_])
def test_integers_computed_in_float64(fn, dtype, rng):
    x = rng.integers(0, 4, size=(3, 11)).astype(dtype)
    got = getattr(lc, fn)(x, axis=1)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, getattr(lc, fn)(x.astype(np.float64), axis=1))


@pytest.mark.parametrize("fn", FUNCS + ["entropy"])
def test_full_reduction_returns_numpy_scalar(fn):
    for dtype in (np.float16, np.float32, np.float64, np.int64):
        x = np.arange(6, dtype=dtype).reshape(2, 3)
        if fn in ("softmax", "log_softmax"):
            r = getattr(lc, fn)(np.asarray(2, dtype=dtype))  # 0-d input: a scalar like SciPy
        elif fn == "logsumexp":
            r = lc.logsumexp(x)
        else:
            r = getattr(lc, fn)(x, axis=(0, 1))
        want_dt = np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.dtype(np.float64)
        assert isinstance(r, np.generic) and not isinstance(r, np.ndarray), (fn, dtype, type(r))
        assert r.dtype == want_dt, (fn, dtype, r.dtype)
        kd = getattr(lc, fn)(x, axis=(0, 1), keepdims=True) if fn not in ("softmax", "log_softmax") else None
        if kd is not None:
            assert isinstance(kd, np.ndarray) and kd.shape == (1, 1)


def test_softmax_entropy_and_entropy_default_axis_is_last(rng):
    x = rng.standard_normal((3, 4, 5))
    assert lc.softmax_entropy(x).shape == (3, 4)
    np.testing.assert_array_equal(lc.softmax_entropy(x), lc.softmax_entropy(x, axis=-1))
    p = lc.softmax(x, axis=-1)
    assert lc.entropy(p).shape == (3, 4)
    assert_close(lc.entropy(p), lc.softmax_entropy(x), np.float64)


# --------------------------------------------------------------------------------------
# out=


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_logsumexp_out_filled_and_returned(dtype, rng):
    x = (rng.standard_normal((4, 50)) * 3).astype(dtype)
    want = lc.logsumexp(x, axis=1)
    out = np.full(4, 123.0, dtype=dtype)
    r = lc.logsumexp(x, axis=1, out=out)
    assert r is out
    np.testing.assert_array_equal(out, want)
    # keepdims-shaped out
    out = np.full((4, 1), 123.0, dtype=dtype)
    r = lc.logsumexp(x, axis=1, keepdims=True, out=out)
    assert r is out
    np.testing.assert_array_equal(out[:, 0], want)
    # a strided out
    big = np.full((4, 3), 7.0, dtype=dtype)
    r = lc.logsumexp(x, axis=1, out=big[:, 1])
    np.testing.assert_array_equal(big[:, 1], want)
    np.testing.assert_array_equal(big[:, [0, 2]], 7.0)  # nothing else touched
    # full reduction into a 0-d out
    o0 = np.zeros((), dtype=dtype)
    r = lc.logsumexp(x, out=o0)
    assert r is o0 and o0[()] == lc.logsumexp(x)
    # with return_sign, out receives log|sum|
    o = np.zeros(4, dtype=dtype)
    r, s = lc.logsumexp(x, axis=1, b=-np.ones(50, dtype), return_sign=True, out=o)
    assert r is o
    assert_close(o, want, dtype, scale=finite_scale(x))  # the weighted kernel rounds differently
    np.testing.assert_array_equal(s, -np.ones(4, dtype))


def test_logsumexp_out_overlapping_input(rng):
    x = rng.standard_normal((5, 5))
    want = lc.logsumexp(x.copy(), axis=1)
    lc.logsumexp(x, axis=1, out=x[:, 0])  # writes into the column it reads
    np.testing.assert_array_equal(x[:, 0], want)
    x = rng.standard_normal((6, 6))
    want = lc.logsumexp(x.copy(), axis=0)
    lc.logsumexp(x, axis=0, out=x[2])  # row 2 is read by every column reduction
    np.testing.assert_array_equal(x[2], want)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_softmax_out_filled_and_returned(fn, dtype, rng):
    f = getattr(lc, fn)
    x = (rng.standard_normal((3, 2 * BLOCK + 5)) * 3).astype(dtype)
    want = f(x, axis=1)
    out = np.empty_like(x)
    r = f(x, axis=1, out=out)
    assert r is out
    np.testing.assert_array_equal(out, want)
    # Fortran-ordered and strided out
    outF = np.asfortranarray(np.empty_like(x))
    assert f(x, axis=1, out=outF) is outF
    np.testing.assert_array_equal(outF, want)
    big = np.zeros((3, 2 * x.shape[1]), dtype=dtype)
    f(x, axis=1, out=big[:, ::2])
    np.testing.assert_array_equal(big[:, ::2], want)
    assert not big[:, 1::2].any()
    # tuple axes and None with out
    for axis in (None, (0, 1), 0):
        o = np.empty_like(x)
        assert f(x, axis=axis, out=o) is o
        np.testing.assert_array_equal(o, f(x, axis=axis))


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("axis", [-1, 0, None, (0, 1)])
def test_softmax_inplace_exact_alias(fn, dtype, axis, rng):
    f = getattr(lc, fn)
    x = (rng.standard_normal((4, BLOCK + 300)) * 3).astype(dtype)
    want = f(x.copy(), axis=axis)
    r = f(x, axis=axis, out=x)
    assert r is x
    np.testing.assert_array_equal(x, want)
    # a non-contiguous view aliased exactly
    base = (rng.standard_normal((4, 2 * BLOCK + 10)) * 3).astype(dtype)
    v = base[:, ::-2]
    want = f(v.copy(), axis=axis)
    f(v, axis=axis, out=v)
    np.testing.assert_array_equal(v, want)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shift", [1, 7, -1, -3, BLOCK - 1])
def test_softmax_partially_overlapping_out(fn, shift, rng):
    f = getattr(lc, fn)
    n = 3 * BLOCK
    buf = rng.standard_normal(n + abs(shift)) * 3
    if shift > 0:
        x, out = buf[:n], buf[shift:]
    else:
        x, out = buf[-shift:], buf[:n]
    want = f(x.copy())
    r = f(x, out=out)
    assert r is out
    np.testing.assert_array_equal(out, want)
    # 2-D: out shifted by one row inside the same buffer
    buf = rng.standard_normal((5, 40))
    x, out = buf[:4], buf[1:]
    want = f(x.copy(), axis=1)
    f(x, axis=1, out=out)
    np.testing.assert_array_equal(out, want)
    # out is x transposed (same memory, different strides)
    sq = rng.standard_normal((30, 30))
    want = f(sq.copy(), axis=1)
    f(sq, axis=1, out=sq.T)
    np.testing.assert_array_equal(sq.T, want)


def test_float16_out(rng):
    x = (rng.standard_normal((3, 20)) * 2).astype(np.float16)
    o = np.empty((3, 20), np.float16)
    assert lc.softmax(x, axis=1, out=o) is o
    np.testing.assert_array_equal(o, lc.softmax(x, axis=1))
    o = np.empty(3, np.float16)
    assert lc.logsumexp(x, axis=1, out=o) is o
    np.testing.assert_array_equal(o, lc.logsumexp(x, axis=1))
    # float16 in-place
    want = lc.log_softmax(x.copy(), axis=1)
    lc.log_softmax(x, axis=1, out=x)
    np.testing.assert_array_equal(x, want)


def test_out_for_0d_input():
    o = np.zeros((), np.float64)
    o[()] = -7.0
    r = lc.softmax(np.array(3.0), out=o)
    assert r is o and abs(o[()] - 1.0) <= 1e-13
    o[()] = -7.0
    r = lc.log_softmax(np.array(3.0), out=o)
    assert r is o and abs(o[()]) <= 1e-13


def test_where_and_b_shapes(rng):
    x = rng.standard_normal((3, 4))
    r = lc.logsumexp(x, axis=1, where=np.array([True, False, True, True]))
    assert_same_kind(r, np.zeros(3))
    assert_close(r, ref.logsumexp(x[:, [0, 2, 3]], axis=1), np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,axis", [((7,), None), ((7,), 0), ((5, 3000), 1), ((5, 3000), 0), ((2, 3, 4), 1),
                                        ((2, 3, 4), -1)])
def test_fast_path_matches_general_path(dtype, shape, axis, rng):
    """A plain float array reduced over one int axis skips the general argument handling;
    the result must be bitwise the one of the general path (reached here with a tuple axis)."""
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    tup = tuple(range(x.ndim)) if axis is None else (axis,)
    for keepdims in (False, True):
        fast = lc.logsumexp(x, axis=axis, keepdims=keepdims)
        slow = lc.logsumexp(x, axis=tup, keepdims=keepdims)
        assert type(fast) is type(slow) and np.shape(fast) == np.shape(slow)
        assert np.asarray(fast).dtype == np.asarray(slow).dtype == dtype
        np.testing.assert_array_equal(fast, slow)
    for f in (lc.softmax, lc.log_softmax):
        fast = f(x, axis=axis)
        slow = f(x, axis=tup)
        assert fast.shape == slow.shape and fast.dtype == slow.dtype == dtype
        np.testing.assert_array_equal(fast, slow)
