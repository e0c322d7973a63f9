"""Batched entropy normalization (docs/math.md §2): give every distribution a chosen entropy."""
from __future__ import annotations

import operator
from math import prod
from dataclasses import dataclass

import numpy as np

from . import _core
from ._arrays import (
    contiguous,
    as_float_array,
    is_bfloat16,
    kernel_dtypes,
    check_out,
    native,
    normalize_axes,
    result_dtypes,
    rows_view,
    writable_rows_view,
)

__all__ = ["entropy_normalize", "EntropyNormalizeInfo", "default_tol"]

# the default sum tolerance of each float input dtype: max(library floor, the dtype's epsilon)
_SUM_TOL = {np.dtype(t): max(_core.EN_MIN_SUM_TOL, float(np.finfo(t).eps)) for t in (np.float16, np.float32, np.float64)}

_STATUS_ABOVE, _STATUS_BELOW, _STATUS_INVALID, _STATUS_BAD_SUM, _STATUS_NO_SUPPORT = (
    _core.EN_ABOVE_RANGE, _core.EN_BELOW_RANGE, _core.EN_INVALID, _core.EN_BAD_SUM, _core.EN_NO_SUPPORT)


def _sum_tol(dtype) -> float:
    """The default sum tolerance of an input dtype (-1: the library's default); bfloat16 rows
    were rounded to 8 significant bits: its epsilon, 2^-7."""
    if is_bfloat16(dtype):
        return max(_core.EN_MIN_SUM_TOL, 2.0**-7)
    return _SUM_TOL.get(dtype, -1.0)


def default_tol(dtype) -> float:
    """Default absolute tolerance (nats) on the achieved entropy for an input dtype.

    1e-9 for float64; 1e-5 for float32 and float16 (which are computed in float32). Float32
    rows reach 1e-5 reliably: the search evaluates the entropy from float32 terms summed in
    float64 blocks, accurate to about 1e-6 nats for rows up to 10^6 entries.
    """
    return _core.EN_DEFAULT_TOL_F64 if np.dtype(dtype) == np.float64 else _core.EN_DEFAULT_TOL_F32


@dataclass(frozen=True)
class EntropyNormalizeInfo:
    """Per-row results of :func:`entropy_normalize` (arrays of the batch shape).

    gamma : power (inverse temperature) applied; 0 means uniform over the support, inf
        uniform over the entries tied at the maximum.
    n_iter : passes over the row spent by the search (the first one reads the input and
        evaluates gamma = 1, 2 and 4 at once).
    converged : |H(q) - target| <= tol was reached.
    clipped : the target was outside the reachable range [h_min, h_max] and was clipped.
    entropy : entropy of the returned row (nats), as evaluated by the search.
    h_min, h_max : reachable range: log(#ties at the maximum), log(#nonzero entries).
    """

    gamma: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    clipped: np.ndarray
    entropy: np.ndarray
    h_min: np.ndarray
    h_max: np.ndarray

    def __repr__(self) -> str:
        n = self.gamma.size
        return (
            f"EntropyNormalizeInfo(rows={n}, converged={int(np.sum(self.converged))}/{n}, "
            f"clipped={int(np.sum(self.clipped))}, "
            f"mean n_iter={float(np.mean(self.n_iter)) if n else 0.0:.2f}, "
            f"max n_iter={int(np.max(self.n_iter)) if n else 0})"
        )


def _row_name(batch, r):
    if len(batch) == 0:
        return "the row"
    idx = np.unravel_index(r, batch)
    return f"row {tuple(int(i) for i in idx)}" if len(batch) > 1 else f"row {int(idx[0])}"


