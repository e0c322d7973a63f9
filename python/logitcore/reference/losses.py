"""Float64 NumPy references for logitcore.losses (docs/math.md §3; gathered by logitcore.reference).

Plain formulas on the log-softmax, evaluated row by row in float64; the gradient is built
from the per-row weight w = −dL/dℓ (ℓ = log p_y) as w · (softmax − onehot), scaled by the
class weight and the reduction. Same signatures as the fused versions (no ``inplace``); the
results are float64.
"""
from __future__ import annotations

import numpy as np

from .family import log_softmax

__all__ = ["gamma_cross_entropy", "generalized_cross_entropy", "focal_loss"]


def _log_softmax(x: np.ndarray) -> np.ndarray:
    if x.shape[-1] == 0:
        return x.copy()
    return log_softmax(x, axis=-1)


def _apply(row_fn, logits, target, weight, ignore_index, reduction, return_grad, sample_weight=None):
    """row_fn(ℓ) -> (loss, w) elementwise on float64 arrays (valid rows only)."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    x = np.asarray(logits, dtype=np.float64)
    batch, v = x.shape[:-1], x.shape[-1]
    x2 = x.reshape(-1, v)
    t = np.asarray(target).reshape(-1).astype(np.int64)
    valid = t != ignore_index
    if np.any(valid & ((t < 0) | (t >= v))):
        raise IndexError("target out of range")
    idx = np.where(valid, t, 0)
    rows = np.arange(t.size)
    ls = _log_softmax(x2)
    with np.errstate(all="ignore"):
        ell = ls[rows, idx] if v else np.zeros(t.size)
        loss, w = row_fn(ell)
    cw = np.ones(v) if weight is None else np.asarray(weight, dtype=np.float64)
    rw = np.where(valid, cw[idx] if v else 0.0, 0.0)
    if sample_weight is not None:
        rw = rw * np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    row_loss = np.where(valid, loss * rw, 0.0)
    total = rw.sum()
    if reduction == "none":
        out = row_loss.reshape(batch)
        out = out[()] if out.ndim == 0 else out
        scale = 1.0
    elif reduction == "sum":
        out = np.float64(row_loss.sum())
        scale = 1.0
    else:
        s = row_loss.sum()
        out = np.float64(s / total if total != 0 else (s if np.isnan(s) else 0.0))
        scale = 1.0 / total if total != 0 else 0.0
    if not return_grad:
        return out
    with np.errstate(all="ignore"):
        p = np.exp(ls)
        onehot = np.zeros_like(x2)
        onehot[rows[valid], t[valid]] = 1.0
        g = (w * rw * scale)[:, None] * (p - onehot)
    g[~valid] = 0.0
    return out, g.reshape(x.shape)


def gamma_cross_entropy(logits, target, gamma=0.0, *, threshold=0.0, weight=None, ignore_index=-100,
                        reduction="mean", return_grad=False, sample_weight=None):
    """L = −log(γ + (1−γ) p_y)/(1−γ) (1 − p_y at γ = 1); gradient weight max(b, p_y/(γ + (1−γ) p_y))."""
    g = float(gamma)
    b = float(threshold)

    def row_fn(ell):
        if g == 0:
            loss, w = -ell, np.ones_like(ell)
        elif g == 1:
            loss, w = -np.expm1(ell), np.exp(ell)
        else:
            a = np.logaddexp(np.log(g), np.log1p(-g) + ell)
            loss, w = -a / (1 - g), np.exp(ell - a)
        w = np.where(np.isnan(w), w, np.maximum(b, w))
        return loss, w

    return _apply(row_fn, logits, target, weight, ignore_index, reduction, return_grad, sample_weight)


def generalized_cross_entropy(logits, target, q=0.7, *, weight=None, ignore_index=-100, reduction="mean",
                              return_grad=False, sample_weight=None):
    """L = (1 − p_y^q)/q; gradient weight p_y^q."""
    q = float(q)

    def row_fn(ell):
        pq = np.exp(q * ell)
        return (1 - pq) / q, pq

    return _apply(row_fn, logits, target, weight, ignore_index, reduction, return_grad, sample_weight)


def focal_loss(logits, target, gamma=2.0, *, weight=None, ignore_index=-100, reduction="mean",
               return_grad=False, sample_weight=None):
    """L = −(1 − p_y)^γ log p_y; gradient weight −dL/dℓ = (1−p)^γ − γ p ℓ (1−p)^(γ−1)."""
    g = float(gamma)

    def row_fn(ell):
        p = np.exp(ell)
        omp = -np.expm1(ell)
        loss = -(omp**g) * ell
        # the second term's limit at p = 1 is 0 for g > 0 (ℓ ~ −(1−p)); p = 0 gives 0
        second = np.where((omp > 0) & (p > 0), g * p * ell * omp ** (g - 1), 0.0)
        w = omp**g - second
        return loss, w

    return _apply(row_fn, logits, target, weight, ignore_index, reduction, return_grad, sample_weight)
