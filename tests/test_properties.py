"""Hypothesis property tests: the eight inequalities of docs/math.md §1 and the softmax laws, for
float64, float32 and float16, on random and adversarial rows (magnitudes ~1e30, ties, n = 1,
rows longer than a block, wide spreads), on every ISA the host supports; exact values where
they are known (constant rows, uniform distributions, softmax sums), checked from both sides;
and the special-value rules (README "special values", "softmax special rows") on rows with
NaN, +inf and -inf entries anywhere, block edges included.

The library computes in the input dtype; the other side of each inequality is evaluated in
float64 (math.fsum) on the same values. The slack is the dtype tolerance times
max(1, largest |value| involved): a float32 result may violate an equality-tight case by
rounding, never by more.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import logitcore as lc

from ._helpers import BLOCK, assert_bitwise_equal, assert_close, finite_scale, tol_for

DTYPES = [np.float64, np.float32, np.float16]
MAX_EXAMPLES = 80

pytestmark = [
    pytest.mark.usefixtures("isa"),
    # float16 casts of the derived rows may overflow; those examples are discarded
    pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
]


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
    if np.dtype(dtype) == np.float16:  # the adversarial magnitudes, within float16's range
        x = np.clip(x, -6e4, 6e4)
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
    ls = math.log(math.fsum(p**t))
    rhs = _dot(p, x) - ls / (t - 1)
    # the float64 evaluation of the bound: a few eps on log sum p^t, divided by t - 1 (t = 1.0001
    # with p uniform over 3 entries is equality-tight: lse = log 3 = the bound)
    rhs_err = 4 * float(np.finfo(np.float64).eps) * (1.0 + abs(ls)) / (t - 1)
    assert lse >= rhs - _slack(dtype, x, lse) - rhs_err, (lse, rhs, rhs_err)


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
    assume(np.isfinite(y).all() and np.isfinite(z).all())  # float16: y may overflow
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
    x = np.array([min(v, float(np.finfo(dtype).max))], dtype=dtype)  # 1e30: float16's largest
    t = tol_for(dtype) * max(1.0, abs(float(x[0])))  # the dtype's value tolerance
    assert abs(float(lc.softmax(x)[0]) - 1.0) <= t
    assert abs(float(lc.log_softmax(x)[0])) <= t
    assert abs(float(lc.logsumexp(x)) - float(x[0])) <= t
    assert float(lc.softmax_entropy(x)) <= t
    # hard contract, whatever the rounding: a probability never exceeds 1
    assert lc.softmax(x)[0] <= 1.0, f"softmax([{v!r}]) = {lc.softmax(x)[0]!r} > 1"
    assert lc.log_softmax(x)[0] <= 0.0, f"log_softmax([{v!r}]) = {lc.log_softmax(x)[0]!r} > 0"


@st.composite
def shift_cases(draw, dtype):
    """Integers k and a shift c such that k / 64 and k / 64 + c are exact in dtype."""
    kmax, cmax = (2**9, 16) if np.dtype(dtype) == np.float16 else (2**16, 1000)
    n = draw(st.sampled_from([st.integers(1, 300), st.integers(BLOCK - 3, 2 * BLOCK + 3)]))
    k = draw(hnp.arrays(np.int64, n, elements=st.integers(-kmax, kmax)))
    return k, draw(st.integers(-cmax, cmax))


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=MAX_EXAMPLES)
@given(data=st.data())
def test_shift_invariance(dtype, data):
    """lse(x + c) = lse(x) + c; softmax, log_softmax and the entropy are unchanged. On a grid
    of 1/64 the shift is exact in the dtype, so only the library's rounding differs."""
    k, c = data.draw(shift_cases(dtype))
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


# --------------------------------------------------------------------------------------
# exact values, checked from both sides


def _eps(dtype):
    return float(np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=MAX_EXAMPLES)
