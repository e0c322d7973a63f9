"""entropy_normalize (docs/math.md §2): achieved entropy, laws, references, range policy, errors,
layouts, ISA paths and thread counts.

Every check measures the result independently in float64 from the returned q:

* achieved entropy H(q) = -sum q log q (0 log 0 = 0) must be within ``tol`` of the target,
  plus an allowance for rounding q to its dtype (float32: 1e-6 (1 + H); float64: 1e-12 (1 + H));
* the reachable range is recomputed from the input: h_max = log #support, h_min = log #ties
  at the maximum (exact equality in the input dtype);
* q is compared with the float64 power transform softmax(gamma * z) at the reported gamma
  (z = log p, or the logits), with a relative error budget of a few ulps of the dtype times
  (1 + gamma * a_i): the kernels round the log weight w = z - z_max in the dtype before
  scaling it by gamma, a_i = |z_i - z_max| for logits, |log p_i| + |log p_max| for
  probabilities (two rounded logs). The same rounding may move the entropy the search sees
  at gamma by gamma^2 sum_i q_i |w_i - E w| 16 eps a_i (``rounding_htol``);
* two results that both satisfy the tolerance may differ by a gamma shift of at most
  (tol_a + tol_b) / |dH/dgamma| = (tol_a + tol_b) / (gamma Var_q z); the corresponding shift
  of q_i is q_i |z_i - E_q z| times that (first order). Comparisons with the bisection
  reference, the article's iteration, other ISAs and the logits form use that bound.
"""
from __future__ import annotations

import numpy as np
import pytest

import logitcore as lc
from logitcore import reference as ref
from logitcore.entropy_norm import EntropyNormalizeInfo, default_tol

from ._helpers import BLOCK, assert_bitwise_equal, forced_isa

en = lc.entropy_normalize

# every test runs on every ISA the host supports
pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"), pytest.mark.usefixtures("isa")]

DTYPES = [np.float64, np.float32]
SIZES = (
    list(range(1, 18))
    + [31, 32, 33, 63, 64, 65, 100, 255, 256, 257, 1000]
    + [BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 1, 10_000]
)


# --------------------------------------------------------------------------------------
# data and independent float64 measurements


def make_logits(rng, nrows, n, *, scale=(-2.0, 2.0), ties=0.3, zeros=0.3):
    """float64 logits, one row per line: normal / uniform / Zipf-like / Laplace shapes scaled
    by 10**U(scale) (0.01..100: flat to extremely peaked); with probability ``ties`` 2..6
    entries tied at the maximum, with probability ``zeros`` 5-60% of the non-maximal entries
    set to -inf (probability 0)."""
    z = np.empty((nrows, n))
    for r in range(nrows):
        kind = rng.integers(4)
        if kind == 0:
            b = rng.standard_normal(n)
        elif kind == 1:
            b = rng.uniform(-1.0, 1.0, n)
        elif kind == 2:
            b = -np.log(rng.permutation(n) + 1.0)
        else:
            b = rng.laplace(size=n)
        z[r] = b * 10 ** rng.uniform(*scale)
        if n > 1 and rng.random() < ties:
            k = int(rng.integers(2, min(n, 6) + 1))
            z[r, rng.choice(n, k, replace=False)] = z[r].max()
        if n > 1 and rng.random() < zeros:
            cand = np.flatnonzero(z[r] < z[r].max())
            if cand.size:
                k = max(1, int(rng.uniform(0.05, 0.6) * cand.size))
                z[r, rng.choice(cand, k, replace=False)] = -np.inf
    return z


def to_prob(z, dtype=np.float64):
    """softmax in float64 (exact ties stay exact), then rounded to dtype."""
    with np.errstate(invalid="ignore"):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(dtype)


def make_input(rng, nrows, n, dtype, logits, **kw):
    z = make_logits(rng, nrows, n, **kw)
    return z.astype(dtype) if logits else to_prob(z, dtype)


def log_weights(x, logits):
    """z in float64 from the input exactly as given: the logits, or log p (-inf for p = 0)."""
    x = np.asarray(x, dtype=np.float64)
    if logits:
        return x.copy()
    with np.errstate(divide="ignore"):
        return np.log(x)


def reach(x, logits):
    """(h_min, h_max, support mask, tie mask) from the input: log #ties, log #support."""
    z = log_weights(x, logits)
    sup = z > -np.inf
    ties = z == z.max(axis=-1, keepdims=True)
    return np.log(ties.sum(-1)), np.log(sup.sum(-1)), sup, ties


def H64(q):
    """-sum q log q in float64 with 0 log 0 = 0."""
    q = np.asarray(q, dtype=np.float64)
    lq = np.log(q, out=np.zeros_like(q), where=q > 0)
    return -(q * lq).sum(axis=-1)


def allowance(dtype, h):
    """Rounding of q to the result dtype, on the achieved entropy."""
    dtype = np.dtype(dtype)
    c = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-6, np.dtype(np.float16): 2e-3}[dtype]
    return c * (1.0 + np.abs(h))


def sum_tol(dtype):
    dtype = np.dtype(dtype)
    return {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-6, np.dtype(np.float16): 4e-3}[dtype]


def q_at(z, gamma):
    """float64 power transform of rows z (log weights) at the given gammas:
    softmax(gamma z); gamma = 0: uniform over the support; gamma = inf: uniform over ties."""
    z = np.atleast_2d(z)
    gamma = np.broadcast_to(np.asarray(gamma, dtype=np.float64), z.shape[:-1])
    zm = z.max(axis=-1, keepdims=True)
    w = z - zm
    sup = z > -np.inf
    ties = z == zm
    g = gamma[..., None]
    with np.errstate(invalid="ignore", over="ignore"):
        gf = np.where(np.isfinite(g), g, 0.0)
        e = np.where(sup, np.exp(gf * np.where(sup, w, 0.0)), 0.0)
        q = e / e.sum(axis=-1, keepdims=True)
    q = np.where(g == 0, sup / sup.sum(-1, keepdims=True), q)
    q = np.where(g == np.inf, ties / ties.sum(-1, keepdims=True), q)
    return q


def moments(z, gamma):
    """(E_q w, Var_q w) of the float64 power transform at gamma (w = z - max z)."""
    q = q_at(z, gamma)
    w = z - z.max(axis=-1, keepdims=True)
    w = np.where(np.isfinite(w), w, 0.0)
    m1 = (q * w).sum(-1)
    var = (q * (w - m1[..., None]) ** 2).sum(-1)
    return m1, var


def eps_of(dtype):
    return float(np.finfo(np.dtype(dtype)).eps)


def consistency_bound(z, gamma, dtype, logits):
    """Budget for |q - softmax(gamma z)|: a few ulps of the dtype times (1 + gamma a_i), plus
    the dtype's smallest normal for entries that underflow. a_i bounds the rounding of the
    kernel's log weight w_i = z_i - z_max in units of ulps: |z_i - z_max| for logits (one
    rounded subtraction), |log p_i| + |log p_max| for probabilities (two rounded logs)."""
    zm = z.max(axis=-1, keepdims=True)
    a = np.abs(z - zm) if logits else np.abs(z) + np.abs(zm)
    a = np.where(np.isfinite(a), a, 0.0)
    g = np.asarray(gamma, dtype=np.float64)[..., None]
    g = np.where(np.isfinite(g), g, 0.0)
    q = q_at(z, gamma)
    fi = np.finfo(np.dtype(dtype))
    return 16 * float(fi.eps) * q * (1.0 + g * a) + 2 * float(fi.tiny)


def rounding_htol(z, gamma, dtype, logits):
    """How far the rounding of the kernel's log weights (see consistency_bound) can move the
    entropy at gamma: dH/dw_i = -gamma^2 q_i (w_i - E w), |dw_i| <= 16 eps a_i."""
    zm = z.max(axis=-1, keepdims=True)
    a = np.abs(z - zm) if logits else np.abs(z) + np.abs(zm)
    a = np.where(np.isfinite(a), a, 0.0)
    g = np.asarray(gamma, dtype=np.float64)
    gf = np.where(np.isfinite(g), g, 0.0)
    m1, _ = moments(z, gamma)
    q = q_at(z, gamma)
    w = z - zm
    d = np.where(np.isfinite(w), np.abs(w - m1[..., None]), 0.0)
    return gf**2 * (q * d * 16 * eps_of(dtype) * a).sum(-1)


def shift_bound(z, gamma, htol):
    """First-order bound on |dq| for a gamma shift that moves H by at most htol:
    dgamma = htol / (gamma Var), |dq_i| = q_i |w_i - E w| dgamma (with 1.5x slack)."""
    gamma = np.asarray(gamma, dtype=np.float64)
    m1, var = moments(z, gamma)
    with np.errstate(divide="ignore", invalid="ignore"):
        dg = np.where((gamma > 0) & np.isfinite(gamma), 1.5 * np.asarray(htol) / (gamma * var), 0.0)
    q = q_at(z, gamma)
    w = z - z.max(axis=-1, keepdims=True)
    d = np.where(np.isfinite(w), np.abs(w - m1[..., None]), 0.0)
    return np.nan_to_num(q * d * dg[..., None], nan=np.inf), dg


