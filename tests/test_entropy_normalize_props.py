"""Hypothesis property tests for entropy_normalize (docs/math.md §2): the laws of the power transform.

* order: q_i > q_j iff p_i > p_j (where the float64 transform separates them by more than
  rounding), never inverted, exact ties stay exactly tied, zeros stay 0;
* monotonicity: a lower target gives a larger gamma;
* idempotence: normalizing q to its own entropy gives back q (gamma ~ 1);
* invariances: logits scaled by a > 0 give gamma / a and the same q; logits shifted by a
  constant give the same q and gamma;
* forms: entropy_normalize(softmax(z), t) == entropy_normalize(z, t, logits=True).

Comparisons between two results that each meet the tolerance use the first-order bounds of
test_entropy_normalize (a gamma shift of at most (tol_a + tol_b) / (gamma Var_q z)).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import logitcore as lc
from logitcore.entropy_norm import default_tol

from ._helpers import BLOCK
from .test_entropy_normalize import (
    H64,
    allowance,
    check_order,
    check_result,
    consistency_bound,
    log_weights,
    q_at,
    reach,
    rounding_htol,
    shift_bound,
    to_prob,
)

en = lc.entropy_normalize

# every test runs on every ISA the host supports
pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"), pytest.mark.usefixtures("isa")]

DTYPES = [np.float64, np.float32]
DTYPES_ALL = DTYPES + [np.float16]  # float16 is computed in float32
import os
MAX_EXAMPLES = int(os.environ.get("EN_MAX_EXAMPLES", "120"))


@st.composite
def logit_rows(draw, max_n=48):
    """A float64 logit row: random, with many duplicates, tied maxima, peaked, flat or
    longer than a block; some entries -inf (probability 0)."""
    kind = draw(st.sampled_from(["normal", "levels", "ties", "peaked", "flat", "long"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, max_n)) if kind != "long" else BLOCK + int(rng.integers(1, 300))
    if kind == "levels":
        z = rng.choice(rng.standard_normal(int(rng.integers(1, 5))) * 3, n)
    elif kind == "peaked":
        z = rng.standard_normal(n) * 10 ** rng.uniform(1, 2)
    elif kind == "flat":
        z = rng.standard_normal(n) * 10 ** rng.uniform(-3, -1)
    else:
        z = rng.standard_normal(n) * 10 ** rng.uniform(-1, 1)
    if kind == "ties" and n > 1:
        z[rng.choice(n, int(rng.integers(2, n + 1)), replace=False)] = z.max()
    if n > 1 and draw(st.booleans()):
        cand = np.flatnonzero(z < z.max())
        if cand.size:
            z[rng.choice(cand, int(rng.integers(1, cand.size + 1)), replace=False)] = -np.inf
    return z


def as_input(z, dtype, logits):
    return z.astype(dtype) if logits else to_prob(z[None], dtype)[0]


def _one(info):
    """An info of a single 1-d row as a batch of one (for check_result)."""
    from logitcore.entropy_norm import EntropyNormalizeInfo

    return EntropyNormalizeInfo(**{f: np.asarray(getattr(info, f))[None] for f in info.__dataclass_fields__})


@settings(max_examples=MAX_EXAMPLES)
@given(z=logit_rows(), u=st.floats(-0.3, 1.3), dtype=st.sampled_from(DTYPES_ALL), logits=st.booleans())
# two tied maxima, target below log 2: must clip to [0.5, 0.5, 0]
@example(z=np.array([0.31470035, 0.31470035, -1.60700812]), u=-0.25, dtype=np.float64, logits=False)
@example(z=np.array([0.31470035, 0.31470035, -1.60700812]), u=-0.25, dtype=np.float32, logits=False)
def test_order_and_zeros_preserved(z, u, dtype, logits):
    x = as_input(z, dtype, logits)
    h_min, h_max, sup, _ = reach(x, logits)
    t = float(h_min + u * (h_max - h_min))
    q, info = en(x, t, logits=logits, return_info=True)
    assert np.all(q[~sup] == 0)
    check_order(x[None], q[None], logits, np.asarray(info.gamma)[None], dtype)


@settings(max_examples=MAX_EXAMPLES)
@given(z=logit_rows(), u=st.floats(0.0, 1.0), v=st.floats(0.0, 1.0), dtype=st.sampled_from(DTYPES_ALL),
       logits=st.booleans())
# a peaked pair: the root is at gamma ~ 0.012, far below the starting point gamma = 1
@example(z=np.array([83.7104012, -96.29794214]), u=0.0, v=0.5, dtype=np.float64, logits=False)
@example(z=np.array([83.7104012, -96.29794214]), u=0.0, v=0.5, dtype=np.float32, logits=True)
def test_gamma_decreases_as_target_increases(z, u, v, dtype, logits):
    x = as_input(z, dtype, logits)
    h_min, h_max, _, _ = reach(x, logits)
    assume(h_max - h_min > 0.05)
    lo, hi = sorted((u, v))
    assume(hi - lo > 0.02)
    t = h_min + np.array([lo, hi]) * (h_max - h_min)
    q, info = en(np.stack([x, x]), t, logits=logits, return_info=True)
    check_result(np.stack([x, x]), t, q, info, logits=logits, check_range=False)
    assert info.gamma[0] > info.gamma[1], f"targets {t} gave gammas {info.gamma}"
    assert H64(q[0]) < H64(q[1])


@settings(max_examples=MAX_EXAMPLES)
@given(z=logit_rows(), u=st.floats(0.02, 0.98), dtype=st.sampled_from(DTYPES_ALL), logits=st.booleans())
@example(z=np.array([0.0, 0.5, 0.25, -0.25, 0.125, 0.3]), u=0.5, dtype=np.float32, logits=False)
@example(z=np.array([83.7104012, -96.29794214]), u=0.5, dtype=np.float64, logits=True)
def test_idempotent(z, u, dtype, logits):
    x = as_input(z, dtype, logits)
    h_min, h_max, _, _ = reach(x, logits)
    assume(h_max - h_min > 0.05)
    t = float(h_min + u * (h_max - h_min))
    q, info1 = en(x, t, logits=logits, return_info=True)
    assert info1.converged, f"target {t} not reached: gamma {info1.gamma}, H {info1.entropy}"
    h = float(H64(q))
    hq = reach(q, False)
    assume(hq[0] + 0.01 < h < hq[1] - 0.01)  # q's own entropy strictly inside q's range
    q2, info = en(q, h, return_info=True)
    check_result(q[None], h, q2[None], _one(info), logits=False, check_range=False)
    zq = log_weights(q[None], False)
    tol = default_tol(dtype)
    htol = 2 * (tol + allowance(dtype, h)) + rounding_htol(zq, np.ones(1), dtype, False)
    dq, dg = shift_bound(zq, np.ones(1), htol)
    assert abs(float(info.gamma) - 1.0) <= dg[0] + 1e-12
    assert np.all(np.abs(q2.astype(np.float64) - q) <= (dq + consistency_bound(zq, np.ones(1), dtype, False))[0])


def _perturbation_htol(z, gamma, dw):
    """|dH| at gamma when each log weight w_i moves by at most dw_i:
    dH/dw_i = -gamma^2 q_i (w_i - E w)."""
    q = q_at(z, gamma)
    w = z - z.max(axis=-1, keepdims=True)
    w = np.where(np.isfinite(w), w, 0.0)
    m1 = (q * w).sum(-1, keepdims=True)
    return gamma**2 * (q * np.abs(w - m1) * dw).sum(-1)


@settings(max_examples=MAX_EXAMPLES)
@given(z=logit_rows(), u=st.floats(0.02, 0.98), a=st.floats(0.1, 10.0), c=st.floats(-100.0, 100.0),
       dtype=st.sampled_from(DTYPES_ALL))
@example(z=np.array([0.5, -1.0, 2.0, 0.25]), u=0.3, a=3.0, c=-50.0, dtype=np.float32)
@example(z=np.array([129.15173947, -161.72546028]), u=0.5, a=1.0, c=0.0, dtype=np.float64)
def test_logit_scale_and_shift_invariance(z, u, a, c, dtype):
    """softmax(gamma z) is the same as softmax((gamma / a) (a z + c))."""
    x = z.astype(dtype)
    x2 = (a * x.astype(np.float64) + c).astype(dtype)
    h_min, h_max, _, _ = reach(x, True)
    h2 = reach(x2, True)
    assume(h_max - h_min > 0.05 and h2[0] == h_min and h2[1] == h_max)  # rounding kept the ties/support
    t = float(h_min + u * (h_max - h_min))
    q1, i1 = en(x, t, logits=True, return_info=True)
    q2, i2 = en(x2, t, logits=True, return_info=True)
    assert i1.converged and i2.converged, (
        f"target {t} not reached: gamma {i1.gamma}, {i2.gamma}; H {i1.entropy}, {i2.entropy}")
    z1 = log_weights(x[None], True)
    g1 = np.atleast_1d(i1.gamma)
    eps = float(np.finfo(dtype).eps)
    # x2 = a x + c + d with |d_i| <= eps |a x_i + c| / 2: in units of x, w_i moves by <= dw_i
    zf = np.where(np.isfinite(z1), z1, 0.0)
    d = eps / 2 * np.abs(a * zf + c)
    dw = np.where(np.isfinite(z1), (d + d[:, [int(np.argmax(z1))]]) / a, 0.0)
    tol = default_tol(dtype)
    htol = (2 * (tol + allowance(dtype, t)) + rounding_htol(z1, g1, dtype, True)
            + rounding_htol(log_weights(x2[None], True), np.atleast_1d(i2.gamma), dtype, True)
            + _perturbation_htol(z1, g1, dw))
    dq, dg = shift_bound(z1, g1, htol)
    assert abs(float(i2.gamma) * a - float(i1.gamma)) <= dg[0] + 4 * eps * float(i1.gamma)
    # at a fixed gamma the perturbation moves q_i by a factor exp(+-2 gamma max dw)
    qpert = np.expm1(2 * g1[:, None] * dw.max()) * q_at(z1, g1)
    bound = (dq + consistency_bound(z1, g1, dtype, True)
             + consistency_bound(log_weights(x2[None], True), np.atleast_1d(i2.gamma), dtype, True) + qpert)[0]
    assert np.all(np.abs(q2.astype(np.float64) - q1) <= bound)


@settings(max_examples=MAX_EXAMPLES)
@given(z=logit_rows(), u=st.floats(0.02, 0.98), dtype=st.sampled_from(DTYPES_ALL))
@example(z=np.array([1.0, -0.5, 0.25, -2.0, 0.0]), u=0.4, dtype=np.float32)
@example(z=np.array([10.0, -25.0, -40.0, 0.0]), u=0.5, dtype=np.float64)
def test_probability_and_logit_forms_agree(z, u, dtype):
    p = to_prob(z[None], dtype)[0]
    # softmax kept every entry at full precision (no underflow to 0 or to subnormals)
    assume(np.all((p >= np.finfo(dtype).tiny) | (z == -np.inf)))
    # and the rounding of p to the dtype (relative eps/2 per entry) is small against the spread
    # of the logits: otherwise p is a different distribution (nearly uniform float16 rows of
    # logits a few eps apart round to a handful of distinct values) and so is its gamma
    fin = z[np.isfinite(z)]
    assume(fin.size < 2 or np.ptp(fin) > 64 * float(np.finfo(dtype).eps))
    x = z.astype(dtype)
    h_min, h_max, _, _ = reach(x, True)
    assume(h_max - h_min > 0.05 and reach(p, False)[0] == h_min)
    t = float(h_min + u * (h_max - h_min))
    qp, ip = en(p, t, return_info=True)
    qz, iz = en(x, t, logits=True, return_info=True)
    assert ip.converged and iz.converged, f"target {t} not reached: H {ip.entropy}, {iz.entropy}"
    zz = log_weights(x[None], True)
    zp = log_weights(p[None], False)
    g = np.atleast_1d(iz.gamma)
    tol = default_tol(dtype)
    htol = 2 * (tol + allowance(dtype, t)) + rounding_htol(zz, g, dtype, True) + rounding_htol(zp, g, dtype, False)
    dq, dg = shift_bound(zz, g, htol)
    assert abs(float(ip.gamma) - float(iz.gamma)) <= dg[0] + 4 * np.finfo(dtype).eps * float(iz.gamma)
    bound = (dq + 2 * consistency_bound(zp, g, dtype, False))[0]
    assert np.all(np.abs(qp.astype(np.float64) - qz) <= bound)



@settings(max_examples=MAX_EXAMPLES)
@given(z=logit_rows(), dtype=st.sampled_from(DTYPES_ALL), logits=st.booleans(), end=st.sampled_from(["max", "min"]))
def test_range_ends_are_exact(z, dtype, logits, end):
    """A target at an end of the reachable range gives that end's distribution exactly: the
    uniform distribution over the support (gamma 0) at h_max, over the tied maxima (gamma
    inf) at h_min, converged and not clipped; h_min and h_max are log #ties and log #support."""
    x = as_input(z, dtype, logits)
    h_min, h_max, sup, ties = reach(x, logits)
    assume(h_max > h_min)
    t = float(h_max if end == "max" else h_min)
    q, info = en(x, t, logits=logits, return_info=True)
    assert info.h_min == h_min and info.h_max == h_max, (info.h_min, h_min, info.h_max, h_max)
    mask = sup if end == "max" else ties
    want = (mask / mask.sum()).astype(q.dtype)
    np.testing.assert_array_equal(q, want)
    assert info.gamma == (0.0 if end == "max" else np.inf)
    assert info.converged and not info.clipped
    assert info.entropy == t


