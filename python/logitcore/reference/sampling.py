"""Float64 NumPy references for logitcore.sampling (docs/math.md §4; gathered by logitcore.reference).

Slow and simple on purpose, row by row: the reference *sorts* the row (the kernel never does)
and builds the distribution of §4.1 step by step in float64 — tempering (or the power γ of a
target entropy, found by bisection), top-k on the logits with ties, top-p on the
renormalized top-k distribution with the tie rule, min-p as e_j ≥ π, greedy as a one-hot at
the first argmax. The draw is the inverse CDF in index order with the uniform of Philox4x32-10
(§4.2), written with plain Python integers.

Per-row settings are scalars or length-B arrays; a target entropy of ``None`` or NaN is off.
Float32/float16 input is taken at its exact value in float64. The kernel computes the
weights in the row's precision and sums them in its own order, so its tokens agree with
:func:`sample_ref` except when u lands within rounding of a boundary of the inverse CDF.
"""
from __future__ import annotations

import math

import numpy as np

from .family import log_softmax

__all__ = [
    "philox4x32",
    "sample_uniform",
    "tempered_gamma",
    "sample_probs",
    "kept_mask",
    "sample_ref",
    "log_softmax_topn",
    "apply_penalties",
]

# Philox4x32 constants (Salmon et al., SC 2011; Random123's PHILOX_M4x32_0/1, PHILOX_W32_0/1)
PHILOX_M0 = 0xD2511F53  # multiplier of counter word 0
PHILOX_M1 = 0xCD9E8D57  # multiplier of counter word 2
PHILOX_W0 = 0x9E3779B9  # Weyl increment of key word 0 (golden ratio)
PHILOX_W1 = 0xBB67AE85  # Weyl increment of key word 1 (sqrt(3) - 1)
_MASK32 = 0xFFFFFFFF
_U64 = 1 << 64


# --------------------------------------------------------------------------------------
# random numbers (§4.2)


def philox4x32(counter, key, rounds=10):
    """Philox4x32-R of a 4-word counter under a 2-word key: a tuple of four 32-bit ints.

    One round: (hi0, lo0) = M0 · c0, (hi1, lo1) = M1 · c2 (64-bit products split into halves),
    c ← (hi1 ⊕ c1 ⊕ k0, lo1, hi0 ⊕ c3 ⊕ k1, lo0); the key gains (W0, W1) between rounds.
    """
    c = [int(w) & _MASK32 for w in counter]
    k0, k1 = (int(w) & _MASK32 for w in key)
    if len(c) != 4:
        raise ValueError(f"philox4x32: the counter has 4 words, got {len(c)}")
    for r in range(int(rounds)):
        if r:
            k0 = (k0 + PHILOX_W0) & _MASK32
            k1 = (k1 + PHILOX_W1) & _MASK32
        p0 = PHILOX_M0 * c[0]
        p1 = PHILOX_M1 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k0) & _MASK32, p1 & _MASK32, ((p0 >> 32) ^ c[3] ^ k1) & _MASK32, p0 & _MASK32]
    return tuple(c)


def _u64(value, name):
    v = int(value)
    if v != value or not 0 <= v < _U64:
        raise ValueError(f"{name} must be an integer in [0, 2**64), got {value!r}")
    return v


def sample_uniform(seed, offset):
    """The row's uniform u ∈ [0, 1): Philox4x32-10 with key (seed mod 2^32, seed div 2^32),
    counter (offset mod 2^32, offset div 2^32, 0, 0); u = ((r0 · 2^32 + r1) div 2^11) · 2^−53."""
    seed = _u64(seed, "seed")
    offset = _u64(offset, "offset")
    r0, r1, _, _ = philox4x32((offset & _MASK32, offset >> 32, 0, 0), (seed & _MASK32, seed >> 32))
    return float(((r0 << 32) | r1) >> 11) * 2.0**-53


# --------------------------------------------------------------------------------------
# the distribution (§4.1)


def _rows(logits):
    x = np.asarray(logits)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"logits must be real numbers, got dtype {x.dtype}")
    if x.ndim not in (1, 2):
        raise ValueError(f"logits must be 1-D (V,) or 2-D (B, V), got shape {x.shape}")
    x2 = np.atleast_2d(x.astype(np.float64))
    if x2.shape[1] == 0:
        raise ValueError("logits: the vocabulary is empty (V = 0)")
    return x, x2


def _per_row(value, b, name, dtype=np.float64):
    a = np.asarray(value if value is not None else np.nan, dtype=dtype)
    if a.ndim == 0:
        return np.full(b, a[()], dtype=dtype)
    if a.shape != (b,):
        raise ValueError(f"{name}: expected a scalar or a length-{b} array, got shape {a.shape}")
    return a


