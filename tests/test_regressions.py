"""Regression tests for wrong results found by fuzzing the public API, and for what a call
that fails may write.

* rows dominated by their maximum: lse - max = log1p(sum of the other terms), with full
  relative accuracy (against mpmath), for logsumexp, the streaming state, log_softmax,
  softmax_entropy and the losses, on every ISA and thread count;
* weighted logsumexp: finite weights never overflow (log-space blocks), infinite weights
  follow SciPy where the limit is undefined;
* entropy normalization: every output row is a distribution whose reported entropy is its
  true entropy, and ``converged`` means the returned (rounded) row is within ``tol``;
* nothing lost on error: a call that raises leaves its input and the failing rows of ``out``
  unchanged;
* argument checks of ``set_num_threads``.
"""
from __future__ import annotations

import math
import warnings

import mpmath
import numpy as np
import pytest
import scipy.special as sp

import logitcore as lc
from logitcore import _core
from logitcore.losses import focal_loss, gamma_cross_entropy, generalized_cross_entropy

from ._helpers import BLOCK, set_threads

mpmath.mp.dps = 60

# relative accuracy of lse - max (and of log p_max) on maximum-dominated rows
REL = {np.dtype(np.float64): 4e-15, np.dtype(np.float32): 2e-6}


def mp_log1p_rest(row) -> float:
    """log(sum exp(x - max)) of a row, exactly (mpmath), as a float."""
    xs = [mpmath.mpf(float(v)) for v in row]
    m = max(xs)
    return float(mpmath.log(mpmath.fsum(mpmath.exp(v - m) for v in xs)))


def dominated_rows(dtype, rng):
    """Rows whose maximum's term dominates: the listed ones, and long rows crossing blocks
    with the maximum in a middle block."""
    rows = [
        [0.0, -40.0],
        [0.0, -20.0, -30.0],
        [1e3, 1e3 - 50.0],
        [5.0, 5.0 - 17.0, -np.inf, 5.0 - 30.0],
        [-3.0, -3.0 - 60.0],
        [0.0, -0.75],  # s just under 2: the last row refined
    ]
    if dtype == np.float32:
        rows[2] = [1e3, 1e3 - 30.0]  # exp(-50) is below float32's relative reach from 1e3
    out = [np.array(r, dtype=dtype) for r in rows]
    for n, where in [(3 * BLOCK + 17, BLOCK + 5), (BLOCK, BLOCK - 1), (BLOCK + 1, 0), (700, 699)]:
        r = (rng.standard_normal(n) * 2 - 45).astype(dtype)
        r[where] = 0
        out.append(r)
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nt", [1, 2])
def test_maximum_dominated_rows_keep_relative_accuracy(isa, dtype, nt, rng, restore_threads):
    lc.set_num_threads(nt)
    rel = REL[np.dtype(dtype)]
    for row in dominated_rows(dtype, rng):
        want = mp_log1p_rest(row)
        assert 0 < want < math.log(2) + 1e-12
        m = float(row.max())
        i = int(row.argmax())
        tol = rel * want + np.finfo(dtype).tiny
        # float32 exact-exp passes (log_softmax, losses) form each term as 2^((x - m) log2 e):
        # relative error up to |x - m| 2^-24, the size of the input's own rounding there
        d = float(np.max(np.abs(row[np.isfinite(row)] - row.max())))
        tol2 = tol + (d * 2.0**-24 * want if dtype == np.float32 else 0.0)
        got = float(lc.logsumexp(row.astype(np.float64) if dtype == np.float64 else row)) - m
        if m == 0:  # lse itself carries the tiny excess
            assert abs(got - want) <= tol, (row[:4], got, want)
        # log p_max = -log1p(rest): exact in every dtype whatever m
        lp = float(lc.log_softmax(row)[i])
        assert abs(lp + want) <= tol2, (row[:4], lp, -want)
        # streaming state in two shards, merged
        st = lc.LogSumExpState(1)
        k = len(row) // 2
        st.update(row[None, :k]).update(row[None, k:])
        assert abs(float(st.excess[0]) - math.expm1(want)) <= rel * math.expm1(want) + 1e-300
        st2 = lc.LogSumExpState(1).update(row[None, k:]).merge(lc.LogSumExpState(1).update(row[None, :k]))
        assert abs(float(st2.result()[0]) - m - want) <= tol + 4 * np.spacing(abs(m))
        # cross-entropy of the argmax: the loss is log1p(rest)
        for g in (0.0, 0.5):
            loss = float(gamma_cross_entropy(row[None, :], np.array([i]), gamma=g, reduction="sum"))
            assert loss > 0
            if g == 0.0:
                assert abs(loss - want) <= tol2, (row[:4], loss, want)
            loss2, grad = gamma_cross_entropy(row[None, :], np.array([i]), gamma=g, reduction="sum",
                                              return_grad=True)
            assert float(loss2) == loss  # same value with or without the gradient
            assert grad[0, i] < 0