@given(data=st.data())
def test_softmax_sums_to_one_both_ways(dtype, data):
    """|sum softmax(x) - 1| <= (8 + n) eps: every entry carries a few roundings of its own
    and the row sum s one per term at most."""
    x = data.draw(rows(dtype))
    n = x.size
    p = _f64(lc.softmax(x))
    err = math.fsum(p) - 1.0
    bound = (8 + n) * _eps(dtype)
    assert -bound <= err <= bound, (n, err, bound)
    # and log_softmax is the log of a distribution: logsumexp(log_softmax(x)) = 0
    lp = lc.log_softmax(x)
    m = float(np.max(_f64(lp)))
    assert m <= 0.0
    l0 = m + math.log(math.fsum(np.exp(_f64(lp) - m)))
    assert abs(l0) <= (8 + n) * _eps(dtype) + tol_for(dtype) * max(1.0, float(np.max(np.abs(_f64(x))))), (n, l0)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=MAX_EXAMPLES)
@given(
    n=st.sampled_from([1, 2, 3, 7, 8, 9, 16, 17, 100, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 5]),
    c=st.sampled_from([0.0, 1.0, -3.25, 87.5, -1000.0, 3e4, 1e30, -1e30]),
)
@example(n=BLOCK - 1, c=1.0)
@example(n=BLOCK, c=0.0)
@example(n=3 * BLOCK + 5, c=-3.25)
def test_constant_row_exact_values(dtype, n, c):
    """A constant row c: lse = c + log n, softmax = 1/n, log_softmax = -log n, the entropy of
    the softmax and of the uniform distribution = log n (each within the dtype tolerance,
    from both sides)."""
    x = np.full(n, c, dtype=np.float64).astype(dtype)
    assume(np.isfinite(x).all())
    cv = float(x[0])
    t = tol_for(dtype)
    ln = math.log(n)
    lse = float(lc.logsumexp(x))
    assert abs(lse - (cv + ln)) <= t * max(1.0, abs(cv) + ln), (lse, cv + ln)
    p = _f64(lc.softmax(x))
    assert np.all(np.abs(p - 1.0 / n) <= 4 * _eps(dtype) / n), (p.min(), p.max(), 1.0 / n)
    lp = _f64(lc.log_softmax(x))
    assert np.all(np.abs(lp + ln) <= t * max(1.0, ln)), (lp.min(), lp.max(), -ln)
    h = float(lc.softmax_entropy(x))
    assert abs(h - ln) <= t * max(1.0, ln), (h, ln)
    u = np.full(n, 1.0 / n).astype(dtype)
    hu = float(lc.entropy(u))
    want = -n * float(u[0]) * math.log(float(u[0]))  # the rounded 1/n, exactly
    assert abs(hu - want) <= t * max(1.0, ln), (hu, want, ln)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=MAX_EXAMPLES)
@given(data=st.data())
def test_lse_between_max_and_max_plus_log_n_exactly_at_ends(dtype, data):
    """max <= lse <= max + log n, with the ends reached: one entry far above the others gives
    lse ~ max, all entries equal gives max + log n."""
    x = data.draw(rows(dtype, max_abs=1e4))
    n, m = x.size, float(np.max(_f64(x)))
    lse = _lse(x)
    sl = _slack(dtype, x, lse)
    assert m - sl <= lse <= m + math.log(n) + sl
    far = x.copy()
    far[int(np.argmax(_f64(x)))] = np.asarray(m + 200.0, dtype=dtype)
    assume(np.isfinite(far).all())
    mf = float(np.max(_f64(far)))
    assert abs(_lse(far) - mf) <= _slack(dtype, far), (_lse(far), mf)


# --------------------------------------------------------------------------------------
# special values: rows with NaN, +inf and -inf anywhere (README "special values", "softmax
# special rows")