def _settings(b, temperature, top_k, top_p, min_p, target_entropy):
    t = _per_row(temperature, b, "temperature")
    k = _per_row(top_k, b, "top_k", np.int64)
    p = _per_row(top_p, b, "top_p")
    mp = _per_row(min_p, b, "min_p")
    h = _per_row(target_entropy, b, "target_entropy")
    if np.any(np.isnan(t) | (t < 0)):
        raise ValueError(f"temperature must be >= 0, got {t[np.isnan(t) | (t < 0)][0]}")
    if np.any(k < 0):
        raise ValueError(f"top_k must be >= 0, got {k[k < 0][0]}")
    if np.any(~((p > 0) & (p <= 1))):
        raise ValueError(f"top_p must be in (0, 1], got {p[~((p > 0) & (p <= 1))][0]}")
    if np.any(~((mp >= 0) & (mp <= 1))):
        raise ValueError(f"min_p must be in [0, 1], got {mp[~((mp >= 0) & (mp <= 1))][0]}")
    return t, k, p, mp, h


def _limit_row(z, i):
    """The row as the tempering sees it: NaN rejected, +inf entries as 0 and the rest −inf."""
    if np.isnan(z).any():
        raise ValueError(f"logits: NaN in row {i}")
    if z.max() == -np.inf:
        raise ValueError(f"logits: row {i} has only -inf entries")
    if z.max() == np.inf:
        return np.where(z == np.inf, 0.0, -np.inf)
    return z


def _entropy_of(w, g):
    """Entropy (nats) of softmax(g · w) for finite w ≤ 0 with max 0."""
    e = np.exp(g * w)
    s = e.sum()
    return math.log(s) - g * float((e * w).sum()) / s


def _solve_gamma(z, h):
    """γ ≥ 0 with H(softmax(γ z)) = h, clipped: 0 at or above log #finite, inf at or below
    log #ties-at-max (checked in that order). Bisection to adjacent floats."""
    fin = z > -np.inf
    w = z[fin] - z[fin].max()
    if h >= math.log(w.size):
        return 0.0
    if h <= math.log(np.count_nonzero(w == 0)):
        return math.inf
    lo, hi = 0.0, 1.0
    while _entropy_of(w, hi) > h:
        lo, hi = hi, 2.0 * hi
        if hi == math.inf:  # the target sits within rounding of log #ties
            return math.inf
    for _ in range(2000):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if _entropy_of(w, mid) > h:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _row_probs(z, t, k, top_p, min_p, h):
    """The final distribution of one (already limit-mapped) row."""
    v = z.size
    m = z.max()
    fin = z > -np.inf
    if not np.isnan(h):
        g = _solve_gamma(z, h)
        if g == math.inf:
            e = (z == m).astype(np.float64)
        else:
            e = np.zeros(v)
            e[fin] = np.exp(g * (z[fin] - m))
    elif t == 0:
        p = np.zeros(v)
        p[int(np.argmax(z))] = 1.0
        return p
    else:
        e = np.zeros(v)
        with np.errstate(under="ignore"):
            e[fin] = np.exp((z[fin] - m) / t)
    kept = np.ones(v, dtype=bool)
    order = np.argsort(-z, kind="stable")  # descending logits, ties in index order
    if 0 < k < v:
        kept &= z >= z[order[k - 1]]  # the k-th largest with multiplicity, ties kept
    if top_p < 1:
        idx = order[kept[order]]
        cs = np.cumsum(e[idx])
        i = int(np.argmax(cs >= top_p * cs[-1]))  # first position reaching the mass
        kept &= z >= z[idx[i]]
    if min_p > 0:
        kept &= e >= min_p
    w = np.where(kept, e, 0.0)
    return w / w.sum()


def tempered_gamma(logits, target_entropy):
    """γ per row such that softmax(γ z) has entropy `target_entropy` (nats), float64 (B,)
    (a 0-d array for 1-D logits): 0 at or above log #finite, inf at or below log #ties-at-max
    (+inf logits taken as 0 and the others as −inf)."""
    x, x2 = _rows(logits)
    h = _per_row(target_entropy, x2.shape[0], "target_entropy")
    g = np.array([_solve_gamma(_limit_row(z, i), hi) for i, (z, hi) in enumerate(zip(x2, h))])
    return g.reshape(x.shape[:-1])


def sample_probs(logits, *, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, target_entropy=None):
    """The distribution a token is drawn from (§4.1 steps 1-4, renormalized), float64 of the
    logits' shape; zero outside the kept set. Greedy (temperature 0, no target entropy) is a
    one-hot at the first argmax. A target entropy (not None/NaN) replaces the temperature."""
    x, x2 = _rows(logits)
    t, k, p, mp, h = _settings(x2.shape[0], temperature, top_k, top_p, min_p, target_entropy)
    out = np.empty_like(x2)
    for i, z in enumerate(x2):
        out[i] = _row_probs(_limit_row(z, i), t[i], k[i], p[i], mp[i], h[i])
    return out.reshape(x.shape)


