"""Type stubs for logitcore._core, the private native module (cpp/bindings/module.cpp).

Use the logitcore package instead: it validates, normalizes (dtype, axis, byte order,
layout) and allocates before calling these. Every function that takes arrays releases the
GIL around the kernel. "Rows" are the last axis; per-row outputs have the batch shape (the
input's shape without its last axis). Arrays named ``x``/``out`` must be float32 or float64
(native byte order) and share one dtype; strides may be anything that is a multiple of the
item size. Output arrays must be writeable NumPy arrays (a converted copy would receive the
results and be discarded). Wrong shapes, dtypes or read-only outputs raise ValueError or
TypeError. Entropies are in nats.
"""
from typing import Any

import numpy as np
from numpy.typing import NDArray

_FloatArray = NDArray[Any]  # float32 or float64, checked at run time
_F64 = NDArray[np.float64]

_block_size: int
"""Fixed block length (elements) of the kernels; row results fold per-block states in order."""

# --- softmax family --------------------------------------------------------------------------

def _lse(x: _FloatArray, b: _FloatArray | None, out: _FloatArray, sign: _FloatArray | None) -> None:
    """out[...] = log(sum(b * exp(x))) over the last axis. b (optional) has x's shape; with
    sign, out receives log|sum| and sign the sign of the sum (batch shape)."""

def _states(x: _FloatArray, m: _F64, u: _F64) -> None:
    """Per-row streaming states in excess form: m = max, u = sum exp(x - m) - 1 formed without
    cancellation; contiguous float64 vectors with one entry per row (lse = m + log1p u)."""

def _merge(m: _F64, u: _F64, m2: _F64, u2: _F64) -> None:
    """(m, u) <- merge((m, u), (m2, u2)) elementwise (excess form); four contiguous float64
    vectors of equal length."""

def _softmax(x: _FloatArray, out: _FloatArray, log: bool) -> None:
    """out = softmax(x) (or log_softmax with log=True) over the last axis; out has x's shape
    and may be x itself."""

def _softmax_entropy(x: _FloatArray, out: _FloatArray) -> None:
    """out = H(softmax(x)) = -sum q log q, q = softmax(x), over the last axis (nats)."""

def _entropy(p: _FloatArray, out: _FloatArray) -> None:
    """out = -sum p log p over the last axis (0 log 0 = 0; nats)."""

# --- elementwise kernels (accuracy tests, benchmarks) --------------------------------------

def _exp(x: _FloatArray, out: _FloatArray, isa: str = "") -> None:
    """out = exp(x) for contiguous vectors, through the table of ``isa`` ('' = the active one)."""

def _log(x: _FloatArray, out: _FloatArray, isa: str = "") -> None:
    """out = log(x) for contiguous vectors, through the table of ``isa`` ('' = the active one)."""

def _exp2(x: _FloatArray, out: _FloatArray, isa: str = "") -> None:
    """out = 2**x by the table's exp2_core (no clamping: x in [kLow2, 128] for float32,
    [kLow2, 1024] for float64, see kernels.h), for contiguous vectors."""

def _log2(x: _FloatArray, out: _FloatArray, isa: str = "") -> None:
    """out = log2(x) by the table's log2_fast (finite x >= 0, see kernels.h), for contiguous
    vectors."""

def _exp_max_ulp(lo_bits: int, hi_bits: int, step: int = 1, isa: str = "") -> tuple[float, float]:
    """(largest error in float32 ULPs, the input where it occurs) of the float32 exp over the
    floats whose bit patterns lie in [lo_bits, hi_bits], every ``step``-th one."""

# --- ISA selection and threads ---------------------------------------------------------------

def _set_isa(name: str, /) -> None:
    """Force 'scalar', 'avx2' or 'avx512' ('auto' restores detection); ValueError if refused."""

def _isa() -> str:
    """Name of the active kernel table."""

def _compiled_isas() -> list[str]: ...
def _supported_isas() -> list[str]: ...
def _have_openmp() -> bool: ...
def _set_num_threads(n: int, /) -> None:
    """Threads for the kernels; n <= 0 restores the OpenMP default (OMP_NUM_THREADS)."""

def _get_num_threads() -> int: ...

# --- entropy normalization -------------------------------------------------------------------

def _entropy_normalize(
    x: _FloatArray,
    out: _FloatArray,
    target: _F64,
    is_prob: bool,
    tol: float,
    max_iter: int,
    check_sum: bool,
    sum_tol: float,
    out_of_range_fails: bool,
    gamma: _F64,
    n_iter: NDArray[np.int32],
    converged: NDArray[np.uint8],
    clipped: NDArray[np.uint8],
    status: NDArray[np.int8],
    h_min: _F64,
    h_max: _F64,
    entropy: _F64,
) -> None:
    """For each row find gamma >= 0 with H(p**gamma / sum p**gamma) = target (probabilities,
    is_prob=True) or H(softmax(gamma * x)) = target (logits) within tol nats, writing q into
    out (x's shape). target and the per-row results (gamma, n_iter, converged, clipped,
    status, h_min, h_max, entropy) are contiguous vectors with one entry per row; status
    holds EnStatus codes (0 ok, 1 above range, 2 below range, 3 invalid entry, 4 bad sum,
    5 no support), which the caller turns into errors. Failed rows (3-5, and 1-2 with
    out_of_range_fails) are not written: out keeps its contents there."""

# --- fused losses of p_y ---------------------------------------------------------------------

def _xent(
    x: _FloatArray,
    target: NDArray[np.int64],
    ignore_index: int,
    rowscale: _F64 | None,
    scale: float,
    loss: _F64,
    grad: _FloatArray | None,
    kind: int,
    param: float,
    threshold: float,
) -> None:
    """Per-row loss of log p_y, p = softmax(x) over the last axis, kind 0 = gamma-cross-entropy
    (param gamma, gradient weight floored at threshold), 1 = generalized cross-entropy
    (param q), 2 = focal (param gamma); loss: one float64 per row (0 where target ==
    ignore_index). With grad (x's shape, x itself or not overlapping it): grad row =
    w * scale * rowscale[r] * (softmax(x_r) - onehot(target[r])). IndexError for a target
    outside [0, classes) other than ignore_index."""

def _loss_from_logp(kind: int, param: float, threshold: float, logp: float) -> tuple[float, float]:
    """(loss, gradient weight w) of one row from logp = log p_y (kinds as in _xent)."""
