"""NumPy float64 reference of the sparse (CSR) times dense product (logitcore.sparse_dot)."""
from __future__ import annotations

import numpy as np

__all__ = ["csr_matmul"]


def csr_matmul(indptr, indices, data, b) -> np.ndarray:
    """out[r] = sum over p in [indptr[r], indptr[r+1]) of data[p] * b[indices[p]], in float64
    (rows with no entries give 0; repeated column indices add up). For a.T @ b pass the CSC
    arrays of a."""
    indptr = np.asarray(indptr, dtype=np.int64)
    indices = np.asarray(indices, dtype=np.int64)
    data = np.asarray(data, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    rows = len(indptr) - 1
    nnz = int(indptr[-1])
    row_of = np.repeat(np.arange(rows), np.diff(indptr))
    out = np.zeros((rows, b.shape[1]))
    np.add.at(out, row_of, data[:nnz, None] * b[indices[:nnz]])
    return out
