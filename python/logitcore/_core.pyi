"""Type stubs for logitcore._core, the private native module (cpp/bindings/), a client of the
public C++ API (cpp/include/logitcore/logitcore.hpp).

Use the logitcore package instead: it validates, normalizes (dtype, axis, byte order,
layout) and allocates before calling these. Every function that takes arrays releases the
GIL around the library call. "Rows" are the last axis; per-row outputs have the batch shape
(the input's shape without its last axis). Arrays named ``x``/``out`` must be float32 or
float64 (native byte order) and share one dtype; strides may be anything that is a multiple
of the item size. ``_lse``, ``_softmax``, ``_softmax_entropy``, ``_entropy``,
``_state_update``, ``_loss`` and ``_apply_penalties`` also take float16 and bfloat16
(ml_dtypes) data, computed in float32: outputs of the input's shape in its dtype, per-row
outputs (``out``, ``sign``) float32. Output arrays must be writeable NumPy arrays. Wrong shapes, dtypes or
read-only outputs raise ValueError or TypeError; the library's own argument checks raise
ValueError (invalid argument) and IndexError (a target out of range). Entropies are in nats.
Enums and defaults are the library's (logitcore.h), exposed here as module constants.
"""
from typing import Any, overload

import numpy as np
from numpy.typing import NDArray

_FloatArray = NDArray[Any]  # float32 or float64, checked at run time
_F64 = NDArray[np.float64]

__version__: str
"""The library's version (the one in CMakeLists.txt)."""
_block_size: int
"""Fixed block length (elements) of the kernels; row results fold per-block states in order."""
MAX_THREADS: int

# --- the logsumexp family --------------------------------------------------------------------

def _lse(x: _FloatArray, b: _FloatArray | None, out: _FloatArray, sign: _FloatArray | None) -> None:
    """out[...] = log(sum(b * exp(x))) over the last axis. b (optional) has x's shape; with
    sign, out receives log|sum| and sign the sign of the sum (batch shape)."""

def _softmax(x: _FloatArray, out: _FloatArray, log: bool) -> None:
    """out = softmax(x) (or log_softmax with log=True) over the last axis; out has x's shape
    and may be x itself (any other overlap is refused)."""

def _softmax_entropy(x: _FloatArray, out: _FloatArray) -> None:
    """out = H(softmax(x)) = -sum q log q, q = softmax(x), over the last axis (nats)."""

def _entropy(p: _FloatArray, out: _FloatArray) -> None:
    """out = -sum p log p over the last axis (0 log 0 = 0; nats)."""

def _state_update(m: _F64, u: _F64, x: _FloatArray) -> None:
    """Merge the rows of the (rows, k) matrix x into the streaming states (m, u): m = max,
    u = sum exp(x - m) - 1 formed without cancellation (lse = m + log1p u); m and u are
    contiguous float64 vectors with one entry per row."""

def _state_merge(m: _F64, u: _F64, m2: _F64, u2: _F64) -> None:
    """(m, u) <- merge((m, u), (m2, u2)) elementwise; four contiguous float64 vectors of equal
    length."""

def _state_result(m: _F64, u: _F64, out: _F64) -> None:
    """out = m + log1p(u), elementwise."""

# --- elementwise kernels (accuracy tests, benchmarks), on the active ISA --------------------

def _exp(x: _FloatArray, out: _FloatArray) -> None:
    """out = exp(x) for contiguous vectors."""

def _log(x: _FloatArray, out: _FloatArray) -> None:
    """out = log(x) for contiguous vectors."""

def _exp2(x: _FloatArray, out: _FloatArray) -> None:
    """out = 2**x by the kernels' exp2 core (x in [-160, 128] for float32, [-1100, 1024] for
    float64; other values unspecified), for contiguous vectors."""

def _log2(x: _FloatArray, out: _FloatArray) -> None:
    """out = log2(x) by the kernels' log2 core (finite x > 0), for contiguous vectors."""

def _exp_max_ulp(lo_bits: int, hi_bits: int, step: int = 1) -> tuple[float, float]:
    """(largest error in float32 ULPs, the input where it occurs) of the float32 exp over the
    floats whose bit patterns lie in [lo_bits, hi_bits], every ``step``-th one."""

# --- ISA selection and threads ---------------------------------------------------------------

def _set_isa(name: str) -> None:
    """Use 'scalar', 'avx2' or 'avx512' ('auto': the best supported); ValueError if refused."""

def _isa() -> str:
    """Name of the ISA in use."""

def _isa_env_error() -> str | None:
    """What is wrong with LOGITCORE_ISA (read once by the library), or None."""

def _compiled_isas() -> list[str]: ...
def _supported_isas() -> list[str]: ...
def _have_openmp() -> bool: ...
def _set_num_threads(n: int) -> None:
    """Threads for the kernels; n <= 0 restores the OpenMP default (OMP_NUM_THREADS);
    ValueError above MAX_THREADS."""

def _get_num_threads() -> int: ...

# --- entropy normalization -------------------------------------------------------------------

EN_PROBABILITIES: int
EN_LOGITS: int
EN_OK: int
EN_ABOVE_RANGE: int
EN_BELOW_RANGE: int
EN_INVALID: int
EN_BAD_SUM: int
EN_NO_SUPPORT: int
EN_DEFAULT_TOL_F32: float
EN_DEFAULT_TOL_F64: float
EN_DEFAULT_MAX_ITER: int
EN_MIN_SUM_TOL: float