class Failures:
    """Collects per-row problems by category; one assertion with examples at the end."""

    def __init__(self):
        self.items = {}

    def add(self, what, mask, describe):
        idx = np.flatnonzero(np.asarray(mask).reshape(-1))
        if idx.size:
            lst = self.items.setdefault(what, [0, []])
            lst[0] += idx.size
            if len(lst[1]) < 4:
                lst[1].extend(describe(int(i)) for i in idx[: 4 - len(lst[1])])

    def check(self):
        if self.items:
            msg = []
            for what, (count, ex) in self.items.items():
                msg.append(f"{what}: {count} rows, e.g.\n    " + "\n    ".join(ex))
            raise AssertionError("\n".join(msg))


def check_result(x, t, q, info, *, logits, tol=None, max_iter=50, fails=None, label="", check_range=True):
    """Everything the contract says about one batch of rows (rows along the last axis).

    In-range rows: converged, achieved entropy within tol (+ rounding allowance), q matches
    softmax(gamma z) at the reported gamma. Out-of-range rows: clipped to the uniform over the
    support / over the ties. All rows: reachable range reported exactly, q >= 0, sums to 1,
    zeros stay exactly 0, n_iter within [1, max_iter]."""
    own = fails is None
    fails = Failures() if own else fails
    x = np.asarray(x)
    rdt = np.dtype(np.float64) if x.dtype.kind != "f" else x.dtype
    cdt = np.dtype(np.float32) if rdt == np.float16 else rdt
    tol = default_tol(cdt) if tol is None else tol
    assert q.shape == x.shape and q.dtype == rdt, f"{label}: {q.dtype}{q.shape} for {x.dtype}{x.shape}"
    batch = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    q2 = q.reshape(-1, x.shape[-1])
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), batch).reshape(-1)
    g = info.gamma.reshape(-1)
    for f in ("gamma", "n_iter", "converged", "clipped", "entropy", "h_min", "h_max"):
        assert getattr(info, f).shape == batch, f"{label}: info.{f} has shape {getattr(info, f).shape}"
    h_min, h_max, sup, ties = reach(x2, logits)
    z = log_weights(x2, logits)
    h = H64(q2)
    n = x.shape[-1]

    def d(i):
        return (
            f"{label} n={n} row {i}: target {t[i]!r}, H(q) {h[i]!r}, gamma {g[i]!r}, "
            f"n_iter {info.n_iter.reshape(-1)[i]}, converged {info.converged.reshape(-1)[i]}, "
            f"clipped {info.clipped.reshape(-1)[i]}, h_min {info.h_min.reshape(-1)[i]!r} (want {h_min[i]!r}), "
            f"h_max {info.h_max.reshape(-1)[i]!r} (want {h_max[i]!r}), info.entropy {info.entropy.reshape(-1)[i]!r}"
        )

    if check_range:
        fails.add("info.h_min != log(#ties at the maximum)", ~np.isclose(info.h_min.reshape(-1), h_min, rtol=0, atol=1e-12), d)
        fails.add("info.h_max != log(#support)", ~np.isclose(info.h_max.reshape(-1), h_max, rtol=0, atol=1e-12), d)
    fails.add("q not finite or negative", ~np.all(np.isfinite(q2) & (q2 >= 0), axis=-1), d)
    fails.add("zero probability (or -inf logit) got nonzero q", np.any((q2 != 0) & ~sup, axis=-1), d)
    fails.add(
        "q does not sum to 1",
        ~(np.abs(q2.sum(-1, dtype=np.float64) - 1) <= sum_tol(rdt)),
        d,
    )
    it = info.n_iter.reshape(-1)
    fails.add("n_iter outside [1, max_iter]", (it < 1) | (it > max_iter), d)
    above = t > h_max + tol
    below = t < h_min - tol
    inside = ~above & ~below
    conv = info.converged.reshape(-1)
    clip = info.clipped.reshape(-1)
    err = np.abs(h - t)
    fails.add("in-range target not converged", inside & ~conv, d)
    fails.add("in-range target flagged clipped", inside & clip, d)
    fails.add("achieved entropy off by more than tol", inside & ~(err <= tol + allowance(rdt, h)), d)
    fails.add("converged but info.entropy off by more than tol", conv & ~(np.abs(info.entropy.reshape(-1) - t) <= tol), d)
    # q is the power transform at the reported gamma
    qe = q_at(z, g)
    cb = consistency_bound(z, g, cdt, logits)
    if rdt != cdt:  # float16 result: one more rounding
        cb = cb + float(np.finfo(rdt).eps) * qe + float(np.finfo(rdt).smallest_subnormal)
    bad = np.any(~(np.abs(q2 - qe) <= cb), axis=-1)
    fails.add("q != softmax(gamma z) at the reported gamma", inside & np.isfinite(g) & bad, d)
    # clipping
    for name, mask, want_g, mask_q, hh in (("above", above, 0.0, sup, h_max), ("below", below, np.inf, ties, h_min)):
        if not mask.any():
            continue
        fails.add(f"target {name} range: not clipped / converged flag", mask & (~clip | conv), d)
        fails.add(f"target {name} range: gamma != {want_g}", mask & (g != want_g), d)
        want_q = (mask_q / mask_q.sum(-1, keepdims=True)).astype(rdt)
        fails.add(f"target {name} range: q is not the uniform distribution", mask & np.any(q2 != want_q, axis=-1), d)
        fails.add(f"target {name} range: info.entropy != boundary", mask & (info.entropy.reshape(-1) != hh), d)
    if n == 1:
        fails.add("n = 1 row is not [1]", q2[:, 0] != 1, d)
    if own:
        fails.check()
    return fails


def random_targets(rng, h_min, h_max, lo=0.01, hi=0.99):
    u = rng.uniform(lo, hi, np.shape(h_min))
    return h_min + u * (h_max - h_min)


# --------------------------------------------------------------------------------------
# achieved entropy on many varied rows


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("targets", ["per_row", "scalar"])
def test_achieved_entropy_varied_rows(dtype, logits, targets, rng):
    fails = Failures()
    nrows = 0
    for n in SIZES:
        k = 48 if n <= 2 * BLOCK + 1 else 12
        x = make_input(rng, k, n, dtype, logits)
        h_min, h_max, _, _ = reach(x, logits)
        if targets == "per_row":
            t = random_targets(rng, h_min, h_max)
            t[-2:] = random_targets(rng, h_min[-2:], h_max[-2:], 0.001, 0.999)  # near the ends
        else:
            t = float(rng.uniform(0, np.log(n) + 0.5))  # rows where it is out of range are clipped
        q, info = en(x, t, logits=logits, return_info=True)
        check_result(x, t, q, info, logits=logits, fails=fails, label=f"{np.dtype(dtype).name}")
        nrows += k
    assert nrows >= 1000
    fails.check()


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_achieved_entropy_long_rows(dtype, logits, rng):
    fails = Failures()
    for n, scales in ((65_537, [(-2, -1.5), (0, 0.3), (1.5, 2)]), (1_000_000, [(-0.3, 0.3), (1.0, 1.3)])):
        for sc in scales:
            x = make_input(rng, 1, n, dtype, logits, scale=sc, ties=0.5, zeros=0.5)
            h_min, h_max, _, _ = reach(x, logits)
            t = random_targets(rng, h_min, h_max, 0.05, 0.95)
            q, info = en(x, t, logits=logits, return_info=True)
            check_result(x, t, q, info, logits=logits, fails=fails, label=f"scale 1e{sc}")
    fails.check()


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
def test_n1_rows_return_one(dtype, logits):
    x = np.zeros((5, 1), dtype=dtype) if logits else np.ones((5, 1), dtype=dtype)
    if logits:
        x[:, 0] = [-3.0, 0.0, 7.5, -1e4, 1e4] if dtype != np.float16 else [-3, 0, 7.5, -1e4, 1e4]
    for t in (0.0, 0.5, -0.5, [0.0, 1.0, -1.0, 2.0, 1e-12]):
        q, info = en(x, t, logits=logits, return_info=True)
        assert q.dtype == dtype and q.shape == (5, 1)
        np.testing.assert_array_equal(q, np.ones((5, 1), dtype=dtype))
        np.testing.assert_array_equal(info.h_min, 0.0)
        np.testing.assert_array_equal(info.h_max, 0.0)
    q = en(np.float64(1.0), 0.3)  # 0-d input: one outcome
    assert q.shape == () and q == 1.0


def test_zeros_and_neg_inf_stay_exactly_zero(rng):
    # zeros everywhere in the row, tiny nonzero neighbours, peaked rows, targets near both ends
    for dtype in DTYPES:
        for logits in (False, True):
            for n in (7, 64, BLOCK + 3, 3 * BLOCK):
                x = make_input(rng, 24, n, dtype, logits, ties=0.5, zeros=1.0)
                h_min, h_max, sup, _ = reach(x, logits)
                for lo, hi in ((0.001, 0.01), (0.4, 0.6), (0.99, 0.999)):
                    t = random_targets(rng, h_min, h_max, lo, hi)
                    q = en(x, t, logits=logits)
                    assert np.all(q[~sup.reshape(q.shape)] == 0)
                    assert np.all(q[sup.reshape(q.shape)] >= 0)


