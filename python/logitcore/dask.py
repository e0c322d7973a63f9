"""Vocabulary-parallel logsumexp, entropies, softmax and losses on Dask arrays (docs/math.md §7).

The functions take ``dask.array`` inputs chunked along any axis, the class axis included, and
return lazy Dask arrays; they never rechunk the class axis. Each chunk is reduced by the native
kernels to a small per-row *partial state*; the states of a row's chunks merge with an
associative rule in a tree (:func:`dask.array.reduction` with chunk/combine/aggregate), so a
row may be spread over many chunks, workers or machines. This is how tensor-parallel training
computes cross-entropy over a vocabulary sharded across devices.

* :func:`logsumexp` -- state (m, u): the chunk's maximum and its excess u = Σ exp(x − m) − 1,
  merged by the law of :class:`logitcore.LogSumExpState` (native update and merge).
* :func:`softmax_entropy` -- state (m, u, h) with h the entropy of the chunk's own softmax;
  merged by the grouping law H = Σ_c a_c h_c + Σ_c a_c (L − l_c), a_c = exp(l_c − L) the mass
  of chunk c (l_c its logsumexp, L the row's).
* :func:`softmax`, :func:`log_softmax` -- two passes: the per-chunk states reduce to the row's
  (M, U); then every chunk is mapped with it (softmax: the chunk's native softmax times
  exp(l_c − L); log_softmax: x − L rounded once).
* :func:`gamma_cross_entropy`, :func:`generalized_cross_entropy`, :func:`focal_loss` -- every
  loss depends on the row only through ℓ = log p_y = z_y − lse(z), so the state is (m, u) plus
  the target's logit z_y, taken from the one chunk that holds the target. ℓ, the loss and its
  gradient weight follow per row from the native formulas (`_loss_from_logp`); the gradient,
  when asked for, is one more map over the chunks.

Arguments and defaults are those of the NumPy functions (``logitcore.logsumexp`` reduces every
axis when ``axis`` is None, ``softmax_entropy`` the last); the dtype rules too: float32 stays
float32, float64 float64, float16 is computed in float32 and returned as float16, integers are
computed in float64. ``split_every`` (keyword) is passed to :func:`dask.array.reduction`.
Inputs that are not Dask arrays are wrapped with :func:`dask.array.asarray` (one chunk).

Results equal the in-memory functions within rounding (float32: 1e-6 relative), whatever the
chunking: empty chunks, one-column chunks, one chunk.
"""
from __future__ import annotations

import math
import operator
from functools import partial
from math import prod

import numpy as np

try:
    import dask.array as da
except ImportError as exc:  # the optional extra
    raise ImportError(f"logitcore.dask needs Dask's arrays: pip install 'logitcore[dask]' ({exc})") from exc

from . import _core
from ._arrays import as_float_array, contiguous, native, normalize_axes, result_dtypes, rows_view
from .losses import _GAMMA_CE, _GCE, _FOCAL, _REDUCTIONS, _check_reduction_and_ignore_index, _real

__all__ = [
    "logsumexp",
    "softmax_entropy",
    "softmax",
    "log_softmax",
    "gamma_cross_entropy",
    "generalized_cross_entropy",
    "focal_loss",
]

_F8 = np.float64
# per-row partial states (one record per row and chunk)
# aligned records (align=True pads "has"): every field view is aligned for the native calls
LSE_STATE = np.dtype([("m", _F8), ("u", _F8)], align=True)
ENTROPY_STATE = np.dtype([("m", _F8), ("u", _F8), ("h", _F8)], align=True)
LOSS_STATE = np.dtype([("m", _F8), ("u", _F8), ("zy", _F8), ("has", np.bool_), ("c0", np.int64)], align=True)
ROW_STATE = np.dtype([("m", _F8), ("u", _F8), ("ell", _F8)], align=True)  # a row's merged (M, U) and ℓ = log p_y


# --------------------------------------------------------------------------------------------
# input checks


def _as_dask(x, name: str):
    if not isinstance(x, da.Array):
        try:
            x = da.asarray(x)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} could not be converted to a dask array: {exc}") from None
    cdt, rdt = result_dtypes(x.dtype, name)
    for ax, c in enumerate(x.chunks):
        if any(math.isnan(s) for s in c):
            raise ValueError(
                f"{name} has unknown chunk sizes along axis {ax} (e.g. after boolean indexing); "
                f"call {name}.compute_chunk_sizes() first"
            )
    return x, cdt, rdt


def _keep_shape(shape, axes):
    return tuple(1 if d in axes else s for d, s in enumerate(shape))


def _rows2d(x: np.ndarray, axes, cdt):
    """(B, n) float matrix of a block: the reduced axes moved last and merged, the batch flat."""
    rows, batch = rows_view(native(x, cdt), axes)
    n = rows.shape[-1]
    return rows.reshape(prod(batch), n), batch


def _fields_2d(st: np.ndarray, axes):
    """A state array's reduced axes moved last and merged: (B, K) records, and the batch shape."""
    keep = [d for d in range(st.ndim) if d not in axes]
    moved = st.transpose(keep + list(axes))
    batch = tuple(st.shape[d] for d in keep)
    return moved.reshape(prod(batch), prod(st.shape[d] for d in axes)), batch