class EntropyNormalizeOptions:
    """logitcore_en_options; a new object holds the library's defaults (tol and sum_tol < 0:
    the dtype's default)."""
    input: int
    tol: float
    max_iter: int
    check_sum: int
    sum_tol: float
    out_of_range_fails: int
    @overload
    def __init__(self) -> None: ...
    @overload
    def __init__(self, input: int, tol: float, max_iter: int, check_sum: bool, sum_tol: float,
                 out_of_range_fails: bool) -> None: ...
    def effective_tol(self, f64: bool) -> float: ...
    def effective_sum_tol(self, f64: bool) -> float: ...

def _entropy_normalize(
    x: _FloatArray, out: _FloatArray, target: _F64, options: EntropyNormalizeOptions
) -> dict[str, NDArray[Any]]:
    """For each row find gamma >= 0 with H(p**gamma / sum p**gamma) = target (probabilities)
    or H(softmax(gamma * x)) = target (logits) within tol nats, writing q into out (x's
    shape); target: contiguous float64, one per row. Returns the per-row results gamma,
    n_iter, converged, clipped, status (EN_* codes), h_min, h_max, entropy. Failed rows
    (invalid, bad sum, no support; out of range with out_of_range_fails) are not written.
    x: float32, float64, float16 or bfloat16 (halves read natively); out of x's dtype."""

# --- fused losses of p_y ---------------------------------------------------------------------

LOSS_GAMMA_CE: int
LOSS_GCE: int
LOSS_FOCAL: int
REDUCTION_NONE: int
REDUCTION_SUM: int
REDUCTION_MEAN: int
LOSS_DEFAULT_IGNORE_INDEX: int

class LossOptions:
    """logitcore_loss_options without the class and row weights; a new object holds the defaults
    (cross-entropy, ignore_index -100, mean)."""
    kind: int
    param: float
    threshold: float
    ignore_index: int
    reduction: int
    @overload
    def __init__(self) -> None: ...
    @overload
    def __init__(self, kind: int, param: float, threshold: float, ignore_index: int, reduction: int) -> None: ...

def _loss(
    x: _FloatArray,
    target: NDArray[np.int64],
    options: LossOptions,
    weight: _F64 | None,
    row_loss: _F64,
    grad: _FloatArray | None,
    row_weight: _F64 | None = None,
) -> float:
    """The reduced loss of the (rows, classes) logits x (its batch must form one strided
    matrix); row_loss receives the weighted per-row losses; grad (x's shape, x itself or not
    overlapping it) the gradient of the reduced loss. weight: contiguous float64 (classes,);
    row_weight: contiguous float64 (rows,), finite and >= 0 (sample weights).
    ValueError for a bad parameter, IndexError for a target outside [0, classes) other than
    ignore_index."""

def _loss_from_logp(options: LossOptions, logp: float) -> tuple[float, float]:
    """(loss, gradient weight w) of one row from logp = log p_y."""

# --- token sampling (docs/math.md §4) ---
# Settings are contiguous 1-D arrays of one entry (shared by every row) or one per row:
# temperature, top_p, min_p, target_entropy float64 (NaN: off), top_k int64, seed and offset
# uint64. ValueError for a bad setting, a NaN logit or a row without a finite logit (naming it).

def _sample(
    x: _FloatArray,
    tokens: NDArray[np.int64],
    temperature: _F64,
    top_k: NDArray[np.int64],
    top_p: _F64,
    min_p: _F64,
    target_entropy: _F64,
    seed: NDArray[np.uint64],
    offset: NDArray[np.uint64],
    n_logprobs: int,
    token_logprob: _F64 | None,
    top_tokens: NDArray[np.int64] | None,
    top_logprobs: _F64 | None,
) -> None:
    """One token per row of the 2-D logits x into tokens (rows,); with n_logprobs > 0 the
    chosen token's log-probability (rows,) and the n_logprobs largest logits' indices and
    log-probabilities (rows * n_logprobs, row-major), of log_softmax(x) in float64."""

def _sample_filter(
    x: _FloatArray,
    temperature: _F64,
    top_k: NDArray[np.int64],
    top_p: _F64,
    min_p: _F64,
    target_entropy: _F64,
    probs: _FloatArray | None,
    kept: NDArray[Any] | None,
    gamma: _F64 | None,
) -> None:
    """(x: float32, float64, float16 or bfloat16 here and in _sample.)
    The distribution _sample draws from: probs (x's shape and dtype), kept (x's shape, bool
    or uint8), gamma (rows,): the inverse temperature used."""

def _apply_penalties(
    x: _FloatArray,
    out: _FloatArray,
    token_ids: NDArray[np.int64],
    repetition_penalty: _F64,
    frequency_penalty: _F64,
    presence_penalty: _F64,
) -> None:
    """out = x with the penalties of each row's previous tokens (2-D token_ids, -1 padding);
    out may be x. IndexError for an id outside [-1, vocabulary)."""

def _sample_uniform(seed: int, offset: int) -> float:
    """The uniform in [0, 1) of (seed, offset): Philox4x32-10 (docs/math.md §4.2)."""

# --- sparse times dense ----------------------------------------------------------------------

def _csr_matmul(
    indptr: NDArray[Any],
    indices: NDArray[Any],
    data: _FloatArray,
    n_cols: int,
    b: _FloatArray,
    out: _FloatArray,
) -> None:
    """out = A b for A (len(indptr) - 1 rows, n_cols columns) given by CSR arrays: indptr and
    indices contiguous 1-D int32 or int64 (the same dtype), data contiguous 1-D float32/float64
    with indices' length; b (n_cols x k) and out (rows x k, writeable) of data's dtype with
    contiguous columns and any row stride. A CSC matrix's arrays give A^T b. Bad dtypes raise
    TypeError, bad shapes, indptr or overlaps ValueError, a column index outside [0, n_cols)
    IndexError (naming the first one). Bitwise the same for any thread count. A float16 or
    bfloat16 b (native order) goes with float32 data and out: widened as it is loaded."""
