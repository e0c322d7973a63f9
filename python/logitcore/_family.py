"""logsumexp, softmax, log_softmax and the entropies (docs/math.md §1). Units: nats."""
from __future__ import annotations

import numpy as np

from . import _core
from ._arrays import (
    as_float_array,
    check_out,
    kernel_dtypes,
    native,
    normalize_axes,
    rows_view,
    writable_rows_view,
)

__all__ = ["logsumexp", "softmax", "log_softmax", "softmax_entropy", "entropy"]


def _keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if d in axes else s for d, s in enumerate(shape))


def _reduced_shape(shape, axes, keepdims):
    if keepdims:
        return _keepdims_shape(shape, axes)
    return tuple(s for d, s in enumerate(shape) if d not in axes)


def _reduction_target(out, shape, axes, keepdims, result_dtype, compute_dtype, inputs):
    """(array the kernel writes, final array) for a row reduction with optional out=."""
    res_shape = _reduced_shape(shape, axes, keepdims)
    batch = tuple(s for d, s in enumerate(shape) if d not in axes)
    if out is None:
        buf = np.empty(batch, dtype=compute_dtype)
        return buf, None
    check_out(out, res_shape, result_dtype)
    direct = (
        out.dtype == compute_dtype
        and out.flags.aligned
        and not any(np.may_share_memory(out, x) for x in inputs)
    )
    if direct:
        return (np.squeeze(out, axis=axes) if keepdims else out), out
    return np.empty(batch, dtype=compute_dtype), out


def _finish_reduction(buf, out, shape, axes, keepdims, result_dtype):
    if out is not None:
        if not np.shares_memory(buf, out):
            out[...] = buf.reshape(out.shape)  # a temporary (dtype cast or overlap)
        return out
    res = buf.astype(result_dtype, copy=False)
    if keepdims:
        res = res.reshape(_keepdims_shape(shape, axes))
    if res.ndim == 0:
        return res[()]
    return res


_NATIVE_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _fast_axis(a, axis):
    """The row axis for the fast path (a plain float32/float64 ndarray reduced over one axis,
    non-empty), or None when the general path must handle the call."""
    if type(a) is not np.ndarray or a.dtype not in _NATIVE_FLOATS or not a.flags.aligned or a.size == 0:
        return None
    nd = a.ndim
    if type(axis) is int:
        if not -nd <= axis < nd:
            return None
        return axis % nd
    if axis is None and nd == 1:
        return 0
    return None


def _weak(obj, arr):
    """Python scalars promote as "weak" values (NEP 50), as in SciPy: float32 a with b=2.0
    stays float32."""
    return obj if type(obj) in (bool, int, float) else arr.dtype


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False, *, where=None, out=None):
    """log(sum(b * exp(a))) over ``axis``, computed stably in one pass over memory.

    A superset of :func:`scipy.special.logsumexp` with the same results, dtypes and
    special-value rules: an all ``-inf`` (or empty) reduction gives ``-inf``; any ``+inf``
    gives ``+inf`` unless cancelled by weights of both signs (then NaN); any NaN gives NaN;
    entries whose weight ``b`` is 0 are removed whatever their value. With negative weights
    the sum can be negative: the result is NaN unless ``return_sign=True``, which returns
    ``(log|sum|, sign)``.

    Parameters
    ----------
    a : array_like
        Input (float16/32/64, integer or bool; integers are computed in float64).
    axis : None, int or tuple of ints
        Axes to reduce; None reduces all of them.
    b : array_like, optional
        Weights, broadcastable with ``a``.
    keepdims : bool
        Keep the reduced axes with length one.
    return_sign : bool
        Return ``(log|sum|, sign)`` with sign in {-1, 0, +1}.
    where : array_like of bool, optional
        Only entries where this is True take part (others count as weight 0).
    out : ndarray, optional
        Receives the result; must have exactly the result's shape and dtype.

    Float32 results are within 1e-6 * max(1, |result|) of a float64 evaluation for rows up to
    10^8 long (block sums are combined in float64); the result does not depend on the number
    of threads.
    """
    if b is None and where is None and out is None and not return_sign:
        ax = _fast_axis(a, axis)
        if ax is not None:  # the common call, without the general argument handling
            rows = a if ax == a.ndim - 1 else np.moveaxis(a, ax, -1)
            buf = np.empty(rows.shape[:-1], dtype=a.dtype)
            _core._lse(rows, None, buf, None)
            if keepdims:
                buf = np.expand_dims(buf, ax)
            return buf[()] if buf.ndim == 0 else buf
    a_obj, b_obj = a, b
    a = as_float_array(a, "a")
    arrays = [a]
    if b is not None:
        b = as_float_array(b, "b")
        arrays.append(b)
    if where is not None:
        where = np.asarray(where)
        if where.dtype != np.bool_:
            raise TypeError(f"where must be a boolean array, got dtype {where.dtype}")
        arrays.append(where)
    if len(arrays) > 1:
        try:
            arrays = np.broadcast_arrays(*arrays)
        except ValueError:
            shapes = ", ".join(str(np.shape(x)) for x in arrays)
            raise ValueError(f"a, b and where could not be broadcast together (shapes {shapes})") from None
        a = arrays[0]
        if b is not None:
            b = arrays[1]
        if where is not None:
            where = arrays[-1]
    dtype = a.dtype if b is None else np.result_type(_weak(a_obj, a), _weak(b_obj, b))
    # sdt: what the kernels read (half precision as it is); cdt: the per-row results' dtype
    sdt, rdt, cdt = kernel_dtypes(dtype, "a")
    if a.ndim == 0:
        a = a.reshape(1)
        b = None if b is None else b.reshape(1)
        where = None if where is None else where.reshape(1)
    axes = normalize_axes(axis, a.ndim)
    if where is not None:
        if b is None:  # masked entries become -inf: the unweighted path (log1p form included)
            a = np.where(where, a.astype(sdt, copy=False), np.array(-np.inf, sdt)).astype(sdt, copy=False)
        else:
            b = np.where(where, native(b, sdt), np.array(0, sdt)).astype(sdt, copy=False)
    x = native(a, sdt)
    bb = None if b is None else native(b, sdt)
    inputs = [x] if bb is None else [x, bb]
    buf, final_out = _reduction_target(out, a.shape, axes, keepdims, rdt, cdt, inputs)
    rows, batch = rows_view(x, axes)
    brows = None if bb is None else rows_view(bb, axes)[0]
    sign = np.empty(batch, dtype=cdt) if return_sign else None
    if rows.shape[-1] == 0:
        buf.fill(-np.inf)
        if sign is not None:
            sign.fill(-1.0)  # scipy: sign(-inf)
    elif buf.size:
        _core._lse(rows, brows, buf, sign)
    res = _finish_reduction(buf, final_out, a.shape, axes, keepdims, rdt)
    if return_sign:
        sgn = _finish_reduction(sign, None, a.shape, axes, keepdims, rdt)
        return res, sgn
    return res