def _col(st2, name, k):
    """Field ``name`` of column k as a new contiguous, aligned float64 vector (the native merge
    reads and writes it through typed pointers)."""
    return np.array(st2[name][:, k], dtype=_F8, order="C")


# --------------------------------------------------------------------------------------------
# the logsumexp state: chunk, merge, result (all native)


def _chunk_state(rows2d):
    """(m, u) of each row of a (B, n) matrix, from the native streaming update."""
    B, n = rows2d.shape
    m = np.full(B, -np.inf)
    u = np.full(B, -1.0)
    if B and n:
        _core._state_update(m, u, rows2d)
    return m, u


def _lse_chunk(x, axis, keepdims, computing_meta=False):
    cdt, rdt = result_dtypes(x.dtype)
    if computing_meta:  # dask.array.reduction asks for the meta of the final result
        return np.empty((0,) * x.ndim, dtype=rdt)
    rows, batch = _rows2d(x, axis, cdt)
    m, u = _chunk_state(rows)
    out = np.empty(rows.shape[0], dtype=LSE_STATE)
    out["m"], out["u"] = m, u
    return out.reshape(_keep_shape(x.shape, axis))


def _merge_lse(st2):
    """Fold the K states of each row of a (B, K) record array (native merge, in order)."""
    m, u = _col(st2, "m", 0), _col(st2, "u", 0)
    for k in range(1, st2.shape[1]):
        _core._state_merge(m, u, _col(st2, "m", k), _col(st2, "u", k))
    return m, u


def _lse_combine(st, axis, keepdims):
    st2, batch = _fields_2d(st, axis)
    m, u = _merge_lse(st2)
    out = np.empty(m.shape, dtype=LSE_STATE)
    out["m"], out["u"] = m, u
    return out.reshape(_keep_shape(st.shape, axis))


def _lse_aggregate(st, axis, keepdims, dtype):
    st2, batch = _fields_2d(st, axis)
    m, u = _merge_lse(st2)
    res = np.empty_like(m)
    if res.size:
        _core._state_result(m, u, res)
    res = res.astype(dtype)
    return res.reshape(_keep_shape(st.shape, axis) if keepdims else batch)


def _identity(x, axis, keepdims, computing_meta=False, meta_dtype=None):
    if computing_meta:
        return np.empty((0,) * x.ndim, dtype=meta_dtype)
    return x


# --------------------------------------------------------------------------------------------
# the entropy state: (m, u) plus the entropy h of the chunk's softmax


def _mass_and_gap(m, u, M, U):
    """Share a = exp(l − L) of a side in the merged row and the gap L − l (≥ 0), from the
    side's (m, u) and the merged (M, U), without forming exp(m) (a side whose maximum is the
    merged one keeps its count: +inf maxima count their +inf entries)."""
    top = m == M
    d = np.where(top, 0.0, M - m)
    a = np.where(top, u + 1.0, (u + 1.0) * np.exp(-d)) / (U + 1.0)
    gap = d + (np.log1p(U) - np.log1p(u))
    return a, gap


def _merge_entropy_pair(m1, u1, h1, m2, u2, h2):
    M, U = np.array(m1, dtype=_F8), np.array(u1, dtype=_F8)
    _core._state_merge(M, U, np.require(m2, _F8, ["C", "A"]), np.require(u2, _F8, ["C", "A"]))
    with np.errstate(all="ignore"):
        a1, g1 = _mass_and_gap(m1, u1, M, U)
        a2, g2 = _mass_and_gap(m2, u2, M, U)
        t1 = np.where(a1 > 0, a1 * (h1 + g1), 0.0)
        t2 = np.where(a2 > 0, a2 * (h2 + g2), 0.0)
        h = t1 + t2
    h = np.where(M == -np.inf, 0.0, h)  # no support (or no entries): entropy 0
    h = np.where(np.isnan(M) | np.isnan(U) | np.isnan(h1) | np.isnan(h2), np.nan, h)
    return M, U, h


def _entropy_chunk(x, axis, keepdims, computing_meta=False):
    cdt, rdt = result_dtypes(x.dtype)
    if computing_meta:
        return np.empty((0,) * x.ndim, dtype=rdt)
    rows, batch = _rows2d(x, axis, cdt)
    m, u = _chunk_state(rows)
    h = np.zeros(rows.shape[0], dtype=cdt)
    if h.size and rows.shape[1]:
        _core._softmax_entropy(rows, h)
    out = np.empty(rows.shape[0], dtype=ENTROPY_STATE)
    out["m"], out["u"], out["h"] = m, u, h
    return out.reshape(_keep_shape(x.shape, axis))


def _merge_entropy(st2):
    m, u, h = _col(st2, "m", 0), _col(st2, "u", 0), _col(st2, "h", 0)
    for k in range(1, st2.shape[1]):
        m, u, h = _merge_entropy_pair(m, u, h, _col(st2, "m", k), _col(st2, "u", k), _col(st2, "h", k))
    return m, u, h


