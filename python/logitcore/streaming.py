"""Online (streaming) logsumexp state: rows whose entries arrive in chunks or shards.

The state of a row is the pair (m, s) with s = sum exp(x_i - m) over the entries seen, so
that logsumexp = m + log s. Chunks update it, and states computed anywhere (other threads,
processes, machines, vocabulary shards) merge with the rule of docs/math.md §1:

    m = max(m1, m2);   s = s1 * exp(m1 - m) + s2 * exp(m2 - m)

where a side whose maximum equals m contributes its s unchanged (so two empty states
(-inf, 0) merge to an empty state, and +inf maxima count their +inf entries), and NaN
propagates. Merging is commutative and associative up to rounding.

Internally the state keeps u = s - 1 (the excess: the terms other than one maximal entry,
summed on their own) instead of s, and logsumexp = m + log1p(u): a row dominated by its
maximum, such as [0, -40], keeps its tiny excess (4.2e-18) instead of rounding 1 + 4.2e-18
to 1. The merge rule in this form is u = u1 + u2 + 1 for equal maxima, otherwise
u = u_hi + exp(m_lo - m_hi) (1 + u_lo).
"""
from __future__ import annotations

import numpy as np

from . import _core
from ._arrays import contiguous, as_float_array, is_bfloat16, kernel_dtypes, native

__all__ = ["LogSumExpState"]