@st.composite
def special_rows(draw, dtype):
    """A finite row with some entries replaced by -inf, +inf or NaN (or every entry -inf),
    at random positions or at the ends of blocks."""
    x = draw(rows(dtype, max_abs=1e4)).astype(np.float64)
    n = x.size
    kind = draw(st.sampled_from(["ninf", "pinf", "nan", "mixed", "all_ninf", "pinf_ninf"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    edges = [i for j in range(0, n, BLOCK) for i in (j, j + BLOCK - 1) if i < n]

    def where(k):
        k = min(k, n)
        if draw(st.booleans()) and edges:
            return rng.choice(edges, size=min(k, len(edges)), replace=False)
        return rng.choice(n, size=k, replace=False)

    if kind == "all_ninf":
        x[:] = -np.inf
    else:
        if kind in ("ninf", "mixed", "pinf_ninf"):
            x[where(int(rng.integers(1, n + 1)))] = -np.inf
        if kind in ("pinf", "mixed", "pinf_ninf"):
            x[where(int(rng.integers(1, 4)))] = np.inf
        if kind in ("nan", "mixed"):
            x[where(int(rng.integers(1, 3)))] = np.nan
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=MAX_EXAMPLES)
@given(data=st.data())
def test_special_value_rules(dtype, data):
    x = data.draw(special_rows(dtype))
    xd = _f64(x)
    nan, pinf = np.isnan(xd), xd == np.inf
    fin = np.isfinite(xd)
    k = int(pinf.sum())
    lse = lc.logsumexp(x)
    p = lc.softmax(x)
    lp = lc.log_softmax(x)
    h = lc.softmax_entropy(x)
    st_ = lc.LogSumExpState(1, dtype=dtype).update(x[None])
    assert p.dtype == dtype and lp.dtype == dtype and np.asarray(lse).dtype == dtype
    if nan.any():  # NaN anywhere wins, whatever else the row holds
        assert np.isnan(lse) and np.isnan(h) and np.isnan(p).all() and np.isnan(lp).all()
        assert np.isnan(st_.result()[0])
    elif k:  # +inf: the uniform distribution over the +inf entries
        assert lse == np.inf and st_.result()[0] == np.inf
        assert np.all(p[~pinf] == 0) and np.all(lp[~pinf] == -np.inf)
        assert_close(p[pinf], np.full(k, 1.0 / k), dtype, rel=True, what="softmax on +inf entries")
        assert_close(lp[pinf], np.full(k, -math.log(k)), dtype, what="log_softmax on +inf entries")
        assert_close(h, math.log(k), dtype, what="softmax_entropy of a +inf row")
    elif not fin.any():  # every entry -inf: no support
        assert lse == -np.inf and st_.result()[0] == -np.inf
        assert np.all(p == 0) and np.all(lp == -np.inf) and h == 0.0
    else:  # -inf entries are removed: the finite entries alone
        xf = x[fin]
        sc = finite_scale(xf)
        assert_close(lse, lc.reference.logsumexp(xf), dtype, scale=sc, what="lse of the finite entries")
        assert_close(st_.result()[0], lc.reference.logsumexp(xf), dtype, scale=sc, what="streamed")
        assert np.all(p[~fin] == 0) and np.all(lp[~fin] == -np.inf)
        assert_close(p[fin], lc.reference.softmax(xf), dtype, scale=sc, rel=True, what="softmax of the finite entries")
        assert_close(lp[fin], lc.reference.log_softmax(xf), dtype, scale=sc, what="log_softmax of the finite entries")
        assert_close(h, lc.reference.softmax_entropy(xf), dtype, scale=sc * max(1.0, math.log(xf.size)),
                     what="softmax_entropy of the finite entries")
    # softmax_entropy(x) == entropy(softmax(x)) on every row
    assert_close(h, lc.entropy(p), dtype, scale=finite_scale(x) * max(1.0, math.log(x.size)), factor=4,
                 what="softmax_entropy vs entropy(softmax)")
    # a weight of 0 removes an entry whatever its value; weights of both signs on +inf: NaN
    keep = fin | (np.arange(x.size) % 2 == 0)
    b = keep.astype(dtype)
    got = lc.logsumexp(x, b=b)
    xk = x[keep]
    want = np.nan if np.isnan(_f64(xk)).any() else (np.inf if (xk == np.inf).any() else None)
    if want is None:
        assert_close(got, lc.reference.logsumexp(xk) if xk.size else -np.inf, dtype, scale=finite_scale(xk),
                     what="zero weights remove their entries")
    else:
        np.testing.assert_array_equal(got, want)
    if k >= 2 and not nan.any():
        b2 = np.ones(x.size, dtype)
        b2[np.flatnonzero(pinf)[0]] = -1.0
        got2 = lc.logsumexp(x, b=b2)
        assert np.isnan(got2), (
            f"+inf entries with weights of both signs: {got2!r} for n={x.size}, +inf at "
            f"{np.flatnonzero(pinf).tolist()} (weight -1 at the first), -inf at {np.flatnonzero(xd == -np.inf)[:8].tolist()}")
