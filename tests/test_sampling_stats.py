"""Token sampling draws from the distribution of docs/math.md §4.1: chi-square goodness-of-fit
tests of logitcore.sample against the reference probabilities (logitcore.reference.sample_probs).

Each test draws 10^6 tokens of one small row (V = 5..40) cheaply: a batch of the row repeated
with offsets 0..N-1 under a fixed seed, 10^5 rows per call. Categories with an expected count
below 5 are merged; the test fails at a p-value below 1e-6, so a false alarm is negligible
(over the whole file, < 1e-4). Any draw outside the kept set fails at once.

scipy.stats.chisquare gives the p-value when SciPy is importable; otherwise the Wilson-Hilferty
normal approximation of the chi-square distribution does. It is within 20% down to p = 1e-3
and overestimates smaller p-values (at 1e-6 by a factor 1.2-4 for 39 down to 1 degree of
freedom): conservative, the test then rejects a little less often, never more.
"""
from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

import logitcore as lc
from logitcore import reference as R

N_DRAWS = 1_000_000
CHUNK = 100_000
P_MIN = 1e-6

try:
    from scipy.stats import chisquare as _scipy_chisquare
except ImportError:  # pragma: no cover - SciPy is a test extra
    _scipy_chisquare = None


# --------------------------------------------------------------------------------------
# the statistic