@settings(max_examples=MAX_EXAMPLES)
@given(z=logit_rows(), dtype=st.sampled_from(DTYPES_ALL), logits=st.booleans(),
       bad=st.sampled_from(["nan", "+inf", "negative"]), row=st.integers(0, 2), data=st.data())
def test_nonfinite_entries_are_rejected_by_row(z, dtype, logits, bad, row, data):
    """NaN and +inf logits, and NaN, infinite or negative probabilities, make the call raise
    ValueError naming the row (other rows are valid); -inf logits and zero probabilities
    are entries outside the support (q = 0 there, h_max = log #support)."""
    assume(not (logits and bad == "negative"))
    x = np.stack([as_input(z, dtype, logits)] * 3)
    n = x.shape[1]
    edges = [i for j in range(0, n, BLOCK) for i in (j, min(n, j + BLOCK) - 1)]
    pos = data.draw(st.sampled_from(edges + [n // 2]))
    x[row, pos] = {"nan": np.nan, "+inf": np.inf, "negative": -0.25}[bad]
    match = (rf"^row {row} of x contains a NaN or \+inf logit" if logits
             else rf"^row {row} of x contains a negative, NaN or infinite probability")
    with pytest.raises(ValueError, match=match):
        en(x, 0.5, logits=logits)
    # the valid rows alone
    ok = np.delete(x, row, axis=0)
    h_min, h_max, sup, _ = reach(ok, logits)
    t = h_min + 0.5 * (h_max - h_min)
    q, info = en(ok, t, logits=logits, return_info=True)
    assert np.all(q[~sup] == 0)
    np.testing.assert_array_equal(info.h_max, h_max)