def _softmax_common(x, axis, out, log: bool, name: str):
    if out is None:
        ax = _fast_axis(x, axis)
        if ax is not None:  # the common call, without the general argument handling
            last = ax == x.ndim - 1
            rows = x if last else np.moveaxis(x, ax, -1)
            buf = np.empty(rows.shape, dtype=x.dtype)
            _core._softmax(rows, buf, log)
            return buf if last else np.moveaxis(buf, -1, ax)
    x = as_float_array(x, "x")
    cdt, rdt, _ = kernel_dtypes(x.dtype, "x")  # half precision: read and written as it is
    shape0 = x.shape
    if x.ndim == 0:
        x = x.reshape(1)
    axes = normalize_axes(axis, x.ndim)
    if out is not None:
        check_out(out, shape0, rdt)
    xc = native(x, cdt)
    if xc.size == 0:
        res = np.empty(shape0, dtype=rdt)
        if out is not None:
            return out
        return res
    rows, _ = rows_view(xc, axes)
    target = None
    if out is not None and rdt == cdt and out.flags.aligned:
        o = out.reshape(x.shape) if out.ndim == 0 else out
        ov = writable_rows_view(o, axes)
        if ov is not None:
            same = ov.__array_interface__["data"][0] == rows.__array_interface__["data"][0] and ov.strides == rows.strides
            if same or not np.may_share_memory(o, xc):
                target = ov
    if target is not None:
        _core._softmax(rows, target, log)
        return out
    buf = np.empty(rows.shape, dtype=cdt)
    _core._softmax(rows, buf, log)
    # undo the axis move: buf is (batch..., n) with the reduced axes merged last
    keep = [d for d in range(x.ndim) if d not in axes]
    order = keep + list(axes)
    res = buf.reshape(tuple(x.shape[d] for d in order)).transpose(np.argsort(order))
    if out is not None:
        out[...] = res.reshape(shape0)
        return out
    res = res.astype(rdt, copy=False).reshape(shape0)
    return res[()] if res.ndim == 0 else res  # 0-d input: a NumPy scalar, like SciPy


def softmax(x, axis=None, *, out=None):
    """exp(x - logsumexp(x, axis)) along ``axis`` (None: over all entries), like SciPy's.

    Special rows, where SciPy returns NaN: a row containing ``+inf`` gives the uniform
    distribution over its ``+inf`` entries (the limit as those entries grow together) and 0
    elsewhere; a row whose entries are all ``-inf`` has no support and gives all zeros
    (matching ``logsumexp = -inf``). A row containing NaN gives NaN.
    """
    return _softmax_common(x, axis, out, False, "softmax")


def log_softmax(x, axis=None, *, out=None):
    """x - logsumexp(x, axis) along ``axis`` (None: over all entries), like SciPy's.

    Special rows follow :func:`softmax`: with ``+inf`` entries, ``-log k`` on the k infinite
    entries and ``-inf`` elsewhere; an all ``-inf`` row gives ``-inf`` everywhere; NaN rows
    give NaN.
    """
    return _softmax_common(x, axis, out, True, "log_softmax")


def _row_reduction(kernel, x, axis, keepdims, name):
    x = as_float_array(x, name)
    sdt, rdt, cdt = kernel_dtypes(x.dtype, name)
    if x.ndim == 0:
        x = x.reshape(1)
    axes = normalize_axes(axis, x.ndim)
    xc = native(x, sdt)
    rows, batch = rows_view(xc, axes)
    buf = np.empty(batch, dtype=cdt)
    if buf.size:
        if rows.shape[-1] == 0:
            buf.fill(0.0)
        else:
            kernel(rows, buf)
    return _finish_reduction(buf, None, x.shape, axes, keepdims, rdt)


def softmax_entropy(x, axis=-1, keepdims=False):
    """Entropy (nats) of softmax(x) along ``axis``, in one fused pass: H = lse(x) - sum p x.

    Equals ``entropy(softmax(x, axis), axis)``: a row with ``+inf`` entries has entropy
    log(k) (uniform over them), an all ``-inf`` row has entropy 0, NaN rows give NaN.
    """
    return _row_reduction(_core._softmax_entropy, x, axis, keepdims, "x")


def entropy(p, axis=-1, keepdims=False):
    """-sum(p * log p) along ``axis`` in nats, with 0 * log 0 = 0.

    ``p`` is taken as given (rows are not renormalized); a negative or NaN entry gives NaN.
    """
    return _row_reduction(_core._entropy, p, axis, keepdims, "p")
