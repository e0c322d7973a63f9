"""Argument normalization shared by the public functions.

Every public function follows the same path: coerce the input to a float array (float32 and
float64 native; float16 and bfloat16 computed in float32; integers and booleans in float64), normalize
``axis``, move the reduced axes last and merge them into one row axis (a view whenever the
strides allow it), validate ``out=`` exactly, and hand strided views to the native core.
"""
from __future__ import annotations

import operator
from math import prod

import numpy as np

try:  # NumPy >= 1.25
    from numpy.exceptions import AxisError
except ImportError:  # pragma: no cover
    from numpy import AxisError  # type: ignore[attr-defined,no-redef]

__all__ = [
    "AxisError",
    "as_float_array",
    "is_bfloat16",
    "is_half",
    "kernel_dtypes",
    "result_dtypes",
    "normalize_axes",
    "rows_view",
    "writable_rows_view",
    "view_reshape",
    "check_out",
    "native",
]


def is_bfloat16(dtype: np.dtype) -> bool:
    """Whether dtype is ml_dtypes' bfloat16, recognized without importing ml_dtypes (only an
    array that already has the dtype can carry it)."""
    return dtype.itemsize == 2 and dtype.kind == "V" and dtype.name == "bfloat16"


def is_half(dtype: np.dtype) -> bool:
    """float16 or bfloat16: 16-bit storage the library reads natively (computed in float32)."""
    return (dtype.kind == "f" and dtype.itemsize == 2) or is_bfloat16(dtype)


def result_dtypes(dtype: np.dtype, name: str = "input") -> tuple[np.dtype, np.dtype]:
    """Return (compute dtype, result dtype) for an input dtype, or raise TypeError.

    The compute dtype is what the array is converted to before a call that has no
    half-precision kernels (float32 for float16 and bfloat16); see kernel_dtypes for the calls
    that read half precision natively."""
    dtype = np.dtype(dtype)
    if is_bfloat16(dtype):
        return np.dtype(np.float32), dtype
    if dtype.kind == "f":
        if dtype.itemsize == 2:
            return np.dtype(np.float32), np.dtype(np.float16)
        if dtype.itemsize == 4:
            return np.dtype(np.float32), np.dtype(np.float32)
        if dtype.itemsize == 8:
            return np.dtype(np.float64), np.dtype(np.float64)
        raise TypeError(
            f"{name} has dtype {dtype}, which logitcore does not support; "
            "cast it to float64 (or float32) first"
        )
    if dtype.kind in "biu":
        return np.dtype(np.float64), np.dtype(np.float64)
    if dtype.kind == "c":
        raise TypeError(f"{name} has complex dtype {dtype}; logitcore works on real floating-point data")
    raise TypeError(
        f"{name} has dtype {dtype}; expected real numbers (float16/32/64, bfloat16, integer or bool)"
    )


def kernel_dtypes(dtype: np.dtype, name: str = "input") -> tuple[np.dtype, np.dtype, np.dtype]:
    """(storage dtype, result dtype, per-row dtype) for the calls with half-precision kernels
    (the logsumexp family, the streaming state and the losses): float16 and bfloat16 arrays are
    handed over as they are (the kernels widen each entry to float32 as they load it), outputs
    of the input's shape come back in the input's dtype and per-row results in float32 (then
    cast to the result dtype); other dtypes as result_dtypes."""
    dtype = np.dtype(dtype)
    cdt, rdt = result_dtypes(dtype, name)
    if is_half(dtype):
        if dtype.kind == "f":
            dtype = np.dtype(np.float16)  # native byte order (native() converts a swapped array)
        return dtype, rdt, np.dtype(np.float32)
    return cdt, rdt, cdt


def as_float_array(a, name: str = "input") -> np.ndarray:
    """np.asarray with the dtype checks of ``result_dtypes`` (does not cast)."""
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} could not be converted to a numeric array: {exc}") from None
    result_dtypes(arr.dtype, name)
    return arr


def contiguous(a, dtype=None) -> np.ndarray:
    """``a`` as a C-contiguous, aligned ndarray (of ``dtype`` if given; at least 1-D, like
    np.ascontiguousarray), copying only when needed: the bindings read typed pointers and
    refuse data that is not aligned for its dtype."""
    a = np.asarray(a, dtype=dtype)
    if a.ndim == 0:
        a = a.reshape(1)
    return np.require(a, requirements=["C", "A"])


def native(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``a`` as ``dtype`` in native byte order and aligned (the kernels read typed pointers),
    copying only when needed."""
    if a.dtype != dtype or not a.dtype.isnative:
        a = a.astype(dtype)
    itemsize = a.dtype.itemsize
    if not a.flags.aligned or any(s % itemsize for s in a.strides):
        a = np.ascontiguousarray(a) if a.flags.aligned else a.copy()
    return a


def normalize_axes(axis, ndim: int, *, name: str = "axis") -> tuple[int, ...]:
    """Normalize None / int / sequence of ints to a tuple of distinct non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        items = list(axis)
    else:
        items = [axis]
    out = []
    for ax in items:
        if isinstance(ax, (bool, np.bool_)):
            raise TypeError(f"{name} must be an integer or a tuple of integers, got {ax!r}")
        try:
            ax = operator.index(ax)
        except TypeError:
            raise TypeError(f"{name} must be an integer or a tuple of integers, got {ax!r}") from None
        if not -ndim <= ax < ndim:
            raise AxisError(ax, ndim)
        out.append(ax % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {name}={axis!r}")
    return tuple(out)


def view_reshape(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """``a`` reshaped without copying, or None when the strides do not allow it."""
    try:
        return a.reshape(shape, copy=False)  # NumPy >= 2.1
    except TypeError:  # pragma: no cover - older NumPy
        v = a.view()
        try:
            v.shape = shape
        except (AttributeError, ValueError):
            return None
        return v
    except ValueError:
        return None


def _moved(a: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...], int, list[int]]:
    keep = [d for d in range(a.ndim) if d not in axes]
    moved = a.transpose(keep + list(axes))
    batch = tuple(a.shape[d] for d in keep)
    n = prod(a.shape[d] for d in axes)
    return moved, batch, n, keep


def rows_view(a: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...]]:
    """(rows, batch_shape): ``a`` with ``axes`` moved last and merged into one row axis.

    A strided view whenever possible (always for a single axis); otherwise a copy.
    """
    moved, batch, n, _ = _moved(a, axes)
    if len(axes) == 1:
        return moved, batch
    v = view_reshape(moved, batch + (n,))
    if v is None:
        v = contiguous(moved).reshape(batch + (n,))
    return v, batch


def writable_rows_view(out: np.ndarray, axes: tuple[int, ...]) -> np.ndarray | None:
    """Like rows_view for an output array, or None if no view exists (caller uses a temporary)."""
    moved, batch, n, _ = _moved(out, axes)
    if len(axes) == 1:
        return moved
    return view_reshape(moved, batch + (n,))


def check_out(out, shape: tuple[int, ...], dtype: np.dtype, name: str = "out") -> np.ndarray:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{name} has shape {out.shape}, expected {tuple(shape)}")
    if out.dtype != dtype:
        raise ValueError(f"{name} has dtype {out.dtype}, expected {np.dtype(dtype)}")
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    return out
