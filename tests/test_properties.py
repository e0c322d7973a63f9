"""Hypothesis property tests: the eight inequalities of docs/math.md §1 and the softmax laws, for
float64 and float32, on random and adversarial rows (magnitudes ~1e30, ties, n = 1, rows
longer than a block, wide spreads).

The library computes in the input dtype; the other side of each inequality is evaluated in
float64 (math.fsum) on the same values. The slack is the dtype tolerance times
max(1, largest |value| involved): a float32 result may violate an equality-tight case by
rounding, never by more.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import logitcore as lc

from ._helpers import BLOCK, assert_bitwise_equal, assert_close, tol_for

DTYPES = [np.float64, np.float32]
MAX_EXAMPLES = 80


# --------------------------------------------------------------------------------------
# strategies


@st.composite
def rows(draw, dtype, min_n=1, max_abs=None):
    """A finite row of the given dtype, random or adversarial."""
    kind = draw(st.sampled_from(["random", "huge", "ties", "single", "long", "wide", "hyp"]))
    if kind == "single" and min_n > 1:
        kind = "random"
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "random":
        n = draw(st.integers(min_n, 64))
        x = rng.standard_normal(n) * draw(st.sampled_from([1e-3, 1.0, 10.0, 100.0]))
        x += draw(st.sampled_from([0.0, 1e3, -1e4]))
    elif kind == "huge":
        n = draw(st.integers(min_n, 64))
        x = rng.standard_normal(n) * 1e30
    elif kind == "ties":
        n = draw(st.integers(max(min_n, 2), 300))
        v = draw(st.sampled_from([0.0, 1.0, -50.0, 1e30, -1e30, 87.5]))
        x = np.full(n, v)
        k = draw(st.integers(0, n - 1))
        x[rng.choice(n, size=k, replace=False)] -= rng.uniform(0, 5, size=k) * max(1.0, abs(v) * 1e-6)
    elif kind == "single":
        n = 1
        x = rng.standard_normal(1) * draw(st.sampled_from([1.0, 1e30]))
    elif kind == "long":
        n = draw(st.integers(BLOCK - 2, 3 * BLOCK + 7))
        x = rng.standard_normal(n) * draw(st.sampled_from([1.0, 30.0]))
    elif kind == "wide":
        n = draw(st.integers(max(min_n, 2), 40))
        x = rng.choice([-1e30, -1e4, -100.0, 0.0, 1e-20, 3.0, 1e4, 1e30], size=n)
    else:
        width = 32 if np.dtype(dtype) == np.float32 else 64
        x = draw(
            hnp.arrays(
                np.float64,
                st.integers(min_n, 12),
                elements=st.floats(-1e6, 1e6, allow_nan=False, width=width),
            )
        )
    if max_abs is not None:
        x = np.clip(x, -max_abs, max_abs)
    x = x.astype(dtype)
    assume(np.isfinite(x).all())
    return x


@st.composite
def weights(draw, n):
    """p_i >= 0 summing to 1 (Dirichlet, one-hot or uniform)."""
    kind = draw(st.sampled_from(["dirichlet", "onehot", "uniform"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind == "onehot":
        p = np.zeros(n)
        p[draw(st.integers(0, n - 1))] = 1.0
    elif kind == "uniform":
        p = np.full(n, 1.0 / n)
    else:
        p = rng.dirichlet(np.full(n, draw(st.sampled_from([0.05, 1.0, 20.0]))))
        p /= math.fsum(p)
    return p


def _f64(x):
    return np.asarray(x, dtype=np.float64)


def _slack(dtype, *vals):
    mags = [1.0]
    for v in vals:
        v = np.abs(_f64(v))
        if v.size:
            mags.append(float(np.max(v)))
    return 2 * tol_for(dtype) * max(mags)


def _lse(x):
    return float(lc.logsumexp(x))


def _dot(p, x):
    return math.fsum(_f64(p) * _f64(x))


def _plogp(p):
    p = _f64(p)
    nz = p > 0
    return math.fsum(p[nz] * np.log(p[nz]))


# --------------------------------------------------------------------------------------
# the eight inequalities


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=MAX_EXAMPLES)
@given(data=st.data())
def test_ineq1_max_bounds(dtype, data):
    """max(x) <= lse(x) <= max(x) + log n, strict on the left when n >= 2."""
    x = data.draw(rows(dtype))
    n, m, lse = x.size, float(x.max()), _lse(x)
    sl = _slack(dtype, x, lse)
    assert m - sl <= lse <= m + math.log(n) + sl, (m, lse, n)
    if n >= 2:
        rest = math.fsum(np.exp(np.sort(_f64(x))[:-1] - m))
        if math.log1p(rest) > sl:  # resolvable at this precision
            assert lse > m


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=MAX_EXAMPLES)
@given(data=st.data(), tau=st.sampled_from([1e-3, 0.1, 0.5, 1.0, 3.0, 100.0]))
def test_ineq2_smooth_max(dtype, data, tau):
    """max(x) <= tau lse(x / tau) <= max(x) + tau log n (smooth max error -> 0 as tau -> 0)."""
    x = data.draw(rows(dtype))
    xt = (_f64(x) / tau).astype(dtype)
    assume(np.isfinite(xt).all())
    n, m = x.size, float(x.max())
    sm = tau * _lse(xt)
    sl = _slack(dtype, x, sm) + tau * _slack(dtype, xt)  # rounding of x / tau, then of lse
    assert m - sl <= sm <= m + tau * math.log(n) + sl, (m, sm, tau, n)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=MAX_EXAMPLES)
@given(data=st.data())
def test_ineq3_jensen(dtype, data):
    """lse(x) >= mean(x) + log n."""
    x = data.draw(rows(dtype))
    lse = _lse(x)
    mean = math.fsum(_f64(x)) / x.size
    assert lse >= mean + math.log(x.size) - _slack(dtype, x, lse)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=MAX_EXAMPLES)
@given(data=st.data())
def test_ineq4_cauchy(dtype, data):
    """lse(x) >= sum p x - log sum p^2."""
    x = data.draw(rows(dtype))
    p = data.draw(weights(x.size))
    lse = _lse(x)
    rhs = _dot(p, x) - math.log(math.fsum(p * p))
    assert lse >= rhs - _slack(dtype, x, lse), (lse, rhs)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=MAX_EXAMPLES)
@given(data=st.data(), t=st.sampled_from([1.0001, 1.5, 2.0, 3.0, 10.0]))
def test_ineq5_holder(dtype, data, t):
    """lse(x) >= sum p x - (1/(t-1)) log sum p^t for t > 1."""
    x = data.draw(rows(dtype))
    p = data.draw(weights(x.size))
    lse = _lse(x)
    rhs = _dot(p, x) - math.log(math.fsum(p**t)) / (t - 1)
    assert lse >= rhs - _slack(dtype, x, lse), (lse, rhs)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=MAX_EXAMPLES)
@given(data=st.data())
def test_ineq6_gibbs(dtype, data):
    """lse(x) >= sum p x - sum p log p, with equality at p = softmax(x)."""
    x = data.draw(rows(dtype))
    p = data.draw(weights(x.size))
    lse = _lse(x)
    sl = _slack(dtype, x, lse)
    assert lse >= _dot(p, x) - _plogp(p) - sl
    # equality at the softmax (computed by the library in the same dtype). q is renormalized
    # in float64: its sum is checked in test_softmax_laws, and an unnormalized q would turn
    # a 1e-6 sum error into a |x| * 1e-6 error of sum q x.
    q = _f64(lc.softmax(x))
    q /= math.fsum(q)
    gibbs = _dot(q, x) - _plogp(q)
    assert abs(lse - gibbs) <= 2 * sl, (lse, gibbs)
    # and through the fused entropy: lse = E_q[x] + H(q)
    h = float(lc.softmax_entropy(x))
    assert abs(lse - (_dot(q, x) + h)) <= 2 * sl, (lse, _dot(q, x), h)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=MAX_EXAMPLES)
@given(data=st.data(), delta=st.sampled_from([1e-6, 1e-2, 1.0, 100.0, 1e28]))
def test_ineq7_lipschitz(dtype, data, delta):
    """|lse(x) - lse(y)| <= max_i |x_i - y_i|."""
    x = data.draw(rows(dtype))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    y = (_f64(x) + rng.uniform(-delta, delta, size=x.size)).astype(dtype)
    assume(np.isfinite(y).all())
    lx, ly = _lse(x), _lse(y)
    d = float(np.max(np.abs(_f64(x) - _f64(y))))
    assert abs(lx - ly) <= d + _slack(dtype, x, y, lx, ly), (lx, ly, d)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=MAX_EXAMPLES)
@given(data=st.data(), t=st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
def test_ineq8_convexity(dtype, data, t):
    """t lse(x) + (1 - t) lse(y) >= lse(t x + (1 - t) y) for t in [0, 1]."""
    x = data.draw(rows(dtype))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    y = (rng.standard_normal(x.size) * float(np.max(np.abs(_f64(x))) + 1)).astype(dtype)
    z = (t * _f64(x) + (1 - t) * _f64(y)).astype(dtype)
    lx, ly, lz = _lse(x), _lse(y), _lse(z)
    assert t * lx + (1 - t) * ly >= lz - _slack(dtype, x, y, z, lx, ly, lz), (lx, ly, lz, t)


# --------------------------------------------------------------------------------------
# softmax laws


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=MAX_EXAMPLES)
@given(data=st.data())
def test_softmax_laws(dtype, data):
    x = data.draw(rows(dtype))
    n = x.size
    tol = tol_for(dtype)
    scale = max(1.0, float(np.max(np.abs(_f64(x)))))
    p = lc.softmax(x)
    lp = lc.log_softmax(x)
    assert p.dtype == dtype and lp.dtype == dtype
    # probabilities summing to 1 (the [0, 1] range: test_softmax_in_unit_interval)
    assert (p >= 0).all()
    assert abs(math.fsum(_f64(p)) - 1.0) <= 2 * tol * scale, math.fsum(_f64(p))
    # exp(log_softmax) == softmax (relative, up to the rounding of x - max)
    e = np.exp(_f64(lp))
    err = np.abs(e - _f64(p))
    assert (err <= 4 * tol * scale * _f64(p) + 4 * float(np.finfo(dtype).smallest_subnormal)).all()
    # entropy: fused vs from the probabilities, within [0, log n]
    h = float(lc.softmax_entropy(x))
    h2 = float(lc.entropy(p))
    assert 0.0 <= h <= math.log(n) + 2 * tol * max(1.0, math.log(n)), (h, n)
    assert abs(h - h2) <= 4 * tol * max(1.0, math.log(n)) * scale, (h, h2)
    # order preserved
    order = np.argsort(_f64(x), kind="stable")
    assert (np.diff(_f64(p)[order]) >= 0).all()


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=MAX_EXAMPLES)
@given(data=st.data())
def test_softmax_in_unit_interval(dtype, data):
    """softmax is a probability (0 <= p <= 1) and log_softmax <= 0, exactly: rounding may
    make p slightly inexact but never greater than 1 (a one-entry row is exactly 1)."""
    x = data.draw(rows(dtype))
    p = lc.softmax(x)
    lp = lc.log_softmax(x)
    assert (p >= 0).all() and (p <= 1).all(), (x[:4], p[p > 1][:4])
    assert (lp <= 0).all(), (x[:4], lp[lp > 0][:4])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("v", [12.573022, 3.0, 1000.0001, -9999.99965442, 0.0, 1e30])
def test_one_entry_row_is_certain(dtype, v):
    """A row of one entry: softmax 1, log_softmax 0, logsumexp the entry, entropy 0."""
    x = np.array([v], dtype=dtype)
    t = tol_for(dtype) * max(1.0, abs(float(x[0])))  # the brief's value tolerance
    assert abs(float(lc.softmax(x)[0]) - 1.0) <= t
    assert abs(float(lc.log_softmax(x)[0])) <= t
    assert abs(float(lc.logsumexp(x)) - float(x[0])) <= t
    assert float(lc.softmax_entropy(x)) <= t
    # hard contract, whatever the rounding: a probability never exceeds 1
    assert lc.softmax(x)[0] <= 1.0, f"softmax([{v!r}]) = {lc.softmax(x)[0]!r} > 1"
    assert lc.log_softmax(x)[0] <= 0.0, f"log_softmax([{v!r}]) = {lc.log_softmax(x)[0]!r} > 0"


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=MAX_EXAMPLES)
@given(
    k=hnp.arrays(np.int64, st.integers(1, 300), elements=st.integers(-(2**16), 2**16)),
    c=st.integers(-1000, 1000),
)
def test_shift_invariance(dtype, k, c):
    """lse(x + c) = lse(x) + c; softmax, log_softmax and the entropy are unchanged. On a grid
    of 1/64 the shift is exact in float32, so only the library's rounding differs."""
    x = (k / 64.0).astype(dtype)
    xc = (k / 64.0 + c).astype(dtype)
    assert np.array_equal(_f64(xc) - _f64(x), np.full(x.size, float(c)))  # exact shift
    l0, l1 = _lse(x), _lse(xc)
    assert abs(l1 - (l0 + c)) <= 2 * tol_for(dtype) * max(1.0, abs(l0) + abs(c))
    scale = float(np.max(np.abs(_f64(xc)))) + float(np.max(np.abs(_f64(x))))
    assert_close(lc.softmax(xc), lc.softmax(x), dtype, scale=scale, rel=True, factor=2, what="softmax(x + c)")
    assert_close(lc.log_softmax(xc), lc.log_softmax(x), dtype, scale=scale, factor=2, what="log_softmax(x + c)")
    h0 = float(lc.softmax_entropy(x))
    assert_close(lc.softmax_entropy(xc), h0, dtype, scale=scale * max(1.0, math.log(x.size)), factor=2,
                 what="softmax_entropy(x + c)")


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=40)
@given(data=st.data())
def test_batched_rows_equal_single_rows(dtype, data):
    """Each row of a batch is computed exactly as on its own (no cross-row state)."""
    rs = [data.draw(rows(dtype, max_abs=1e4)) for _ in range(3)]
    n = min(r.size for r in rs)
    x = np.stack([r[:n] for r in rs])
    for i in range(3):
        assert_bitwise_equal(lc.logsumexp(x, axis=1)[i], lc.logsumexp(x[i]))
        assert_bitwise_equal(lc.softmax(x, axis=1)[i], lc.softmax(x[i]))
        assert_bitwise_equal(lc.softmax_entropy(x, axis=1)[i], lc.softmax_entropy(x[i]))