def _entropy_combine(st, axis, keepdims):
    st2, batch = _fields_2d(st, axis)
    m, u, h = _merge_entropy(st2)
    out = np.empty(m.shape, dtype=ENTROPY_STATE)
    out["m"], out["u"], out["h"] = m, u, h
    return out.reshape(_keep_shape(st.shape, axis))


def _entropy_aggregate(st, axis, keepdims, dtype):
    st2, batch = _fields_2d(st, axis)
    _, _, h = _merge_entropy(st2)
    h = h.astype(dtype)
    return h.reshape(_keep_shape(st.shape, axis) if keepdims else batch)


# --------------------------------------------------------------------------------------------
# public reductions


def _split_every(split_every):
    if split_every is None:
        return None
    if isinstance(split_every, (bool, np.bool_)):
        raise TypeError(f"split_every must be an integer >= 2, got {split_every!r}")
    try:
        s = operator.index(split_every)
    except TypeError:
        raise TypeError(f"split_every must be an integer >= 2, got {split_every!r}") from None
    if s < 2:
        raise ValueError(f"split_every must be an integer >= 2, got {s}")
    return s


def _reduce(x, axis, keepdims, split_every, chunk, combine, aggregate, name):
    x, cdt, rdt = _as_dask(x, name)
    if x.ndim == 0:
        x = x.reshape(1)
    axes = normalize_axes(axis, x.ndim)
    return da.reduction(
        x,
        chunk=chunk,
        combine=combine,
        aggregate=aggregate,
        axis=axes,
        keepdims=bool(keepdims),
        dtype=rdt,
        split_every=_split_every(split_every),
        concatenate=True,
        meta=np.empty((0,) * (x.ndim if keepdims else x.ndim - len(axes)), dtype=rdt),
        name=f"logitcore-{chunk.__name__.strip('_').replace('_chunk', '')}",
    )


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False, *, where=None, split_every=None):
    """log(sum(b * exp(a))) over ``axis`` (None: every axis) of a Dask array, lazily.

    Each chunk is reduced natively to its per-row state (max, excess) and the states merge in
    a tree (docs/math.md §1.2, §7), so the reduced axes may be chunked in any way: the class
    axis is never rechunked. Special values and accuracy as :func:`logitcore.logsumexp`
    (an empty reduction gives -inf). Returns a Dask array of the reduced shape.

    ``b``, ``where`` and ``return_sign`` as in :func:`logitcore.logsumexp`: ``b`` (weights) and
    ``where`` (bool) broadcast with ``a`` and are chunked like it (their chunks follow ``a``'s);
    ``where`` alone masks entries to -inf in each chunk and keeps the (max, excess) state. With
    ``b``, each chunk gives its signed weighted sum as (log|s_c|, sign s_c) in float64 (the
    native weighted kernel on the chunk in float64), merged by
    s = Σ_c sign_c exp(l_c − L), L = max_c l_c (docs/math.md §7.1): a negative total is NaN
    unless ``return_sign=True``, which returns the pair ``(log|sum|, sign)`` of Dask arrays
    (sign 0 for a sum of exactly 0, -1 for an empty reduction, NaN for NaN).
    """
    if b is None and where is None and not return_sign:
        return _reduce(a, axis, keepdims, split_every, _lse_chunk, _lse_combine, _lse_aggregate, "a")
    return _logsumexp_general(a, axis, b, bool(keepdims), bool(return_sign), where, split_every)


def softmax_entropy(x, axis=-1, keepdims=False, *, split_every=None):
    """Entropy (nats) of softmax(x) along ``axis`` of a Dask array, lazily.

    Each chunk gives (max, excess, entropy of its own softmax); two parts with masses
    a_1 + a_2 = 1 merge as H = a_1 h_1 + a_2 h_2 + a_1 (L − l_1) + a_2 (L − l_2), the grouping
    law of entropy (docs/math.md §7). Special rows as :func:`logitcore.softmax_entropy`.
    """
    return _reduce(x, axis, keepdims, split_every, _entropy_chunk, _entropy_combine, _entropy_aggregate, "x")


# --------------------------------------------------------------------------------------------
# softmax and log_softmax: reduce, then map


def _row_state(x, axes, split_every):
    """(chunk states, merged row state): the per-chunk states (size 1 along the reduced axes
    per chunk) and their tree reduction (size 1 along the reduced axes)."""
    inds = tuple(range(x.ndim))
    states = da.blockwise(
        _lse_chunk, inds, x, inds, axis=axes, keepdims=True, dtype=LSE_STATE,
        meta=np.empty((0,) * x.ndim, dtype=LSE_STATE),
        adjust_chunks={d: 1 for d in axes}, token="logitcore-lse-state",
    )
    total = da.reduction(
        states, chunk=partial(_identity, meta_dtype=LSE_STATE), combine=_lse_combine, aggregate=_lse_combine, axis=axes, keepdims=True,
        dtype=LSE_STATE, split_every=_split_every(split_every), concatenate=True,
        meta=np.empty((0,) * x.ndim, dtype=LSE_STATE), name="logitcore-lse-merge",
    )
    return states, total