def test_scipy_values_of_dominated_rows():
    # the values SciPy (>= 1.15) returns for these rows
    assert lc.logsumexp(np.array([0.0, -40.0])) == pytest.approx(4.248354255291589e-18, rel=1e-15)
    assert sp.logsumexp([0.0, -40.0]) == pytest.approx(float(lc.logsumexp(np.array([0.0, -40.0]))), rel=1e-15)
    assert float(lc.logsumexp(np.array([0.0, -40.0], np.float32))) == pytest.approx(4.248354e-18, rel=1e-6)


def test_softmax_entropy_of_dominated_rows(isa):
    for row in ([0.0, -40.0], [0.0, -20.0, -30.0]):
        xs = [mpmath.mpf(v) for v in row]
        z = mpmath.fsum(mpmath.exp(v) for v in xs)
        want = float(-mpmath.fsum((mpmath.exp(v) / z) * (v - mpmath.log(z)) for v in xs))
        got = float(lc.softmax_entropy(np.array(row)))
        assert abs(got - want) <= 1e-13 * want


# --------------------------------------------------------------------------------------
# weighted logsumexp


def test_huge_finite_weights_do_not_overflow(isa):
    got = lc.logsumexp(np.array([1.0, 0.0]), b=np.array([1.7e308, 1.7e308]))
    assert got == pytest.approx(711.0400985807464, rel=1e-15)
    assert got == pytest.approx(sp.logsumexp([1.0, 0.0], b=[1.7e308, 1.7e308]), rel=1e-15)
    # a huge weight on a tiny term next to a tiny weight: both terms count (2.9e-26)
    want = math.log(1e300 * math.exp(-750 + 400) * math.exp(-400) + 1e-26)
    got = lc.logsumexp(np.array([-750.0, 0.0]), b=np.array([1e300, 1e-26]))
    assert got == pytest.approx(want, rel=1e-14)
    # many large weights: the sum would overflow (3e308)
    got = lc.logsumexp(np.zeros(300), b=np.full(300, 1e306))
    assert got == pytest.approx(math.log(300) + 306 * math.log(10), rel=1e-15)
    got = lc.logsumexp(np.zeros((2, 300), np.float32), axis=-1, b=np.full(300, 1e36, np.float32))
    np.testing.assert_allclose(got, math.log(300) + 36 * math.log(10), rtol=1e-6)
    # subnormal weights keep their value
    for w in (1e-310, 3e-320):
        got = lc.logsumexp(np.array([1.0, 0.0]), b=np.array([w, w]))
        assert got == pytest.approx(float(mpmath.log(mpmath.mpf(w) * (mpmath.e + 1))), rel=1e-15)
    w = np.float32(1e-44)
    got = lc.logsumexp(np.array([1.0, 0.0], np.float32), b=np.array([w, w]))
    assert got == pytest.approx(float(mpmath.log(mpmath.mpf(float(w)) * (mpmath.e + 1))), rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [5, BLOCK + 3, 3 * BLOCK])