def test_subnormal_and_tiny_probabilities(rng):
    """Probabilities down to the subnormal range are support, not zeros."""
    for dtype in DTYPES:
        tiny = float(np.finfo(dtype).smallest_subnormal)
        x = np.array([[0.5, 0.25, 0.25 - 4 * tiny, 2 * tiny, tiny, 3 * tiny, 0.0]], dtype=dtype)
        x[0, 2] = 1 - x[0, :2].sum(dtype=dtype) - x[0, 3:].sum(dtype=dtype)
        h_min, h_max, _, _ = reach(x, False)
        assert h_max[0] == np.log(6)
        t = random_targets(rng, np.repeat(h_min, 16), np.repeat(h_max, 16), 0.01, 0.99)
        xx = np.repeat(x, 16, axis=0)
        q, info = en(xx, t, return_info=True)
        np.testing.assert_array_equal(info.h_max, np.log(6))
        check_result(xx, t, q, info, logits=False, label=np.dtype(dtype).name, check_range=False)


def test_float16_and_integer_inputs(rng):
    z = make_logits(rng, 32, 40, scale=(-1, 0.7), zeros=0.0)
    p16 = to_prob(z, np.float16)
    p16 = p16 / p16.sum(-1, keepdims=True, dtype=np.float32)  # sums within the float16 eps
    p16 = p16.astype(np.float16)
    h_min, h_max, _, _ = reach(p16, False)
    t = random_targets(rng, h_min, h_max, 0.1, 0.9)
    q, info = en(p16, t, return_info=True)
    check_result(p16, t, q, info, logits=False, label="float16")
    q, info = en(z.astype(np.float16), t, logits=True, return_info=True)
    assert q.dtype == np.float16
    # integer counts (renormalized) compute in float64
    counts = rng.integers(0, 5, size=(10, 12))
    counts[:, 0] += 1
    t = 0.5 * np.log((counts > 0).sum(-1))
    q, info = en(counts, t, renormalize=True, return_info=True)
    assert q.dtype == np.float64
    check_result(counts / counts.sum(-1, keepdims=True), t, q, info, logits=False, label="int")
    q2 = en(counts.astype(np.float64) / counts.sum(-1, keepdims=True), t)
    np.testing.assert_allclose(q, q2, rtol=1e-9, atol=1e-300)


def test_info_fields_and_repr(rng):
    x = to_prob(make_logits(rng, 6, 20, zeros=0.0, ties=0.0), np.float64).reshape(2, 3, 20)
    q, info = en(x, 1.5, return_info=True)
    assert isinstance(info, EntropyNormalizeInfo)
    assert info.gamma.shape == (2, 3) and info.gamma.dtype == np.float64
    assert info.converged.dtype == bool and info.clipped.dtype == bool
    assert np.issubdtype(info.n_iter.dtype, np.integer)
    assert "EntropyNormalizeInfo(rows=6" in repr(info)
    assert isinstance(en(x, 1.5), np.ndarray)  # no info without return_info
    # an empty batch
    q, info = en(np.ones((0, 4)) / 4, 1.0, return_info=True)
    assert q.shape == (0, 4) and info.gamma.shape == (0,)


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_perplexity_equals_log_target(dtype, logits, rng):
    x = make_input(rng, 10, 50, dtype, logits)
    h_min, h_max, _, _ = reach(x, logits)
    t = random_targets(rng, h_min, h_max)
    q2, i2 = en(x, perplexity=np.exp(t), logits=logits, return_info=True)
    q1, i1 = en(x, np.log(np.exp(t)), logits=logits, return_info=True)
    assert_bitwise_equal(q2, q1, "perplexity vs log")
    assert_bitwise_equal(i2.gamma, i1.gamma, "perplexity vs log: gamma")
    check_result(x, np.log(np.exp(t)), q2, i2, logits=logits)
    # perplexity 1 = entropy 0: the argmax (uniform over its ties)
    q, info = en(x, perplexity=1.0, logits=logits, return_info=True)
    check_result(x, 0.0, q, info, logits=logits)


# --------------------------------------------------------------------------------------
# the search itself: hard rows, max_iter, honest flags