def kept_mask(logits, **settings):
    """The kept set of §4.1 (tokens that can be drawn): ``sample_probs(...) > 0``."""
    return sample_probs(logits, **settings) > 0


def sample_ref(logits, *, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, target_entropy=None, seed=0,
               offset=0):
    """Tokens (int64, (B,) or a scalar for 1-D logits): per row the first index whose running
    sum of p exceeds u · Σ p, u = sample_uniform(seed, offset) (§4.1 step 5)."""
    x, x2 = _rows(logits)
    b = x2.shape[0]
    probs = sample_probs(x2, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                         target_entropy=target_entropy)
    seeds = _per_row_u64(seed, b, "seed")
    offsets = _per_row_u64(offset, b, "offset")
    tokens = np.empty(b, dtype=np.int64)
    for i, p in enumerate(probs):
        cs = np.cumsum(p)
        u = sample_uniform(seeds[i], offsets[i])
        above = np.flatnonzero(cs > u * cs[-1])
        tokens[i] = above[0] if above.size else np.flatnonzero(p)[-1]
    return tokens[0] if x.ndim == 1 else tokens


def _per_row_u64(value, b, name):
    a = np.asarray(value)
    if a.ndim == 0:
        return [_u64(a[()], name)] * b
    if a.shape != (b,):
        raise ValueError(f"{name}: expected a scalar or a length-{b} array, got shape {a.shape}")
    return [_u64(v, name) for v in a.tolist()]


# --------------------------------------------------------------------------------------
# log-probabilities (§4.3) and penalties (§4.4)


def log_softmax_topn(logits, n):
    """The n most probable tokens of the raw distribution per row — the largest logits, ties in
    index order — with their log_softmax (temperature 1, no filter): (ids int64, logprobs
    float64), shapes (B, n) or (n,) for 1-D logits. A row with +inf logits is the limit softmax,
    as if they were 0 and the others −inf: its +inf entries come first, then every other entry
    (log-probability −inf) in index order."""
    x, x2 = _rows(logits)
    n = int(n)
    if not 0 <= n <= x2.shape[1]:
        raise ValueError(f"n must be in [0, V = {x2.shape[1]}], got {n}")
    limit = np.array([_limit_row(z, i) for i, z in enumerate(x2)])
    ls = log_softmax(x2, axis=-1)
    ids = np.argsort(-limit, axis=-1, kind="stable")[:, :n].astype(np.int64)
    lp = np.take_along_axis(ls, ids, axis=-1)
    if x.ndim == 1:
        return ids[0], lp[0]
    return ids, lp


def apply_penalties(logits, token_ids, repetition_penalty=1.0, frequency_penalty=0.0, presence_penalty=0.0):
    """Logits adjusted for the tokens each row generated before (§4.4), in the logits' dtype.

    token_ids: (B, L) (or (L,) for 1-D logits), −1 is padding. For every token j occurring
    c_j ≥ 1 times: z_j ← z_j / ρ if z_j > 0 else z_j · ρ, then z_j ← z_j − c_j α_f − α_p,
    evaluated left to right in float64 and rounded once; ±inf and NaN logits keep their value.
    """
    x = np.asarray(logits)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"logits must be real numbers, got dtype {x.dtype}")
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    x2 = np.atleast_2d(x.astype(np.float64))
    b, v = x2.shape
    ids = np.asarray(token_ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"token_ids must be integers, got dtype {ids.dtype}")
    ids2 = ids.reshape(b, -1).astype(np.int64) if ids.ndim == x.ndim else None
    if ids2 is None or ids.shape[:-1] != x.shape[:-1]:
        raise ValueError(f"token_ids shape {ids.shape} does not match logits shape {x.shape}")
    bad = (ids2 >= v) | (ids2 < -1)
    if bad.any():
        raise IndexError(f"token id {ids2[bad][0]} out of range for V = {v}")
    rho = _per_row(repetition_penalty, b, "repetition_penalty")
    af = _per_row(frequency_penalty, b, "frequency_penalty")
    ap = _per_row(presence_penalty, b, "presence_penalty")
    if np.any(~(rho > 0)):
        raise ValueError(f"repetition_penalty must be > 0, got {rho[~(rho > 0)][0]}")
    out = x2.copy()
    for i in range(b):
        row_ids = ids2[i][ids2[i] >= 0]
        counts = np.bincount(row_ids, minlength=v)
        for j in np.flatnonzero(counts):
            z = float(x2[i, j])
            if not math.isfinite(z):
                continue
            z = z / rho[i] if z > 0 else z * rho[i]
            out[i, j] = z - float(counts[j]) * af[i] - ap[i]
    return out.reshape(x.shape).astype(dtype)