class LogSumExpState:
    """Streaming logsumexp over the entries of ``rows`` rows.

    Parameters
    ----------
    rows : int
        Number of rows (the batch size).
    dtype : dtype, optional
        Dtype of :meth:`result` (float16, bfloat16, float32 or float64; default float64). The state
        itself is always kept in float64.

    Examples
    --------
    >>> st = LogSumExpState(2)
    >>> for chunk in np.array_split(np.arange(12.0).reshape(2, 6), 3, axis=1):
    ...     st.update(chunk)
    >>> np.allclose(st.result(), logsumexp(np.arange(12.0).reshape(2, 6), axis=1))
    True
    """

    __slots__ = ("_m", "_u", "_dtype")

    def __init__(self, rows: int, *, dtype=np.float64):
        rows = _check_rows(rows)
        self._m = np.full(rows, -np.inf)
        self._u = np.full(rows, -1.0)
        self._dtype = _check_dtype(dtype)

    @classmethod
    def from_arrays(cls, max, sumexp=None, *, excess=None, dtype=np.float64) -> "LogSumExpState":
        """Build a state from its arrays, e.g. computed on another shard.

        ``max`` and ``sumexp`` (or ``excess`` = sumexp - 1, see :attr:`excess`, which keeps
        the full accuracy of rows dominated by their maximum) are 1-D with one entry per row;
        ``sumexp`` must be >= 0 (or NaN), and 0 wherever ``max`` is -inf. Give exactly one of
        ``sumexp`` and ``excess``.
        """
        if (sumexp is None) == (excess is None):
            raise TypeError("give exactly one of sumexp and excess")
        m = np.array(as_float_array(max, "max"), dtype=np.float64, copy=True)
        if excess is not None:
            u = np.array(as_float_array(excess, "excess"), dtype=np.float64, copy=True)
            if u.shape != m.shape:
                raise ValueError(
                    f"max and excess must be 1-D arrays of equal length, got shapes {m.shape} and {u.shape}"
                )
            s = u + 1.0
        else:
            s = np.array(as_float_array(sumexp, "sumexp"), dtype=np.float64, copy=True)
            u = s - 1.0
        if m.ndim != 1 or s.shape != m.shape:
            raise ValueError(
                f"max and sumexp must be 1-D arrays of equal length, got shapes {m.shape} and {s.shape}"
            )
        if np.any(s < 0):
            raise ValueError("sumexp must be non-negative (it is a sum of exponentials)")
        bad = (m == -np.inf) & (s != 0) & ~np.isnan(s)
        if np.any(bad):
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"row {i}: max is -inf but sumexp is {float(s[i])!r} (must be 0)")
        if np.any(np.isinf(s)):
            i = int(np.flatnonzero(np.isinf(s))[0])
            raise ValueError(f"row {i}: sumexp is infinite")
        self = cls.__new__(cls)
        u[m == -np.inf] = -1.0
        self._m, self._u, self._dtype = m, u, _check_dtype(dtype)
        return self

    @property
    def rows(self) -> int:
        return self._m.shape[0]

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def max(self) -> np.ndarray:
        """Running maximum per row (float64, read-only view)."""
        v = self._m.view()
        v.flags.writeable = False
        return v

    @property
    def sumexp(self) -> np.ndarray:
        """sum exp(x - max) per row (float64, a read-only copy; 1 + :attr:`excess`)."""
        v = self._u + 1.0
        v.flags.writeable = False
        return v

    @property
    def excess(self) -> np.ndarray:
        """sumexp - 1 per row, formed without cancellation (float64, read-only view): the
        terms other than one maximal entry. -1 for rows with no entries."""
        v = self._u.view()
        v.flags.writeable = False
        return v

    def update(self, chunk) -> "LogSumExpState":
        """Add a (rows, k) block of new entries (k may be 0). Returns self."""
        chunk = as_float_array(chunk, "chunk")
        if chunk.ndim == 1 and self.rows == 1:
            chunk = chunk.reshape(1, -1)
        if chunk.ndim != 2 or chunk.shape[0] != self.rows:
            raise ValueError(f"chunk must have shape (rows={self.rows}, k), got {chunk.shape}")
        if chunk.shape[1] == 0 or self.rows == 0:
            return self
        sdt, _, _ = kernel_dtypes(chunk.dtype, "chunk")  # half precision: read as it is
        _core._state_update(self._m, self._u, native(chunk, sdt))
        return self

    def merge(self, other: "LogSumExpState") -> "LogSumExpState":
        """Merge another state of the same rows into this one (in place). Returns self."""
        if not isinstance(other, LogSumExpState):
            raise TypeError(f"can only merge another LogSumExpState, got {type(other).__name__}")
        if other.rows != self.rows:
            raise ValueError(f"cannot merge states of {other.rows} and {self.rows} rows")
        _core._state_merge(self._m, self._u, contiguous(other._m), contiguous(other._u))
        return self

    def result(self) -> np.ndarray:
        """logsumexp of every row seen so far (-inf for rows with no entries)."""
        out = np.empty(self.rows)
        _core._state_result(self._m, self._u, out)
        return out.astype(self._dtype)

    def copy(self) -> "LogSumExpState":
        return LogSumExpState.from_arrays(self._m, excess=self._u, dtype=self._dtype)

    def __repr__(self) -> str:
        return f"LogSumExpState(rows={self.rows}, dtype={self._dtype.name})"

    def __getstate__(self):
        # bfloat16 by name (its .str is an anonymous '<V2')
        return {"max": self._m, "excess": self._u, "dtype": "bfloat16" if is_bfloat16(self._dtype) else self._dtype.str}

    def __setstate__(self, state):
        self._m, self._u = state["max"], state["excess"]
        if state["dtype"] == "bfloat16":
            import ml_dtypes

            self._dtype = np.dtype(ml_dtypes.bfloat16)
        else:
            self._dtype = np.dtype(state["dtype"])


def _check_rows(rows) -> int:
    import operator

    try:
        rows = operator.index(rows)
    except TypeError:
        raise TypeError(f"rows must be an integer, got {type(rows).__name__}") from None
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    return rows


def _check_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if is_bfloat16(dt):
        return dt
    if dt.kind != "f" or dt.itemsize not in (2, 4, 8):
        raise TypeError(f"dtype must be float16, bfloat16, float32 or float64, got {dt}")
    return dt