def merge_small(observed, expected, minimum=5.0):
    """Pool the categories with expected count < minimum into one (and that pool into the
    smallest remaining category while it is still below the minimum)."""
    observed = np.asarray(observed, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    small = expected < minimum
    if not small.any():
        return observed, expected
    obs = np.append(observed[~small], observed[small].sum())
    exp = np.append(expected[~small], expected[small].sum())
    while exp.size > 1 and exp[-1] < minimum:
        j = int(np.argmin(exp[:-1]))
        exp[j] += exp[-1]
        obs[j] += obs[-1]
        obs, exp = obs[:-1], exp[:-1]
    return obs, exp


def wilson_hilferty_sf(stat, dof):
    """P(X >= stat) for X ~ chi-square(dof): (X/k)^(1/3) is close to normal with mean
    1 - 2/(9k) and variance 2/(9k)."""
    if dof <= 0:
        return 1.0
    v = 2.0 / (9.0 * dof)
    z = ((stat / dof) ** (1.0 / 3.0) - (1.0 - v)) / math.sqrt(v)
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def chi_square_pvalue(observed, expected, *, use_scipy=True):
    """(statistic, degrees of freedom, p-value) of observed counts against expected counts
    (same total), after merging categories with expected count < 5."""
    obs, exp = merge_small(observed, expected)
    dof = obs.size - 1
    if dof <= 0:
        return 0.0, 0, 1.0
    if use_scipy and _scipy_chisquare is not None:
        stat, p = _scipy_chisquare(obs, exp)
        return float(stat), dof, float(p)
    stat = float(((obs - exp) ** 2 / exp).sum())
    return stat, dof, wilson_hilferty_sf(stat, dof)


def draw_counts(row, settings, seed):
    """Counts of N_DRAWS tokens of `row` (offsets 0..N_DRAWS-1 under `seed`)."""
    v = row.shape[-1]
    batch = np.ascontiguousarray(np.broadcast_to(row, (CHUNK, v)))
    counts = np.zeros(v, dtype=np.int64)
    out = np.empty(CHUNK, dtype=np.int64)
    for start in range(0, N_DRAWS, CHUNK):
        offsets = np.arange(start, start + CHUNK, dtype=np.uint64)
        lc.sample(batch, seed=seed, offset=offsets, out=out, **settings)
        counts += np.bincount(out, minlength=v)
    return counts


def check_distribution(row, settings, what):
    """Draw N_DRAWS tokens and test them against the reference distribution."""
    seed = zlib.crc32(what.encode())
    p = R.sample_probs(np.asarray(row, dtype=np.float64), **settings)
    counts = draw_counts(row, settings, seed)
    assert counts.sum() == N_DRAWS
    outside = (p == 0) & (counts > 0)
    assert not outside.any(), (
        f"{what}: drew tokens {np.flatnonzero(outside).tolist()} (counts {counts[outside].tolist()}) outside the "
        f"kept set {np.flatnonzero(p > 0).tolist()}"
    )
    kept = p > 0
    expected = N_DRAWS * p[kept] / p[kept].sum()
    stat, dof, pval = chi_square_pvalue(counts[kept], expected)
    worst = int(np.argmax(np.abs(counts[kept] - expected) / np.sqrt(expected)))
    assert pval > P_MIN, (
        f"{what}: chi-square {stat:.1f} on {dof} degrees of freedom, p = {pval:.3g} < {P_MIN:g}; worst token "
        f"{np.flatnonzero(kept)[worst]}: {counts[kept][worst]} drawn, {expected[worst]:.1f} expected"
    )
    return counts, p


# --------------------------------------------------------------------------------------
# rows and filter combinations

_rng = np.random.default_rng(20240611)
ROWS = {
    "normal-5": _rng.standard_normal(5) * 1.5,
    "normal-17": _rng.standard_normal(17) * 2.0,
    "normal-40": _rng.standard_normal(40) * 2.5,
    # ties at the maximum and inside the tail, -inf entries
    "tied-24": np.array([3, 1, 3, 0, 2, 2, 1, -1, 3, 0, -2, 1, 2, 0, -1, 1, 3, 2, 0, -3, 1, -np.inf, 2, -np.inf]),
    # a peaked row: most of the mass on one token, a long tail of tiny ones
    "peaked-30": np.concatenate([[9.0], _rng.standard_normal(29)]),
}

CASES = [
    ("none", {}),
    ("temperature 0.7", {"temperature": 0.7}),
    ("temperature 3", {"temperature": 3.0}),
    ("top_k 6", {"top_k": 6}),
    ("top_p 0.7", {"top_p": 0.7}),
    ("min_p 0.1", {"min_p": 0.1}),
    ("top_k+top_p+min_p", {"temperature": 0.9, "top_k": 12, "top_p": 0.85, "min_p": 0.05}),
    ("target_entropy 1.2", {"target_entropy": 1.2}),
    ("target_entropy+top_p", {"target_entropy": 2.0, "top_p": 0.75}),
]

# (row, case) pairs: every case on a normal row, the filters also on the tied and peaked rows
PAIRS = [("normal-17", name) for name, _ in CASES] + [
    ("normal-5", "none"),
    ("normal-40", "temperature 0.7"),
    ("normal-40", "top_k+top_p+min_p"),
    ("tied-24", "none"),
    ("tied-24", "top_k 6"),  # the 6th largest is a 2: every 3 and 2 kept (more than 6)
    ("tied-24", "top_p 0.7"),
    ("tied-24", "min_p 0.1"),
    ("tied-24", "target_entropy 1.2"),
    ("peaked-30", "temperature 3"),
    ("peaked-30", "target_entropy+top_p"),
]


def _settings(name):
    return dict(CASES)[name]


def _robust(row, settings):
    """The case's kept set must not sit on a top-p or min-p tie (the test rows are fixed:
    this guards the data, it skips nothing)."""
    z = np.asarray(row, dtype=np.float64)
    base = {"temperature": settings.get("temperature", 1.0), "target_entropy": settings.get("target_entropy")}
    if settings.get("top_p", 1.0) < 1:
        pk = R.sample_probs(z, top_k=settings.get("top_k", 0), **base)
        nz = pk > 0
        _, inv = np.unique(-z[nz], return_inverse=True)
        cum = np.cumsum(np.bincount(inv.ravel(), weights=pk[nz]))
        assert np.min(np.abs(cum - settings["top_p"])) > 1e-3
    if settings.get("min_p", 0.0) > 0:
        pq = R.sample_probs(z, top_k=settings.get("top_k", 0), top_p=settings.get("top_p", 1.0), **base)
        e = pq[(pq > 0) & (z < z.max())] / pq.max()
        assert np.min(np.abs(e - settings["min_p"]), initial=1.0) > 1e-3


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("row,case", PAIRS, ids=[f"{r}-{c}" for r, c in PAIRS])
def test_chi_square(row, case, dtype):
    settings = _settings(case)
    x = ROWS[row].astype(dtype)
    _robust(x, settings)
    counts, p = check_distribution(x, settings, f"{row} {case} {np.dtype(dtype)}")
    assert (counts > 0).sum() >= min(3, (p > 0).sum())


def test_chi_square_float16():
    x = ROWS["normal-17"].astype(np.float16)
    check_distribution(x, {"temperature": 0.8, "top_p": 0.9}, "normal-17 float16")


def test_chi_square_positive_infinity():
    """+inf logits: uniform over them, nothing else drawn."""
    x = np.array([0.0, np.inf, 5.0, np.inf, -np.inf, np.inf, 2.0])
    for name, settings in [("none", {}), ("top_k 4", {"top_k": 4}), ("min_p", {"temperature": 0.5, "min_p": 0.5})]:
        counts, _ = check_distribution(x, settings, f"+inf {name}")
        assert set(np.flatnonzero(counts)) == {1, 3, 5}


def test_chi_square_per_row_settings():
    """One batch, rows with different settings: each row's tokens follow its own distribution."""
    rows = [ROWS["normal-17"], ROWS["normal-17"], ROWS["normal-17"], ROWS["tied-24"][:17]]
    settings = [{"temperature": 0.7}, {"top_k": 6}, {"target_entropy": 1.2}, {"top_p": 0.7, "min_p": 0.1}]
    n = 150_000
    x = np.repeat(np.stack(rows).astype(np.float32), n, axis=0)
    keys = ("temperature", "top_k", "top_p", "min_p", "target_entropy")
    defaults = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0, "target_entropy": np.nan}
    kw = {k: np.repeat([s.get(k, defaults[k]) for s in settings], n) for k in keys}
    tokens = lc.sample(x, seed=99, offset=np.tile(np.arange(n), len(rows)), **kw)
    for i, (row, s) in enumerate(zip(rows, settings)):
        p = R.sample_probs(row, **s)
        counts = np.bincount(tokens[i * n:(i + 1) * n], minlength=17)
        assert not counts[p == 0].any(), f"row {i} {s}: drew outside the kept set"
        kept = p > 0
        _, dof, pval = chi_square_pvalue(counts[kept], n * p[kept])
        assert pval > P_MIN, f"row {i} {s}: p = {pval:.3g} on {dof} degrees of freedom"


