"""Sparse (CSR) times dense products: ``sparse_dot(a, b)`` = a @ b for a SciPy sparse ``a``.

For the scores X W^T and the gradient X^T G of a maximum-entropy (multinomial logistic)
model: X sparse, W and G dense. The native kernel walks each row's non-zeros in their stored
order with a tile of the output row held in registers, gathering rows of b by column index;
threads split the rows and the columns of b are taken in cache-sized panels. Every output
element is the left-to-right sum of its row's products in nnz order, computed by one thread:
the result is bitwise the same for any thread count (and on AVX2 and AVX-512; the scalar
kernels differ from those by the rounding of unfused products).

SciPy is needed only to pass a sparse matrix: it is imported when ``sparse_dot`` is called.
"""
from __future__ import annotations

import numpy as np

from . import _core
from ._arrays import contiguous, as_float_array, check_out, is_half, kernel_dtypes, native, result_dtypes

__all__ = ["sparse_dot"]


def _index_arrays(m) -> tuple[np.ndarray, np.ndarray]:
    """indptr and indices of a compressed matrix as contiguous native arrays of one integer type
    (int32 or int64, as SciPy keeps them)."""
    dt = np.result_type(m.indptr.dtype, m.indices.dtype)
    dt = np.dtype(np.int32) if dt.kind in "iu" and dt.itemsize <= 4 and dt != np.uint32 else np.dtype(np.int64)
    return (contiguous(m.indptr, dtype=dt), contiguous(m.indices, dtype=dt))


def sparse_dot(a, b, *, transpose_a: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """``a @ b`` (or ``a.T @ b`` with ``transpose_a=True``) for a SciPy sparse matrix or array ``a``
    and a dense 2-D ``b``, as a NumPy array.

    ``out[i, j] = sum_p a.data[p] * b[a.indices[p], j]`` over row i's stored entries, in their
    stored order (unsorted and repeated column indices are summed as given). CSR input is used
    as it is and CSC input for ``a.T @ b`` (a CSC matrix's arrays are the CSR arrays of its
    transpose); other cases and formats are converted first (``tocsr()`` / ``tocsc()``).

    dtypes: the result type of ``a`` and ``b`` (``numpy.result_type``): float32 stays float32,
    float64 stays float64, float32 with float64 gives float64, integers and booleans are
    computed in float64, float16 in float32 (returned as float16). A float16 or bfloat16 ``b``
    of a float32 (or half-precision) product is read as it is, each entry widened to float32 as
    the kernel loads it (bit for bit the product with ``b`` cast to float32). ``b`` may have any row
    stride; its columns are copied to a contiguous layout only when they are strided. ``out``
    (optional) must have the result's shape and dtype exactly. NaN and infinities propagate as
    in plain sums.

    Raises TypeError when ``a`` is not a SciPy sparse matrix or a dtype is unsupported, and
    ValueError when the shapes do not match (or ``b`` is not 2-D, or ``out`` is wrong).
    """
    try:
        import scipy.sparse as sp
    except ImportError:  # then a cannot be a SciPy sparse matrix
        raise TypeError(
            f"sparse_dot: a must be a scipy.sparse matrix or array, got {type(a).__name__} "
            "(SciPy is not installed)"
        ) from None
    if not sp.issparse(a):
        raise TypeError(f"sparse_dot: a must be a scipy.sparse matrix or array, got {type(a).__name__}")
    barr = as_float_array(b, "b")
    if barr.ndim != 2:
        raise ValueError(f"sparse_dot: b must be 2-D, got shape {barr.shape}")
    rows, inner = (a.shape[1], a.shape[0]) if transpose_a else a.shape
    if inner != barr.shape[0]:
        what = "a.T" if transpose_a else "a"
        raise ValueError(
            f"sparse_dot: shapes do not match: {what} has shape {(rows, inner)}, b has shape {barr.shape} "
            f"({inner} != {barr.shape[0]})"
        )
    compute, result = result_dtypes(np.result_type(a.dtype, barr.dtype), "a and b")
    shape = (rows, barr.shape[1])
    if out is not None:
        check_out(out, shape, result)

    # the CSR arrays of the left operand: a itself (CSR), or a's CSC arrays for a.T
    if transpose_a:
        m = a if a.format == "csc" else a.tocsc()
    else:
        m = a if a.format == "csr" else a.tocsr()
    indptr, indices = _index_arrays(m)
    data = contiguous(native(np.asarray(m.data), compute))
    # a float16 or bfloat16 b of a float32 product is read as it is (widened to float32 in the
    # kernels' loads): no float32 copy of the dense operand
    bdt = kernel_dtypes(barr.dtype, "b")[0] if compute == np.float32 and is_half(barr.dtype) else compute
    bn = native(barr, bdt)
    if bn.shape[1] > 1 and bn.strides[1] != bn.itemsize:
        bn = contiguous(bn)

    direct = (
        out is not None
        and out.dtype == compute
        and out.dtype.isnative
        and out.flags.aligned
        and (shape[1] <= 1 or out.strides[1] == out.itemsize)
        and all(s % out.itemsize == 0 for s in out.strides)
    )
    target = out if direct else np.empty(shape, dtype=compute)
    _core._csr_matmul(indptr, indices, data, inner, bn, target)
    if out is None:
        return target if result == compute else target.astype(result)
    if not direct:
        out[...] = target
    return out