def entropy_normalize(
    x,
    target=None,
    axis=-1,
    *,
    perplexity=None,
    logits=False,
    tol=None,
    max_iter=_core.EN_DEFAULT_MAX_ITER,
    out_of_range="clip",
    renormalize=False,
    return_info=False,
    out=None,
):
    """Rescale each distribution by a power so that it has a chosen entropy.

    For each row p along ``axis`` find gamma >= 0 with

        q = p**gamma / sum(p**gamma),     H(q) = -sum q log q = target  (nats)

    (for logits z, ``logits=True``: q = softmax(gamma * z), gamma an inverse temperature).
    The power keeps the order of the entries, zeros (or -inf logits) stay exactly 0, and
    H(gamma) falls monotonically from log|support| (gamma = 0) to log|ties at the maximum|
    (gamma -> inf).

    The search runs on the cumulative gamma from the original row (no repeated powers),
    starting at gamma = 1 like the source article. The first pass, which reads the input
    anyway, evaluates gamma = 1, 2 and 4 together (p, p^2 and p^4 cost two multiplications
    per entry); the search starts from the best of them, with Halley/Newton steps kept
    inside a bracket around the root (geometric bisection when a step leaves it or fails to
    halve the error). Each further step is one fused pass over the row; long float32 rows
    accumulate in float64 blocks; rows run in parallel and the result does not depend on
    the thread count.

    Parameters
    ----------
    x : array_like
        Probability rows (default; each must sum to 1 within max(1e-6, eps of the dtype))
        or logits (``logits=True``).
    target : float or array_like
        Target entropy in nats: a scalar or one per row (broadcast to the batch shape).
    axis : int
        Axis holding the outcomes.
    perplexity : float or array_like
        exp(target), instead of ``target`` (exactly one of the two). Must be >= 1.
    logits : bool
        Interpret ``x`` as logits.
    tol : float
        Absolute tolerance on the achieved entropy (nats); default :func:`default_tol`.
    max_iter : int
        Passes over a row allowed for the search.
    out_of_range : {"clip", "raise"}
        Targets above log|support| give the uniform distribution over the support; targets
        below log|ties| give the uniform distribution over the tied maxima (rows flagged
        ``clipped``). "raise" raises ValueError naming the row and its reachable range.
    renormalize : bool
        Accept probability rows that do not sum to 1 and rescale them (the power transform
        is scale-free, so this costs nothing).
    return_info : bool
        Also return an :class:`EntropyNormalizeInfo`.
    out : ndarray, optional
        Receives q; exactly x's shape and result dtype. May be ``x`` itself. If the call
        raises, ``x`` is unchanged and so is every row of ``out`` that failed (the row named
        in the message and any other failing row); rows that succeeded hold their result.

    Returns
    -------
    q : ndarray of x's shape and float dtype (float16 and bfloat16 in, the same out: read as they are,
        widened to float32 in the kernels' loads, q is the float32 result rounded to nearest even;
        integers give float64)
    info : EntropyNormalizeInfo, only with ``return_info=True``
    """
    x = as_float_array(x, "x")
    cdt, rdt = result_dtypes(x.dtype, "x")
    # float16 and bfloat16 are read as they are (widened in the kernels' loads), q stored in them
    sdt = kernel_dtypes(x.dtype, "x")[0]
    shape0 = x.shape
    if x.ndim == 0:
        x = x.reshape(1)
    if isinstance(axis, (tuple, list)) or axis is None:
        raise TypeError("axis must be a single integer (the axis holding the outcomes)")
    (ax,) = normalize_axes(axis, x.ndim)
    if (target is None) == (perplexity is None):
        raise ValueError("give exactly one of target (entropy in nats) and perplexity")
    if perplexity is not None:
        perp = np.asarray(perplexity, dtype=np.float64)
        if np.any(np.isnan(perp)) or np.any(perp < 1):
            raise ValueError("perplexity must be >= 1 (it is exp of an entropy)")
        tgt = np.log(perp)
    elif type(target) is float or type(target) is int:  # the common scalar target, cheaply
        if target != target:  # (the library checks every row's target; this also covers no rows)
            raise ValueError("target entropy is NaN")
        tgt = np.float64(target)
    else:
        try:
            tgt = np.asarray(target, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"target must be a number or an array of numbers, got {type(target).__name__}") from None
        if np.isnan(tgt).any():
            raise ValueError("target entropy is NaN")
    if out_of_range not in ("clip", "raise"):
        raise ValueError(f"out_of_range must be 'clip' or 'raise', got {out_of_range!r}")
    try:
        max_iter = operator.index(max_iter)
    except TypeError:
        raise TypeError(f"max_iter must be an integer, got {type(max_iter).__name__}") from None
    max_iter = min(max(max_iter, -(2**31)), 2**31 - 1)  # an int32 for the library, which checks >= 1
    if tol is None:
        tol = default_tol(cdt)
    tol = float(tol)
    if not tol >= 0:
        raise ValueError(f"tol must be a non-negative number, got {tol!r}")
    if out is not None:
        check_out(out, shape0, rdt)

    xc = native(x, sdt)
    rows, batch = rows_view(xc, (ax,))
    if tgt.ndim == 0:
        tgt_rows = np.full(prod(batch), float(tgt))
    else:
        try:
            tgt_rows = contiguous(np.broadcast_to(tgt, batch), dtype=np.float64).reshape(-1)
        except ValueError:
            raise ValueError(f"target of shape {tgt.shape} does not broadcast to the batch shape {batch}") from None
    nrows = tgt_rows.size
    if rows.shape[-1] == 0 and nrows:
        raise ValueError("cannot normalize rows with no entries (the outcome axis has length 0)")

    target_view = None
    if out is not None and rdt == sdt and out.dtype.isnative and out.flags.aligned and not np.may_share_memory(out, xc):
        target_view = writable_rows_view(out.reshape(x.shape) if out.ndim == 0 else out, (ax,))
    buf = target_view if target_view is not None else np.empty(rows.shape, dtype=sdt)
    # the sum tolerance is that of the INPUT dtype (float16 rows are computed in float32 but
    # were rounded to float16): set once here, used by the library and quoted by the errors
    opt = _core.EntropyNormalizeOptions(
        _core.EN_LOGITS if logits else _core.EN_PROBABILITIES, tol, max_iter,
        not renormalize and not logits, _sum_tol(x.dtype), out_of_range == "raise")
    info = _core._entropy_normalize(rows, buf, tgt_rows, opt)  # (no rows: checks the options)
    if info["status"].any():
        _raise_for_status(info, tgt_rows, batch, logits, out_of_range, opt.effective_sum_tol(cdt == np.float64))

    if target_view is not None:
        res = out
    else:
        res = np.moveaxis(buf, -1, ax).reshape(shape0) if x.ndim and ax != x.ndim - 1 else buf.reshape(shape0)
        if out is not None:
            out[...] = res
            res = out
        else:
            res = res.astype(rdt, copy=False)
    if not return_info:
        return res
    return res, EntropyNormalizeInfo(
        gamma=info["gamma"].reshape(batch),
        n_iter=info["n_iter"].astype(np.int64).reshape(batch),
        converged=info["converged"].astype(bool).reshape(batch),
        clipped=info["clipped"].astype(bool).reshape(batch),
        entropy=info["entropy"].reshape(batch),
        h_min=info["h_min"].reshape(batch),
        h_max=info["h_max"].reshape(batch),
    )


