"""NumPy float64 references for the logsumexp family (docs/math.md §1)."""
from __future__ import annotations

import numpy as np

__all__ = [
    "logsumexp",
    "softmax",
    "log_softmax",
    "softmax_entropy",
    "entropy",
    "lse_state",
    "merge_states",
]


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(a % ndim for a in axis)
    return (axis % ndim,)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """log(sum(b * exp(a))) in float64 with SciPy's special-value rules."""
    a = np.atleast_1d(np.asarray(a, dtype=np.float64))
    if b is not None:
        b = np.asarray(b, dtype=np.float64)
        a, b = np.broadcast_arrays(a, b)
    else:
        b = np.ones_like(a)
    axes = _axes(axis, a.ndim)
    empty = a.size == 0 or any(a.shape[d] == 0 for d in axes)
    if empty:
        # an empty sum is 0: log 0 = -inf (SciPy reports the sign of -inf, -1, with return_sign)
        shape = tuple(1 if d in axes else s for d, s in enumerate(a.shape))
        out = np.full(shape, -np.inf)
        sgn = np.full(shape, -1.0)
    else:
        a = np.where(b == 0, -np.inf, a)
        with np.errstate(invalid="ignore", over="ignore"):
            m = np.max(a, axis=axes, keepdims=True)
            finite_m = np.where(np.isfinite(m), m, 0.0)
            with np.errstate(divide="ignore"):
                terms = np.where(b == 0, 0.0, b * np.exp(a - finite_m))
                s = np.sum(terms, axis=axes, keepdims=True)
                sgn = np.sign(s)
                out = np.log(np.abs(s)) + finite_m
            # rows whose maximum is not finite: direct evaluation (inf/NaN arithmetic)
            direct = np.sum(np.where(b == 0, 0.0, b * np.exp(a)), axis=axes, keepdims=True)
            with np.errstate(divide="ignore"):
                d_out = np.log(np.abs(direct))
            bad = ~np.isfinite(m)
            out = np.where(bad, d_out, out)
            sgn = np.where(bad, np.sign(direct), sgn)
    if not return_sign and not empty:
        out = np.where(sgn < 0, np.nan, out)
    if not keepdims:
        out = np.squeeze(out, axis=axes)
        sgn = np.squeeze(sgn, axis=axes)
    if out.ndim == 0:
        out, sgn = out[()], sgn[()]
    return (out, sgn) if return_sign else out


def _softmax_parts(x, axes):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        m = np.max(x, axis=axes, keepdims=True)
        pinf = m == np.inf
        ninf = m == -np.inf
        nan = np.isnan(m) | np.any(np.isnan(x), axis=axes, keepdims=True)
        mm = np.where(np.isfinite(m), m, 0.0)
        e = np.exp(x - mm)
        s = np.sum(e, axis=axes, keepdims=True)
        k = np.sum(x == np.inf, axis=axes, keepdims=True)
    return x, m, mm, e, s, k, pinf, ninf, nan


def softmax(x, axis=None):
    x = np.asarray(x, dtype=np.float64)
    shape0 = x.shape
    x = np.atleast_1d(x)
    axes = _axes(axis, x.ndim)
    if x.size == 0:
        return np.empty(shape0)
    x, m, mm, e, s, k, pinf, ninf, nan = _softmax_parts(x, axes)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = e / s
        p = np.where(pinf, np.where(x == np.inf, 1.0 / np.maximum(k, 1), 0.0), p)
        p = np.where(ninf, 0.0, p)
        p = np.where(nan, np.nan, p)
    return p.reshape(shape0)


def log_softmax(x, axis=None):
    x = np.asarray(x, dtype=np.float64)
    shape0 = x.shape
    x = np.atleast_1d(x)
    axes = _axes(axis, x.ndim)
    if x.size == 0:
        return np.empty(shape0)
    x, m, mm, e, s, k, pinf, ninf, nan = _softmax_parts(x, axes)
    with np.errstate(invalid="ignore", divide="ignore"):
        y = (x - mm) - np.log(s)
        y = np.where(pinf, np.where(x == np.inf, -np.log(np.maximum(k, 1)), -np.inf), y)
        y = np.where(ninf, -np.inf, y)
        y = np.where(nan, np.nan, y)
    return y.reshape(shape0)


def entropy(p, axis=-1, keepdims=False):
    p = np.atleast_1d(np.asarray(p, dtype=np.float64))
    axes = _axes(axis, p.ndim)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(p == 0, 0.0, p * np.log(p))
    h = 0.0 - np.sum(terms, axis=axes, keepdims=keepdims)
    return h[()] if np.ndim(h) == 0 else h


def softmax_entropy(x, axis=-1, keepdims=False):
    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    axes = _axes(axis, x.ndim)
    p = softmax(x, axis=axes)
    h = entropy(p, axis=axes, keepdims=keepdims)
    return np.maximum(h, 0.0) if np.ndim(h) else max(h, 0.0)


def lse_state(x):
    """(m, s) of each row of a 2-D array: m = max, s = sum exp(x - m)."""
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=1) if x.shape[1] else np.full(x.shape[0], -np.inf)
    with np.errstate(invalid="ignore"):
        mm = np.where(np.isfinite(m), m, 0.0)
        s = np.sum(np.exp(x - mm[:, None]), axis=1)
    s = np.where(m == -np.inf, 0.0, s)
    s = np.where(m == np.inf, np.sum(x == np.inf, axis=1), s)
    return m, s


def merge_states(m1, s1, m2, s2):
    """docs/math.md §1 merge of two (m, s) states (arrays)."""
    m1, s1, m2, s2 = (np.asarray(v, dtype=np.float64) for v in (m1, s1, m2, s2))
    m = np.maximum(m1, m2)
    with np.errstate(invalid="ignore"):
        f1 = np.where(m1 == m, 1.0, np.exp(m1 - m))
        f2 = np.where(m2 == m, 1.0, np.exp(m2 - m))
    return m, s1 * f1 + s2 * f2