def _softmax_block(x, st, tot, axes, log, rdt):
    cdt, _ = result_dtypes(x.dtype)
    xc = native(x, cdt)
    M, U = tot["m"].astype(_F8), tot["u"].astype(_F8)  # keepdims shape: broadcasts against x
    with np.errstate(all="ignore"):
        if log:
            out = np.empty(x.shape, dtype=cdt)
            L = M + np.log1p(U)
            np.subtract(xc, L, out=out, dtype=_F8, casting="unsafe")  # x − L, rounded once
            if np.any(~np.isfinite(L)):
                # +inf rows: −log k on the k +inf entries, −inf elsewhere; all −inf rows: −inf
                pinf = np.broadcast_to(M == np.inf, x.shape)
                out[pinf] = np.where(xc == np.inf, -np.log(U + 1.0), -np.inf)[pinf]
                out[np.broadcast_to(M == -np.inf, x.shape)] = -np.inf
            return out.astype(rdt, copy=False)
        # softmax: the chunk's own softmax exp(x − l_c), times its share exp(l_c − L)
        a, _ = _mass_and_gap(st["m"], st["u"], M, U)
        a = np.where(np.isnan(M) | np.isnan(U), np.nan, np.where(M == -np.inf, 0.0, a))
        rows, batch = rows_view(xc, axes)
        buf = np.empty(rows.shape, dtype=cdt)
        if buf.size:
            _core._softmax(rows, buf, False)
        keep = [d for d in range(x.ndim) if d not in axes]
        order = keep + list(axes)
        res = buf.reshape(tuple(x.shape[d] for d in order)).transpose(np.argsort(order))
        res *= a.astype(cdt)
        return res.astype(rdt, copy=False)


def _softmax_common(x, axis, log, split_every, name):
    x, cdt, rdt = _as_dask(x, name)
    shape0 = x.shape
    if x.ndim == 0:
        x = x.reshape(1)
    axes = normalize_axes(axis, x.ndim)
    states, total = _row_state(x, axes, split_every)
    inds = tuple(range(x.ndim))
    out = da.blockwise(
        _softmax_block, inds, x, inds, states, inds, total, inds, axes=axes, log=log, rdt=rdt,
        dtype=rdt, meta=np.empty((0,) * x.ndim, dtype=rdt), align_arrays=False,
        token=f"logitcore-{'log-' if log else ''}softmax",
    )
    return out.reshape(shape0) if out.shape != shape0 else out


def softmax(x, axis=None, *, split_every=None):
    """exp(x − logsumexp(x, axis)) of a Dask array (None: over every axis), lazily.

    Two passes: the chunks' states reduce to each row's (max, excess); then each chunk's
    native softmax is scaled by its share exp(l_c − L) of the row. Special rows as
    :func:`logitcore.softmax`. The result has the chunks of ``x``.
    """
    return _softmax_common(x, axis, False, split_every, "x")


def log_softmax(x, axis=None, *, split_every=None):
    """x − logsumexp(x, axis) of a Dask array (None: over every axis), lazily.

    Two passes: the row's logsumexp L from the merged chunk states, then x − L per chunk
    (formed in float64, rounded once). Special rows as :func:`logitcore.log_softmax`.
    """
    return _softmax_common(x, axis, True, split_every, "x")


# --------------------------------------------------------------------------------------------
# losses


def _loss_chunk(x, t, block_info=None, *, n_classes, ignore_index, cdt):
    loc = block_info[0]["array-location"]
    c0 = loc[-1][0]
    rows = native(x, cdt)
    batch = rows.shape[:-1]
    B, k = prod(batch), rows.shape[-1]
    rows = rows.reshape(B, k)
    tt = np.asarray(t).reshape(B).astype(np.int64)
    live = tt != ignore_index
    bad = live & ((tt < 0) | (tt >= n_classes))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = tuple(int(lo + j) for (lo, _), j in zip(loc[:-1], np.unravel_index(i, batch)))
        raise IndexError(
            f"target{list(where)} = {int(tt[i])} is out of range for {n_classes} classes "
            f"(and is not ignore_index={ignore_index})"
        )
    m, u = _chunk_state(rows)
    local = tt - c0
    has = live & (local >= 0) & (local < k)
    out = np.empty(B, dtype=LOSS_STATE)
    out["m"], out["u"], out["has"], out["c0"] = m, u, has, c0
    zy = np.full(B, np.nan)
    idx = np.flatnonzero(has)
    zy[idx] = rows[idx, local[idx]]
    out["zy"] = zy
    return out.reshape(batch + (1,))


def _merge_loss(st2):
    m, u = _merge_lse(st2)
    has = st2["has"]
    found = has.any(axis=1)
    j = np.argmax(has, axis=1)
    zy = st2["zy"][np.arange(st2.shape[0]), j]
    return m, u, np.where(found, zy, np.nan), found


def _loss_combine(st, axis, keepdims):
    st2, batch = _fields_2d(st, axis)
    m, u, zy, has = _merge_loss(st2)
    out = np.empty(m.shape, dtype=LOSS_STATE)
    out["m"], out["u"], out["zy"], out["has"], out["c0"] = m, u, zy, has, 0
    return out.reshape(_keep_shape(st.shape, axis))


