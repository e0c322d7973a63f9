"""NumPy references for entropy normalization (docs/math.md §2)."""
from __future__ import annotations

import numpy as np

__all__ = ["entropy_normalize_seed", "entropy_normalize"]


def _log0(p):
    """np.log(p) with log(0) taken as 0 (so that 0 * log 0 = 0), like the article's data
    (strictly positive) would give; same cost as np.log."""
    return np.log(p, out=np.zeros_like(p), where=p > 0)


def entropy_normalize_seed(p, target, n_iter, *, tol=None, return_iterations=False):
    """The source article's iteration, transcribed in NumPy (rows along the last axis).

    Per step, exactly the article's arithmetic, vectorized over rows:

        H     = -sum(p * log p)
        gamma = 1 + (H* - H) / (H**2 - sum(p * (log p)**2))
        p     = p**gamma;  p /= sum(p)

    i.e. one Newton step for the power at gamma = 1 applied to the *current* distribution,
    so the powers compound. ``n_iter`` steps are taken (the article: 3-4 work well, 1-2 for
    rough control). With ``tol`` the loop stops before a step once every row already has
    |H - H*| <= tol (H is the quantity the step computes anyway). Entries p = 0 count as
    0 * log 0 = 0. Computed in the input's float dtype (float64 for other inputs). With
    ``return_iterations=True`` also returns the number of steps taken.
    """
    p = np.asarray(p)
    dtype = p.dtype if p.dtype.kind == "f" else np.float64
    p = p.astype(dtype, copy=True)
    target = np.broadcast_to(np.asarray(target, dtype=np.float64), p.shape[:-1]).astype(dtype)
    steps = 0
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        for _ in range(int(n_iter)):
            h = -(p * _log0(p)).sum(axis=-1)
            if tol is not None and np.all(np.abs(h - target) <= tol):
                break
            gamma = 1 + (target - h) / (h**2 - (p * _log0(p) ** 2).sum(axis=-1))
            p = p ** gamma[..., None]
            p /= p.sum(axis=-1, keepdims=True)
            steps += 1
    return (p, steps) if return_iterations else p


def entropy_normalize(p, target, *, tol=1e-12, max_iter=200):
    """Float64 reference: bisection on the cumulative gamma (slow, simple, robust).

    Rows along the last axis; returns (q, gamma). Targets outside the reachable range are
    clipped to gamma = 0 (uniform over the support) or gamma = inf (uniform over the ties at
    the maximum).
    """
    p = np.asarray(p, dtype=np.float64)
    target = np.broadcast_to(np.asarray(target, dtype=np.float64), p.shape[:-1])
    flat = p.reshape(-1, p.shape[-1])
    tflat = target.reshape(-1)
    q = np.zeros_like(flat)
    gammas = np.zeros(flat.shape[0])
    for i, (row, t) in enumerate(zip(flat, tflat)):
        support = row > 0
        with np.errstate(divide="ignore"):
            z = np.log(row)
        zmax = z[support].max()
        w = z[support] - zmax
        ties = w == 0

        def h_of(g):
            e = np.exp(g * w)
            s0 = e.sum()
            return np.log(s0) - g * (e * w).sum() / s0

        if t >= np.log(support.sum()):
            gammas[i] = 0.0
            q[i, support] = 1.0 / support.sum()
            continue
        if t <= np.log(ties.sum()):
            gammas[i] = np.inf
            idx = np.flatnonzero(support)[ties]
            q[i, idx] = 1.0 / ties.sum()
            continue
        lo, hi = 0.0, 1.0
        while h_of(hi) > t:
            hi *= 2.0
        for _ in range(max_iter):
            mid = 0.5 * (lo + hi)
            if h_of(mid) > t:
                lo = mid
            else:
                hi = mid
            if hi - lo <= tol * max(1.0, hi):
                break
        g = 0.5 * (lo + hi)
        e = np.exp(g * w)
        q[i, support] = e / e.sum()
        gammas[i] = g
    return q.reshape(p.shape), gammas.reshape(p.shape[:-1])