# --------------------------------------------------------------------------------------
# the statistic itself


def test_merge_small_keeps_totals():
    obs, exp = merge_small([10, 1, 0, 2, 50], [9.0, 2.0, 0.5, 1.5, 50.0])
    assert obs.sum() == 63 and exp.sum() == 63.0 and (exp >= 5).all()
    obs, exp = merge_small([1, 2], [1.0, 2.0])  # everything small: one category
    assert obs.tolist() == [3.0] and exp.tolist() == [3.0]


def test_wilson_hilferty_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for dof in (1, 2, 4, 16, 39):
        for q in (0.5, 0.05, 1e-3):
            got = wilson_hilferty_sf(stats.chi2.isf(q, dof), dof)
            assert abs(got / q - 1) < 0.2, (dof, q, got)
        got = wilson_hilferty_sf(stats.chi2.isf(P_MIN, dof), dof)
        assert P_MIN <= got < 5 * P_MIN, (dof, got)  # conservative at the threshold


def test_chi_square_detects_a_wrong_distribution():
    """The test has power: 10^6 draws from p against a distribution off by 2% relative on its
    two most probable tokens is rejected; against p itself it is not (with and without SciPy)."""
    rng = np.random.default_rng(5)
    p = R.sample_probs(ROWS["normal-17"])
    counts = rng.multinomial(N_DRAWS, p)
    q = p.copy()
    a, b = np.argsort(-p)[:2]
    q[a] *= 1.02
    q[b] *= 0.98
    q /= q.sum()
    for use_scipy in (True, False):
        assert chi_square_pvalue(counts, N_DRAWS * p, use_scipy=use_scipy)[2] > P_MIN
        assert chi_square_pvalue(counts, N_DRAWS * q, use_scipy=use_scipy)[2] < P_MIN