def _log_p_target(M, U, zy):
    """ℓ = log p_y from the row's merged state and the target's logit (the native rule)."""
    with np.errstate(all="ignore"):
        ell = (zy - M) - np.log1p(U)
        ell = np.where(M == np.inf, np.where(zy == np.inf, -np.log(U + 1.0), -np.inf), ell)
        ell = np.where(np.isnan(M) | np.isnan(U) | (M == -np.inf), np.nan, ell)
    return ell


def _loss_aggregate(st, axis, keepdims):
    """Per row: its merged (M, U) and ℓ (ROW_STATE records)."""
    st2, batch = _fields_2d(st, axis)
    m, u, zy, has = _merge_loss(st2)
    out = np.empty(m.shape, dtype=ROW_STATE)
    out["m"], out["u"], out["ell"] = m, u, _log_p_target(m, u, zy)
    return out.reshape(_keep_shape(st.shape, axis) if keepdims else batch)


def _loss_rows(agg, t, sw, *, kind, param, threshold, ignore_index, reduction, cw):
    """Per row (float64, stacked on a last axis of 3): weighted loss, weighted gradient
    weight rw·w, and the row weight rw (class weight × sample weight; 0 when ignored)."""
    ell = agg["ell"]
    opt = _core.LossOptions(kind, param, threshold, ignore_index, _REDUCTIONS[reduction])
    flat = ell.reshape(-1)
    lw = np.array([_core._loss_from_logp(opt, float(v)) for v in flat], dtype=_F8).reshape(ell.shape + (2,))
    t = np.asarray(t).astype(np.int64)
    live = t != ignore_index
    rw = np.where(live, 1.0, 0.0)
    if cw is not None:
        rw = np.where(live, cw[np.where(live, t, 0)], 0.0)
    if sw is not None:
        rw = rw * sw
    loss = np.where(live, lw[..., 0] * rw, 0.0)
    coef = np.where(live, lw[..., 1] * rw, 0.0)
    return np.stack([loss, coef, rw], axis=-1)


def _grad_block(x, t, st, agg, coef, *, rdt, cdt):
    rows = native(x, cdt)
    shape = rows.shape
    batch = shape[:-1]
    B, k = prod(batch), shape[-1]
    rows = rows.reshape(B, k)
    st = st.reshape(B)
    agg = agg.reshape(B)
    M, U, ell = agg["m"], agg["u"], agg["ell"]
    coef = np.asarray(coef, dtype=_F8).reshape(B)
    g = np.empty((B, k), dtype=cdt)
    if g.size:
        _core._softmax(rows, g, False)
    with np.errstate(all="ignore"):
        a, _ = _mass_and_gap(st["m"], st["u"], M, U)
        a = np.where(M == -np.inf, 0.0, a)
        f = coef * a
        f = np.where(np.isnan(ell) | np.isnan(coef), np.nan, f)
        g *= f.astype(cdt)[:, None]
        t = np.asarray(t).reshape(B).astype(np.int64)
        local = t - st["c0"]
        idx = np.flatnonzero(st["has"])
        g[idx, local[idx]] = (coef[idx] * np.expm1(ell[idx])).astype(cdt)
        g[coef == 0] = 0  # ignored and zero-weight rows: a zero gradient row, even with NaN logits
    return g.reshape(shape).astype(rdt, copy=False)


def _as_target(target, logits, batch):
    if isinstance(target, da.Array):
        t = target
    else:
        t = np.asarray(target)
        if t.dtype.kind not in "iu":
            raise TypeError(f"target must hold integer class indices, got dtype {t.dtype}")
        if t.shape != batch:
            raise ValueError(
                f"target has shape {t.shape}, expected {batch} (the logits shape without its last, class axis)"
            )
        t = da.from_array(t, chunks=logits.chunks[:-1]) if t.ndim else da.from_array(t)
    if t.dtype.kind not in "iu":
        raise TypeError(f"target must hold integer class indices, got dtype {t.dtype}")
    if any(math.isnan(s) for c in t.chunks for s in c):
        raise ValueError("target has unknown chunk sizes; call target.compute_chunk_sizes() first")
    if t.shape != batch:
        raise ValueError(
            f"target has shape {t.shape}, expected {batch} (the logits shape without its last, class axis)"
        )
    if t.chunks != logits.chunks[:-1]:
        t = t.rechunk(logits.chunks[:-1])  # small (one int per row): follow the logits' batch chunks
    return t


