"""Token sampling (logitcore.sample, logitcore.apply_penalties, docs/math.md §4).

The float64 reference (logitcore.reference.sampling) first, checked against the contract on
its own: the Philox4x32-10 known answers and hand-made rows for every filter. Then the
native sampler against it: the kept set (logitcore.sampling.kept_mask) equal to the
reference's on random, peaked, flat, tied and ±inf rows for many filter combinations; greedy
and top-k = 1; draws inside the kept set; tokens equal to the reference's inverse CDF
wherever u is not within rounding of a boundary; the same token whatever the batch, the
thread count and the ISA; the target entropy's γ; log-probabilities; dtypes and layouts;
``out=``; penalties; bad input. The distributions themselves are checked by chi-square tests
in test_sampling_stats.py.

Rounding: the kernel computes the weights e in the row's precision and sums them in its own
order, the reference in float64 after sorting. Kept sets are compared only on rows whose
top-p and min-p decisions are at least a margin away from a tie (``kept_set_is_robust``),
tokens only where u is at least a margin away from a boundary of the inverse CDF, and the
tests assert that most rows are compared. Entries whose weight underflows in the kernel's
precision only are not compared; entries of weight exactly 0 (-inf logits, the non-+inf
entries of a +inf row, γ = ∞) have their own test (``test_kept_mask_excludes_zero_weight``),
so that one finding does not hide the others.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import logitcore as lc
from logitcore import reference as R
from logitcore import sampling

from ._helpers import BLOCK, SUPPORTED_ISAS, forced_isa, set_threads

DTYPES = [np.float32, np.float64]
KEYS = ("temperature", "top_k", "top_p", "min_p", "target_entropy")
DEFAULTS = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0, "target_entropy": None}

# relative distance of a top-p / min-p decision from its tie below which a row's kept set is
# not compared (float32 weights: one rounding of (z - m)/T and of exp; float64: the sums'
# order). Rows with a target entropy get 10x (γ is solved to a tolerance, not exactly).
KEPT_MARGIN = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-9}
# distance of u from a boundary of the inverse CDF (fraction of the kept mass) below which
# tokens are not compared with the reference's
CDF_MARGIN = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-9}
# reference probabilities this far below the row's largest may underflow in the kernel's
# weights (float32 e below 1e-38; float64 subnormals): such entries are not compared
TINY = {np.dtype(np.float32): 1e-30, np.dtype(np.float64): 1e-290}

# filter combinations (each key a scalar for every row)
FILTERS = [
    {},
    {"temperature": 0.0},
    {"temperature": 0.5},
    {"temperature": 2.5},
    {"top_k": 1},
    {"top_k": 5},
    {"top_k": 40},
    {"top_p": 0.5},
    {"top_p": 0.9},
    {"top_p": 0.999},
    {"temperature": 0.7, "top_p": 0.8},
    {"min_p": 0.05},
    {"min_p": 0.5},
    {"min_p": 1.0},
    {"temperature": 1.3, "min_p": 0.2},
    {"temperature": 0.8, "top_k": 20, "top_p": 0.9, "min_p": 0.01},
    {"top_k": 3, "top_p": 0.3},
    {"top_k": 8, "min_p": 0.1},
    {"target_entropy": 1.0},
    {"target_entropy": 2.5, "top_p": 0.8},
    {"target_entropy": 1.5, "top_k": 10, "min_p": 0.1},
    {"target_entropy": 0.0},
    {"target_entropy": 100.0},
    {"target_entropy": 100.0, "top_p": 0.4321},
]
FILTER_IDS = ["-".join(f"{k}={v}" for k, v in f.items()) or "none" for f in FILTERS]
KINDS = ["random", "peaked", "flat", "tied", "neginf", "posinf"]


# --------------------------------------------------------------------------------------
# helpers


def make_rows(kind, rng, b, v):
    """float64 rows of one kind (cast by the caller; every row has an entry > -inf)."""
    if kind == "random":
        return rng.standard_normal((b, v)) * rng.uniform(1.0, 8.0, (b, 1))
    if kind == "peaked":  # one huge logit: the rest at weight e^-20 or exactly 0 (e^-1000)
        x = rng.standard_normal((b, v))
        x[np.arange(b), rng.integers(0, v, b)] += rng.choice([20.0, 1000.0], b)
        return x
    if kind == "flat":
        return np.repeat(rng.normal(0.0, 3.0, (b, 1)), v, axis=1)
    if kind == "tied":
        return rng.integers(-3, 3, (b, v)).astype(np.float64)
    if kind == "neginf":
        x = rng.standard_normal((b, v)) * 3.0
        x[rng.random((b, v)) < 0.4] = -np.inf
        x[np.arange(b), rng.integers(0, v, b)] = rng.standard_normal(b)
        return x
    if kind == "posinf":
        x = rng.standard_normal((b, v)) * 3.0
        x[rng.random((b, v)) < 0.2] = -np.inf
        for i in range(b):
            x[i, rng.choice(v, size=min(v, int(rng.integers(1, 4))), replace=False)] = np.inf
        return x
    raise ValueError(kind)


def row_settings(settings, b):
    """Per-row scalar settings (dicts with every key) from scalars or length-b arrays."""
    rows = []
    for i in range(b):
        s = dict(DEFAULTS)
        for k in KEYS:
            if k in settings and settings[k] is not None:
                a = np.asarray(settings[k])
                s[k] = (a[i] if a.ndim else a).item()
        if s["target_entropy"] is not None and math.isnan(s["target_entropy"]):
            s["target_entropy"] = None
        rows.append(s)
    return rows


def filters_of(s):
    return {k: s[k] for k in KEYS}


def limit_row(z):
    """The row as §4.1 sees it: +inf entries as 0 and the others as -inf when there are any."""
    return np.where(z == np.inf, 0.0, -np.inf) if (z == np.inf).any() else z


def kept_set_is_robust(z, s, dtype):
    """True when the kept set of row z (float64) under settings s is decided at least a
    margin away from every tie: top-p's group masses vs P, min-p's weights vs π, a target
    entropy vs the ends of its range."""
    h = s["target_entropy"]
    if s["temperature"] == 0 and h is None:
        return True
    margin = KEPT_MARGIN[np.dtype(dtype)] * (10.0 if h is not None else 1.0)
    base = {"temperature": s["temperature"], "target_entropy": h}
    if h is not None:  # the kernel clips a target within its tolerance of an end
        zl = limit_row(z)
        fin = zl > -np.inf
        ends = (math.log(np.count_nonzero(fin)), math.log(np.count_nonzero(zl == zl.max())))
        if ends[1] < h < ends[0] and min(abs(h - e) for e in ends) < 1e-4:
            return False
    if s["top_p"] < 1:
        pk = R.sample_probs(z, top_k=s["top_k"], **base)
        nz = pk > 0
        _, inv = np.unique(-z[nz], return_inverse=True)  # groups of equal logits, largest first
        cum = np.cumsum(np.bincount(inv.ravel(), weights=pk[nz]))
        if np.any(np.abs(cum - s["top_p"]) <= margin):
            return False
    if s["min_p"] > 0:
        pq = R.sample_probs(z, top_k=s["top_k"], top_p=s["top_p"], **base)
        cand = (pq > 0) & (z < z.max())  # entries at the maximum have e = 1 exactly
        e = pq[cand] / pq.max()
        if np.any(np.abs(e - s["min_p"]) <= margin * s["min_p"]):
            return False
    return True


def check_kept_mask(x, settings, what, *, min_fraction=0.5, isas=(None,)):
    """Native kept_mask == reference sample_probs > 0 on the robust rows, on each ISA of
    `isas` (None: the current one); the reference is computed once. Returns the last mask."""
    dtype = np.dtype(x.dtype)
    calc = np.dtype(np.float32) if dtype == np.float16 else dtype
    x64 = np.asarray(x, dtype=np.float64)
    x2 = np.atleast_2d(x64)
    want_p = R.sample_probs(x2, **settings)
    want = want_p > 0
    rows = row_settings(settings, x2.shape[0])
    robust = np.array([kept_set_is_robust(z, s, calc) for z, s in zip(x2, rows)])
    # weights that may underflow in the kernel's precision; and tokens of weight exactly 0
    # (-inf logits, float64 underflow), which test_kept_mask_excludes_zero_weight checks alone
    dont_care = want & (want_p < TINY[calc] * want_p.max(axis=1, keepdims=True))
    greedy = np.array([r["temperature"] == 0 and r["target_entropy"] is None for r in rows])
    tempered = R.sample_probs(x2, temperature=np.array([r["temperature"] for r in rows]),
                              target_entropy=np.array([np.nan if r["target_entropy"] is None else r["target_entropy"]
                                                       for r in rows]))
    dont_care |= (tempered == 0) & ~greedy[:, None]
    assert robust.mean() >= min_fraction, f"{what}: only {robust.sum()} of {robust.size} rows were comparable"
    for isa in isas:
        if isa is None:
            got = sampling.kept_mask(x, **settings)
        else:
            with forced_isa(isa):
                got = sampling.kept_mask(x, **settings)
        tag = f"[{isa}] {what}" if isa else what
        assert isinstance(got, np.ndarray) and got.dtype == np.bool_ and got.shape == x.shape, tag
        g2 = np.atleast_2d(got)
        bad = robust[:, None] & (g2 != want) & ~dont_care
        if bad.any():
            i = int(np.flatnonzero(bad.any(axis=1))[0])
            raise AssertionError(
                f"{tag}: kept_mask differs from the reference in {int(bad.any(axis=1).sum())} rows; row {i} "
                f"settings {filters_of(rows[i])}: logits ({dtype}) {x2[i].tolist()}; native keeps "
                f"{np.flatnonzero(g2[i]).tolist()}, reference keeps {np.flatnonzero(want[i]).tolist()}"
            )
    return got


def cdf_margin(p, u):
    """Distance of u from the nearest boundary of the inverse CDF of p (fractions of the mass)."""
    cs = np.cumsum(p)
    cs = cs[p > 0] / cs[-1]
    return float(np.min(np.abs(cs - u)))


def tokens_comparable(x64, settings, seeds, offsets, dtype):
    """Rows whose kept set is robust and whose u is a margin away from every CDF boundary."""
    rows = row_settings(settings, x64.shape[0])
    probs = R.sample_probs(x64, **settings)
    seeds = np.broadcast_to(np.asarray(seeds, dtype=object), (x64.shape[0],))
    offsets = np.broadcast_to(np.asarray(offsets, dtype=object), (x64.shape[0],))
    ok = np.zeros(x64.shape[0], dtype=bool)
    for i, (z, s) in enumerate(zip(x64, rows)):
        if not kept_set_is_robust(z, s, dtype):
            continue
        margin = CDF_MARGIN[np.dtype(dtype)] * (1000.0 if s["target_entropy"] is not None else 1.0)
        ok[i] = cdf_margin(probs[i], R.sample_uniform(int(seeds[i]), int(offsets[i]))) > margin
    return ok


def random_settings(rng, b, v):
    """Per-row settings arrays covering every filter (a third of the rows greedy or with a
    target entropy)."""
    t = rng.choice([0.0, 0.3, 0.7, 1.0, 1.5], b)
    h = np.where(rng.random(b) < 0.25, rng.uniform(0.2, 0.8 * math.log(v), b), np.nan)
    return {
        "temperature": t,
        "top_k": np.where(rng.random(b) < 0.5, rng.integers(1, v + 2, b), 0),
        "top_p": np.where(rng.random(b) < 0.5, rng.uniform(0.05, 1.0, b), 1.0),
        "min_p": np.where(rng.random(b) < 0.5, rng.uniform(0.0, 0.5, b), 0.0),
        "target_entropy": h,
    }


def entropy64(z, gamma):
    """Entropy (nats) of softmax(γ z) in float64 (γ = inf: uniform over the maximum)."""
    z = limit_row(np.asarray(z, dtype=np.float64))
    fin = z > -np.inf
    if gamma == np.inf:
        return math.log(np.count_nonzero(z == z.max()))
    w = gamma * (z[fin] - z[fin].max())
    lse = math.log(np.exp(w).sum())
    p = np.exp(w - lse)
    return float(-(p * (w - lse)).sum())


# --------------------------------------------------------------------------------------
# the reference on its own (docs/math.md §4.1, §4.2)

KAT = [  # Random123 kat_vectors, philox4x32 10 rounds
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter,key,want", KAT)
def test_reference_philox_known_answers(counter, key, want):
    assert R.philox4x32(counter, key) == want


def test_reference_uniform_layout():
    # key (seed mod 2^32, seed div 2^32), counter (offset mod 2^32, offset div 2^32, 0, 0)
    r0, r1, _, _ = KAT[0][2]
    assert R.sample_uniform(0, 0) == (((r0 << 32) | r1) >> 11) * 2.0**-53
    r0, r1, _, _ = R.philox4x32((0x9ABCDEF0, 0x12345678, 0, 0), (0x76543210, 0xFEDCBA98))
    assert R.sample_uniform(0xFEDCBA9876543210, 0x123456789ABCDEF0) == (((r0 << 32) | r1) >> 11) * 2.0**-53
    us = [R.sample_uniform(7, k) for k in range(2000)]
    assert all(0.0 <= u < 1.0 for u in us) and len(set(us)) == 2000
    assert abs(np.mean(us) - 0.5) < 0.03
    for bad in (-1, 2**64):
        with pytest.raises(ValueError, match="seed"):
            R.sample_uniform(bad, 0)
        with pytest.raises(ValueError, match="offset"):
            R.sample_uniform(0, bad)


def test_reference_filters_by_hand():
    z = np.array([1.0, 3.0, 3.0, 0.0, -np.inf, 2.0])
    e = np.exp(z - 3.0)

    def dist(mask, w=e):
        p = np.where(mask, w, 0.0)
        return p / p.sum()

    np.testing.assert_allclose(R.sample_probs(z), dist(np.isfinite(z)), rtol=1e-15)
    np.testing.assert_array_equal(R.sample_probs(z, temperature=0), [0, 1, 0, 0, 0, 0])
    np.testing.assert_allclose(R.sample_probs(z, temperature=0.5), dist(np.isfinite(z), np.exp((z - 3) / 0.5)),
                               rtol=1e-15)
    # top-k: the k-th largest with multiplicity, ties kept
    for k, keep in [(1, [1, 2]), (2, [1, 2]), (3, [1, 2, 5]), (4, [0, 1, 2, 5]), (6, [0, 1, 2, 3, 5]),
                    (60, [0, 1, 2, 3, 5])]:
        np.testing.assert_array_equal(np.flatnonzero(R.sample_probs(z, top_k=k)), keep, err_msg=f"k={k}")
    # top-p: the two 3s hold 2/(2 + e^-1 + e^-2 + e^-3) = 0.7826
    mass3 = 2 / e[np.isfinite(z)].sum()
    assert 0.78 < mass3 < 0.79
    for p, keep in [(0.1, [1, 2]), (mass3 - 1e-9, [1, 2]), (mass3 + 1e-9, [1, 2, 5]), (0.95, [0, 1, 2, 5]),
                    (0.999, [0, 1, 2, 3, 5])]:
        np.testing.assert_array_equal(np.flatnonzero(R.sample_probs(z, top_p=p)), keep, err_msg=f"p={p}")
    # top-p renormalizes over what top-k kept: over {3, 3, 2} the 3s hold 2/(2 + e^-1) = 0.845
    np.testing.assert_array_equal(np.flatnonzero(R.sample_probs(z, top_k=3, top_p=0.84)), [1, 2])
    np.testing.assert_array_equal(np.flatnonzero(R.sample_probs(z, top_k=3, top_p=0.85)), [1, 2, 5])
    # min-p: e_j >= π
    for mp, keep in [(math.exp(-1), [1, 2, 5]), (math.exp(-1) + 1e-12, [1, 2]), (1.0, [1, 2]),
                     (math.exp(-3), [0, 1, 2, 3, 5])]:
        np.testing.assert_array_equal(np.flatnonzero(R.sample_probs(z, min_p=mp)), keep, err_msg=f"min_p={mp}")
    # +inf: uniform over the +inf entries, whatever the temperature and filters
    zi = np.array([0.0, np.inf, 5.0, np.inf, -np.inf])
    for kw in ({}, {"temperature": 0.1}, {"top_k": 1}, {"top_p": 0.3}, {"min_p": 1.0}, {"target_entropy": 0.0}):
        np.testing.assert_array_equal(R.sample_probs(zi, **kw), [0, 0.5, 0, 0.5, 0], err_msg=str(kw))
    np.testing.assert_array_equal(R.sample_probs(zi, temperature=0), [0, 1, 0, 0, 0])
    ids, lp = R.log_softmax_topn(zi, 4)  # +inf first, then the others (all -inf) in index order
    np.testing.assert_array_equal(ids, [1, 3, 0, 2])
    np.testing.assert_array_equal(lp, [-math.log(2), -math.log(2), -np.inf, -np.inf])


def test_reference_target_entropy():
    z = np.array([1.0, 3.0, 3.0, 0.0, -np.inf, 2.0])
    # clipped: at or below log 2 (ties at the maximum) -> uniform over them, gamma inf
    for h in (-1.0, 0.0, math.log(2)):
        assert R.tempered_gamma(z, h) == np.inf
        np.testing.assert_array_equal(R.sample_probs(z, target_entropy=h), [0, 0.5, 0.5, 0, 0, 0])
    # at or above log 5 (finite entries) -> uniform over them, gamma 0
    for h in (math.log(5), 10.0, np.inf):
        assert R.tempered_gamma(z, h) == 0.0
        np.testing.assert_array_equal(R.sample_probs(z, target_entropy=h), [0.2, 0.2, 0.2, 0.2, 0, 0.2])
    for h in (0.7, 1.0, 1.3, 1.6):
        g = float(R.tempered_gamma(z, h))
        assert 0 < g < np.inf
        assert abs(entropy64(z, g) - h) < 1e-12
        np.testing.assert_allclose(R.sample_probs(z, target_entropy=h), R.softmax(g * z), rtol=1e-12, atol=1e-300)
        # the temperature is replaced (even greedy's 0)
        np.testing.assert_array_equal(R.sample_probs(z, target_entropy=h, temperature=0.0),
                                      R.sample_probs(z, target_entropy=h))
    # NaN and None are off
    np.testing.assert_array_equal(R.sample_probs(z, target_entropy=np.nan), R.sample_probs(z))
    # gamma 0 with top-p keeps the largest logits first (equal weights)
    np.testing.assert_array_equal(np.flatnonzero(R.sample_probs(z, target_entropy=10.0, top_p=0.5)), [1, 2, 5])


def test_reference_draw_is_inverse_cdf():
    with np.errstate(divide="ignore"):
        z = np.log(np.array([0.1, 0.0, 0.2, 0.3, 0.4]))
    for seed, off in [(0, 0), (1, 5), (2**64 - 1, 2**63), (12345, 2**40 + 3)]:
        u = R.sample_uniform(seed, off)
        want = int(np.searchsorted(np.cumsum([0.1, 0.0, 0.2, 0.3, 0.4]), u * 1.0, side="right"))
        assert R.sample_ref(z, seed=seed, offset=off) == want
    # batch form with per-row seeds/offsets, greedy rows
    x = np.tile(z, (3, 1))
    t = R.sample_ref(x, temperature=[1.0, 0.0, 1.0], seed=[0, 0, 1], offset=np.array([0, 9, 5], dtype=np.uint64))
    assert t.dtype == np.int64 and t.shape == (3,) and t[1] == 4
    assert t[0] == R.sample_ref(z) and t[2] == R.sample_ref(z, seed=1, offset=5)


def test_reference_penalties_by_hand():
    x = np.array([[2.0, -1.0, 0.5, 4.0, np.inf], [1.0, 1.0, 1.0, 1.0, 1.0]])
    ids = np.array([[0, 1, 1, -1, 4], [3, -1, -1, -1, -1]])
    got = R.apply_penalties(x, ids, repetition_penalty=[2.0, 1.0], frequency_penalty=[0.5, 0.0],
                            presence_penalty=[0.25, 1.0])
    want = np.array([[2.0 / 2 - 0.5 - 0.25, -1.0 * 2 - 2 * 0.5 - 0.25, 0.5, 4.0, np.inf], [1, 1, 1, 0.0, 1]])
    np.testing.assert_array_equal(got, want)
    assert R.apply_penalties(x.astype(np.float32), ids).dtype == np.float32
    with pytest.raises(IndexError, match="5"):
        R.apply_penalties(x, [[5], [0]])


# --------------------------------------------------------------------------------------
# the kept set (lc.sampling.kept_mask) against the reference


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_kept_mask_matches_reference(kind, dtype, rng):
    for v in (7, 64, 300):
        x = make_rows(kind, rng, 16, v).astype(dtype)
        for filt, fid in zip(FILTERS, FILTER_IDS):
            check_kept_mask(x, filt, f"{kind} {np.dtype(dtype)} V={v} {fid}", isas=SUPPORTED_ISAS,
                            min_fraction=0.3 if "top_p" in filt or "min_p" in filt else 0.9)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("v", [BLOCK - 1, BLOCK + 1, 3 * BLOCK + 17])
def test_kept_mask_long_rows(v, dtype, rng):
    """Rows over several blocks: top-k's candidate buffer, top-p's histogram and refinement."""
    x = make_rows("random", rng, 4, v)
    x[1] = np.round(x[1])  # many ties around every threshold
    x[2, rng.random(v) < 0.5] = -np.inf
    x = x.astype(dtype)
    for filt, fid in zip(FILTERS, FILTER_IDS):
        check_kept_mask(x, filt, f"V={v} {np.dtype(dtype)} {fid}", min_fraction=0.25, isas=SUPPORTED_ISAS)
    for k in (1, 2, 100, 1000, v - 1, v):
        check_kept_mask(x, {"top_k": k, "temperature": 0.5}, f"V={v} top_k={k}", isas=SUPPORTED_ISAS)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kept_mask_per_row_settings(dtype, rng):
    for v in (10, 200):
        x = np.concatenate([make_rows(kind, rng, 20, v) for kind in KINDS]).astype(dtype)
        s = random_settings(rng, x.shape[0], v)
        check_kept_mask(x, s, f"per-row settings V={v} {np.dtype(dtype)}")
        # each row alone gives its own mask
        got = sampling.kept_mask(x, **s)
        for i in rng.choice(x.shape[0], 10, replace=False):
            one = sampling.kept_mask(x[i], **filters_of(row_settings(s, x.shape[0])[i]))
            np.testing.assert_array_equal(one, got[i], err_msg=f"row {i} alone")


def test_kept_mask_excludes_zero_weight():
    """kept_mask is the set sample() draws from: tokens of weight e_j = 0 (-inf logits, weights
    that underflow) are never drawn (§4.1 step 5), so they are not in it, even when no filter
    removes them."""
    z = np.array([1.0, -np.inf, 0.5, -np.inf])
    for kw in ({}, {"top_k": 4}, {"top_p": 1.0, "min_p": 0.0}, {"temperature": 2.0}, {"target_entropy": 0.5},
               {"target_entropy": 5.0}):
        np.testing.assert_array_equal(sampling.kept_mask(z, **kw), [1, 0, 1, 0], err_msg=str(kw))
    for dtype, gap in ((np.float32, 200.0), (np.float64, 1000.0)):
        zu = np.array([0.0, -gap, -1.0, -gap]).astype(dtype)
        np.testing.assert_array_equal(sampling.kept_mask(zu), [1, 0, 1, 0], err_msg=f"{np.dtype(dtype)} underflow")
    # gamma = inf (a target below the range): only the maxima have weight
    np.testing.assert_array_equal(sampling.kept_mask(np.array([2.0, 1.0, 2.0]), target_entropy=0.0), [1, 0, 1])
    # +inf rows: only the +inf entries have weight
    zi = np.array([0.0, np.inf, 5.0, np.inf, -np.inf])
    for kw in ({}, {"temperature": 0.1}, {"top_k": 4}, {"top_p": 0.3}, {"min_p": 1.0}, {"target_entropy": 1.0}):
        np.testing.assert_array_equal(sampling.kept_mask(zi, **kw), [0, 1, 0, 1, 0], err_msg=str(kw))


def test_kept_mask_one_dimensional_and_special_rows():
    z = np.array([1.0, 3.0, 3.0, 0.0, -50.0, 2.0])
    np.testing.assert_array_equal(sampling.kept_mask(z), [1, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(sampling.kept_mask(z, temperature=0), [0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(sampling.kept_mask(z, top_k=1), [0, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(sampling.kept_mask(z, top_k=3), [0, 1, 1, 0, 0, 1])
    np.testing.assert_array_equal(sampling.kept_mask(z, min_p=1.0), [0, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(sampling.kept_mask(z, top_p=0.5), [0, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(sampling.kept_mask(z, top_p=0.8), [0, 1, 1, 0, 0, 1])
    # gamma 0: equal weights over the 6 entries, top-p by logits: 3, 3, 2 (3/6 >= 0.5)
    np.testing.assert_array_equal(sampling.kept_mask(z, target_entropy=10.0, top_p=0.5), [0, 1, 1, 0, 0, 1])
    zi = np.array([0.0, np.inf, 5.0, np.inf, -np.inf])
    np.testing.assert_array_equal(sampling.kept_mask(zi, temperature=0), [0, 1, 0, 0, 0])
    np.testing.assert_array_equal(sampling.kept_mask(np.array([7.0])), [1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_native_sample_probs_matches_reference(dtype, rng):
    """lc.sampling.sample_probs (the distribution sample() draws from) against the reference on
    the rows whose kept set is robust: float32 weights carry one rounding of (z - m)/T."""
    rtol, atol = (2e-5, 1e-35) if dtype == np.float32 else (1e-12, 1e-300)
    for kind in KINDS:
        x = make_rows(kind, rng, 12, 40).astype(dtype)
        x64 = x.astype(np.float64)
        for filt, fid in zip(FILTERS, FILTER_IDS):
            got = sampling.sample_probs(x, **filt)
            assert got.dtype == dtype and got.shape == x.shape
            want = R.sample_probs(x64, **filt)
            rows = row_settings(filt, x.shape[0])
            for i, s in enumerate(rows):
                if not kept_set_is_robust(x64[i], s, dtype):
                    continue
                tol = 1e3 if s["target_entropy"] is not None else 1.0  # gamma is solved to a tolerance
                np.testing.assert_allclose(got[i], want[i], rtol=rtol * tol, atol=atol,
                                           err_msg=f"{kind} {np.dtype(dtype)} {fid} row {i}: {x64[i].tolist()}")


def test_native_sample_uniform():
    for seed, off in [(0, 0), (1, 0), (0, 1), (2**32, 2**32 - 1), (2**64 - 1, 2**64 - 1), (12345678901234, 987654321)]:
        assert sampling.sample_uniform(seed, off) == R.sample_uniform(seed, off), (seed, off)


# --------------------------------------------------------------------------------------
# greedy, top-k = 1, draws inside the kept set


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_greedy_is_first_argmax(isa, dtype, rng):
    x = make_rows("tied", rng, 50, 37)
    x[:10] = make_rows("random", rng, 10, 37)
    x[10:15] = make_rows("posinf", rng, 5, 37)
    x[15:20] = make_rows("neginf", rng, 5, 37)
    x = x.astype(dtype)
    want = np.argmax(limit_row_batch(x.astype(np.float64)), axis=1)
    for seed in (0, 1, 2**64 - 1):
        for filt in ({}, {"top_k": 3}, {"top_p": 0.1, "min_p": 0.9}):
            got = lc.sample(x, temperature=0.0, seed=seed, offset=seed // 3, **filt)
            np.testing.assert_array_equal(got, want, err_msg=f"[{isa}] seed {seed} {filt}")


def limit_row_batch(x):
    return np.array([limit_row(z) for z in x])


@pytest.mark.parametrize("dtype", DTYPES)
def test_top_k_1_is_greedy(isa, dtype, rng):
    """top_k = 1 keeps the maximum and its ties: greedy when the maximum is unique, a draw
    among the tied maxima otherwise."""
    x = np.concatenate([make_rows(k, rng, 8, 29) for k in KINDS]).astype(dtype)
    x64 = limit_row_batch(x.astype(np.float64))
    at_max = x64 == x64.max(axis=1, keepdims=True)
    unique = at_max.sum(axis=1) == 1
    assert unique.sum() >= 20
    want = lc.sample(x, temperature=0.0)
    for t in (0.1, 1.0, 10.0, 1e6):
        for seed in range(5):
            got = lc.sample(x, temperature=t, top_k=1, seed=seed, offset=np.arange(x.shape[0]))
            np.testing.assert_array_equal(got[unique], want[unique], err_msg=f"[{isa}] T={t} seed={seed}")
            assert at_max[np.arange(x.shape[0]), got].all(), f"[{isa}] T={t} seed={seed}"
    # target entropy above the top: gamma 0, top-k = 1 still leaves the first maximum's ties only
    got = lc.sample(x, top_k=1, target_entropy=100.0)
    assert all(limit_row(z)[t] == limit_row(z).max() for z, t in zip(x.astype(np.float64), got))


@pytest.mark.parametrize("dtype", DTYPES)
def test_draws_inside_kept_set(isa, dtype, rng):
    v, reps = 23, 200
    base = np.concatenate([make_rows(k, rng, 2, v) for k in KINDS])
    for filt in FILTERS:
        x = np.repeat(base, reps, axis=0).astype(dtype)
        offsets = np.tile(np.arange(reps, dtype=np.uint64), base.shape[0])
        tok = lc.sample(x, seed=12345, offset=offsets, **filt)
        assert tok.dtype == np.int64 and tok.shape == (x.shape[0],)
        native = sampling.kept_mask(x[::reps], **filt)
        ref = R.sample_probs(x[::reps].astype(np.float64), **filt) > 0
        rows = row_settings(filt, base.shape[0])
        for i in range(base.shape[0]):
            t = tok[i * reps:(i + 1) * reps]
            assert native[i][t].all(), (
                f"[{isa}] {filt}: row {i} drew {sorted(set(t[~native[i][t]]))} outside its kept set")
            if kept_set_is_robust(x[i * reps].astype(np.float64), rows[i], dtype):
                assert ref[i][t].all(), (
                    f"[{isa}] {filt}: row {i} drew {sorted(set(t[~ref[i][t]]))} outside the reference's")


def test_tokens_with_zero_weight_never_drawn(rng):
    # weights that underflow: float32 e^-200 is 0, float64 e^-1000 is 0
    for dtype, gap in ((np.float32, 200.0), (np.float64, 1000.0)):
        z = np.zeros(64)
        z[1::2] = -gap
        z[5] = -np.inf
        x = np.tile(z, (4000, 1)).astype(dtype)
        tok = lc.sample(x, seed=3, offset=np.arange(4000))
        assert np.all(tok % 2 == 0), dtype
        assert len(set(tok.tolist())) == 32


# --------------------------------------------------------------------------------------
# tokens: the reference's inverse CDF, the Philox stream, reproducibility


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_tokens_match_reference(kind, dtype, rng):
    compared = total = 0
    for v in (5, 50, 500):
        x = make_rows(kind, rng, 24, v).astype(dtype)
        x64 = x.astype(np.float64)
        for filt, fid in zip(FILTERS, FILTER_IDS):
            seeds = rng.integers(0, 2**63, x.shape[0], dtype=np.uint64) * np.uint64(2) + np.uint64(1)
            offsets = rng.integers(0, 2**40, x.shape[0], dtype=np.uint64)
            got = lc.sample(x, seed=seeds, offset=offsets, **filt)
            want = R.sample_ref(x64, seed=seeds, offset=offsets, **filt)
            ok = tokens_comparable(x64, filt, seeds, offsets, dtype)
            bad = ok & (got != want)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise AssertionError(
                    f"{kind} {np.dtype(dtype)} V={v} {fid}: row {i} (seed {int(seeds[i])}, offset {int(offsets[i])}, "
                    f"u = {R.sample_uniform(int(seeds[i]), int(offsets[i]))!r}) drew {got[i]}, reference {want[i]}; "
                    f"logits {x64[i].tolist()}"
                )
            compared += int(ok.sum())
            total += ok.size
    assert compared >= 0.7 * total, f"only {compared} of {total} rows comparable"


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_flat_row_is_exact_philox(isa, dtype, rng):
    """Equal logits: every weight is exactly 1 and every running sum an exact integer, so the
    token is exactly the reference's for every seed and offset (any rounding of u · V is the
    same float64 product on both sides)."""
    for v in (1, 2, 3, 7, 1000, BLOCK + 3):
        n = 300
        seeds = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
        offsets = rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)
        seeds[:3] = [0, 2**64 - 1, 2**32]
        offsets[:3] = [0, 2**64 - 1, 2**32 - 1]
        x = np.full((n, v), 0.25, dtype=dtype)
        got = lc.sample(x, seed=seeds, offset=offsets)
        want = np.array([int(R.sample_uniform(int(s), int(o)) * v) for s, o in zip(seeds, offsets)])
        np.testing.assert_array_equal(got, want, err_msg=f"[{isa}] V={v}")
        # one row at a time, Python int seeds
        for i in range(5):
            assert lc.sample(x[i], seed=int(seeds[i]), offset=int(offsets[i])) == want[i]


def test_seed_and_offset_types(rng):
    x = np.full((6, 97), -1.0)
    seeds = np.array([0, 1, 2**31, 2**32 + 5, 2**62, 2**63 - 1], dtype=np.int64)
    offs = np.array([0, 2**32, 7, 2**40, 1, 2**63 - 1], dtype=np.int64)
    want = lc.sample(x, seed=seeds.astype(np.uint64), offset=offs.astype(np.uint64))
    np.testing.assert_array_equal(lc.sample(x, seed=seeds, offset=offs), want)
    np.testing.assert_array_equal(lc.sample(x, seed=seeds.tolist(), offset=offs.tolist()), want)
    for i in range(6):
        assert lc.sample(x[i], seed=int(seeds[i]), offset=np.uint64(offs[i])) == want[i]
        assert lc.sample(x[i], seed=np.int64(seeds[i]), offset=int(offs[i])) == want[i]
    np.testing.assert_array_equal(want, R.sample_ref(x, seed=seeds, offset=offs))
    assert lc.sample(x[0], seed=2**64 - 1, offset=2**64 - 1) == R.sample_ref(x[0], seed=2**64 - 1, offset=2**64 - 1)


def test_offsets_change_the_token():
    x = np.zeros(1000)
    tok = [int(lc.sample(x, seed=11, offset=k)) for k in range(50)]
    assert len(set(tok)) > 40
    assert len({int(lc.sample(x, seed=s, offset=0)) for s in range(50)}) > 40
    # the same (row, settings, seed, offset): the same token
    assert all(int(lc.sample(x, seed=11, offset=k)) == tok[k] for k in range(50))


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_token_whatever_the_batch(dtype, rng):
    v = 300
    x = np.concatenate([make_rows(k, rng, 10, v) for k in KINDS]).astype(dtype)
    b = x.shape[0]
    s = random_settings(rng, b, v)
    seeds = rng.integers(0, 2**64 - 1, b, dtype=np.uint64, endpoint=True)
    offs = rng.integers(0, 2**64 - 1, b, dtype=np.uint64, endpoint=True)
    whole = lc.sample(x, seed=seeds, offset=offs, **s)
    rows = row_settings(s, b)
    for i in range(b):
        kw = filters_of(rows[i])
        assert lc.sample(x[i], seed=int(seeds[i]), offset=int(offs[i]), **kw) == whole[i], f"row {i} alone"
        assert lc.sample(x[i:i + 1], seed=seeds[i:i + 1], offset=offs[i:i + 1], **kw)[0] == whole[i]
    for _ in range(3):
        perm = rng.permutation(b)
        sp = {k: np.asarray(a)[perm] for k, a in s.items()}
        np.testing.assert_array_equal(lc.sample(x[perm], seed=seeds[perm], offset=offs[perm], **sp), whole[perm])
    # inside a batch of other rows with other settings
    other = make_rows("random", rng, 7, v).astype(dtype)
    i = int(rng.integers(b))
    mixed = np.concatenate([other[:3], x[i:i + 1], other[3:]])
    kw = {k: np.concatenate([np.asarray(a)[:3], np.asarray(a)[i:i + 1], np.asarray(a)[3:7]]) for k, a in s.items()}
    got = lc.sample(mixed, seed=np.concatenate([seeds[:3], seeds[i:i + 1], seeds[3:7]]),
                    offset=np.concatenate([offs[:3], offs[i:i + 1], offs[3:7]]), **kw)
    assert got[3] == whole[i]


@pytest.mark.parametrize("shape", [(64, 5000), (3, 100_000), (1000, 50)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_same_token_whatever_the_thread_count(shape, dtype, rng, restore_threads):
    b, v = shape
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    s = random_settings(rng, b, v)
    seeds = rng.integers(0, 2**64 - 1, b, dtype=np.uint64, endpoint=True)
    got = {}
    for n in (1, 2, 4):
        set_threads(n)
        got[n] = lc.sample(x, seed=seeds, offset=np.arange(b), logprobs=3, **s)
    for n in (2, 4):
        for name, a, c in zip(got[1]._fields, got[1], got[n]):
            np.testing.assert_array_equal(a, c, err_msg=f"{name}: 1 vs {n} threads")


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_token_on_every_isa(dtype, rng):
    for v in (37, BLOCK + 5, 3 * BLOCK):
        x = np.concatenate([make_rows(k, rng, 6, v) for k in KINDS]).astype(dtype)
        b = x.shape[0]
        s = random_settings(rng, b, v)
        s["target_entropy"] = np.full(b, np.nan)  # bitwise claims exclude the γ search
        seeds = rng.integers(0, 2**64 - 1, b, dtype=np.uint64, endpoint=True)
        res, masks = {}, {}
        for name in SUPPORTED_ISAS:
            with forced_isa(name):
                res[name] = lc.sample(x, seed=seeds, offset=7, **s)
                masks[name] = sampling.kept_mask(x, **s)
        first = SUPPORTED_ISAS[0]
        for name in SUPPORTED_ISAS[1:]:
            np.testing.assert_array_equal(res[name], res[first], err_msg=f"V={v}: {name} vs {first}")
            np.testing.assert_array_equal(masks[name], masks[first], err_msg=f"V={v}: kept_mask {name} vs {first}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_target_entropy_tokens_on_every_isa(dtype, rng):
    """With a target entropy the token may differ between ISAs only within rounding of a CDF
    boundary: compare where u is well away from every boundary."""
    v = 300
    x = np.concatenate([make_rows(k, rng, 10, v) for k in ("random", "tied", "neginf")]).astype(dtype)
    b = x.shape[0]
    h = rng.uniform(0.3, 4.0, b)
    seeds = rng.integers(0, 2**64 - 1, b, dtype=np.uint64, endpoint=True)
    res = {}
    for name in SUPPORTED_ISAS:
        with forced_isa(name):
            res[name] = lc.sample(x, target_entropy=h, seed=seeds, offset=1)
    ok = tokens_comparable(x.astype(np.float64), {"target_entropy": h}, seeds, 1, dtype)
    assert ok.mean() > 0.7
    for name in SUPPORTED_ISAS[1:]:
        np.testing.assert_array_equal(res[name][ok], res[SUPPORTED_ISAS[0]][ok], err_msg=name)


# --------------------------------------------------------------------------------------
# target entropy


@pytest.mark.parametrize("dtype", DTYPES)
def test_target_entropy_gamma(isa, dtype, rng):
    tol = 1e-5 if dtype == np.float32 else 1e-8
    for kind in ("random", "peaked", "tied", "neginf"):
        for v in (3, 50, BLOCK + 100):
            x = make_rows(kind, rng, 12, v).astype(dtype)
            x64 = x.astype(np.float64)
            n_fin = (x64 > -np.inf).sum(axis=1)
            lo = np.log((x64 == x64.max(axis=1, keepdims=True)).sum(axis=1))
            hi = np.log(n_fin)
            h = lo + (hi - lo) * rng.uniform(0.05, 0.95, x.shape[0])
            g = sampling.tempered_gamma(x, h)
            assert g.dtype == np.float64 and g.shape == (x.shape[0],)
            for i in range(x.shape[0]):
                if hi[i] - lo[i] < 1e-3:
                    continue
                assert 0 < g[i] < np.inf, (
                    f"[{isa}] {kind} V={v} row {i}: gamma {g[i]} for H* {h[i]} in ({lo[i]}, {hi[i]})")
                err = abs(entropy64(x64[i], g[i]) - h[i])
                assert err <= tol, (
                    f"[{isa}] {np.dtype(dtype)} {kind} V={v} row {i}: |H(softmax(gamma z)) - H*| = {err:.3g} "
                    f"(H* {h[i]!r}, gamma {g[i]!r}, logits {x64[i].tolist() if v < 10 else '...'})")
            # no filter: the kept set is every finite entry (but weights that underflow)
            mask = sampling.kept_mask(x, target_entropy=h)
            fin = x64 > -np.inf
            with np.errstate(invalid="ignore"):
                arg = np.where(fin, g[:, None] * (x64 - x64.max(axis=1, keepdims=True)), 0.0)
            small = fin & (arg < (-80.0 if dtype == np.float32 else -700.0))
            assert mask[fin & ~small].all(), f"[{isa}] {kind} V={v}: a finite entry left out"


def test_target_entropy_clipped(rng):
    x = make_rows("tied", rng, 20, 30)
    x[0, :] = 2.0  # all tied: one reachable entropy
    x[1, 5:] = -np.inf
    x64 = x
    n_fin = (x64 > -np.inf).sum(axis=1)
    ties = (x64 == x64.max(axis=1, keepdims=True)).sum(axis=1)
    above = np.log(n_fin) + rng.choice([0.01, 1.0, 50.0], 20)
    below = np.maximum(np.log(ties) - rng.choice([0.01, 1.0, 50.0], 20), 0.0)  # at or below the lower end
    g_above = sampling.tempered_gamma(x, above)
    g_below = sampling.tempered_gamma(x, below)
    for i in range(1, 20):
        assert g_above[i] == 0.0, f"row {i}: H* {above[i]} above log #finite {np.log(n_fin[i])}: gamma {g_above[i]}"
        assert g_below[i] == np.inf, f"row {i}: H* {below[i]} below log #ties {np.log(ties[i])}: gamma {g_below[i]}"
    assert g_above[0] in (0.0, np.inf) and g_below[0] in (0.0, np.inf)  # all tied: either end
    # uniform draws: every finite entry / every tie at the maximum is reached, nothing else
    for h, allowed in ((above, x64 > -np.inf), (below, x64 == x64.max(axis=1, keepdims=True))):
        for i in (1, 2, 3):
            tok = lc.sample(np.repeat(x[i:i + 1], 3000, axis=0), target_entropy=h[i], offset=np.arange(3000))
            assert set(tok.tolist()) == set(np.flatnonzero(allowed[i]).tolist()), f"row {i} H* {h[i]}"
            counts = np.bincount(tok, minlength=30)[allowed[i]]
            assert counts.min() > 0.5 * counts.mean() and counts.max() < 1.5 * counts.mean(), f"row {i}: not uniform"
    # +inf rows: uniform over the +inf entries whatever the target
    zi = np.array([[0.0, np.inf, np.inf, -np.inf, 3.0]] * 3)
    g = sampling.tempered_gamma(zi, [0.0, math.log(2), 5.0])
    assert all(gi in (0.0, np.inf) for gi in g)
    tok = lc.sample(np.repeat(zi, 1000, axis=0), target_entropy=np.repeat([0.0, math.log(2), 5.0], 1000),
                    offset=np.arange(3000))
    assert set(tok.tolist()) == {1, 2}


@pytest.mark.parametrize("dtype,spread", [(np.float64, 1e-100), (np.float64, 1e-140), (np.float32, 1e-20),
                                          (np.float32, 1e-30), (np.float32, 1e-37)])
def test_target_entropy_tiny_spread(dtype, spread):
    """Logits that differ by a tiny amount still have every entropy in (log #ties, log #finite)
    reachable (γ of order 1/spread); the solved γ must reach it (down to the limits of
    docs/math.md §4.1: spreads of about 1e-38 in float32, 1e-150 in float64)."""
    z = np.array([0.0, 0.0, 0.0, spread], dtype=dtype)
    assert z[3] > 0
    g = sampling.tempered_gamma(z[None], np.array([1.0]))[0]
    h = entropy64(z, g)
    assert abs(h - 1.0) <= 1e-5, f"{np.dtype(dtype)} {z.tolist()}: gamma {g!r} gives H = {h!r}, not 1"
    # min-p = 1 keeps only the maximum (the others have e = exp(-γ·spread) < 1)
    np.testing.assert_array_equal(sampling.kept_mask(z, target_entropy=1.0, min_p=1.0), [0, 0, 0, 1])


@pytest.mark.parametrize("dtype,spread", [(np.float64, 1e-200), (np.float64, 1e-300), (np.float32, 1e-40)])
def test_target_entropy_below_the_representable_spread(dtype, spread):
    """Below the limits (γ · spread not representable), the row is sampled at the γ closest to
    the target that the search reached: finite, the draw among the finite entries."""
    z = np.array([0.0, 0.0, 0.0, spread], dtype=dtype)
    g = sampling.tempered_gamma(z[None], np.array([1.0]))[0]
    assert 0 <= g < np.inf
    assert abs(entropy64(z, g) - 1.0) < math.log(4) - 1.0 + 1e-9  # no further from 1 than gamma = 0
    tok = lc.sample(np.repeat(z[None], 200, axis=0), target_entropy=1.0, offset=np.arange(200))
    assert set(tok.tolist()) <= {0, 1, 2, 3}


def test_target_entropy_replaces_the_temperature(rng):
    x = make_rows("random", rng, 30, 40)
    h = rng.uniform(0.5, 3.0, 30)
    offs = np.arange(30)
    want = lc.sample(x, target_entropy=h, seed=5, offset=offs)
    for t in (0.0, 0.2, 1.0, 7.0):
        np.testing.assert_array_equal(lc.sample(x, target_entropy=h, temperature=t, seed=5, offset=offs), want,
                                      err_msg=f"temperature {t}")
    # NaN is off, per row
    h2 = h.copy()
    h2[::2] = np.nan
    got = lc.sample(x, target_entropy=h2, temperature=0.5, seed=5, offset=offs)
    np.testing.assert_array_equal(got[1::2], want[1::2])
    np.testing.assert_array_equal(got[::2], lc.sample(x[::2], temperature=0.5, seed=5, offset=offs[::2]))
    np.testing.assert_array_equal(lc.sample(x, target_entropy=None, seed=5, offset=offs),
                                  lc.sample(x, target_entropy=np.nan, seed=5, offset=offs))


# --------------------------------------------------------------------------------------
# log-probabilities


@pytest.mark.parametrize("dtype", DTYPES)
def test_logprobs_match_reference(isa, dtype, rng):
    """Within 1e-6 (float32) / 1e-12 (float64) relative to max(1, |largest finite logit|) (the
    tolerance of §1 for a logsumexp); never above 0."""
    tol = 1e-6 if dtype == np.float32 else 1e-12
    for v in (4, 100, BLOCK + 1):
        x = np.concatenate([make_rows(k, rng, 5, v) for k in KINDS]).astype(dtype)
        x64 = x.astype(np.float64)
        s = random_settings(rng, x.shape[0], v)
        n = min(v, 5)
        res = lc.sample(x, seed=9, offset=np.arange(x.shape[0]), logprobs=n, **s)
        assert isinstance(res, sampling.SampleResult)
        tokens, logprob, top_tokens, top_logprobs = res
        assert res.tokens is tokens and res.top_logprobs is top_logprobs
        assert tokens.dtype == np.int64 and tokens.shape == (x.shape[0],)
        assert logprob.dtype == np.float64 and logprob.shape == (x.shape[0],)
        assert top_tokens.dtype == np.int64 and top_tokens.shape == (x.shape[0], n)
        assert top_logprobs.dtype == np.float64 and top_logprobs.shape == (x.shape[0], n)
        np.testing.assert_array_equal(tokens, lc.sample(x, seed=9, offset=np.arange(x.shape[0]), **s))
        ids, lp = R.log_softmax_topn(x64, n)
        np.testing.assert_array_equal(top_tokens, ids, err_msg=f"[{isa}] V={v}")
        np.testing.assert_array_equal(np.isneginf(top_logprobs), np.isneginf(lp))
        assert (top_logprobs <= 0).all() and (logprob <= 0).all(), f"[{isa}] V={v}: a log-probability above 0"
        full = R.log_softmax(x64, axis=-1)
        want = full[np.arange(x.shape[0]), tokens]
        assert np.isfinite(logprob).all() and np.isfinite(want).all()
        for i in range(x.shape[0]):
            atol = tol * max(1.0, float(np.abs(x64[i][np.isfinite(x64[i])]).max(initial=0.0)))
            fin = np.isfinite(lp[i])
            np.testing.assert_allclose(top_logprobs[i][fin], lp[i][fin], rtol=0, atol=atol,
                                       err_msg=f"[{isa}] V={v} row {i}")
            assert abs(logprob[i] - want[i]) <= atol, (
                f"[{isa}] V={v} row {i}: chosen token {tokens[i]}: {logprob[i]!r} vs {want[i]!r}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_logprobs_of_a_dominant_token(isa, dtype):
    """Rows [m, 0, 0, 0]: log p_0 = -log1p(3 e^-m), representable to float64 precision from a
    logsumexp that is m to the last bit (lc.logsumexp gives exactly m): within 1e-9 absolute
    whatever m, in float32 as in float64 (docs/math.md §4.3: float64 from the row's logsumexp)."""
    for m in (10.0, 50.0, 80.0, 88.0, 104.0, 200.0, 500.0, 999.5):
        x = np.array([m, 0.0, 0.0, 0.0], dtype=dtype)
        assert float(lc.logsumexp(x.astype(np.float64))) == m or m < 40
        res = lc.sample(x, logprobs=2)
        want = -math.log1p(3 * math.exp(-m))
        assert res.tokens == 0 or m < 40
        assert abs(res.top_logprobs[0] - want) <= 1e-9 and res.top_logprobs[0] <= 0, (
            f"[{isa}] {np.dtype(dtype)} [{m}, 0, 0, 0]: log p_0 = {res.top_logprobs[0]!r}, expected {want!r}"
        )
        assert abs(res.top_logprobs[1] - (-m + want)) <= 1e-9 * m, (
            f"[{isa}] {np.dtype(dtype)} m={m}: {res.top_logprobs[1]!r}")


def test_logprobs_shapes_and_limits(rng):
    z = rng.standard_normal(10)
    res = lc.sample(z, logprobs=3, seed=1)
    assert isinstance(res, sampling.SampleResult)
    assert isinstance(res.tokens, np.int64) or (isinstance(res.tokens, np.ndarray) and res.tokens.shape == ())
    assert np.shape(res.logprob) == () and np.asarray(res.logprob).dtype == np.float64
    assert res.top_tokens.shape == (3,) and res.top_logprobs.shape == (3,)
    assert res.tokens == lc.sample(z, seed=1)
    np.testing.assert_array_equal(res.top_tokens, np.argsort(-z, kind="stable")[:3])
    # n = V is fine, n > V is not
    res = lc.sample(z, logprobs=10)
    np.testing.assert_array_equal(np.sort(res.top_tokens), np.arange(10))
    np.testing.assert_allclose(np.exp(res.top_logprobs).sum(), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="logprobs"):
        lc.sample(z, logprobs=11)
    # logprobs = 0: plain tokens
    assert isinstance(lc.sample(z, logprobs=0), np.int64)
    # ties in index order; +inf rows: the limit softmax
    res = lc.sample(np.array([1.0, 5.0, 5.0, -np.inf, 5.0]), logprobs=5)
    np.testing.assert_array_equal(res.top_tokens, [1, 2, 4, 0, 3])
    res = lc.sample(np.array([1.0, np.inf, 5.0, np.inf]), logprobs=3, seed=3)
    np.testing.assert_array_equal(res.top_tokens, [1, 3, 0])  # the limit: the others are all -inf, index order
    np.testing.assert_array_equal(res.top_logprobs, [-math.log(2), -math.log(2), -np.inf])
    assert res.logprob == -math.log(2) and res.tokens in (1, 3)


# --------------------------------------------------------------------------------------
# dtypes, layouts, out=


def test_result_types(rng):
    x = rng.standard_normal((5, 12))
    t = lc.sample(x)
    assert isinstance(t, np.ndarray) and t.dtype == np.int64 and t.shape == (5,)
    t1 = lc.sample(x[0])
    assert isinstance(t1, np.int64)
    assert lc.sampling.sample is lc.sample or lc.sampling.sample(x, seed=4).tolist() == lc.sample(x, seed=4).tolist()
    assert lc.sample(x[:0]).shape == (0,)  # an empty batch is fine


def test_float16_as_float32(rng):
    x = (rng.standard_normal((200, 50)) * 3).astype(np.float16)
    x[::7, 3] = np.inf
    x[::5, 4] = -np.inf
    s = random_settings(rng, 200, 50)
    seeds = rng.integers(0, 2**63, 200)
    a = lc.sample(x, seed=seeds, offset=2, logprobs=4, **s)
    b = lc.sample(x.astype(np.float32), seed=seeds, offset=2, logprobs=4, **s)
    for name, p, q in zip(a._fields, a, b):
        np.testing.assert_array_equal(p, q, err_msg=name)
    np.testing.assert_array_equal(sampling.kept_mask(x, **s), sampling.kept_mask(x.astype(np.float32), **s))
    check_kept_mask(x, s, "float16")


@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_layouts(dtype, rng):
    x = np.concatenate([make_rows(k, rng, 5, 120) for k in KINDS]).astype(dtype)
    b = x.shape[0]
    s = random_settings(rng, b, 60)
    seeds = rng.integers(0, 2**63, b)
    views = {
        "column slice": x[:, ::2],
        "reversed columns": x[:, :60][:, ::-1],
        "row slice": np.concatenate([x, x])[::2][:, :60],
        "fortran": np.asfortranarray(x[:, :60]),
        "transposed slice": np.ascontiguousarray(x.T)[::2].T,
        "big-endian": x[:, :60].astype(np.dtype(dtype).newbyteorder(">")),
    }
    for name, view in views.items():
        want = lc.sample(np.ascontiguousarray(view), seed=seeds, offset=3, logprobs=2, **s)
        got = lc.sample(view, seed=seeds, offset=3, logprobs=2, **s)
        for f, p, q in zip(want._fields, got, want):
            np.testing.assert_array_equal(p, q, err_msg=f"{name}: {f}")
        np.testing.assert_array_equal(sampling.kept_mask(view, **s),
                                      sampling.kept_mask(np.ascontiguousarray(view), **s), err_msg=name)
    # a zero-stride batch (one row broadcast) with offsets 0..n-1
    row = x[0, :60]
    bx = np.broadcast_to(row, (500, 60))
    np.testing.assert_array_equal(lc.sample(bx, offset=np.arange(500)),
                                  lc.sample(np.ascontiguousarray(bx), offset=np.arange(500)))


def test_integer_logits_as_float64():
    x = np.array([[1, 5, 5, 2], [0, 0, 0, 0]], dtype=np.int32)
    np.testing.assert_array_equal(lc.sample(x, seed=2, offset=[0, 1]),
                                  lc.sample(x.astype(np.float64), seed=2, offset=[0, 1]))


def test_out(rng):
    x = rng.standard_normal((8, 30))
    out = np.full(8, -7, dtype=np.int64)
    got = lc.sample(x, seed=1, offset=np.arange(8), out=out)
    assert got is out
    np.testing.assert_array_equal(out, lc.sample(x, seed=1, offset=np.arange(8)))
    res = lc.sample(x, seed=1, offset=np.arange(8), logprobs=2, out=np.zeros(8, dtype=np.int64))
    np.testing.assert_array_equal(res.tokens, out)
    # a strided out
    big = np.zeros(16, dtype=np.int64)
    lc.sample(x, seed=1, offset=np.arange(8), out=big[::2])
    np.testing.assert_array_equal(big[::2], out)
    assert not big[1::2].any()
    for bad in (np.zeros(8, dtype=np.int32), np.zeros(8, dtype=np.float64), np.zeros(8, dtype=np.uint64), [0] * 8):
        with pytest.raises(TypeError):
            lc.sample(x, out=bad)
    for bad in (np.zeros(7, dtype=np.int64), np.zeros((8, 1), dtype=np.int64), np.zeros((), dtype=np.int64)):
        with pytest.raises(ValueError, match="out"):
            lc.sample(x, out=bad)
    ro = np.zeros(8, dtype=np.int64)
    ro.flags.writeable = False
    with pytest.raises(ValueError):
        lc.sample(x, out=ro)


BAD_CALLS = {
    "nan": ({"x": "nan"}, ValueError, r"row 3"),
    "neginf row": ({"x": "neginf"}, ValueError, r"row 2"),
    "temperature": ({"temperature": -0.5}, ValueError, "temperature"),
    "top_p": ({"top_p": 0.0}, ValueError, "top_p"),
    "seed": ({"seed": -1}, ValueError, "seed"),
    "length": ({"min_p": np.zeros(3)}, ValueError, "min_p"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_failing_call_leaves_out_untouched(case, rng):
    kw, exc, match = BAD_CALLS[case]
    kw = dict(kw)
    x = rng.standard_normal((6, 20))
    what = kw.pop("x", None)
    if what == "nan":
        x[3, 7] = np.nan
    elif what == "neginf":
        x[2] = -np.inf
    out = np.full(6, 12345, dtype=np.int64)
    with pytest.raises(exc, match=match):
        lc.sample(x, out=out, **kw)
    np.testing.assert_array_equal(out, 12345)


# --------------------------------------------------------------------------------------
# bad input: the error type and a message naming the problem


def test_nan_logit_names_the_row():
    x = np.zeros((5, 8))
    x[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"row 3\b"):
        lc.sample(x)
    with pytest.raises(ValueError, match=r"row 3\b"):
        sampling.kept_mask(x)
    with pytest.raises(ValueError, match=r"(?i)nan"):
        lc.sample(np.array([0.0, np.nan]))


def test_row_of_only_neginf():
    x = np.zeros((4, 8))
    x[2] = -np.inf
    with pytest.raises(ValueError, match=r"row 2\b") as ei:
        lc.sample(x)
    assert "inf" in str(ei.value).lower()
    with pytest.raises(ValueError, match=r"(?i)inf"):
        lc.sample(np.full(3, -np.inf))


def test_empty_vocabulary():
    for x in (np.zeros((3, 0)), np.zeros(0)):
        with pytest.raises(ValueError, match=r"(?i)empty|V ?= ?0|vocab|length 0|size 0|zero"):
            lc.sample(x)


@pytest.mark.parametrize("t", [-1.0, -1e-30, np.nan, -np.inf])
def test_bad_temperature(t):
    with pytest.raises(ValueError, match="temperature"):
        lc.sample(np.zeros(4), temperature=t)
    with pytest.raises(ValueError, match="temperature"):
        lc.sample(np.zeros((2, 4)), temperature=[1.0, t])


@pytest.mark.parametrize("p", [0.0, -0.1, 1.0 + 1e-12, 2.0, np.nan])
def test_bad_top_p(p):
    with pytest.raises(ValueError, match="top_p"):
        lc.sample(np.zeros(4), top_p=p)
    with pytest.raises(ValueError, match="top_p"):
        lc.sample(np.zeros((2, 4)), top_p=[0.5, p])


@pytest.mark.parametrize("mp", [-1e-9, 1.0 + 1e-12, 3.0, np.nan])
def test_bad_min_p(mp):
    with pytest.raises(ValueError, match="min_p"):
        lc.sample(np.zeros(4), min_p=mp)


@pytest.mark.parametrize("k", [-1, -(2**40)])
def test_bad_top_k(k):
    with pytest.raises(ValueError, match="top_k"):
        lc.sample(np.zeros(4), top_k=k)
    with pytest.raises(ValueError, match="top_k"):
        lc.sample(np.zeros((2, 4)), top_k=np.array([3, k]))


@pytest.mark.parametrize("name", ["temperature", "top_k", "top_p", "min_p", "target_entropy", "seed", "offset"])
def test_parameter_array_of_wrong_length(name):
    value = {"top_k": [1, 2], "seed": np.array([1, 2], dtype=np.uint64), "offset": [0, 1]}.get(name, [0.5, 0.5])
    with pytest.raises(ValueError, match=name):
        lc.sample(np.zeros((3, 4)), **{name: value})
    wrong_shape = np.ones((3, 1), dtype=np.int64 if name in ("top_k", "seed", "offset") else np.float64)
    with pytest.raises(ValueError, match=name):
        lc.sample(np.zeros((3, 4)), **{name: wrong_shape})


@pytest.mark.parametrize("name", ["seed", "offset"])
@pytest.mark.parametrize("value", [-1, 2**64, 2**70, -(2**63)])
def test_bad_seed_and_offset(name, value):
    with pytest.raises(ValueError, match=name):
        lc.sample(np.zeros(4), **{name: value})
    if -(2**63) <= value < 0:
        with pytest.raises(ValueError, match=name):
            lc.sample(np.zeros((2, 4)), **{name: np.array([0, value], dtype=np.int64)})


@pytest.mark.parametrize("bad", [np.array([1 + 2j, 3 + 0j]), np.array(["a", "b"]), np.array([1.0, "a"], dtype=object)],
                         ids=["complex", "str", "object"])
def test_bad_logits_dtype(bad):
    with pytest.raises(TypeError):
        lc.sample(bad)
    with pytest.raises(TypeError):
        lc.apply_penalties(bad, np.array([0]))


def test_bad_logprobs():
    with pytest.raises(ValueError, match="logprobs"):
        lc.sample(np.zeros(4), logprobs=-1)


def test_zero_dimensional_logits():
    with pytest.raises((ValueError, TypeError)):
        lc.sample(np.float64(1.0))


# --------------------------------------------------------------------------------------
# penalties


def penalty_case(rng, b, v, dtype, l=12):
    x = (rng.standard_normal((b, v)) * 3).astype(dtype)
    x[:, 0] = 0.0
    x[0, 1] = np.inf
    x[0, 2] = -np.inf
    ids = rng.integers(-1, v, (b, l))
    ids[:, : l // 3] = rng.integers(0, 3, (b, l // 3))  # repeated ids, and the special ones
    ids[1, :] = -1  # an all-padding row
    return x, ids


@pytest.mark.parametrize("dtype", DTYPES)
def test_penalties_match_reference(isa, dtype, rng):
    for v in (5, 300, BLOCK + 7):
        x, ids = penalty_case(rng, 9, v, dtype)
        kws = [
            {},
            {"repetition_penalty": 1.3},
            {"repetition_penalty": 0.7, "frequency_penalty": 0.4},
            {"frequency_penalty": -0.3, "presence_penalty": 1.1},
            {"repetition_penalty": 1.2, "frequency_penalty": 0.1, "presence_penalty": 0.5},
            {"repetition_penalty": rng.uniform(0.5, 2.0, 9), "frequency_penalty": rng.uniform(-1, 1, 9),
             "presence_penalty": rng.uniform(-1, 1, 9)},
        ]
        for kw in kws:
            want = R.apply_penalties(x, ids, **kw)
            x0 = x.copy()
            got = lc.apply_penalties(x, ids, **kw)
            np.testing.assert_array_equal(x, x0, err_msg="out-of-place call changed its input")
            assert got.dtype == x.dtype and got.shape == x.shape
            np.testing.assert_array_equal(got, want, err_msg=f"[{isa}] V={v} {kw}")
            inplace = x.copy()
            r = lc.apply_penalties(inplace, ids, out=inplace, **kw)
            assert r is inplace
            np.testing.assert_array_equal(inplace, want, err_msg=f"[{isa}] in place V={v} {kw}")
            out = np.empty_like(x)
            assert lc.sampling.apply_penalties(x, ids, out=out, **kw) is out
            np.testing.assert_array_equal(out, want)


def test_penalties_one_row_and_layouts(rng):
    x, ids = penalty_case(rng, 4, 40, np.float64)
    kw = {"repetition_penalty": 1.5, "frequency_penalty": 0.25, "presence_penalty": 0.5}
    want = R.apply_penalties(x, ids, **kw)
    np.testing.assert_array_equal(lc.apply_penalties(x[2], ids[2], **kw), want[2])
    np.testing.assert_array_equal(lc.apply_penalties(np.asfortranarray(x), np.asfortranarray(ids), **kw), want)
    wide = np.repeat(x, 2, axis=1)[:, ::2]
    np.testing.assert_array_equal(lc.apply_penalties(wide, ids, **kw), want)
    np.testing.assert_array_equal(lc.apply_penalties(x, ids.astype(np.int32), **kw), want)
    # float16: adjusted in float64, rounded once to float16
    x16 = x.astype(np.float16)
    got16 = lc.apply_penalties(x16, ids, **kw)
    assert got16.dtype == np.float16
    np.testing.assert_array_equal(got16, R.apply_penalties(x16, ids, **kw))
    # no history at all (L = 0): unchanged
    np.testing.assert_array_equal(lc.apply_penalties(x, np.zeros((4, 0), dtype=np.int64), **kw), x)
    # NaN logits keep their value (and are not an error here)
    xn = x.copy()
    xn[3, ids[3, 0]] = np.nan
    got = lc.apply_penalties(xn, ids, **kw)
    assert np.isnan(got[3, ids[3, 0]])


def test_penalties_then_sample(rng):
    """The usual decode step: penalize, then sample from the penalized logits."""
    x, ids = penalty_case(rng, 6, 50, np.float32)
    x[0, 1] = 3.0
    pen = lc.apply_penalties(x, ids, repetition_penalty=1.3, presence_penalty=0.5)
    np.testing.assert_array_equal(lc.sample(pen, seed=1, offset=9), lc.sample(pen.copy(), seed=1, offset=9))


def test_penalties_bad_input(rng):
    x = np.zeros((2, 5))
    with pytest.raises((IndexError, ValueError), match=r"\b5\b"):
        lc.apply_penalties(x, np.array([[0, 5], [1, -1]]))
    with pytest.raises((IndexError, ValueError), match=r"-2\b"):
        lc.apply_penalties(x, np.array([[0, 1], [-2, -1]]))
    with pytest.raises((IndexError, ValueError), match=r"\b123456\b"):
        lc.apply_penalties(x, np.array([[123456, 1], [1, -1]]))
    for rho in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="repetition_penalty"):
            lc.apply_penalties(x, np.array([[0], [1]]), repetition_penalty=rho)
    with pytest.raises(ValueError, match="repetition_penalty"):
        lc.apply_penalties(x, np.array([[0], [1]]), repetition_penalty=[1.0, 0.0])
    with pytest.raises(ValueError):
        lc.apply_penalties(x, np.array([[0], [1], [2]]))  # 3 id rows for 2 logit rows
    with pytest.raises(TypeError):
        lc.apply_penalties(x, np.array([[0.0], [1.0]]))  # float ids
    out = np.full((2, 5), 7.0)
    with pytest.raises((IndexError, ValueError)):
        lc.apply_penalties(x, np.array([[0, 9], [1, -1]]), out=out)
    np.testing.assert_array_equal(out, 7.0)
    with pytest.raises(TypeError):
        lc.apply_penalties(x, np.array([[0], [1]]), out=np.zeros((2, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="out"):
        lc.apply_penalties(x, np.array([[0], [1]]), out=np.zeros((2, 4)))


# --------------------------------------------------------------------------------------
# properties (hypothesis, small V)

# logits on a grid of 1e-3 (ties likely, no spreads below 1e-3: rows whose logits differ by
# ~1e-200 are test_target_entropy_tiny_spread's)
LOGIT = st.one_of(
    st.sampled_from([0.0, 1.0, -1.0, 2.5, -np.inf]),
    st.integers(-30_000, 30_000).map(lambda i: i / 1000.0),
)


@st.composite
def rows_and_settings(draw):
    v = draw(st.integers(1, 12))
    z = np.array(draw(st.lists(LOGIT, min_size=v, max_size=v)))
    if draw(st.booleans()) and draw(st.booleans()):
        z[draw(st.integers(0, v - 1))] = np.inf
    if not (z > -np.inf).any():
        z[0] = 0.0
    s = {
        "temperature": draw(st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.05, 5.0))),
        "top_k": draw(st.integers(0, v + 1)),
        "top_p": draw(st.one_of(st.just(1.0), st.floats(0.01, 1.0))),
        "min_p": draw(st.one_of(st.just(0.0), st.floats(0.0, 1.0))),
        "target_entropy": draw(st.one_of(st.none(), st.floats(0.0, 3.0))),
    }
    return z, s


@hsettings(max_examples=300)
@given(rows_and_settings(), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 64))
def test_property_kept_mask_and_draws(case, seed, offset):
    z, s = case
    for dtype in DTYPES:
        x = z.astype(dtype)
        mask = check_kept_mask(x, s, f"{np.dtype(dtype)} {s}", min_fraction=0.0)
        tok = lc.sample(np.tile(x, (32, 1)), seed=seed, offset=offset + np.arange(32, dtype=np.uint64), **s)
        assert mask[tok].all(), (
            f"{np.dtype(dtype)}: drew {sorted(set(tok[~mask[tok]].tolist()))} outside {np.flatnonzero(mask)}")
        zz = x.astype(np.float64)
        if kept_set_is_robust(zz, s, dtype):
            assert (R.sample_probs(zz, **s)[tok] > 0).all()


@hsettings(max_examples=200)
@given(rows_and_settings(), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_property_token_is_reference_inverse_cdf(case, seed, offset):
    z, s = case
    tok = lc.sample(z, seed=seed, offset=offset, **s)
    assume(tokens_comparable(z[None, :], s, [seed], [offset], np.float64)[0])
    assert tok == R.sample_ref(z, seed=seed, offset=offset, **s)