def test_weights_in_log_space_match_mpmath(isa, dtype, n, rng):
    x = (rng.standard_normal(n) * 3).astype(dtype)
    e = rng.integers(-300 if dtype == np.float64 else -40, 300 if dtype == np.float64 else 38, n)
    b = (rng.uniform(0.5, 1, n) * 10.0 ** e.astype(np.float64)).astype(dtype)
    b[rng.random(n) < 0.1] = 0
    want = float(mpmath.log(mpmath.fsum(mpmath.mpf(float(bi)) * mpmath.exp(float(xi)) for xi, bi in zip(x, b))))
    got = float(lc.logsumexp(x, b=b))
    assert got == pytest.approx(want, rel=4 * float(np.finfo(dtype).eps) * 8, abs=1e-6 if dtype == np.float32 else 1e-13)


INF_WEIGHT_CASES = [
    ([-np.inf], [np.inf]),
    ([np.inf, -0.77], [np.inf, -np.inf]),
    ([np.inf], [np.inf]),
    ([0.0], [np.inf]),
    ([0.0], [-np.inf]),
    ([0.0, 1.0], [np.inf, 1.0]),
    ([0.0, 1.0], [-np.inf, 1.0]),
    ([-np.inf, 0.0], [np.inf, 1.0]),
    ([np.inf], [-np.inf]),
    ([0.0, 0.0], [np.inf, -np.inf]),
    ([1.0, np.inf], [np.inf, 1.0]),
    ([0.0, 0.0], [0.0, np.inf]),
    ([np.nan, 0.0], [1.0, np.inf]),
]