def _fused(kind, param, threshold, logits, target, weight, ignore_index, reduction, return_grad, inplace,
           sample_weight, split_every):
    ignore_index = _check_reduction_and_ignore_index(reduction, ignore_index)
    if inplace:
        raise ValueError("inplace=True is not available for dask arrays (their chunks are immutable)")
    # the parameters are checked by the library, on one row, before anything is built
    opt = _core.LossOptions(kind, param, threshold, ignore_index, _REDUCTIONS[reduction])
    probe = np.zeros((1, 1))
    _core._loss(probe, np.zeros(1, dtype=np.int64), opt, None, np.empty(1), None)

    x, cdt, rdt = _as_dask(logits, "logits")
    if x.ndim == 0:
        raise ValueError("logits must have at least one dimension (classes on the last axis)")
    batch, n_classes = x.shape[:-1], x.shape[-1]
    t = _as_target(target, x, batch)
    cw = None
    if weight is not None:
        cw = np.asarray(weight.compute() if isinstance(weight, da.Array) else weight)
        result_dtypes(cw.dtype, "weight")
        if cw.shape != (n_classes,):
            raise ValueError(f"weight has shape {cw.shape}, expected ({n_classes},): one weight per class")
        cw = contiguous(cw, dtype=_F8)
    sw = None
    if sample_weight is not None:
        sw, _, _ = _as_dask(sample_weight, "sample_weight")
        if sw.shape != batch:
            raise ValueError(
                f"sample_weight has shape {sw.shape}, expected {batch}: one weight per row (the shape of target)"
            )
        sw = sw.astype(_F8).rechunk(x.chunks[:-1])

        def _check_sw(v):
            bad = ~(np.isfinite(v) & (v >= 0))
            if bad.any():
                raise ValueError(f"sample_weight must be finite and >= 0; found {v[bad][0]!r}")
            return v

        sw = sw.map_blocks(_check_sw, dtype=_F8)

    nd = x.ndim
    states = da.map_blocks(
        _loss_chunk, x, t[..., None], n_classes=n_classes, ignore_index=ignore_index, cdt=cdt,
        chunks=x.chunks[:-1] + ((1,) * len(x.chunks[-1]),), dtype=LOSS_STATE,
        meta=np.empty((0,) * nd, dtype=LOSS_STATE), token="logitcore-loss-state",
    )
    agg = da.reduction(  # the batch shape, one ROW_STATE record per row
        states, chunk=partial(_identity, meta_dtype=ROW_STATE), combine=_loss_combine, aggregate=_loss_aggregate, axis=(nd - 1,),
        keepdims=False, dtype=ROW_STATE, split_every=_split_every(split_every), concatenate=True,
        meta=np.empty((0,) * (nd - 1), dtype=ROW_STATE), name="logitcore-loss-merge",
    )
    binds = tuple(range(nd - 1))
    args = [agg, binds, t, binds, sw, binds if sw is not None else None]
    rows = da.blockwise(
        _loss_rows, binds + (nd,), *args, new_axes={nd: 3}, dtype=_F8,
        meta=np.empty((0,) * nd, dtype=_F8), kind=kind, param=param, threshold=threshold,
        ignore_index=ignore_index, reduction=reduction, cw=cw, token="logitcore-loss-rows", align_arrays=False,
    )
    row_loss, row_coef, row_w = rows[..., 0], rows[..., 1], rows[..., 2]
    if reduction == "none":
        loss = row_loss.astype(rdt)
        coef = row_coef
    else:
        total = row_loss.sum(dtype=_F8)
        if reduction == "sum":
            loss, coef = total.astype(rdt), row_coef
        else:
            wsum = row_w.sum(dtype=_F8)
            nz = wsum != 0
            safe = da.where(nz, wsum, 1.0)
            loss = da.where(nz, total / safe, 0.0).astype(rdt)
            coef = row_coef / safe
    if not return_grad:
        return loss
    inds = tuple(range(nd))
    grad = da.blockwise(
        _grad_block, inds, x, inds, t, binds, states, inds, agg, binds, coef, binds,
        rdt=rdt, cdt=cdt, dtype=rdt, meta=np.empty((0,) * nd, dtype=rdt), align_arrays=False,
        token="logitcore-loss-grad",
    )
    return loss, grad


_DASK_DOC = """
    Dask: ``logits`` (..., V) may be chunked along every axis, the class axis included (it is
    never rechunked). ``target`` (a Dask or NumPy integer array of the batch shape) is
    rechunked, when needed, to the logits' batch chunks (it holds one integer per row);
    ``sample_weight`` likewise; ``weight`` (V,) is a small NumPy array. Each chunk reduces
    natively to a per-row state (max, excess, and the target's logit where the chunk holds
    it); the states merge in a tree (docs/math.md §7). The loss is a lazy Dask array (0-d for
    'mean'/'sum'); with ``return_grad=True`` the gradient is a lazy Dask array with the
    logits' chunks (one more pass over them). Target values are checked when computed
    (IndexError naming the row). ``inplace`` is refused: Dask chunks are immutable.
"""


def gamma_cross_entropy(logits, target, gamma=0.0, *, threshold=0.0, weight=None, ignore_index=-100,
                        reduction="mean", return_grad=False, inplace=False, sample_weight=None, split_every=None):
    """γ-cross-entropy of Dask logits: :func:`logitcore.gamma_cross_entropy`, vocabulary-parallel."""
    return _fused(_GAMMA_CE, _real(gamma, "gamma"), _real(threshold, "threshold"), logits, target, weight,
                  ignore_index, reduction, return_grad, inplace, sample_weight, split_every)


def generalized_cross_entropy(logits, target, q=0.7, *, weight=None, ignore_index=-100, reduction="mean",
                              return_grad=False, inplace=False, sample_weight=None, split_every=None):
    """Generalized cross-entropy of Dask logits: :func:`logitcore.generalized_cross_entropy`,
    vocabulary-parallel."""
    return _fused(_GCE, _real(q, "q"), 0.0, logits, target, weight, ignore_index, reduction, return_grad,
                  inplace, sample_weight, split_every)