def _raise_for_status(info, targets, batch, logits, policy, sum_tol):
    status = info["status"]
    bad = np.flatnonzero(status >= _STATUS_INVALID)
    if bad.size:
        r = int(bad[0])
        name = _row_name(batch, r)
        s = int(status[r])
        if s == _STATUS_INVALID:
            what = "a NaN or +inf logit" if logits else "a negative, NaN or infinite probability"
            raise ValueError(f"{name} of x contains {what}")
        if s == _STATUS_BAD_SUM:
            raise ValueError(
                f"{name} of x does not sum to 1 (within {sum_tol:g}); pass renormalize=True to "
                "rescale rows, or logits=True if x holds logits"
            )
        raise ValueError(f"{name} of x has no support (every entry is {'-inf' if logits else '0'})")
    if policy == "raise":
        out_rows = np.flatnonzero((status == _STATUS_ABOVE) | (status == _STATUS_BELOW))
        if out_rows.size:
            r = int(out_rows[0])
            raise ValueError(
                f"{_row_name(batch, r)}: target entropy {targets[r]:.6g} nats is outside the reachable "
                f"range [{info['h_min'][r]:.6g}, {info['h_max'][r]:.6g}] (log of the number of ties at "
                "the maximum, log of the number of nonzero entries); use out_of_range='clip' to clip"
            )