SATURATED_ROWS = [
    # logits with several tied maxima far above the rest: H(gamma) sits at log(#ties) for
    # gamma >= ~0.1 and the root is at small gamma
    (
        np.array([197.48172373132002, 0.9593358128782201, -17.235950412832086, -68.62528795173411,
                  -8.185156911511477, -6.230514132125694, -74.01632851672628, -71.73270810199907,
                  197.48172373132002, 11.200738956518938, -23.331372378257033, -4.295271014378601,
                  91.33051525134898, 197.48172373132002, 35.93913704845758, -7.467259542741272,
                  197.48172373132002, 13.435779297075532, 197.48172373132002, 3.6324614119735172,
                  -18.82340238788633, 43.889135469796734, -63.24695958944116, 13.674242140778492,
                  41.53294399483378, 197.48172373132002, 48.22537704653412]),
        2.2031683495935783,
    ),
    (np.array([100.0, 100.0, 0.0, -5.0, -20.0, -50.0]), 1.0),
    (np.array([100.0, 0.0, 0.0, 0.0, 0.0, 0.0]), 1.0),
    (np.array([95.74429, -39.590847, -101.71754, -16.00847, -5.9753375, -13.623845]), 0.8086829819656686),
    (np.array([-126.36677, -0.0, -100.143295, -146.70728, -np.inf, -163.32668]), 0.8436595352929287),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", range(len(SATURATED_ROWS)))
def test_search_converges_when_h_saturates(case, dtype):
    """Peaked rows whose root is at gamma << 1: from gamma = 1, where H is flat at its
    minimum, Halley/Newton steps are tiny; the bracket must still shrink (bisection)."""
    z, t = SATURATED_ROWS[case]
    fails = Failures()
    for logits in (True, False):
        x = z.astype(dtype) if logits else to_prob(z[None], dtype)[0]
        if not logits and (x > 0).sum() < 2:
            continue
        h_min, h_max, _, _ = reach(x, logits)
        tt = float(np.clip(t, h_min + 0.05 * (h_max - h_min), h_max - 0.05 * (h_max - h_min)))
        q, info = en(x, tt, logits=logits, return_info=True)
        check_result(x[None], tt, q[None], EntropyNormalizeInfo(**{
            f: np.asarray(getattr(info, f))[None] for f in info.__dataclass_fields__}), logits=logits,
            label=f"logits={logits} x={x.tolist()}", fails=fails, check_range=False)
    fails.check()


def test_search_converges_on_a_peaked_pair():
    """Smallest case of the above: p = softmax([0, -180]); the root is at gamma ~ 0.0125."""
    for dtype in DTYPES:
        for x, logits in ((np.array([0.0, -180.0]), True), (to_prob(np.array([[0.0, -180.0]]))[0], False)):
            x = x.astype(dtype)
            if not logits and x[1] == 0:
                continue  # float32 underflow
            q, info = en(x, np.log(2) / 2, logits=logits, return_info=True)
            assert info.converged, f"{np.dtype(dtype).name} logits={logits}: gamma {info.gamma}, H {info.entropy}, n_iter {info.n_iter}"
            assert abs(H64(q) - np.log(2) / 2) <= default_tol(dtype) + allowance(dtype, 1.0)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_converged_flag_is_honest_for_any_max_iter(dtype, rng):
    """converged <=> |H - target| <= tol, whatever the iteration budget; the returned q is
    always the power transform at the reported gamma, n_iter <= max_iter."""
    x = make_input(rng, 200, 50, dtype, True)
    h_min, h_max, _, _ = reach(x, True)
    t = random_targets(rng, h_min, h_max)
    tol = default_tol(dtype)
    z = log_weights(x, True)
    for max_iter in (1, 2, 3, 5):
        q, info = en(x, t, logits=True, max_iter=max_iter, return_info=True)
        assert np.all(info.n_iter <= max_iter) and np.all(info.n_iter >= 1)
        h = H64(q)
        ok = np.abs(h - t) <= tol + allowance(dtype, h)
        assert np.all(ok[info.converged]), f"max_iter={max_iter}: converged rows miss the target"
        assert np.all(np.isfinite(q))
        assert np.all(np.abs(q - q_at(z, info.gamma)) <= consistency_bound(z, info.gamma, dtype, True))
        if max_iter == 1:
            # one pass: only the points of the first pass (gamma = 1, 2, 4: p, p^2, p^4) were
            # evaluated; the row gets the best of them
            g1 = info.gamma[~info.converged]
            assert np.all(np.isin(g1, [1.0, 2.0, 4.0])), g1[~np.isin(g1, [1.0, 2.0, 4.0])][:5]
    q, info = en(x, t, logits=True, max_iter=50, return_info=True)
    bad = np.flatnonzero(~info.converged)
    assert bad.size == 0, (
        f"{bad.size} in-range rows not converged in 50 passes, e.g. row {x[bad[0]].tolist()} target {t[bad[0]]!r}: "
        f"gamma {info.gamma[bad[0]]!r}, H {info.entropy[bad[0]]!r}")


def search_margin(dtype, t):
    """The margin the search keeps below tol for the rounding of q (README: 4 eps (2 + |target|),
    eps of the computation dtype), evaluated as the library does, in float64."""
    return 4.0 * float(np.finfo(np.dtype(dtype)).eps) * (2.0 + np.abs(np.asarray(t, dtype=np.float64)))


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_converged_is_exactly_the_stopping_rule(dtype, logits, rng):
    """Rows the search handles report converged exactly when |H - target| <= tol - margin
    for the entropy H it reports (info.entropy), whatever tol and max_iter. tol = 0 never
    converges (the margin), and neither does a float32 tol far below the dtype's resolution."""
    x = make_input(rng, 300, 40, dtype, logits, ties=0.1)
    h_min, h_max, _, _ = reach(x, logits)
    t = random_targets(rng, h_min, h_max, 0.05, 0.95)
    m = search_margin(dtype, t)
    for tol in (0.0, 1e-15, 1e-12, 1e-9, 1e-7, 1e-6, 1e-5, 1e-3):
        inside = (t > h_min + tol) & (t < h_max - tol)  # not an end of the range
        assert inside.sum() > 250
        for max_iter in (1, 2, 50):
            q, info = en(x, t, logits=logits, tol=tol, max_iter=max_iter, return_info=True)
            rule = np.abs(info.entropy - t) <= tol - m
            bad = np.flatnonzero(inside & (info.converged != rule))
            assert bad.size == 0, (
                f"tol={tol} max_iter={max_iter}: converged={info.converged[bad[0]]} for |H - target| = "
                f"{abs(info.entropy[bad[0]] - t[bad[0]])!r}, tol - margin = {tol - m[bad[0]]!r}")
            assert not np.any(info.converged & ~(np.abs(H64(q) - t) <= tol + allowance(dtype, t)))
            if tol == 0 or (dtype == np.float32 and tol <= 1e-7):
                assert not info.converged[inside].any(), f"tol={tol}: {np.flatnonzero(info.converged)[:5]}"
            if max_iter == 50 and tol >= 1e-5:
                assert info.converged[inside].all()


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_stopping_rule_is_inclusive(dtype, logits, rng):
    """|H - target| equal to tol - margin, exactly, counts as converged; one ulp less of tol
    does not. With max_iter=1 the search only looks at gamma = 1, whose entropy h1 does not
    depend on the target, so the target can be placed at an exact distance d from h1."""
    z = rng.standard_normal(12)
    x = z.astype(dtype) if logits else to_prob(z[None], dtype)[0]
    _, i0 = en(x, float(H64(q_at(log_weights(x[None], logits), 1.0))[0]), logits=logits, max_iter=1,
               return_info=True)
    assert i0.gamma == 1.0
    h1 = float(i0.entropy)
    d = 3 * 2.0**-21
    for t in (h1 + d, h1 - d):
        assert abs(t - h1) == d and abs(h1 - t) == d  # exact: no rounding in the distance
        margin = float(search_margin(dtype, t))
        tol = d + margin
        for _ in range(16):  # tol - margin == d exactly (in float64, as the library computes it)
            if tol - margin == d:
                break
            tol = float(np.nextafter(tol, np.inf if tol - margin < d else 0.0))
        assert tol - margin == d
        below = float(np.nextafter(tol, 0.0))
        assert below - margin < d
        _, info = en(x, t, logits=logits, tol=tol, max_iter=1, return_info=True)
        assert info.gamma == 1.0 and info.entropy == h1, (info.gamma, info.entropy, h1)
        assert info.converged, f"|H - target| == tol - margin == {d!r} must count as converged"
        _, info = en(x, t, logits=logits, tol=below, max_iter=1, return_info=True)
        assert info.gamma == 1.0 and not info.converged


def test_all_tied_rows(rng):
    """Every entry tied: h_min = h_max = log n; any target clips to (or equals) uniform."""
    for dtype in DTYPES:
        for logits in (False, True):
            for n in (2, 3, 8, 33):
                x = np.full((3, n), 1.0 / n, dtype=dtype) if not logits else np.full((3, n), 2.5, dtype=dtype)
                t = np.array([0.1, np.log(n), np.log(n) + 1.0])
                q, info = en(x, t, logits=logits, return_info=True)
                np.testing.assert_array_equal(q, np.full((3, n), 1.0 / n, dtype=dtype))
                np.testing.assert_array_equal(info.h_min, np.log(n))
                np.testing.assert_array_equal(info.h_max, np.log(n))
                np.testing.assert_array_equal(info.clipped, [True, False, True])
                np.testing.assert_array_equal(info.converged, [False, True, False])


# --------------------------------------------------------------------------------------
# laws


def check_order(x, q, logits, gamma, dtype):
    """q_i > q_j iff p_i > p_j where the float64 transform separates them by more than the
    rounding budget; never inverted; exact ties stay exactly tied."""
    z = log_weights(x, logits).reshape(-1, x.shape[-1])
    q = np.asarray(q, dtype=np.float64).reshape(-1, x.shape[-1])
    gamma = np.asarray(gamma).reshape(-1)
    qe = q_at(z, gamma)
    bound = consistency_bound(z, gamma, dtype, logits)
    o = np.argsort(-z, axis=-1, kind="stable")
    zs = np.take_along_axis(z, o, -1)
    qs = np.take_along_axis(q, o, -1)
    qes = np.take_along_axis(qe, o, -1)
    bs = np.take_along_axis(bound, o, -1)
    tied = zs[:, :-1] == zs[:, 1:]
    assert np.all(qs[:, :-1][tied] == qs[:, 1:][tied]), "equal inputs gave different q"
    assert np.all(qs[:, :-1] >= qs[:, 1:]), "order inverted"
    resolvable = ~tied & (qes[:, :-1] - bs[:, :-1] > qes[:, 1:] + bs[:, 1:])
    assert np.all(qs[:, :-1][resolvable] > qs[:, 1:][resolvable]), "distinct inputs collapsed to equal q"


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_order_preserved(dtype, logits, rng):
    for n in (2, 5, 17, 100, BLOCK + 5):
        x = make_input(rng, 40, n, dtype, logits, ties=0.6)
        h_min, h_max, _, _ = reach(x, logits)
        t = random_targets(rng, h_min, h_max, 0.0, 1.0)
        t[:4] = [h_min[0] - 1, h_max[1] + 1, h_min[2], h_max[3]]  # clipped and boundary rows too
        q, info = en(x, t, logits=logits, return_info=True)
        check_order(x, q, logits, info.gamma, dtype)


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_gamma_decreases_with_target(dtype, logits, rng):
    tol = default_tol(dtype)
    for n in (3, 40, 1000, BLOCK + 1):
        z = make_logits(rng, 6, n, scale=(-1, 1.3))
        for row in z:
            x = row.astype(dtype) if logits else to_prob(row[None], dtype)[0]
            h_min, h_max, _, _ = reach(x, logits)
            if h_max - h_min < 0.05:
                continue
            t = np.linspace(h_min + 0.01, h_max - 0.01, 40)  # spacing >> 2 tol
            assert np.diff(t).min() > 100 * tol
            xs = np.broadcast_to(x, (t.size, n))
            q, info = en(xs, t, logits=logits, return_info=True)
            bad = np.flatnonzero(~info.converged)
            assert bad.size == 0, (
                f"not converged for targets {t[bad].tolist()} on row {x.tolist() if n < 50 else '(long)'}: "
                f"gamma {info.gamma[bad].tolist()}, H {info.entropy[bad].tolist()}")
            g = info.gamma
            assert np.all(np.diff(g) < 0), f"gamma not decreasing in the target: {g}"
            assert np.all(np.diff(H64(q)) > 0)
            # the root at a target of H(p) is gamma = 1 (p itself)
            h1 = H64(q_at(log_weights(x, logits)[None], 1.0))[0]
            if h_min + 0.01 < h1 < h_max - 0.01:
                below = t < h1 - 2 * tol - 1e-6
                above = t > h1 + 2 * tol + 1e-6
                assert np.all(g[below] > 1) and np.all(g[above] < 1)


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_idempotent(dtype, logits, rng):
    """Normalizing q to its own entropy returns q (gamma ~ 1)."""
    tol = default_tol(dtype)
    for n in (2, 9, 300, BLOCK + 17):
        x = make_input(rng, 30, n, dtype, logits, scale=(-1.5, 1.5))
        h_min, h_max, _, _ = reach(x, logits)
        t = random_targets(rng, h_min, h_max, 0.05, 0.95)
        q = en(x, t, logits=logits)
        h = H64(q)
        q2, info = en(q, h, return_info=True)
        check_result(q, h, q2, info, logits=False, label=f"idempotence n={n}", check_range=False)
        z = log_weights(q, False)
        htol = 2 * (tol + allowance(dtype, h)) + rounding_htol(z, np.ones(len(h)), dtype, False)
        dq, dg = shift_bound(z, np.ones(len(h)), htol)
        assert np.all(np.abs(info.gamma - 1) <= dg + 1e-12), (info.gamma, dg)
        bound = dq + consistency_bound(z, np.ones(len(h)), dtype, False)
        assert np.all(np.abs(q2.astype(np.float64) - q) <= bound)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_probability_and_logit_forms_agree(dtype, rng):
    tol = default_tol(dtype)
    for n in (2, 10, 257, 5000):
        z = make_logits(rng, 40, n, scale=(-1.5, 1.5))
        p = to_prob(z, np.float64)
        # no underflow to zero or to subnormals in softmax (the same support, full precision)
        keep = np.all((p.astype(dtype) >= np.finfo(dtype).tiny) | (z == -np.inf), axis=-1)
        z, p = z[keep], p[keep]
        h_min, h_max, _, _ = reach(z, True)
        t = random_targets(rng, h_min, h_max)
        qp, ip = en(p.astype(dtype), t, return_info=True)
        qz, iz = en(z.astype(dtype), t, logits=True, return_info=True)
        zz = log_weights(z.astype(dtype), True)
        htol = (2 * (tol + allowance(dtype, t)) + rounding_htol(zz, iz.gamma, dtype, True)
                + rounding_htol(log_weights(p, False), iz.gamma, dtype, False))
        dq, dg = shift_bound(zz, iz.gamma, htol)
        # p rounded to dtype moves log p by an ulp: 2 ulps more per unit of gamma |w|
        bound = dq + 2 * consistency_bound(log_weights(p, False), iz.gamma, dtype, False)
        np.testing.assert_array_less(np.abs(ip.gamma - iz.gamma), dg + 4 * eps_of(dtype) * iz.gamma + 1e-300)
        err = np.abs(qp.astype(np.float64) - qz)
        assert np.all(err <= bound), f"n={n}: max excess {np.max(err - bound)}"


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_matches_bisection_reference(dtype, logits, rng):
    """q and gamma against logitcore.reference.entropy_normalize (float64 bisection)."""
    tol = default_tol(dtype)
    for n in (2, 3, 8, 50, 700, BLOCK + 1):
        z = make_logits(rng, 16, n, scale=(-1, 1))  # no float64 underflow of p
        x = z.astype(dtype) if logits else to_prob(z, dtype)
        h_min, h_max, _, _ = reach(x, logits)
        t = random_targets(rng, h_min, h_max)
        q, info = en(x, t, logits=logits, return_info=True)
        zz = log_weights(x, logits)
        p64 = q_at(zz, 1.0)
        qr, gr = ref.entropy_normalize(p64, t)
        htol = tol + allowance(dtype, t) + 1e-12 + rounding_htol(zz, gr, dtype, logits)  # library + reference
        dq, dg = shift_bound(zz, gr, htol)
        np.testing.assert_array_less(np.abs(info.gamma - gr), dg + 1e-10 * gr + 1e-300)
        bound = dq + consistency_bound(zz, gr, dtype, logits)
        err = np.abs(q.astype(np.float64) - qr)
        assert np.all(err <= bound), f"n={n}: max excess {np.max(err - bound)}"
    # tight tolerance: the same answer to ~1e-9 relative
    if dtype == np.float64:
        z = make_logits(rng, 20, 300, scale=(-0.5, 0.5), ties=0, zeros=0)
        x = z if logits else to_prob(z)
        t = random_targets(rng, *reach(x, logits)[:2], 0.1, 0.9)
        q, info = en(x, t, logits=logits, tol=1e-12, return_info=True)
        qr, gr = ref.entropy_normalize(q_at(log_weights(x, logits), 1.0), t, tol=1e-14)
        np.testing.assert_allclose(info.gamma, gr, rtol=1e-9)
        np.testing.assert_allclose(q, qr, rtol=1e-8, atol=1e-300)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_matches_article_iteration(dtype, rng):
    """The article's compounded Newton iteration (entropy_normalize_seed), 10 steps, on rows
    where it converges to the order-preserving root: same q."""
    tol = default_tol(dtype)
    t = np.log(30)
    used = 0
    for n in (40, 1000, 5000):
        p = to_prob(2 * rng.standard_normal((32, n)), dtype)
        p64 = p.astype(np.float64)
        qs = ref.entropy_normalize_seed(p64, t, 10)
        # the article's step can jump to a negative power (order reversed) that has the same
        # entropy: keep the rows where it converged and kept the order
        lp, lq = np.log(p64), np.log(np.maximum(qs, 1e-300))
        slope = ((lp - lp.mean(-1, keepdims=True)) * (lq - lq.mean(-1, keepdims=True))).sum(-1)
        ok = (np.abs(H64(qs) - t) <= 1e-12) & (slope > 0) & np.all(qs > 0, axis=-1)
        used += ok.sum()
        q, info = en(p, t, return_info=True)
        assert info.converged.all()
        z = log_weights(p, False)[ok]
        # gamma of the article's answer: fit log q = gamma log p + c on one pair of entries
        gs = (lq[ok][:, 0] - lq[ok][:, 1]) / (lp[ok][:, 0] - lp[ok][:, 1])
        dq, _ = shift_bound(z, gs, tol + allowance(dtype, t) + 1e-12 + rounding_htol(z, gs, dtype, False))
        bound = dq + consistency_bound(z, gs, dtype, False)
        err = np.abs(q[ok].astype(np.float64) - qs[ok])
        assert np.all(err <= bound), f"n={n}: max excess {np.max(err - bound)}, max err {err.max()}"
        lim = 1e-9 if dtype == np.float64 else 1e-5
        assert err.max() <= lim * max(1.0, qs.max())
    assert used >= 60


# --------------------------------------------------------------------------------------
# out-of-range targets


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_out_of_range_clip(dtype, logits, rng):
    tol = default_tol(dtype)
    for n in (1, 2, 3, 10, 100, BLOCK + 2):
        x = make_input(rng, 30, n, dtype, logits, ties=0.6, zeros=0.6)
        h_min, h_max, sup, ties = reach(x, logits)
        t = np.where(np.arange(30) % 2 == 0, h_max + rng.uniform(3 * tol, 2, 30), h_min - rng.uniform(3 * tol, 2, 30))
        t[:3] = [h_max[0] + 100, -5.0, -np.inf]  # far away and -inf (perplexity 0... as target)
        t[3] = np.inf
        q, info = en(x, t, logits=logits, return_info=True)
        check_result(x, t, q, info, logits=logits, label="clip")
        above = t > h_max
        assert np.all(info.clipped) and not np.any(info.converged)
        np.testing.assert_array_equal(info.gamma, np.where(above, 0.0, np.inf))
        np.testing.assert_array_equal(q, np.where(above[:, None], sup / sup.sum(-1, keepdims=True),
                                                  ties / ties.sum(-1, keepdims=True)).astype(dtype))


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_boundary_targets_within_tol_converge(dtype, logits, rng):
    tol = default_tol(dtype)
    for n in (2, 6, 100, BLOCK + 2):
        x = make_input(rng, 20, n, dtype, logits, ties=0.6, zeros=0.5)
        h_min, h_max, sup, ties = reach(x, logits)
        keep = h_max > h_min
        x, h_min, h_max, sup, ties = x[keep], h_min[keep], h_max[keep], sup[keep], ties[keep]
        for t in (h_max, h_max + 0.5 * tol, h_max - 0.5 * tol, h_min, h_min + 0.5 * tol, h_min - 0.5 * tol):
            q, info = en(x, t, logits=logits, return_info=True)
            check_result(x, t, q, info, logits=logits, label="boundary")
            assert info.converged.all() and not info.clipped.any()
            q64 = q.astype(np.float64)
            if t is h_max:
                # exactly log|S|: the uniform distribution over the support, gamma 0
                np.testing.assert_array_equal(info.gamma, 0.0)
                np.testing.assert_array_equal(q, (sup / sup.sum(-1, keepdims=True)).astype(dtype))
            if np.all(t >= h_max - tol):
                # Pinsker: KL(q || uniform) = log|S| - H(q) <= ~tol
                l1 = np.abs(q64 - sup / sup.sum(-1, keepdims=True)).sum(-1)
                assert np.all(l1 <= np.sqrt(2 * (2 * tol + allowance(dtype, h_max))) + 1e-6)
            if t is h_min:
                np.testing.assert_array_equal(info.gamma, np.inf)
                np.testing.assert_array_equal(q, (ties / ties.sum(-1, keepdims=True)).astype(dtype))
        # and raise does not raise on them
        en(x, h_max + 0.5 * tol, logits=logits, out_of_range="raise")
        en(x, h_min - 0.5 * tol, logits=logits, out_of_range="raise")


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_out_of_range_raise_messages(dtype, logits):
    p = np.array([[0.25, 0.25, 0.5, 0.0], [0.25, 0.25, 0.25, 0.25], [0.4, 0.4, 0.1, 0.1]])

    def conv(a):
        a = np.asarray(a, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return (np.log(a) if logits else a).astype(dtype)

    def call(a, t):
        return en(conv(a), t, logits=logits, out_of_range="raise")

    # row 1: range [log 4, log 4]; target log 4 + 1 is above
    with pytest.raises(ValueError, match=r"^row 1: target entropy 2\.38629 nats is outside the reachable range "
                                          r"\[1\.38629, 1\.38629\]"):
        call(p, [0.5, np.log(4) + 1, 0.8])
    # row 2: two tied maxima -> h_min = log 2; target 0.1 below
    with pytest.raises(ValueError, match=r"^row 2: target entropy 0\.1 nats is outside the reachable range "
                                          r"\[0\.693147, 1\.38629\].*out_of_range='clip'"):
        call(p, [0.5, np.log(4), 0.1])
    # row 0: support 3 (a zero), unique max -> [0, log 3]
    with pytest.raises(ValueError, match=r"^row 0: .* range \[0, 1\.09861\]"):
        call(p, [1.2, np.log(4), 0.8])
    # below the range of a unique maximum: negative targets
    with pytest.raises(ValueError, match=r"^row 0: target entropy -0\.5 nats .* \[0, 1\.09861\]"):
        call(p, [-0.5, np.log(4), 0.8])
    # the first offending row is named; multi-dimensional batches name the index tuple
    with pytest.raises(ValueError, match=r"^row \(1, 0\): target entropy 5 nats"):
        call(np.stack([p[:2], p[1:]]), [[0.8, np.log(4)], [5.0, 7.0]])
    with pytest.raises(ValueError, match=r"^row \(0, 1\): target entropy 0\.2 nats .* \[1\.38629, 1\.38629\]"):
        call(np.stack([p[:2], p[1:]]), [[0.8, 0.2], [5.0, 7.0]])
    with pytest.raises(ValueError, match=r"^the row: target entropy -1 nats .* \[0, 1\.09861\]"):
        call(p[0], -1.0)
    # in-range rows: the same result as 'clip'
    t = [0.5, np.log(4), 0.8]
    assert_bitwise_equal(call(p, t), en(conv(p), t, logits=logits), "raise vs clip in range")


# --------------------------------------------------------------------------------------
# invalid input


P = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.6, 0.2, 0.2], [0.3, 0.3, 0.4], [1.0, 0.0, 0.0]])