def focal_loss(logits, target, gamma=2.0, *, weight=None, ignore_index=-100, reduction="mean",
               return_grad=False, inplace=False, sample_weight=None, split_every=None):
    """Softmax focal loss of Dask logits: :func:`logitcore.focal_loss`, vocabulary-parallel."""
    return _fused(_FOCAL, _real(gamma, "gamma"), 0.0, logits, target, weight, ignore_index, reduction,
                  return_grad, inplace, sample_weight, split_every)


for _f in (gamma_cross_entropy, generalized_cross_entropy, focal_loss):
    _f.__doc__ += _DASK_DOC
del _f


# --------------------------------------------------------------------------------------------
# logsumexp with weights, a mask or the sign


# the signed state of a weighted chunk: l = log|s_c|, sg = sign(s_c) in {-1, 0, 1} (NaN: NaN)
SIGNED_STATE = np.dtype([("l", _F8), ("sg", _F8)], align=True)


def _weak(obj, arr):
    """Python scalars promote as weak values (NEP 50), as in the NumPy function."""
    return obj if type(obj) in (bool, int, float) else arr.dtype


def _as_dask_like(v, x, name, shape):
    """v (array_like or Dask array) broadcast to ``shape`` and chunked like x (x's chunks are
    kept: the operand follows them)."""
    if not isinstance(v, da.Array):
        v = np.asarray(v)
    v = da.broadcast_to(da.asarray(v) if not isinstance(v, da.Array) else v, shape)
    for ax, c in enumerate(v.chunks):
        if any(math.isnan(s) for s in c):
            raise ValueError(f"{name} has unknown chunk sizes along axis {ax}; call {name}.compute_chunk_sizes() first")
    return v.rechunk(x.chunks)


def _masked_lse_chunk(x, w, axis):
    """The (max, excess) state of a chunk whose masked entries (w False) count as -inf."""
    cdt, _ = result_dtypes(x.dtype)
    xm = np.where(w, native(x, cdt), np.array(-np.inf, cdt)).astype(cdt, copy=False)
    return _lse_chunk(xm, axis, True)


def _signed_chunk(x, w, m, axis):
    """(log|s_c|, sign s_c) of each row of a chunk, s_c = Σ b exp(x) over its entries (where
    m is True), by the native weighted kernel in float64."""
    x64, w64 = np.asarray(x, dtype=_F8), np.asarray(w, dtype=_F8)
    if m is not None:
        w64 = np.where(m, w64, 0.0)
    rows, batch = _rows2d(x64, axis, _F8)
    brows, _ = _rows2d(w64, axis, _F8)
    B = rows.shape[0]
    out = np.empty(B, dtype=SIGNED_STATE)
    l = np.full(B, -np.inf)
    sg = np.zeros(B)
    if B and rows.shape[1]:
        _core._lse(contiguous(rows), contiguous(brows), l, sg)
    out["l"], out["sg"] = l, sg
    return out.reshape(_keep_shape(x.shape, axis))


def _merge_signed_pair(l1, s1, l2, s2):
    """The signed state of the union of two sides (docs/math.md §7.1)."""
    with np.errstate(all="ignore"):
        L = np.fmax(l1, l2)
        Lf = np.where(np.isfinite(L), L, 0.0)
        t1 = np.where((s1 != 0) & (l1 > -np.inf), s1 * np.exp(l1 - Lf), 0.0)
        t2 = np.where((s2 != 0) & (l2 > -np.inf), s2 * np.exp(l2 - Lf), 0.0)
        t = t1 + t2
        l = np.where(t == 0, -np.inf, Lf + np.log(np.abs(t)))
        sg = np.sign(t)
        # +inf sides: their sign, NaN when both signs meet (as weights of both signs on +inf)
        i1, i2 = l1 == np.inf, l2 == np.inf
        inf_sign = np.where(i1 & i2, np.where(s1 == s2, s1, np.nan), np.where(i1, s1, s2))
        anyinf = i1 | i2
        l = np.where(anyinf, np.where(np.isnan(inf_sign), np.nan, np.inf), l)
        sg = np.where(anyinf, inf_sign, sg)
        nan = np.isnan(l1) | np.isnan(l2) | np.isnan(s1) | np.isnan(s2)
        l = np.where(nan, np.nan, l)
        sg = np.where(nan, np.nan, sg)
    return l, sg


def _merge_signed(st2):
    l, sg = st2["l"][:, 0].astype(_F8), st2["sg"][:, 0].astype(_F8)
    for k in range(1, st2.shape[1]):
        l, sg = _merge_signed_pair(l, sg, st2["l"][:, k], st2["sg"][:, k])
    return l, sg


def _signed_combine(st, axis, keepdims, *, final=False):
    st2, batch = _fields_2d(st, axis)
    l, sg = _merge_signed(st2)
    out = np.empty(l.shape, dtype=SIGNED_STATE)
    out["l"], out["sg"] = l, sg
    return out.reshape(batch if final and not keepdims else _keep_shape(st.shape, axis))


