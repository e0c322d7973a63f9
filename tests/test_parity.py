"""Parity with the float64 NumPy reference (logitcore.reference) and with scipy.special over a
generated corpus of awkward arrays (bottleneck-style): shapes (0-d, empty, 1-d..4-d), every
axis (negative, None, tuples, ()), keepdims, memory layouts, special values, weights,
return_sign, Python lists and every accepted dtype.

Checked for every case: value (dtype-scaled tolerance), result dtype == SciPy's, shape,
NumPy scalar vs ndarray, and "both raise or neither does" with the same exception category.

Documented deviations from SciPy (asserted against logitcore's documented behaviour instead):
softmax/log_softmax rows that contain +inf (uniform over the +inf entries) or are entirely
-inf (softmax 0, log_softmax -inf); complex input raises TypeError; ``where=`` is an extension.

Every test runs on every ISA the host supports (the `isa` fixture); rows around and across
the 2048-element block and long rows split over 1, 2 and 3 threads are checked the same way
(test_long_rows_*).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.special as sps

import logitcore as lc
from logitcore import reference as ref

from ._helpers import BLOCK, assert_close, assert_same_kind, finite_scale, optional_import

# SciPy and the reference warn on inf - inf etc.; the values are what is compared
pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"), pytest.mark.usefixtures("isa")]

# --------------------------------------------------------------------------------------
# corpus


def _corpus():
    rng = np.random.default_rng(20240611)
    nrm = rng.standard_normal
    c = {}

    c["pyfloat"] = 0.75
    c["pyint"] = 3
    c["0d"] = np.array(-2.5)
    c["0d_f32"] = np.array(3.0, dtype=np.float32)
    c["np_scalar_f32"] = np.float32(1.25)
    c["0d_inf"] = np.array(np.inf)
    c["0d_-inf"] = np.array(-np.inf)
    c["0d_nan"] = np.array(np.nan)
    c["1d_1"] = np.array([0.3])
    c["1d_7"] = nrm(7) * 3
    c["1d_70"] = nrm(70) * 10
    c["1d_ties"] = np.full(9, 2.5)
    c["empty_0"] = np.zeros(0)
    c["empty_0x4"] = np.zeros((0, 4))
    c["empty_3x0"] = np.zeros((3, 0))
    c["empty_2x0x3"] = np.zeros((2, 0, 3))
    x = nrm((4, 9)) * 5
    c["2d"] = x
    c["2d_F"] = np.asfortranarray(x)
    c["2d_T"] = (nrm((9, 4)) * 5).T
    c["2d_rev_rows"] = x[::-1]
    c["2d_rev_cols"] = x[:, ::-1]
    c["2d_slice_cols"] = (nrm((4, 30)) * 4)[:, ::3]
    c["2d_slice_both"] = (nrm((12, 20)) * 4)[::-3, 1::4]
    c["2d_large_mag"] = nrm((3, 11)) * 1e3
    c["2d_offset"] = nrm((3, 6)) + 1e4
    c["2d_one_col"] = nrm((5, 1))
    c["3d"] = nrm((2, 3, 5)) * 2
    c["3d_F"] = np.asfortranarray(nrm((2, 3, 5)) * 2)
    c["3d_perm"] = (nrm((5, 2, 3)) * 2).transpose(1, 2, 0)
    c["3d_neg_strides"] = (nrm((4, 3, 10)) * 2)[::-2, :, ::-3]
    c["4d"] = nrm((2, 3, 2, 4)) * 2
    c["4d_noncontig"] = (nrm((4, 3, 4, 8)) * 2)[::2, :, 1::2, ::-3]
    inf, nan = np.inf, np.nan
    c["2d_specials"] = np.array(
        [
            [0.5, -1.0, 2.0, 0.1],
            [inf, 1.0, 2.0, -inf],
            [inf, inf, 0.0, 1.0],
            [-inf, -inf, -inf, -inf],
            [nan, 1.0, 2.0, 3.0],
            [-inf, 1.5, -inf, 0.5],
            [inf, -inf, nan, 1.0],
            [inf, inf, inf, inf],
        ]
    )
    c["2d_specials_T"] = np.ascontiguousarray(c["2d_specials"].T)
    c["3d_specials"] = np.stack([c["2d_specials"][:4], c["2d_specials"][4:]])
    c["2d_all_-inf"] = np.full((3, 5), -inf)
    # other dtypes
    for name in ("1d_7", "2d", "2d_slice_cols", "3d", "2d_specials", "2d_rev_cols", "4d_noncontig", "0d"):
        src = c[name]
        c[name + "_f32"] = src.astype(np.float32) if src.flags.c_contiguous else _same_layout(src, np.float32)
    for name in ("1d_7", "2d", "3d", "2d_specials", "0d"):
        src = c[name]
        c[name + "_f16"] = (np.clip(src, -8, 8) if name != "2d_specials" else src).astype(np.float16)
    c["2d_f32_F"] = np.asfortranarray(x.astype(np.float32))
    c["int64"] = rng.integers(-5, 6, size=(3, 7))
    c["int32"] = rng.integers(-5, 6, size=(4, 3)).astype(np.int32)
    c["uint8"] = rng.integers(0, 9, size=(2, 6)).astype(np.uint8)
    c["int8_f16mix"] = rng.integers(-3, 3, size=(5,)).astype(np.int8)
    c["bool"] = rng.integers(0, 2, size=(3, 4)).astype(bool)
    c["list_1d"] = [1.0, 2.5, -0.5, 3.0]
    c["list_2d"] = [[1, 2, 3], [4, 5, 6]]
    c["list_nested_float"] = [[[0.5, 1.5], [2.5, -1.0]], [[0.0, 0.1], [9.0, 8.0]]]
    c["list_empty"] = []
    return c


def _same_layout(a, dtype):
    """a cast to dtype keeping its (non-contiguous) layout: cast a base array and slice it."""
    base = np.empty(tuple(2 * s for s in a.shape), dtype=dtype)
    sl = tuple(slice(None, None, -2) for _ in a.shape)
    v = base[sl]
    v[...] = a
    return v


CORPUS = _corpus()


def _ndim(a):
    return np.ndim(a)


def _axes_for(ndim):
    axes = [None, ()]
    axes += list(range(-ndim, ndim)) if ndim else [0, -1]
    if ndim >= 2:
        axes += [p for p in itertools.permutations(range(ndim), 2)]
        axes += [(0, -1)]
    if ndim >= 3:
        axes += [tuple(range(ndim)), (-1, 0, 1)]
    axes += [ndim if ndim else 1, -ndim - 1 if ndim else -2]  # out of range: both must raise
    if ndim >= 1:
        axes += [(0, 0)]  # repeated: both must raise
    return axes


def _cases():
    out = []
    for name, a in CORPUS.items():
        for ax in _axes_for(_ndim(a)):
            out.append(pytest.param(name, ax, id=f"{name}-axis={ax}"))
    return out


CASES = _cases()


def _categories(exc):
    """The standard categories an exception belongs to (AxisError is both a ValueError and
    an IndexError, as in NumPy)."""
    cats = {t.__name__ for t in (TypeError, ValueError, IndexError) if isinstance(exc, t)}
    return cats or {type(exc).__name__}


def _call(f, *args, **kw):
    try:
        return f(*args, **kw), None
    except Exception as exc:  # noqa: BLE001 - the category is compared below
        return None, exc


def _compare(ours, theirs, what, exc_ours, exc_theirs):
    """Both raise (same category) or neither; returns True when values should be compared."""
    if exc_ours is not None or exc_theirs is not None:
        assert exc_ours is not None and exc_theirs is not None, (
            f"{what}: one raised and the other did not: ours={exc_ours!r}, scipy={exc_theirs!r}"
        )
        assert _categories(exc_ours) & _categories(exc_theirs), f"{what}: ours={exc_ours!r}, scipy={exc_theirs!r}"
        return False
    assert_same_kind(ours, theirs, what)
    return True


def _float_dtype(dt):
    """logitcore's result dtype for an input dtype (STYLE 3): floats keep theirs, integers
    and booleans give float64."""
    dt = np.dtype(dt)
    return dt if dt.kind == "f" else np.dtype(np.float64)


def _numpy_oracle(a, reduce, **kw):
    """Expected result kind for inputs SciPy mishandles (empty arrays: SciPy raises
    IndexError/ValueError or returns a wrong shape). NumPy's own reductions define the shape,
    the scalar-vs-array kind and which axes are invalid; the value is the float dtype's
    -inf (empty logsumexp) or nothing at all (softmax of an empty array)."""
    arr = np.asarray(a)
    dt = _float_dtype(arr.dtype)
    if reduce:
        keep = kw.get("keepdims", False)
        r = np.sum(np.atleast_1d(np.zeros(arr.shape, dtype=dt)), axis=kw["axis"], keepdims=keep)
        r = np.full_like(r, -np.inf)
        r = r[()] if r.ndim == 0 else r
        if kw.get("return_sign"):
            return (r, np.full_like(r, -1.0)[()] if np.ndim(r) == 0 else np.full_like(r, -1.0))
        return r
    np.sum(np.zeros(arr.shape), axis=kw["axis"])  # raises for an invalid axis
    return np.empty(arr.shape, dtype=dt)


def _value_dtype(res):
    return np.asarray(res[0] if isinstance(res, tuple) else res).dtype


# --------------------------------------------------------------------------------------
# logsumexp


def _lse_and_expected(a, kw, oracle_kw, what):
    """logitcore.logsumexp(a, **kw) and what to compare it with: SciPy, or for empty input
    the NumPy-conventions oracle (called with oracle_kw). Each as (result, exception)."""
    ours, e1 = _call(lc.logsumexp, a, **kw)
    if np.size(a) == 0:
        theirs, e2 = _call(_numpy_oracle, a, True, **oracle_kw)
        what += " [NumPy conventions for empty input]"
    else:
        theirs, e2 = _call(sps.logsumexp, a, **kw)
    return ours, e1, theirs, e2, what


@pytest.mark.parametrize("name, axis", CASES)
def test_logsumexp_parity(name, axis):
    a = CORPUS[name]
    scale = finite_scale(a)
    for keepdims, return_sign in [(False, False), (True, False), (False, True), (True, True)]:
        kw = dict(axis=axis, keepdims=keepdims, return_sign=return_sign)
        what = f"logsumexp({name}, {kw})"
        ours, e1, theirs, e2, what = _lse_and_expected(a, kw, kw, what)
        if not _compare(ours, theirs, what, e1, e2):
            continue
        dt = _value_dtype(ours)
        want = ref.logsumexp(a, **kw)
        if return_sign:
            assert_close(ours[0], want[0], dt, scale=scale, what=what + " value vs reference")
            assert_close(ours[1], want[1], dt, what=what + " sign vs reference")
            assert_close(ours[0], theirs[0], dt, scale=scale, factor=4, what=what + " value vs scipy")
            assert_close(ours[1], theirs[1], dt, what=what + " sign vs scipy")
        else:
            assert_close(ours, want, dt, scale=scale, what=what + " vs reference")
            assert_close(ours, theirs, dt, scale=scale, factor=4, what=what + " vs scipy")


# --------------------------------------------------------------------------------------
# softmax / log_softmax


def _special_rows(a, axis):
    """Mask (broadcast to a's shape) of the rows where logitcore documents a deviation from
    SciPy: the row contains +inf, or the row is entirely -inf."""
    x = np.atleast_1d(np.asarray(a, dtype=np.float64))
    axes = tuple(range(x.ndim)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    if x.size == 0:
        return np.zeros(np.shape(a), dtype=bool)
    with np.errstate(invalid="ignore"):
        pinf = np.any(x == np.inf, axis=axes, keepdims=True)
        allninf = np.all(x == -np.inf, axis=axes, keepdims=True)
    return np.broadcast_to(pinf | allninf, x.shape).reshape(np.shape(a))


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("name, axis", CASES)
def test_softmax_parity(fn, name, axis):
    a = CORPUS[name]
    what = f"{fn}({name}, axis={axis})"
    ours, e1 = _call(getattr(lc, fn), a, axis=axis)
    kind = np.asarray(a).dtype.kind
    if np.size(a) == 0:
        # SciPy raises on empty input (max of an empty array); NumPy's conventions apply
        theirs, e2 = _call(_numpy_oracle, a, False, axis=axis)
        what += " [NumPy conventions for empty input]"
    elif kind in "biu":
        # SciPy subtracts in the integer dtype (booleans fail, uint8 wraps around, small ints
        # give float16); logitcore computes integers and booleans in float64 (STYLE 3).
        theirs, e2 = _call(getattr(sps, fn), np.asarray(a, dtype=np.float64), axis=axis)
    else:
        theirs, e2 = _call(getattr(sps, fn), a, axis=axis)
    if not _compare(ours, theirs, what, e1, e2):
        return
    dt = _value_dtype(ours)
    scale = finite_scale(a)
    rel = fn == "softmax"
    want = getattr(ref, fn)(a, axis=axis)
    assert_close(ours, want, dt, scale=scale, rel=rel, what=what + " vs reference")
    # SciPy where it defines the value; logitcore's documented limits on the special rows
    special = _special_rows(a, axis)
    theirs_fixed = np.where(special, want, np.asarray(theirs, dtype=np.float64))
    assert_close(ours, theirs_fixed, dt, scale=scale, rel=rel, factor=4, what=what + " vs scipy")


# --------------------------------------------------------------------------------------
# documented special rows (independent of the reference implementation)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_softmax_documented_special_rows(dtype):
    inf, nan = np.inf, np.nan
    x = np.array(
        [
            [inf, 1.0, inf, -inf, 3.0],  # two +inf: 1/2 each
            [-inf, -inf, -inf, -inf, -inf],  # no support
            [nan, 1.0, 2.0, inf, 0.0],  # NaN wins
            [inf, inf, inf, 0.0, -inf],
        ],
        dtype=dtype,
    )
    p = lc.softmax(x, axis=1)
    lp = lc.log_softmax(x, axis=1)
    assert p.dtype == dtype and lp.dtype == dtype
    np.testing.assert_array_equal(p[0], np.array([0.5, 0, 0.5, 0, 0], dtype=dtype))
    np.testing.assert_array_equal(p[1], np.zeros(5, dtype=dtype))
    assert np.isnan(p[2]).all() and np.isnan(lp[2]).all()
    assert_close(p[3], np.array([1 / 3, 1 / 3, 1 / 3, 0, 0]), dtype, rel=True)
    assert_close(lp[0], np.array([-np.log(2), -inf, -np.log(2), -inf, -inf]), dtype)
    np.testing.assert_array_equal(lp[1], np.full(5, -inf, dtype=dtype))
    assert_close(lp[3], np.array([-np.log(3)] * 3 + [-inf, -inf]), dtype)
    # consistent with logsumexp and softmax_entropy on the same rows
    lse = lc.logsumexp(x, axis=1)
    assert lse[0] == inf and lse[1] == -inf and np.isnan(lse[2]) and lse[3] == inf
    h = lc.softmax_entropy(x, axis=1)
    assert_close(h[[0, 1, 3]], np.array([np.log(2), 0.0, np.log(3)]), dtype)
    assert np.isnan(h[2])


def test_logsumexp_specials_match_scipy_rules():
    inf, nan = np.inf, np.nan
    cases = [
        ([-inf, -inf], None, -inf),
        ([1.0, inf], None, inf),
        ([inf, inf], [1.0, -1.0], nan),  # cancelled by weights
        ([nan, 1.0], None, nan),
        ([nan, 1.0], [0.0, 1.0], 1.0),  # zero weight removes the NaN
        ([inf, 1.0], [0.0, 1.0], 1.0),  # zero weight removes the inf
        ([], None, -inf),
        ([1.0, 1.0], [1.0, -1.0], -inf),  # exact cancellation: log 0
    ]
    for a, b, want in cases:
        got = lc.logsumexp(np.array(a), b=None if b is None else np.array(b))
        sp = sps.logsumexp(np.array(a), b=None if b is None else np.array(b))
        assert isinstance(got, np.float64)
        np.testing.assert_array_equal(got, want, err_msg=f"a={a} b={b}")
        np.testing.assert_array_equal(got, sp, err_msg=f"a={a} b={b} (scipy)")


# --------------------------------------------------------------------------------------
# weights b, return_sign, dtype promotion


def _weight_cases():
    rng = np.random.default_rng(7)
    m, n = 4, 6
    a = rng.standard_normal((m, n)) * 2
    sp_a = CORPUS["2d_specials"]
    bpos = rng.uniform(0.1, 2.0, (m, n))
    bmix = rng.uniform(-1.0, 2.0, (m, n))
    bmix[0, 0] = 0.0
    bzero_n = np.array([1.0, 0.0, 2.0, 0.0, -0.5, 1.0])
    cases = {
        "b_full_pos": (a, bpos),
        "b_full_mixed": (a, bmix),
        "b_row_n": (a, bzero_n),
        "b_col_m1": (a, np.array([[1.0], [0.0], [-2.0], [0.5]])),
        "b_scalar": (a, 2.0),
        "b_scalar_neg": (a, -3.0),
        "b_all_zero": (a, np.zeros((m, n))),
        "b_int": (a, rng.integers(-2, 3, size=(m, n))),
        "b_bool": (a, rng.integers(0, 2, size=(m, n)).astype(bool)),
        "b_list": (a[0], [1, 2, 0, -1, 1, 1]),
        "b_F": (np.asfortranarray(a), np.asfortranarray(bmix)),
        "b_rev": (a[::-1, ::-1], bmix[:, ::-1]),
        "b_broadcast_a": (a[0], np.abs(bmix)),  # a (n,) against b (m, n)
        "b_3d": (rng.standard_normal((2, 3, 4)), rng.uniform(-0.5, 1, (3, 1))),
        "b_specials_zero_on_inf": (sp_a, np.where(np.isinf(sp_a), 0.0, 1.0)),
        "b_specials_neg": (sp_a, np.tile([1.0, -1.0, 1.0, 0.5], (8, 1))),
        "b_specials_neg_on_inf": (sp_a[:3], np.array([[1.0] * 4, [-1.0, 1, 1, 1], [1.0, -1, 1, 1]])),
        "b_f32_a_f32": (a.astype(np.float32), bpos.astype(np.float32)),
        "b_f64_a_f32": (a.astype(np.float32), bpos),
        "b_f32_a_f16": (np.clip(a, -5, 5).astype(np.float16), bpos.astype(np.float32)),
        "b_f16_a_f16": (np.clip(a, -5, 5).astype(np.float16), bpos.astype(np.float16)),
        "b_i8_a_f16": (np.clip(a, -5, 5).astype(np.float16), np.ones((m, n), np.int8)),
        "b_pyfloat_a_f32": (a.astype(np.float32), 2.0),
        "b_pyint_a_f16": (np.clip(a, -5, 5).astype(np.float16), 3),
        "b_f32_a_pyfloat": (1.5, bpos[0].astype(np.float32)),
        "b_f32_a_int": (rng.integers(-3, 3, (m, n)), bpos.astype(np.float32)),
        "b_not_broadcastable": (a, np.ones(m)),
        "b_empty": (np.zeros((0, n)), np.ones(n)),
    }
    return cases


WEIGHTS = _weight_cases()


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1), ()])
@pytest.mark.parametrize("case", list(WEIGHTS))
def test_logsumexp_weights_parity(case, axis):
    a, b = WEIGHTS[case]
    nd = max(np.ndim(a), np.ndim(b))
    if isinstance(axis, int) and axis >= nd:
        pytest.skip("axis not applicable")
    if axis == (0, 1) and nd < 2:
        pytest.skip("axis not applicable")
    for keepdims, return_sign in [(False, False), (False, True), (True, True)]:
        kw = dict(axis=axis, b=b, keepdims=keepdims, return_sign=return_sign)
        what = f"logsumexp[{case}](axis={axis}, keepdims={keepdims}, return_sign={return_sign})"
        oracle_kw = dict(axis=axis, keepdims=keepdims, return_sign=return_sign)
        ours, e1, theirs, e2, what = _lse_and_expected(a, kw, oracle_kw, what)
        if not _compare(ours, theirs, what, e1, e2):
            continue
        dt = _value_dtype(ours)
        want = ref.logsumexp(a, **kw)
        # cancellation between weights of both signs amplifies rounding: scale the tolerance
        # by the condition number sum|b e^x| / |sum b e^x|
        with np.errstate(all="ignore"):
            l_abs = ref.logsumexp(a, axis=axis, b=np.abs(np.asarray(b, dtype=np.float64)))
            l_val = ref.logsumexp(a, axis=axis, b=b, return_sign=True)[0]
            cond = np.exp(np.asarray(l_abs) - np.asarray(l_val))
        cond = np.asarray(cond)[np.isfinite(cond)]
        factor = max(1.0, float(cond.max())) if cond.size else 1.0
        scale = finite_scale(a)
        # SciPy returns NaN in some rows where a zero weight meets an infinite entry (e.g.
        # a=[inf, inf], b=[0, 0], or a=[inf, -inf], b=[0, -1]) although it removes such
        # entries elsewhere (a=[inf, 1], b=[0, 1] gives 1). logitcore documents "entries
        # whose weight is 0 are removed whatever their value": the reference is the oracle
        # on those rows.
        sv = _zero_weight_on_nonfinite(a, b, axis, keepdims)
        if return_sign:
            assert_close(ours[0], want[0], dt, scale=scale, factor=factor, what=what + " value vs reference")
            assert_close(ours[1], want[1], dt, what=what + " sign vs reference")
            t0 = np.where(sv, want[0], theirs[0])
            t1 = np.where(sv, want[1], theirs[1])
            assert_close(ours[0], t0, dt, scale=scale, factor=4 * factor, what=what + " value vs scipy")
            assert_close(ours[1], t1, dt, what=what + " sign vs scipy")
        else:
            assert_close(ours, want, dt, scale=scale, factor=factor, what=what + " vs reference")
            t = np.where(sv, want, theirs)
            assert_close(ours, t, dt, scale=scale, factor=4 * factor, what=what + " vs scipy")


def _zero_weight_on_nonfinite(a, b, axis, keepdims):
    a, b = np.broadcast_arrays(np.atleast_1d(np.asarray(a, dtype=np.float64)), np.asarray(b, dtype=np.float64))
    m = (b == 0) & ~np.isfinite(a)
    axes = tuple(range(a.ndim)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    return np.any(m, axis=axes, keepdims=keepdims)


@pytest.mark.parametrize(
    "a",
    [np.zeros(3, np.float32), np.zeros(3, np.float16), np.zeros(3, np.int8), [0.0, 1.0], 2.0, np.float32(1.0)],
    ids=["f32", "f16", "i8", "list", "pyfloat", "np_f32"],
)
@pytest.mark.parametrize(
    "b",
    [None, 2.0, 3, True, np.float64(2.0), np.float32(2.0), np.ones(3, np.float16), [1.0, 1.0, 1.0]],
    ids=["none", "pyfloat", "pyint", "pybool", "np_f64", "np_f32", "f16", "list"],
)
def test_logsumexp_result_dtype_matches_scipy(a, b):
    if b is not None and np.ndim(b) and np.ndim(a) and np.shape(b) != np.shape(a):
        b = list(b)[: np.shape(a)[0]]
    ours, e1 = _call(lc.logsumexp, a, b=b)
    theirs, e2 = _call(sps.logsumexp, a, b=b)
    _compare(ours, theirs, f"logsumexp({a!r}, b={b!r})", e1, e2)


# --------------------------------------------------------------------------------------
# where= (extension): equals zero weights where False


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
def test_logsumexp_where_is_zero_weight(dtype, axis, rng):
    a = (rng.standard_normal((5, 8)) * 3).astype(dtype)
    a[1, 2] = np.nan  # masked out below
    a[3, 0] = np.inf  # masked out below
    w = rng.random((5, 8)) < 0.6
    w[1, 2] = w[3, 0] = False
    w[4] = False  # a row with nothing selected: -inf
    got = lc.logsumexp(a, axis=axis, where=w)
    want = ref.logsumexp(a, axis=axis, b=w.astype(np.float64))
    assert_same_kind(got, np.asarray(want, dtype=dtype)[()] if np.ndim(want) == 0 else np.asarray(want, dtype=dtype))
    assert_close(got, want, dtype, scale=finite_scale(a[w]))
    # combined with weights: b is applied only where selected
    b = rng.uniform(0.5, 2.0, (5, 8))
    got = lc.logsumexp(a, axis=axis, b=b, where=w)
    want = ref.logsumexp(a, axis=axis, b=np.where(w, b, 0.0))
    assert_close(got, want, np.result_type(dtype, np.float64), scale=finite_scale(a[w]))
    # broadcasting where (n,) against (m, n)
    wrow = np.arange(8) % 3 != 0
    got = lc.logsumexp(a[[0, 2]], axis=axis, where=wrow)
    want = ref.logsumexp(a[[0, 2]], axis=axis, b=np.broadcast_to(wrow, (2, 8)).astype(float))
    assert_close(got, want, dtype, scale=finite_scale(a[[0, 2]]))


# --------------------------------------------------------------------------------------
# complex input: documented TypeError (SciPy accepts it)


@pytest.mark.parametrize("fn", ["logsumexp", "softmax", "log_softmax", "softmax_entropy", "entropy"])
def test_complex_input_is_type_error(fn):
    with pytest.raises(TypeError, match="complex"):
        getattr(lc, fn)(np.array([1.0 + 1j, 2.0]))


# --------------------------------------------------------------------------------------
# PyTorch (where it defines the same function): finite data, every dim


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torch_parity(dtype, rng):
    torch = optional_import("torch")
    for shape in [(7,), (3, 50), (2, 3, 2100), (4, 1, 5, 6)]:
        x = (rng.standard_normal(shape) * 6).astype(dtype)
        t = torch.from_numpy(x)
        scale = finite_scale(x)
        for dim in range(-x.ndim, x.ndim):
            what = f"shape={shape} dim={dim}"
            assert_close(lc.logsumexp(x, axis=dim), torch.logsumexp(t, dim=dim).numpy(), dtype,
                         scale=scale, factor=4, what="logsumexp " + what)
            assert_close(lc.softmax(x, axis=dim), torch.softmax(t, dim=dim).numpy(), dtype,
                         scale=scale, rel=True, factor=4, what="softmax " + what)
            assert_close(lc.log_softmax(x, axis=dim), torch.log_softmax(t, dim=dim).numpy(), dtype,
                         scale=scale, factor=4, what="log_softmax " + what)
            p = torch.softmax(t.double(), dim=dim)
            h = -(p * torch.log_softmax(t.double(), dim=dim)).sum(dim=dim).numpy()
            assert_close(lc.softmax_entropy(x, axis=dim), h, dtype, scale=scale, factor=4,
                         what="softmax_entropy " + what)
        # multi-dim reductions
        if x.ndim >= 2:
            dims = (0, x.ndim - 1)
            assert_close(lc.logsumexp(x, axis=dims), torch.logsumexp(t, dim=dims).numpy(), dtype,
                         scale=scale, factor=4, what=f"logsumexp shape={shape} dims={dims}")


# --------------------------------------------------------------------------------------
# long rows: around and across the block size, split over threads

LONG_N = [BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 5, 20_000]
LONG_THREADS = [1, 2, 3]


def _long_rows(n, dtype, seed):
    """Rows of length n (enough of them for the threads to share out rows; 3 rows of 20,000
    are split by blocks instead), the block edges marked: ordinary rows, a shifted one, -inf
    entries, +inf at a block start, an all -inf row and a NaN in the last block."""
    rng = np.random.default_rng(seed)
    rows = 3 if n >= 8 * BLOCK else 24
    x = rng.standard_normal((rows, n)) * rng.uniform(0.5, 8.0, (rows, 1))
    x[1] += 300.0
    x[2, rng.choice(n, n // 3, replace=False)] = -np.inf
    if rows > 3:
        x[3, min(BLOCK, n - 1)] = np.inf
        x[4] = -np.inf
        x[5, n - 1] = np.nan
        x[6, ::BLOCK] = x[6].max() + 1.0  # tied maxima at every block start
    return x.astype(dtype)


def _each_thread_count():
    for nt in LONG_THREADS:
        lc.set_num_threads(nt)
        yield nt


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", LONG_N)
def test_long_rows_logsumexp(n, dtype, restore_threads):
    x = _long_rows(n, dtype, n)
    rng = np.random.default_rng(n + 1)
    b = rng.uniform(-0.5, 2.0, x.shape).astype(dtype)
    b[:, ::7] = 0.0
    scale = finite_scale(x)
    with np.errstate(all="ignore"):
        sp_plain = sps.logsumexp(x, axis=1)
        sp_signed = sps.logsumexp(x, axis=1, b=b, return_sign=True)
        sp_t = sps.logsumexp(x.T, axis=0)
    want_plain = ref.logsumexp(x, axis=1)
    want_signed = ref.logsumexp(x, axis=1, b=b, return_sign=True)
    # weights of both signs cancel: the tolerance scales with sum|b e^x| / |sum b e^x|
    with np.errstate(all="ignore"):
        cond = np.exp(np.asarray(ref.logsumexp(x, axis=1, b=np.abs(b))) - np.asarray(want_signed[0]))
    cond = cond[np.isfinite(cond)]
    factor = max(1.0, float(cond.max())) if cond.size else 1.0
    for nt in _each_thread_count():
        what = f"n={n} {np.dtype(dtype).name} threads={nt}"
        got = lc.logsumexp(x, axis=1)
        assert_close(got, want_plain, dtype, scale=scale, what=what + " vs reference")
        assert_close(got, sp_plain, dtype, scale=scale, factor=4, what=what + " vs scipy")
        got = lc.logsumexp(x.T, axis=0)  # strided rows
        assert_close(got, want_plain, dtype, scale=scale, what=what + " axis 0 vs reference")
        assert_close(got, sp_t, dtype, scale=scale, factor=4, what=what + " axis 0 vs scipy")
        got = lc.logsumexp(x, axis=1, b=b, return_sign=True)
        assert_close(got[0], want_signed[0], dtype, scale=scale, factor=factor, what=what + " b value vs reference")
        assert_close(got[1], want_signed[1], dtype, what=what + " b sign vs reference")
        assert_close(got[0], sp_signed[0], dtype, scale=scale, factor=4 * factor, what=what + " b value vs scipy")
        assert_close(got[1], sp_signed[1], dtype, what=what + " b sign vs scipy")


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", LONG_N)
def test_long_rows_softmax(fn, n, dtype, restore_threads):
    x = _long_rows(n, dtype, n)
    scale = finite_scale(x)
    rel = fn == "softmax"
    want = getattr(ref, fn)(x, axis=1)
    with np.errstate(all="ignore"):
        theirs = np.asarray(getattr(sps, fn)(x, axis=1), dtype=np.float64)
    # SciPy where it defines the value; logitcore's documented limits on +inf / all -inf rows
    theirs = np.where(_special_rows(x, 1), want, theirs)
    for nt in _each_thread_count():
        what = f"{fn} n={n} {np.dtype(dtype).name} threads={nt}"
        for label, got in (("", getattr(lc, fn)(x, axis=1)), (" axis 0", getattr(lc, fn)(x.T, axis=0).T)):
            assert got.dtype == dtype
            assert_close(got, want, dtype, scale=scale, rel=rel, what=what + label + " vs reference")
            assert_close(got, theirs, dtype, scale=scale, rel=rel, factor=4, what=what + label + " vs scipy")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", LONG_N)
def test_long_rows_entropies(n, dtype, restore_threads):
    x = _long_rows(n, dtype, n)
    scale = finite_scale(x) * max(1.0, math.log(n))
    p = np.asarray(sps.softmax(np.where(np.isnan(x), 0.0, np.clip(x, -1e30, 1e30)).astype(np.float64), axis=1))
    p = p.astype(dtype)
    want_h = ref.softmax_entropy(x, axis=1)
    want_e = ref.entropy(p, axis=1)
    sp_e = sps.entr(p.astype(np.float64)).sum(axis=1)
    for nt in _each_thread_count():
        what = f"n={n} {np.dtype(dtype).name} threads={nt}"
        assert_close(lc.softmax_entropy(x, axis=1), want_h, dtype, scale=scale, what=what + " softmax_entropy")
        assert_close(lc.softmax_entropy(x.T, axis=0), want_h, dtype, scale=scale, what=what + " softmax_entropy axis 0")
        got = lc.entropy(p, axis=1)
        assert_close(got, want_e, dtype, scale=max(1.0, math.log(n)), what=what + " entropy vs reference")
        assert_close(got, sp_e, dtype, scale=max(1.0, math.log(n)), factor=4, what=what + " entropy vs scipy.special.entr")