def _with(row, r=2, base=P):
    x = base.copy()
    x[r] = row
    return x


@pytest.mark.parametrize(
    "x, kw, exc, match",
    [
        (_with([0.6, -0.1, 0.5]), {}, ValueError, r"^row 2 of x contains a negative, NaN or infinite probability"),
        (_with([0.6, np.nan, 0.4]), {}, ValueError, r"^row 2 of x contains a negative, NaN or infinite probability"),
        (_with([np.inf, 0.0, 0.0]), {}, ValueError, r"^row 2 of x contains a negative, NaN or infinite probability"),
        (_with([-np.inf, 0.5, 0.5]), {}, ValueError, r"^row 2 of x contains a negative"),
        (_with([-0.0, 0.5, 0.5]), {}, None, None),  # -0.0 is a zero
        (_with([0.6, 0.2, 0.2 + 2e-6]), {}, ValueError, r"^row 2 of x does not sum to 1 \(within 1e-06\); pass renormalize=True"),
        (_with([0.6, 0.2, 0.2 - 2e-6]), {}, ValueError, r"^row 2 of x does not sum to 1"),
        (_with([0.6, 0.2, 0.2 + 5e-7]), {}, None, None),  # within 1e-6: accepted
        (_with([6.0, 2.0, 2.0]), {}, ValueError, r"^row 2 of x does not sum to 1.*logits=True if x holds logits"),
        (_with([0.0, 0.0, 0.0]), {}, ValueError, r"^row 2 of x has no support \(every entry is 0\)"),
        (_with([0.0, 0.0, 0.0]), {"renormalize": True}, ValueError, r"^row 2 of x has no support"),
        (_with([1.0, np.nan, 0.0]), {"logits": True}, ValueError, r"^row 2 of x contains a NaN or \+inf logit"),
        (_with([1.0, np.inf, 0.0]), {"logits": True}, ValueError, r"^row 2 of x contains a NaN or \+inf logit"),
        (_with([-np.inf] * 3), {"logits": True}, ValueError, r"^row 2 of x has no support \(every entry is -inf\)"),
        (_with([-1e30, -np.inf, -np.inf]), {"logits": True}, None, None),
    ],
    ids=["negative", "nan", "inf", "-inf prob", "-0", "sum+2e-6", "sum-2e-6", "sum+5e-7", "counts",
         "all-zero", "all-zero-renorm", "nan-logit", "inf-logit", "all-ninf-logits", "ninf-logits-ok"],
)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_invalid_rows(x, kw, exc, match, dtype):
    x = x.astype(dtype)
    if exc is None:
        if dtype == np.float32 and not kw:
            x = x / x.sum(-1, keepdims=True)  # the float32 rounding of the decimals
        en(x, 0.5, **kw)
        return
    with pytest.raises(exc, match=match):
        en(x, 0.5, **kw)
    # first bad row named: another bad row later does not change the message
    x2 = np.concatenate([x, x[2:3]])
    with pytest.raises(exc, match=match):
        en(x2, 0.5, **kw)


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("n", [1, 2, 3, 9, 17, BLOCK + 1])
def test_nonfinite_logit_named_at_any_position(n, bad):
    """A NaN or +inf logit is reported as such wherever it sits (first entry, vector tail,
    last entry, alone in the row), not as a row without support."""
    for pos in sorted({0, n // 2, n - 1}):
        x = np.linspace(-1.0, 1.0, n)
        x[pos] = bad
        with pytest.raises(ValueError, match=r"contains a NaN or \+inf logit"):
            en(np.stack([np.zeros(n), x]), 0.3, logits=True)


def test_invalid_row_named_in_nd_batches():
    x = np.tile(P[:3], (2, 2, 1, 1))  # (2, 2, 3, 3)
    x[1, 0, 2] = [0.5, 0.5, 0.5]
    x[1, 1, 0] = [0.5, 0.5, 0.5]
    with pytest.raises(ValueError, match=r"^row \(1, 0, 2\) of x does not sum to 1"):
        en(x, 0.5)
    # axis moved: the batch index is over the remaining axes
    xt = np.moveaxis(x, -1, 0)
    with pytest.raises(ValueError, match=r"^row \(1, 0, 2\) of x does not sum to 1"):
        en(xt, 0.5, axis=0)
    with pytest.raises(ValueError, match=r"^the row of x contains a negative"):
        en(np.array([0.5, 0.6, -0.1]), 0.5)


def test_renormalize_rescales(rng):
    for dtype in DTYPES:
        z = make_logits(rng, 20, 30, scale=(-1, 1))
        p = to_prob(z, np.float64)
        scale = 10 ** rng.uniform(-30, 30, (20, 1))
        x = (p * scale).astype(dtype)
        h_min, h_max, _, _ = reach(x, False)
        t = random_targets(rng, h_min, h_max)
        with pytest.raises(ValueError, match="does not sum to 1"):
            en(x, t)
        q, info = en(x, t, renormalize=True, return_info=True)
        check_result(x, t, q, info, logits=False, label="renormalize", check_range=False)
        xn = (x.astype(np.float64) / x.sum(-1, keepdims=True, dtype=np.float64)).astype(dtype)
        q2, i2 = en(xn, t, return_info=True, renormalize=True)
        zz = log_weights(xn, False)
        htol = 2 * (default_tol(dtype) + allowance(dtype, t) + rounding_htol(zz, i2.gamma, dtype, False))
        dq, dg = shift_bound(zz, i2.gamma, htol)
        assert np.all(np.abs(q.astype(np.float64) - q2) <= dq + 2 * consistency_bound(zz, i2.gamma, dtype, False))


@pytest.mark.parametrize(
    "kw, exc, match",
    [
        ({}, ValueError, r"give exactly one of target \(entropy in nats\) and perplexity"),
        ({"target": 1.0, "perplexity": 2.0}, ValueError, r"give exactly one of target"),
        ({"perplexity": 0.5}, ValueError, r"perplexity must be >= 1"),
        ({"perplexity": [2.0, 0.99, 3.0]}, ValueError, r"perplexity must be >= 1"),
        ({"perplexity": np.nan}, ValueError, r"perplexity must be >= 1"),
        ({"perplexity": -1.0}, ValueError, r"perplexity must be >= 1"),
        ({"target": np.nan}, ValueError, r"target entropy is NaN"),
        ({"target": [0.5, np.nan, 0.5]}, ValueError, r"target entropy is NaN"),
        ({"target": "abc"}, TypeError, r"target must be a number or an array of numbers, got str"),
        ({"target": [0.5, 0.5]}, ValueError, r"target of shape \(2,\) does not broadcast to the batch shape \(3,\)"),
        ({"target": np.ones((3, 1))}, ValueError, r"target of shape \(3, 1\) does not broadcast to the batch shape \(3,\)"),
        ({"target": 1.0, "out_of_range": "ignore"}, ValueError, r"out_of_range must be 'clip' or 'raise', got 'ignore'"),
        ({"target": 1.0, "out_of_range": None}, ValueError, r"out_of_range must be 'clip' or 'raise', got None"),
        ({"target": 1.0, "max_iter": 0}, ValueError, r"max_iter must be >= 1, got 0"),
        ({"target": 1.0, "max_iter": -3}, ValueError, r"max_iter must be >= 1, got -3"),
        ({"target": 1.0, "max_iter": 2.5}, TypeError, r"max_iter must be an integer, got float"),
        ({"target": 1.0, "max_iter": 5.0}, TypeError, r"max_iter must be an integer, got float"),
        ({"target": 1.0, "max_iter": "5"}, TypeError, r"max_iter must be an integer, got str"),
        ({"target": 1.0, "tol": -1e-9}, ValueError, r"tol must be a non-negative number"),
        ({"target": 1.0, "tol": np.nan}, ValueError, r"tol must be a non-negative number"),
        ({"target": 1.0, "axis": (0, 1)}, TypeError, r"axis must be a single integer"),
        ({"target": 1.0, "axis": None}, TypeError, r"axis must be a single integer"),
        ({"target": 1.0, "axis": [1]}, TypeError, r"axis must be a single integer"),
        ({"target": 1.0, "axis": 2}, np.exceptions.AxisError, r"out of bounds"),
        ({"target": 1.0, "axis": 1.0}, TypeError, r"axis must be an integer"),
    ],
)
def test_invalid_arguments(kw, exc, match):
    x = P[:3]
    with pytest.raises(exc, match=match):
        en(x, **kw)


def test_valid_argument_edge_values():
    """Edge values that are accepted, each with the result the contract gives."""
    x = P[:3]
    t = np.array([0.5, 0.5, 0.5])
    q3, i3 = en(x, 0.5, max_iter=np.int64(3), return_info=True)
    q3b, i3b = en(x, 0.5, max_iter=3, return_info=True)
    assert_bitwise_equal(q3, q3b, "max_iter as np.int64")
    assert np.all(i3.n_iter <= 3) and np.all(i3.n_iter >= 1)
    assert np.all(np.abs(H64(q3) - 0.5)[i3.converged] <= default_tol(np.float64) + allowance(np.float64, 0.5))
    # tol 0: never converged (the search keeps a margin below tol), stops at max_iter or when
    # the bracket is exhausted, and still returns its closest point
    q0, i0 = en(x, 0.5, tol=0.0, max_iter=60, return_info=True)
    assert not i0.converged.any() and not i0.clipped.any()
    assert np.all(i0.n_iter <= 60)
    assert np.all(np.abs(H64(q0) - 0.5) <= 1e-12), H64(q0) - 0.5
    assert np.all(np.abs(i0.entropy - 0.5) <= 1e-12)
    # perplexities are exp(entropy): the same call as with their logs
    qp, ip = en(x, perplexity=[1.0, 2.0, 2.5], return_info=True)
    qt, it_ = en(x, np.log([1.0, 2.0, 2.5]), return_info=True)
    assert_bitwise_equal(qp, qt, "perplexity vs log(perplexity)")
    check_result(x, np.log([1.0, 2.0, 2.5]), qp, ip, logits=False)
    qa, ia = en(x, np.array([0.1, 0.2, 0.3]), return_info=True)
    check_result(x, np.array([0.1, 0.2, 0.3]), qa, ia, logits=False)
    qd, idf = en(x, 0.5, return_info=True)
    check_result(x, t, qd, idf, logits=False)
    assert_bitwise_equal(en(x, 0.5, axis=-1), qd, "axis=-1")
    assert_bitwise_equal(en(x.T, 0.5, axis=0), qd.T, "transposed input, axis=0")


def test_bad_dtype_and_empty_axis():
    with pytest.raises(TypeError, match="complex"):
        en(np.ones(3, dtype=complex) / 3, 0.5)
    with pytest.raises(ValueError, match="no entries"):
        en(np.ones((2, 0)), 0.5)


@pytest.mark.parametrize(
    "x, out, match",
    [
        (P, np.empty((5, 4)), r"out has shape \(5, 4\), expected \(5, 3\)"),
        (P, np.empty((3, 5)), r"out has shape \(3, 5\), expected \(5, 3\)"),
        (P, np.empty((5, 3), dtype=np.float32), r"out has dtype float32, expected float64"),
        (P.astype(np.float32), np.empty((5, 3)), r"out has dtype float64, expected float32"),
        (P.astype(np.float16), np.empty((5, 3), dtype=np.float32), r"out has dtype float32, expected float16"),
        (np.array([[1, 0], [0, 1]]), np.empty((2, 2), dtype=np.int64), r"out has dtype int64, expected float64"),
    ],
)
def test_out_errors(x, out, match):
    with pytest.raises(ValueError, match=match):
        en(x, 0.5, out=out)
    with pytest.raises(TypeError, match="out must be a numpy.ndarray"):
        en(P, 0.5, out=[[0.0] * 3] * 5)
    ro = np.empty((5, 3))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        en(P, 0.5, out=ro)


# --------------------------------------------------------------------------------------
# layouts and out=


def _contiguous_result(x, t, axis, **kw):
    xm = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    q, info = en(xm, t, return_info=True, **kw)
    return np.moveaxis(q, -1, axis), info


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_layouts_match_contiguous(dtype, logits, rng):
    shape = (4, 5, 37)
    base = make_input(rng, 20, 37, np.float64, logits, scale=(-1, 1)).reshape(shape)
    h_min, h_max, _, _ = reach(base, logits)
    for axis in (0, 1, 2, -1, -2, -3):
        x = np.moveaxis(base, -1, axis).astype(dtype)
        if not logits and dtype == np.float16:
            continue  # float16 rounding breaks the sum-to-1 check; covered elsewhere
        t = random_targets(rng, h_min, h_max)  # batch shape (4, 5) in the order of the other axes
        want, winfo = _contiguous_result(x, t, axis, logits=logits)
        variants = {
            "C": x,
            "F": np.asfortranarray(x),
            "byteswapped": x.astype(x.dtype.newbyteorder()),
        }
        big = np.zeros(tuple(2 * s for s in x.shape), dtype=dtype)
        sl = tuple(slice(None, None, 2) for _ in x.shape)
        big[sl] = x
        variants["strided"] = big[sl]
        for ax in range(3):  # negative strides along every axis (the same values)
            variants[f"negative-stride{ax}"] = np.flip(np.flip(x, axis=ax).copy(), axis=ax)
        variants["negative-strided"] = np.flip(np.flip(big, axis=0).copy(), axis=0)[sl]
        for name, v in variants.items():
            np.testing.assert_array_equal(v, x)
            got, info = en(v, t, axis=axis, logits=logits, return_info=True)
            assert got.shape == x.shape and got.dtype == x.dtype.newbyteorder("=")
            assert_bitwise_equal(got, want, f"axis={axis} {name}")
            assert_bitwise_equal(info.gamma, winfo.gamma, f"axis={axis} {name} gamma")
        # the outcomes in reverse order: q reversed (up to rounding: other block boundaries)
        got, info = en(np.flip(x, axis=axis), t, axis=axis, logits=logits, return_info=True)
        cdt = np.float32 if dtype == np.float16 else dtype
        z = log_weights(np.moveaxis(x, axis, -1), logits).reshape(-1, 37)
        g0 = winfo.gamma.reshape(-1)
        dq, _ = shift_bound(z, g0, 2 * (default_tol(cdt) + allowance(cdt, 3.7) + rounding_htol(z, g0, cdt, logits)))
        bound = dq + 2 * consistency_bound(z, winfo.gamma.reshape(-1), cdt, logits) + (dtype == np.float16) * 1e-3
        err = np.abs(np.moveaxis(np.flip(got, axis=axis), axis, -1).reshape(-1, 37).astype(np.float64)
                     - np.moveaxis(want, axis, -1).reshape(-1, 37))
        assert np.all(err <= bound), f"axis={axis} reversed outcomes: max excess {np.max(err - bound)}"


def test_per_row_targets_follow_the_batch_axes(rng):
    """A per-row target lands on its row whatever the outcome axis."""
    p = to_prob(make_logits(rng, 12, 9, scale=(-0.5, 0.5), ties=0, zeros=0)).reshape(3, 4, 9)
    t = np.linspace(0.3, 2.0, 12).reshape(3, 4)
    q = en(p, t)
    np.testing.assert_allclose(H64(q), t, atol=1e-9)
    for axis in (0, 1):
        x = np.moveaxis(p, -1, axis)
        q = en(x, t, axis=axis)
        np.testing.assert_allclose(H64(np.moveaxis(q, axis, -1)), t, atol=1e-9)
    # broadcasting a (4,) or (3, 1) target
    q = en(p, t[0])
    np.testing.assert_allclose(H64(q), np.broadcast_to(t[0], (3, 4)), atol=1e-9)
    q = en(p, t[:, :1])
    np.testing.assert_allclose(H64(q), np.broadcast_to(t[:, :1], (3, 4)), atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_out_is_filled_and_returned(dtype, rng):
    x = to_prob(make_logits(rng, 12, 33, scale=(-0.5, 0.5)), np.float64).reshape(3, 4, 33)
    if dtype == np.float16:
        x = x.astype(np.float16)
        x = (x / x.sum(-1, keepdims=True, dtype=np.float32)).astype(np.float16)
    else:
        x = x.astype(dtype)
    t = 1.2
    for axis in (-1, 1, 0):
        xa = np.moveaxis(x, -1, axis)
        want = en(xa, t, axis=axis)
        for order in ("C", "F"):
            out = np.full(xa.shape, np.nan, dtype=dtype, order=order)
            got = en(xa, t, axis=axis, out=out)
            assert got is out
            assert_bitwise_equal(out, want, f"axis={axis} out order {order}")
        big = np.full(tuple(2 * s for s in xa.shape), np.nan, dtype=dtype)
        view = big[::2, ::2, ::2]
        got = en(xa, t, axis=axis, out=view)
        assert got is view
        assert_bitwise_equal(view, want, f"axis={axis} strided out")
        assert np.all(np.isnan(big[1::2]))  # nothing written outside the view
        # in place
        xc = xa.copy()
        got = en(xc, t, axis=axis, out=xc)
        assert got is xc
        assert_bitwise_equal(xc, want, f"axis={axis} in place")
    # out with return_info
    out = np.empty_like(x)
    got, info = en(x, t, out=out, return_info=True)
    assert got is out and isinstance(info, EntropyNormalizeInfo)


# --------------------------------------------------------------------------------------
# ISA paths and threads


ISA_LENGTHS = list(range(1, 71)) + [BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 1, 3 * BLOCK + 7]


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_each_isa_meets_the_contract(isa, dtype, logits):
    rng = np.random.default_rng(1234)
    fails = Failures()
    for n in ISA_LENGTHS:
        x = make_input(rng, 8, n, dtype, logits)
        h_min, h_max, _, _ = reach(x, logits)
        t = random_targets(rng, h_min, h_max, 0.0, 1.0)
        t[0] = h_min[0] - 0.5  # clipped below
        t[1] = h_max[1] + 0.5  # clipped above
        q, info = en(x, t, logits=logits, return_info=True)
        check_result(x, t, q, info, logits=logits, fails=fails, label=isa)
    fails.check()


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_each_isa_reachable_range_and_ties(isa, dtype):
    """h_min = log(#ties at the maximum), h_max = log(#support); targets below h_min clip to
    the uniform over the ties, for probability and logit rows."""
    rows = np.array([[0.25, 0.25, 0.5, 0.0], [0.5, 0.5, 0.0, 0.0], [0.3, 0.3, 0.3, 0.1], [0.1, 0.2, 0.3, 0.4]])
    want_min = np.log([1, 2, 3, 1])
    want_max = np.log([3, 2, 4, 4])
    for logits in (False, True):
        with np.errstate(divide="ignore"):
            x = (np.log(rows) if logits else rows).astype(dtype)
        q, info = en(x, -0.5 + 0 * want_min, logits=logits, return_info=True)
        np.testing.assert_array_equal(info.h_min, want_min, err_msg=f"[{isa}] logits={logits} h_min")
        np.testing.assert_array_equal(info.h_max, want_max, err_msg=f"[{isa}] logits={logits} h_max")
        ties = x == x.max(-1, keepdims=True)
        np.testing.assert_array_equal(q, (ties / ties.sum(-1, keepdims=True)).astype(dtype),
                                      err_msg=f"[{isa}] logits={logits} clipped below")
        assert info.clipped.all() and not info.converged.any() and np.all(info.gamma == np.inf)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_each_isa_keeps_zeros_at_zero(isa, dtype):
    p = np.array([[0.5, 0.0, 0.25, 0.25]] * 3, dtype=dtype)
    # small gamma (flat target), in range, and clipped above (uniform over the support)
    q, info = en(p, [np.log(3) - 1e-3, 0.9, 5.0], return_info=True)
    assert np.all(q[:, 1] == 0), f"[{isa}] q for p = 0: {q[:, 1]}"
    np.testing.assert_array_equal(q[2], np.array([1, 0, 1, 1], dtype=dtype) / dtype(3))
    sub = np.array([[0.5, 0.0, 0.5 - 1e-30, 1e-30]], dtype=dtype)  # tiny support next to a zero
    q = en(sub, np.log(3) - 0.05, renormalize=True)  # small gamma: the 1e-30 entry gets a visible share
    assert q[0, 1] == 0 and q[0, 3] > 0


def test_each_isa_accepts_float32_rows_that_sum_to_one(isa, rng):
    """Rows whose exact sum is within 1e-7 of 1 are valid, whatever their length."""
    for n in (100, 2047, 2048, 6151, 50_000):
        p = to_prob(make_logits(rng, 8, n, scale=(-1, 1), zeros=0, ties=0), np.float32)
        err = np.abs(p.sum(-1, dtype=np.float64) - 1)
        assert err.max() < 1e-7
        for r in range(p.shape[0]):
            try:
                en(p[r], 1.0)
            except ValueError as e:
                raise AssertionError(f"[{isa}] n={n}: row with |sum - 1| = {err[r]:.2e} rejected: {e}") from None


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_isas_agree(isa, dtype, logits):
    rng = np.random.default_rng(99)
    tol = default_tol(dtype)
    for n in (1, 3, 7, 8, 9, 15, 16, 17, 33, 100, BLOCK + 1, 20_000):
        x = make_input(rng, 10, n, dtype, logits, scale=(-1.5, 1.5))
        h_min, h_max, _, _ = reach(x, logits)
        t = random_targets(rng, h_min, h_max)
        res = {isa: en(x, t, logits=logits, return_info=True)}
        with forced_isa("scalar"):
            res["scalar"] = en(x, t, logits=logits, return_info=True)
        z = log_weights(x, logits)
        sup = z > -np.inf
        q0, i0 = res["scalar"]
        for isa, (q, info) in res.items():
            nz = np.flatnonzero(np.any((q != 0) & ~sup, axis=-1))
            assert nz.size == 0, (
                f"[{isa}] n={n}: zero probabilities got nonzero q in rows {nz.tolist()}, e.g. x={x[nz[0]].tolist()} "
                f"target {t[nz[0]]!r} -> q={q[nz[0]].tolist()}")
            np.testing.assert_array_equal(info.h_min, i0.h_min, err_msg=f"{isa} vs scalar h_min, n={n}")
            np.testing.assert_array_equal(info.h_max, i0.h_max, err_msg=f"{isa} vs scalar h_max, n={n}")
            htol = 2 * (tol + allowance(dtype, t) + rounding_htol(z, i0.gamma, dtype, logits))
            dq, dg = shift_bound(z, i0.gamma, htol)
            assert np.all(np.abs(info.gamma - i0.gamma) <= dg + 8 * eps_of(dtype) * i0.gamma + 1e-300), (
                f"{isa} vs scalar gamma, n={n}: {info.gamma} vs {i0.gamma}")
            bound = dq + 2 * consistency_bound(z, i0.gamma, dtype, logits)
            err = np.abs(q.astype(np.float64) - q0)
            assert np.all(err <= bound), f"{isa} vs scalar q, n={n}: max excess {np.max(err - bound)}"


THREAD_SHAPES = [(64, 32_000), (300, 100), (2, 300_000), (1, 128_256), (3, 5 * BLOCK + 1)]


@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_bitwise_identical_across_thread_counts(dtype, logits, restore_threads):
    rng = np.random.default_rng(7)
    for shape in THREAD_SHAPES:
        x = make_input(rng, shape[0], shape[1], dtype, logits, scale=(-1.5, 1.5))
        h_min, h_max, _, _ = reach(x, logits)
        t = random_targets(rng, h_min, h_max)
        res = {}
        for nt in (1, 2, 4):
            lc.set_num_threads(nt)
            res[nt] = en(x, t, logits=logits, return_info=True)
        q1, i1 = res[1]
        for nt in (2, 4):
            q, info = res[nt]
            assert_bitwise_equal(q, q1, f"{shape} q, {nt} threads vs 1")
            for f in ("gamma", "n_iter", "converged", "clipped", "entropy", "h_min", "h_max"):
                assert_bitwise_equal(getattr(info, f), getattr(i1, f), f"{shape} info.{f}, {nt} threads vs 1")
        if shape[1] >= 100_000:
            check_result(x, t, q1, i1, logits=logits, label=f"threads {shape}", check_range=False)


# --------------------------------------------------------------------------------------
# slow: exhaustive versions


@pytest.mark.slow
@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_slow_many_rows_every_isa(isa, dtype, logits):
    rng = np.random.default_rng(2024)
    fails = Failures()
    sizes = list(range(1, 130)) + [255, 256, 257, 511, 513, 1000, 2 * BLOCK - 1, 4 * BLOCK + 3, 50_000]
    for n in sizes:
        x = make_input(rng, 64 if n < 10_000 else 8, n, dtype, logits)
        h_min, h_max, _, _ = reach(x, logits)
        t = random_targets(rng, h_min, h_max, 0.0, 1.0)
        q, info = en(x, t, logits=logits, return_info=True)
        check_result(x, t, q, info, logits=logits, fails=fails, label=isa)
    fails.check()


@pytest.mark.slow
@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_slow_huge_rows(dtype, logits):
    rng = np.random.default_rng(77)
    fails = Failures()
    for n in (1_000_000, 3_000_000):
        for sc in ((-2, -2), (-1, -1), (0, 0), (1, 1), (2, 2)):
            x = make_input(rng, 1, n, dtype, logits, scale=sc, ties=0.5, zeros=0.5)
            h_min, h_max, _, _ = reach(x, logits)
            for lo, hi in ((0.001, 0.01), (0.3, 0.7), (0.99, 0.999)):
                t = random_targets(rng, h_min, h_max, lo, hi)
                q, info = en(x, t, logits=logits, return_info=True)
                check_result(x, t, q, info, logits=logits, fails=fails, label=f"n={n} scale 1e{sc[0]}")
    fails.check()


@pytest.mark.slow
@pytest.mark.parametrize("logits", [False, True], ids=["prob", "logits"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_slow_threads_every_isa(isa, dtype, logits, restore_threads):
    rng = np.random.default_rng(8)
    for shape in THREAD_SHAPES + [(7, 1_000_003)]:
        x = make_input(rng, shape[0], shape[1], dtype, logits)
        h_min, h_max, _, _ = reach(x, logits)
        t = random_targets(rng, h_min, h_max)
        lc.set_num_threads(1)
        q1, i1 = en(x, t, logits=logits, return_info=True)
        for nt in (2, 3, 4, 8):
            lc.set_num_threads(nt)
            q, info = en(x, t, logits=logits, return_info=True)
            assert_bitwise_equal(q, q1, f"[{isa}] {shape} {nt} threads")
            assert_bitwise_equal(info.gamma, i1.gamma, f"[{isa}] {shape} gamma {nt} threads")