@pytest.mark.parametrize("a,b", INF_WEIGHT_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_infinite_weights_match_scipy(isa, a, b, dtype):
    a = np.array(a, dtype)
    b = np.array(b, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = sp.logsumexp(a.astype(np.float64), b=b.astype(np.float64))
        want_s = sp.logsumexp(a.astype(np.float64), b=b.astype(np.float64), return_sign=True)
    np.testing.assert_array_equal(lc.logsumexp(a, b=b), np.asarray(want, dtype))
    got_s = lc.logsumexp(a, b=b, return_sign=True)
    np.testing.assert_array_equal(got_s[0], np.asarray(want_s[0], dtype))
    np.testing.assert_array_equal(got_s[1], np.asarray(want_s[1], dtype))


def test_zero_weight_removes_nan_entry():
    # documented difference from SciPy (which returns NaN): a zero weight removes the entry
    assert lc.logsumexp(np.array([np.nan, 0.0]), b=np.array([0.0, 1.0])) == 0.0


# --------------------------------------------------------------------------------------
# entropy normalization


def true_entropy(q):
    q = np.asarray(q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(q > 0, q * np.log(q), 0.0).sum(axis=-1)


@pytest.mark.parametrize(
    "row,target,dtype",
    [
        ([-1e20, 0, 0], 5.0, np.float32),
        ([0, -1e20, 1e20], 0.9, np.float32),
        ([-1e20, 0, 0], 0.5, np.float32),
        ([-1e20, 0, 0, -3.0], 1.0, np.float32),
        ([-1e160, 0, 0], 5.0, np.float64),
        ([0, -1e160, 1e160], 0.9, np.float64),
        ([-1e160, 0, 1, -2.0], 0.8, np.float64),
        ([-3e38, 3e38, 0, 1], 0.3, np.float32),
    ],
)
def test_far_logits_give_a_distribution_with_its_reported_entropy(isa, row, target, dtype):
    x = np.array(row, dtype)
    q, info = lc.entropy_normalize(x, target, logits=True, return_info=True)
    assert abs(float(q.astype(np.float64).sum()) - 1) <= 8 * np.finfo(dtype).eps
    h = true_entropy(q)
    assert abs(h - info.entropy) <= 1e-6 if dtype == np.float32 else 1e-12
    assert info.h_min <= info.entropy + 1e-12 and info.entropy <= info.h_max + 1e-12
    if info.converged:
        assert abs(h - target) <= 1e-5 if dtype == np.float32 else 1e-9
    else:
        assert info.clipped or abs(h - target) > 0


# Entries outside the support (-inf logits, or logits beyond |kWMin| ln 2 below the maximum)
# must get exactly zero mass even when the support's own spread asks for a gamma so small that
# the kernels' 2^(gamma kWMin) no longer underflows (gamma < 1.6e-16 in float32, 1.1e-147 in
# float64): e.g. a float32 row [-inf, 0, -1e17] at perplexity sqrt(2) needs gamma 2e-17, where
# 2^(gamma kWMin) is 2^-21.
@pytest.mark.parametrize(
    "row,dtype,max_iter",
    [
        ([-np.inf, 0.0, -1e17], np.float32, 50),
        ([0.0, -1e17, -np.inf, -np.inf, -2e18], np.float32, 50),
        ([-np.inf, 0.0, -4e147], np.float64, 400),
    ],
)
@pytest.mark.parametrize("layout", ["row", "block_tail"])
def test_entries_outside_the_support_stay_zero_at_tiny_gamma(isa, row, dtype, max_iter, layout):
    x = np.array(row, dtype)
    if layout == "block_tail":  # the same row across a block boundary, after other -inf entries
        x = np.concatenate([np.full(BLOCK - 1, -np.inf, dtype), x])
    # outside the support: -inf, and logits more than |kWMin| ln 2 below the maximum (0 here)
    outside = ~np.isfinite(x) | (x < -6.9e17 if dtype == np.float32 else x < -6.9e149)
    q, info = lc.entropy_normalize(x, perplexity=np.sqrt(2), logits=True, max_iter=max_iter, return_info=True)
    assert info.converged and float(info.gamma) < (1.6e-16 if dtype == np.float32 else 1.1e-147)
    assert np.all(q[outside] == 0), q[outside]
    assert abs(float(q.astype(np.float64).sum()) - 1) <= 4 * np.finfo(dtype).eps
    assert abs(true_entropy(q) - np.log(np.sqrt(2))) <= (2e-5 if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize("n,rows", [(10, 80000), (30, 30000), (200, 4096)])
def test_float32_converged_rows_are_within_tol_after_rounding(logits, n, rows):
    # without a margin for the output's rounding about 1 row in 10^4 ends just past tol
    rng = np.random.default_rng(n)
    scale = rng.choice([0.3, 1.0, 3.0, 10.0], (rows, 1))
    x = (rng.standard_normal((rows, n)) * scale).astype(np.float32)
    t = rng.uniform(0.02, 0.98, rows) * np.log(n)
    xi = x if logits else lc.softmax(x, axis=-1)
    q, info = lc.entropy_normalize(xi, t, logits=logits, tol=1e-5, return_info=True)
    assert info.converged.mean() > 0.99
    err = np.abs(true_entropy(q) - t)
    assert np.all(err[info.converged] <= 1e-5), err[info.converged].max()


# --------------------------------------------------------------------------------------
# nothing lost on error


def _failing_entropy_calls():
    good = np.array([[0.25, 0.75], [0.5, 0.5], [0.1, 0.9]])
    nan_row = good.copy()
    nan_row[1, 0] = np.nan
    yield "nan row", nan_row, dict(target=0.3), [1]
    yield "out of range, raise", good, dict(target=0.6, out_of_range="raise"), [1]
    bad_sum = good.copy()
    bad_sum[2] = [0.2, 0.2]
    yield "bad sum", bad_sum, dict(target=0.3), [2]
    no_support = good.copy()
    no_support[0] = 0
    yield "no support", no_support, dict(target=0.3), [0]


@pytest.mark.parametrize("case", list(_failing_entropy_calls()), ids=lambda c: c[0])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_entropy_normalize_failure_leaves_input_and_failed_rows(case, layout, restore_threads):
    _, x0, kw, failed = case
    for nt in (1, 2):
        lc.set_num_threads(nt)
        x = np.array(x0, order="F" if layout == "F" else "C")
        sentinel = -7.0
        if layout == "strided":
            big = np.full((x.shape[0], 2 * x.shape[1]), sentinel)
            out = big[:, ::2]
        else:
            out = np.full_like(x, sentinel)
        x_before = x.copy()
        with pytest.raises(ValueError):
            lc.entropy_normalize(x, out=out, **kw)
        np.testing.assert_array_equal(x, x_before)
        for r in failed:
            assert np.all(out[r] == sentinel), (r, out)
        # out=x itself: the caller's input survives the failed call
        x2 = x0.copy()
        with pytest.raises(ValueError):
            lc.entropy_normalize(x2, out=x2, **kw)
        np.testing.assert_array_equal(x2, x0)


def test_entropy_normalize_successful_rows_are_written_when_another_fails():
    x = np.array([[0.25, 0.75], [np.nan, 1.0], [0.1, 0.9]])
    out = np.zeros_like(x)
    with pytest.raises(ValueError, match="row 1"):
        lc.entropy_normalize(x, 0.3, out=out)
    want = lc.entropy_normalize(x[[0, 2]], 0.3)
    np.testing.assert_array_equal(out[[0, 2]], want)
    np.testing.assert_array_equal(out[1], [0.0, 0.0])


WRITERS = [
    ("logsumexp", lambda x, o: lc.logsumexp(x, axis=-1, out=o, b=np.ones(3)), (2,)),
    ("softmax", lambda x, o: lc.softmax(x, axis=5, out=o), None),
    ("log_softmax", lambda x, o: lc.log_softmax(x, axis=-1, out=o.astype(np.float32)), None),
    ("softmax bad out", lambda x, o: lc.softmax(x, axis=-1, out=o[:, :1]), None),
]


@pytest.mark.parametrize("name,call,out_shape", WRITERS, ids=[w[0] for w in WRITERS])
def test_reductions_that_raise_write_nothing(name, call, out_shape):
    x = np.arange(8.0).reshape(2, 4)
    x0 = x.copy()
    out = np.full(out_shape or x.shape, -5.0)
    with pytest.raises((ValueError, TypeError, IndexError)):
        call(x, out)
    np.testing.assert_array_equal(x, x0)
    assert np.all(out == -5.0)


def test_loss_inplace_that_raises_leaves_logits():
    x = np.arange(8.0).reshape(2, 4)
    x0 = x.copy()
    for fn in (gamma_cross_entropy, generalized_cross_entropy, focal_loss):
        with pytest.raises(IndexError):
            fn(x, np.array([0, 9]), return_grad=True, inplace=True)
        with pytest.raises(ValueError):
            fn(x, np.array([0, 1]), return_grad=True, inplace=True, reduction="avg")
        np.testing.assert_array_equal(x, x0)


# --------------------------------------------------------------------------------------
# argument checks


@pytest.mark.parametrize(
    "bad,exc,msg",
    [
        (True, TypeError, "bool"),
        (np.True_, TypeError, "bool"),
        (2.0, TypeError, "float"),
        ("2", TypeError, "str"),
        (2**31, ValueError, "at most"),
        (10**30, ValueError, "at most"),
    ],
)
def test_set_num_threads_rejects(bad, exc, msg, restore_threads):
    before = lc.get_num_threads()
    with pytest.raises(exc, match=msg):
        lc.set_num_threads(bad)
    assert lc.get_num_threads() == before


def test_set_num_threads_accepts_ints(restore_threads):
    lc.set_num_threads(np.int64(3))
    assert lc.get_num_threads() == 3
    lc.set_num_threads(-(2**40))  # any n <= 0: the OpenMP default
    assert lc.get_num_threads() == _core._get_num_threads()


# --------------------------------------------------------------------------------------
# found by the fuzz run and the sanitizer run


def test_weights_are_not_absorbed_by_huge_entries(isa):
    a = np.float32([1e20, 1e20])
    got = lc.logsumexp(a, b=[1.7e308, 1.0])  # float64 (b is a float64 list): 1e20 + 709.4
    assert got == pytest.approx(float(a[0]) + math.log(1.7e308), rel=1e-15)
    v, s = lc.logsumexp(a, b=[1.7e308, -1.6e308], return_sign=True)
    assert s == 1.0 and v == pytest.approx(float(a[0]), rel=1e-15)
    v, s = lc.logsumexp(np.array([-1e287, -1e287]), b=np.array([1e217, -1.2e69]), return_sign=True)
    assert (v, s) == (-1e287, 1.0)


def test_gradient_factor_beyond_float32_range():
    x = np.array([[-27749234688.0, -28199819264.0]], np.float32)
    loss, grad = focal_loss(x, np.array([0]), gamma=0.0, weight=[1e308, 0], reduction="sum", return_grad=True)
    np.testing.assert_array_equal(grad, [[0.0, 0.0]])
    loss, grad = gamma_cross_entropy(np.array([[0.0, -1.0]], np.float32), np.array([1]), weight=[0, 1e300],
                                     reduction="sum", return_grad=True)
    assert np.all(np.isfinite(grad) | np.isinf(grad)) and not np.any(np.isnan(grad))


def _unaligned(a):
    """A copy of ``a`` whose data starts one byte past an aligned address."""
    raw = np.zeros(a.nbytes + 1, np.uint8)
    u = np.frombuffer(raw.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    u[...] = a
    assert not u.flags.aligned
    return u


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unaligned_arrays(isa, dtype, rng):
    x = rng.standard_normal((3, 2 * BLOCK + 5)).astype(dtype)
    b = rng.uniform(0.5, 2, x.shape).astype(dtype)
    p = lc.softmax(x, axis=-1)
    xu, bu, pu = _unaligned(x), _unaligned(b), _unaligned(p)
    np.testing.assert_array_equal(lc.logsumexp(xu, axis=-1), lc.logsumexp(x, axis=-1))
    np.testing.assert_array_equal(lc.logsumexp(xu, axis=-1, b=bu), lc.logsumexp(x, axis=-1, b=b))
    np.testing.assert_array_equal(lc.softmax(xu, axis=-1), p)
    np.testing.assert_array_equal(lc.log_softmax(xu, axis=0), lc.log_softmax(x, axis=0))
    np.testing.assert_array_equal(lc.softmax_entropy(xu), lc.softmax_entropy(x))
    np.testing.assert_array_equal(lc.entropy(pu), lc.entropy(p))
    np.testing.assert_array_equal(lc.entropy_normalize(pu, 1.0), lc.entropy_normalize(p, 1.0))
    t = np.array([0, 5, BLOCK + 1])
    np.testing.assert_array_equal(gamma_cross_entropy(xu, t, return_grad=True)[1],
                                  gamma_cross_entropy(x, t, return_grad=True)[1])
    st = lc.LogSumExpState(3).update(xu)
    np.testing.assert_array_equal(st.result(), lc.LogSumExpState(3).update(x).result())
    # unaligned out= receives the same values
    for fn, kw, shape in [(lc.softmax, {}, x.shape), (lc.logsumexp, {}, (3,)), (lc.entropy_normalize, {}, x.shape)]:
        out = _unaligned(np.zeros(shape, dtype))
        if fn is lc.entropy_normalize:
            fn(p, 1.0, out=out)
            np.testing.assert_array_equal(out, lc.entropy_normalize(p, 1.0))
        else:
            fn(x, axis=-1, out=out)
            np.testing.assert_array_equal(out, fn(x, axis=-1))
    with pytest.raises(ValueError, match="not aligned"):
        gamma_cross_entropy(_unaligned(x), t, return_grad=True, inplace=True)


@pytest.mark.parametrize("dtype,spread", [(np.float32, 1e-20), (np.float32, 1e-25), (np.float32, 1e-37),
                                          (np.float64, 1e-140)])
def test_logits_a_hair_apart_reach_the_target(isa, dtype, spread):
    """Logits 1e-20 apart in float32 need gamma ~ 1e20: the Newton step from gamma = 1 (whose
    variance underflows) overshot float's range and the search gave up at gamma = 1, returning
    the uniform row (entropy log 4) as its answer. It now falls back to the bracket, grows it
    by escalating factors and converges; an unconverged search reports its closest point."""
    z = np.array([[0.0, 0.0, 0.0, spread]], dtype=dtype)
    q, info = lc.entropy_normalize(z, 1.0, logits=True, return_info=True)
    assert info.converged[0], (info.gamma, info.entropy)
    g = float(info.gamma[0])
    w = np.array([0.0, 0.0, 0.0, spread], dtype=np.float64) * g
    p = np.exp(w - w.max())
    p /= p.sum()
    assert abs(-(p * np.log(p)).sum() - 1.0) <= (2e-5 if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_streamed_long_row_outputs_equal_cached_ones(isa, dtype):
    """softmax / log_softmax of rows longer than the one-exp path write their output with
    non-temporal stores once the whole output exceeds 4 MiB (from an aligned address on; the
    head up to it and the tail with plain stores). The values are the same bits as a call
    whose output is small enough for plain stores: one row alone (2.4 MB), against the same
    row in a batch of two (4.8 MB), into outputs at every offset within a vector."""
    n = 2_400_000 // np.dtype(dtype).itemsize
    rng = np.random.default_rng(31)
    x = (rng.standard_normal((2, n)) * 4).astype(dtype)
    x[1, 12345] = np.inf if dtype == np.float64 else x[1, 12345]  # one special row on the wide path
    for fn in (lc.softmax, lc.log_softmax):
        alone = [fn(x[i:i + 1], axis=-1) for i in range(2)]
        for off in (0, 1, 3, 7):
            buf = np.full(2 * n + 16, 7.0, dtype=dtype)
            out = buf[off:off + 2 * n].reshape(2, n)
            fn(x, axis=-1, out=out)
            for i in range(2):
                np.testing.assert_array_equal(out[i], alone[i][0], err_msg=f"{fn.__name__} row {i} offset {off}")
            assert np.all(buf[:off] == 7.0) and np.all(buf[off + 2 * n:] == 7.0)  # nothing outside out
        both = fn(x, axis=-1)
        np.testing.assert_array_equal(both[0], alone[0][0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("inplace", [False, True])
def test_softmax_row_with_a_nan_is_all_nan(isa, dtype, inplace):
    """softmax's maximum pass may step over a NaN (MAXPS keeps its second operand): the NaN then
    reaches the sum, and every output of the row must still be NaN, in place too. NaN at
    every position of a vector and of a block's edges, beside -inf and +inf entries."""
    rng = np.random.default_rng(11)
    n = 2 * BLOCK + 37
    for pos in list(range(0, 33)) + [BLOCK - 1, BLOCK, n - 1]:
        x = rng.standard_normal((3, n)).astype(dtype)
        x[1, ::5] = -np.inf
        x[2, pos + 1 if pos + 1 < n else 0] = np.inf
        x[:, pos] = np.nan
        for f in (lc.softmax, lc.log_softmax):
            xi = x.copy()
            y = f(xi, axis=1, out=xi) if inplace else f(xi, axis=1)
            assert np.isnan(y).all(), (f.__name__, pos, np.argwhere(~np.isnan(y))[:3])
    # a row whose sums overflow into opposite infinities holds no NaN: finite results
    x = np.zeros((1, n), dtype=dtype)
    x[0, :8] = np.finfo(dtype).max
    x[0, 8:16] = -np.inf
    y = lc.softmax(x, axis=1)
    np.testing.assert_array_equal(y[0, :8], np.full(8, 1 / 8, dtype=dtype))
    assert (y[0, 8:] == 0).all()


def test_private_calls_refuse_unaligned_data():
    """The bindings read typed pointers: data that is not aligned for its dtype is refused with
    a ValueError (the public functions align their inputs first; this guards direct calls such
    as the Dask merges), never read as a misaligned double."""
    m, u = np.zeros(3), np.zeros(3)
    with pytest.raises(ValueError, match="not aligned"):
        _core._state_merge(m, u, _unaligned(np.zeros(3)), np.zeros(3))
    with pytest.raises(ValueError, match="not aligned"):
        _core._state_merge(_unaligned(np.zeros(3)), u, np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match="not aligned"):
        _core._state_update(m, u, _unaligned(np.zeros((3, 4))))
    _core._state_merge(m, u, np.zeros(3), np.zeros(3))  # aligned: accepted


def _softmax_ref(x):
    """softmax in float64 (float32 rows) or long double (float64 rows), rows of finite entries
    and -inf"""
    xl = x.astype(np.longdouble)
    m = xl.max(axis=-1, keepdims=True)
    e = np.exp(xl - m)
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_shift_from_the_first_block(isa, dtype, restore_threads):
    """Rows that fit in cache take exp(x - c) with c the maximum of the row's first block, and
    redo the pass with the row maximum when an entry exceeds c by more than the spread limit
    (60 for float32, 600 for float64) or by more than 1 where x - c is not exact, or when the
    first block has no finite maximum. Every case against a long-double reference (within a
    few ulp where p is not tiny), p <= 1, the same bits at one and two threads, in place too."""
    rng = np.random.default_rng(12)
    n = 3 * BLOCK + 5
    eps = np.finfo(dtype).eps
    spread = 60.0 if dtype == np.float32 else 600.0
    rows = []
    for d in [0.0, 0.5, 20.0, spread - 1, spread + 1, 2 * spread, 1e4]:
        for pos in [BLOCK, 2 * BLOCK + 7, n - 1]:
            x = rng.standard_normal(n).astype(dtype)
            x[pos] = x[:BLOCK].max() + dtype(d)
            rows.append(x)
    x = rng.standard_normal(n).astype(dtype)
    x[:BLOCK] = -np.inf  # a masked first block: no finite shift
    rows.append(x)
    x = np.full(n, -np.inf, dtype=dtype)
    x[n - 3] = 5.0  # one finite entry, in the last block
    rows.append(x)
    x = rng.standard_normal(n).astype(dtype)
    x[:BLOCK] -= 200.0  # the first block far below the rest
    rows.append(x)
    xs = np.stack(rows)
    ref = _softmax_ref(xs)
    for threads in (1, 2):
        set_threads(threads)
        y = lc.softmax(xs, axis=1)
        assert (y <= 1).all() and (y >= 0).all()
        big = ref > 1e-30
        rel = np.abs(y[big] - ref[big]) / ref[big]
        # (x - M is rounded once, by at most |x - M| eps / 2 relative, and S sums n terms)
        dist = np.abs(xs - xs.max(axis=1, keepdims=True))[big].astype(np.float64)
        assert (rel <= (8 + 2 * dist) * eps).all(), (threads, (rel / ((8 + 2 * dist) * eps)).max())
        np.testing.assert_allclose(y.astype(np.float64).sum(axis=1), 1.0, rtol=n * eps)
        xi = xs.copy()
        lc.softmax(xi, axis=1, out=xi)
        np.testing.assert_array_equal(xi, y)
        if threads == 1:
            y1 = y
        else:
            np.testing.assert_array_equal(y, y1)
        # one row at a time: the row's blocks split over the threads
        for r in (0, len(rows) - 3, len(rows) - 1):
            np.testing.assert_array_equal(lc.softmax(xs[r], axis=0), y1[r])
    # a +inf after a finite first block: uniform over the +inf entries
    x = rng.standard_normal(n).astype(dtype)
    x[[BLOCK + 1, n - 1]] = np.inf
    y = lc.softmax(x)
    assert y[BLOCK + 1] == 0.5 and y[n - 1] == 0.5 and (np.delete(y, [BLOCK + 1, n - 1]) == 0).all()


def test_softmax_shift_keeps_the_largest_terms_exact(isa):
    """Entries above the first block's maximum c whose x - c would be rounded (c and x not
    within a factor 2 of each other, and x - c above 1) make the row take c = M: the largest
    probabilities then carry no error from the shift (within 2 ulp of a long-double
    reference), as when the maximum lies in the first block. (float32: a rounded x - c of
    about 15 would put 8 ulp of error on them.)"""
    dtype = np.float32
    rng = np.random.default_rng(13)
    n = 2 * BLOCK + 9
    eps = np.finfo(dtype).eps
    # (pairs of tops whose x - c round apart by 16 and 8 ulp in float32, and two mild cases)
    for c, top in [(10.3, 26.67033), (-30.3, -14.299706), (0.7, 4.70178), (-0.55, 0.81)]:
        x = (c - 5 - np.abs(rng.standard_normal(n))).astype(dtype)  # c leads the first block
        x[5] = c
        x[BLOCK + 3] = top
        x[n - 2] = dtype(top) - dtype(0.37)
        ref = _softmax_ref(x[None])[0]
        y = lc.softmax(x)
        for i in (BLOCK + 3, n - 2):
            assert abs(y[i] - ref[i]) <= 2 * eps * ref[i], (c, top, i, float((y[i] - ref[i]) / ref[i] / eps))