def _signed_aggregate(st, axis, keepdims):
    return _signed_combine(st, axis, keepdims, final=True)


def _lse_state_aggregate(st, axis, keepdims):
    st2, batch = _fields_2d(st, axis)
    m, u = _merge_lse(st2)
    out = np.empty(m.shape, dtype=LSE_STATE)
    out["m"], out["u"] = m, u
    return out.reshape(_keep_shape(st.shape, axis) if keepdims else batch)


def _lse_value(st, rdt):
    m, u = np.array(st["m"], dtype=_F8).reshape(-1), np.array(st["u"], dtype=_F8).reshape(-1)
    res = np.empty_like(m)
    if res.size:
        _core._state_result(m, u, res)
    return res.reshape(st.shape).astype(rdt)


def _signed_value(st, rdt, return_sign):
    l = st["l"]
    if not return_sign:
        l = np.where(st["sg"] < 0, np.nan, l)
    return l.astype(rdt)


def _field(st, name, rdt):
    return st[name].astype(rdt)


def _sign_of_lse(r, empty):
    """The sign the NumPy function returns beside an unweighted result r."""
    with np.errstate(invalid="ignore"):
        s = np.where(np.isnan(r), np.nan, np.where(r == -np.inf, -1.0 if empty else 0.0, 1.0))
    return s.astype(r.dtype)


def _logsumexp_general(a, axis, b, keepdims, return_sign, where, split_every):
    a_obj, b_obj = a, b
    a, _, _ = _as_dask(a, "a")
    shapes = [a.shape]
    if b is not None:
        if not isinstance(b, da.Array):
            b = as_float_array(b, "b")
        else:
            result_dtypes(b.dtype, "b")
        shapes.append(b.shape)
    if where is not None:
        if not isinstance(where, da.Array):
            where = np.asarray(where)
        if where.dtype != np.bool_:
            raise TypeError(f"where must be a boolean array, got dtype {where.dtype}")
        shapes.append(where.shape)
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(
            "a, b and where could not be broadcast together (shapes " + ", ".join(str(s) for s in shapes) + ")"
        ) from None
    dtype = a.dtype if b is None else np.result_type(_weak(a_obj, a), _weak(b_obj, b))
    _, rdt = result_dtypes(dtype, "a")
    if shape != a.shape:
        a = da.broadcast_to(a, shape)
    if a.ndim == 0:
        a = a.reshape(1)
        shape = a.shape
    axes = normalize_axes(axis, a.ndim)
    empty = prod(shape[d] for d in axes) == 0
    inds = tuple(range(a.ndim))
    wd = None if where is None else _as_dask_like(where, a, "where", shape)
    se = _split_every(split_every)
    out_nd = a.ndim if keepdims else a.ndim - len(axes)
    if b is None:
        # where alone: masked entries become -inf, the (max, excess) state as without a mask
        states = da.blockwise(
            _masked_lse_chunk, inds, a, inds, wd if wd is not None else True, inds if wd is not None else None,
            axis=axes, dtype=LSE_STATE, meta=np.empty((0,) * a.ndim, dtype=LSE_STATE),
            adjust_chunks={d: 1 for d in axes}, token="logitcore-lse-masked",
        )
        total = da.reduction(
            states, chunk=partial(_identity, meta_dtype=LSE_STATE), combine=_lse_combine,
            aggregate=_lse_state_aggregate, axis=axes, keepdims=keepdims, dtype=LSE_STATE, split_every=se,
            concatenate=True, meta=np.empty((0,) * out_nd, dtype=LSE_STATE), name="logitcore-lse-where",
        )
        res = total.map_blocks(_lse_value, rdt, dtype=rdt, meta=np.empty((0,) * out_nd, dtype=rdt))
        if not return_sign:
            return res
        return res, res.map_blocks(_sign_of_lse, empty, dtype=rdt, meta=np.empty((0,) * out_nd, dtype=rdt))
    bd = _as_dask_like(b, a, "b", shape)
    states = da.blockwise(
        _signed_chunk, inds, a, inds, bd, inds, wd, inds if wd is not None else None,
        axis=axes, dtype=SIGNED_STATE, meta=np.empty((0,) * a.ndim, dtype=SIGNED_STATE),
        adjust_chunks={d: 1 for d in axes}, token="logitcore-lse-signed",
    )
    total = da.reduction(
        states, chunk=partial(_identity, meta_dtype=SIGNED_STATE), combine=_signed_combine,
        aggregate=_signed_aggregate, axis=axes, keepdims=keepdims, dtype=SIGNED_STATE, split_every=se,
        concatenate=True, meta=np.empty((0,) * out_nd, dtype=SIGNED_STATE), name="logitcore-lse-signed-merge",
    )
    meta = np.empty((0,) * out_nd, dtype=rdt)
    res = total.map_blocks(_signed_value, rdt, return_sign, dtype=rdt, meta=meta)
    if not return_sign:
        return res
    sign = total.map_blocks(_field, "sg", rdt, dtype=rdt, meta=meta)
    if empty:
        sign = sign - sign - 1  # an empty reduction: -1, as the NumPy function
    return res, sign
