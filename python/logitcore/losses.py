"""Fused classification losses of the target probability, with their logits gradient (docs/math.md §3).

Every loss here depends on a row of logits z only through p_y = softmax(z)_y, the probability
of the target class y. Its gradient with respect to the logits is therefore one scalar per row
times (softmax(z) − onehot(y)):

    dL/dz = w · (softmax(z) − onehot(y)),   w = −dL/dℓ,   ℓ = log p_y = z_y − logsumexp(z)

so the native kernel needs two streaming passes per row: one gives (max, sum-exp, z_y) and hence
ℓ, the loss and w (computed in log space, in float64); the second writes the gradient, optionally
over the logits themselves (``inplace=True``: no second rows × V buffer).

Batch conventions follow ``torch.nn.functional.cross_entropy``: ``logits`` has shape (..., V)
with the classes on the last axis; ``target`` holds integer class indices with shape (...);
rows whose target equals ``ignore_index`` contribute 0 loss and 0 gradient; ``weight`` gives
per-class weights (row i is weighted by weight[target_i]); ``reduction`` is 'mean' (the
weighted sum divided by the summed weights of the non-ignored rows; 0.0, not NaN, when that
sum is 0, e.g. when every row is ignored), 'sum' or 'none' (the weighted per-row losses). The
returned gradient is that of the returned loss; for 'none' it is the gradient of the sum of the
per-row losses.

Dtypes: float32 and float64 logits are computed natively; float16 and bfloat16 (ml_dtypes) are
read as they are, computed in float32 and returned in their own dtype; integer logits are computed in float64. Losses are accumulated in float64
and returned in the result dtype ('mean'/'sum' as a NumPy scalar). Results are bitwise
identical for any thread count. A row with a NaN logit (or with every logit −inf) gives NaN
loss and a NaN gradient row; rows with +inf logits use the limit softmax (uniform over the +inf
entries), as :func:`logitcore.softmax` does.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from . import _core
from ._arrays import contiguous, as_float_array, is_half, kernel_dtypes, native, view_reshape

__all__ = ["gamma_cross_entropy", "generalized_cross_entropy", "focal_loss"]

_GAMMA_CE, _GCE, _FOCAL = _core.LOSS_GAMMA_CE, _core.LOSS_GCE, _core.LOSS_FOCAL
_REDUCTIONS = {"mean": _core.REDUCTION_MEAN, "sum": _core.REDUCTION_SUM, "none": _core.REDUCTION_NONE}


def _real(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None


def _as_logits(logits, inplace: bool):
    if inplace:
        if not isinstance(logits, np.ndarray):
            raise ValueError(
                f"inplace=True writes the gradient into logits, which must then be a numpy.ndarray "
                f"(got {type(logits).__name__})"
            )
        if not (logits.dtype in (np.float32, np.float64) or is_half(logits.dtype)) or not logits.dtype.isnative:
            raise ValueError(
                f"inplace=True needs float32, float64, float16 or bfloat16 logits in native byte order, got dtype "
                f"{logits.dtype} (integer inputs are computed in another dtype and cannot hold the gradient)"
            )
        if not logits.flags.writeable:
            raise ValueError("inplace=True: logits is read-only")
        if any(s % logits.itemsize for s in logits.strides) or not logits.flags.aligned:
            raise ValueError(
                "inplace=True: logits is not aligned (its address or strides are not a multiple of its item size)"
            )
        if logits.ndim == 0:
            raise ValueError("logits must have at least one dimension (classes on the last axis)")
        return logits, logits.dtype, logits.dtype
    a = as_float_array(logits, "logits")
    if a.ndim == 0:
        raise ValueError("logits must have at least one dimension (classes on the last axis)")
    sdt, rdt, _ = kernel_dtypes(a.dtype, "logits")  # half precision: read and written as it is
    return native(a, sdt), sdt, rdt


def _as_target(target, batch: tuple, n_classes: int) -> np.ndarray:
    t = np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"target must hold integer class indices, got dtype {t.dtype}")
    if t.shape != batch:
        raise ValueError(
            f"target has shape {t.shape}, expected {batch} (the logits shape without its last, class axis)"
        )
    if t.dtype == np.uint64 and t.size and int(t.max()) > np.iinfo(np.int64).max:
        raise IndexError(f"target holds {int(t.max())}, out of range for {n_classes} classes")
    # class range and ignore_index are checked by the library (IndexError naming the row)
    return contiguous(t, dtype=np.int64).reshape(-1)


def _check_reduction_and_ignore_index(reduction, ignore_index) -> int:
    """Validate ``reduction`` and return ``ignore_index`` as an int64-range Python int."""
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if isinstance(ignore_index, (bool, np.bool_)):
        raise TypeError(f"ignore_index must be an integer, got {ignore_index!r}")
    try:
        ignore_index = operator.index(ignore_index)
    except TypeError:
        raise TypeError(f"ignore_index must be an integer, got {ignore_index!r}") from None
    if not -(2**63) <= ignore_index < 2**63:
        raise ValueError(f"ignore_index must fit in int64, got {ignore_index}")
    return ignore_index


def _fused(kind: int, param: float, threshold: float, logits, target, weight, ignore_index, reduction,
           return_grad: bool, inplace: bool, sample_weight=None):
    ignore_index = _check_reduction_and_ignore_index(reduction, ignore_index)
    if inplace and not return_grad:
        raise ValueError("inplace=True overwrites logits with the gradient; pass return_grad=True as well")

    x, cdt, rdt = _as_logits(logits, inplace)
    batch, n_classes = x.shape[:-1], x.shape[-1]
    t = _as_target(target, batch, n_classes)
    cw = None
    if weight is not None:
        cw = as_float_array(weight, "weight")
        if cw.shape != (n_classes,):
            raise ValueError(f"weight has shape {cw.shape}, expected ({n_classes},): one weight per class")
        cw = contiguous(cw, dtype=np.float64)
    sw = None
    if sample_weight is not None:
        sw = as_float_array(sample_weight, "sample_weight")
        if sw.shape != batch:
            raise ValueError(
                f"sample_weight has shape {sw.shape}, expected {batch}: one weight per row (the shape of target)"
            )
        sw = contiguous(sw, dtype=np.float64).reshape(-1)
        bad = ~(np.isfinite(sw) & (sw >= 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"sample_weight must be finite and >= 0; entry {i} is {sw[i]!r}")

    opt = _core.LossOptions(kind, param, threshold, ignore_index, _REDUCTIONS[reduction])
    # the kernel takes one strided (rows, classes) matrix: a view when the batch axes allow it
    shape2 = (t.shape[0], n_classes)
    x2 = view_reshape(x, shape2)
    rows_copied = x2 is None
    if rows_copied:
        x2 = contiguous(x).reshape(shape2)
    row_loss = np.empty(t.shape[0], dtype=np.float64)
    grad = None
    if return_grad:
        grad = x2 if inplace else np.empty(x2.shape, dtype=cdt)
    # weighting, target checks and the reduction happen in the library (logitcore_loss_*)
    total = _core._loss(x2, t, opt, cw, row_loss, grad, sw)
    if inplace and rows_copied:
        x[...] = grad.reshape(x.shape)  # a layout with no 2-D view: computed on a copy

    if reduction == "none":
        loss = row_loss.reshape(batch).astype(rdt)
        if loss.ndim == 0:
            loss = loss[()]
    else:
        loss = rdt.type(total)
    if not return_grad:
        return loss
    if inplace:
        return loss, logits
    return loss, grad.reshape(x.shape).astype(rdt, copy=False)


_COMMON_DOC = """
    Parameters (shared)
    -------------------
    logits : array_like, shape (..., V)
        Unnormalized scores, classes on the last axis.
    target : array_like of int, shape (...)
        Class indices in [0, V), or ``ignore_index``.
    weight : array_like, shape (V,), optional
        Per-class weights (PyTorch semantics): row i's loss and gradient are multiplied by
        weight[target_i]; 'mean' divides by the summed weights of the non-ignored rows.
    ignore_index : int
        Rows with this target give 0 loss and a zero gradient row (default -100).
    sample_weight : array_like, shape (...), optional
        Per-row weights (finite, >= 0), multiplied with the class weight of the row's target
        (scikit-learn's sample_weight); 'mean' divides by the summed row weights.
    reduction : {'mean', 'sum', 'none'}
        'mean' over no (or zero-weight) rows is 0.0, not NaN.
    return_grad : bool
        Also return the gradient of the returned loss with respect to ``logits`` (shape and
        dtype of the result; for 'none', the gradient of the sum of the per-row losses).
    inplace : bool
        Write the gradient into ``logits`` itself and return it as the gradient: no second
        rows x V buffer, extra memory O(rows). Requires ``return_grad=True`` and a writeable
        float32/float64/float16/bfloat16 ndarray (ValueError otherwise).

    Returns
    -------
    loss, or (loss, grad) when ``return_grad``. ``loss`` is a NumPy scalar for 'mean'/'sum' and
    an array of shape (...) for 'none'.
"""


def gamma_cross_entropy(logits, target, gamma=0.0, *, threshold=0.0, weight=None, ignore_index=-100,
                        reduction="mean", return_grad=False, inplace=False, sample_weight=None):
    """γ-cross-entropy (TaiLr, arXiv 2302.13344), fused loss and logits gradient.

    Per row, with p_y = softmax(logits)_y and γ ∈ [0, 1]:

        L = −log(γ + (1 − γ) p_y) / (1 − γ)        (nats)

    γ = 0 is ordinary cross-entropy −log p_y (computed exactly as logsumexp(z) − z_y); γ = 1 is
    the limit L = 1 − p_y (the paper writes −p_y; the constant makes L continuous in γ). Larger
    γ down-weights rows the model finds unlikely, which makes training less over-confident and
    more robust to noisy labels. The paper's settings: language modelling γ = 1e-7, b = 0.2;
    translation γ = 0.1, b = 0.3; summarization γ = 0.8, b = 0.2.

    Gradient: dL/dz = w · (softmax(z) − onehot(y)) with w = p_y / (γ + (1 − γ) p_y) ∈ [0, 1].
    ``threshold`` is the paper's floor b ∈ [0, 1]: the returned gradient uses
    w_b = max(b, w), w treated as a constant (stop-gradient), i.e. it is the gradient of the
    weighted negative log-likelihood Σ stopgrad(max(b, w_i)) · (−log p_{y_i}). With b > 0 this is
    no longer the gradient of L, but the returned loss value is still L (the paper's own code
    reports the surrogate instead). With b = 0 the gradient is exactly that of L.

    Everything is computed from ℓ = log p_y in float64, never from p_y: log(γ + (1 − γ)e^ℓ) is
    log1p((1 − γ)·expm1(ℓ)) for p_y ≥ 1/2 and logaddexp(log γ, log1p(−γ) + ℓ) otherwise, and
    w = exp(ℓ − that); the loss stays finite for finite logits when γ > 0, and w = 1 exactly at
    γ = 0 even when p_y underflows.

    gamma : float in [0, 1]
    threshold : float in [0, 1]
        Floor b on the gradient weight (default 0: the exact gradient of L).
    """
    return _fused(_GAMMA_CE, _real(gamma, "gamma"), _real(threshold, "threshold"), logits, target, weight, ignore_index, reduction, return_grad, inplace,
                  sample_weight)


def generalized_cross_entropy(logits, target, q=0.7, *, weight=None, ignore_index=-100, reduction="mean",
                              return_grad=False, inplace=False, sample_weight=None):
    """Generalized cross-entropy (Zhang & Sabuncu 2018), fused loss and logits gradient.

    Per row L = (1 − p_y^q) / q with q ∈ (0, 1]: q → 0 tends to cross-entropy, q = 1 is the mean
    absolute error 1 − p_y (equal to :func:`gamma_cross_entropy` with γ = 1). Gradient
    dL/dz = w · (softmax(z) − onehot(y)) with w = p_y^q = exp(q ℓ), computed from ℓ = log p_y.

    q : float in (0, 1]
    """
    return _fused(_GCE, _real(q, "q"), 0.0, logits, target, weight, ignore_index, reduction, return_grad, inplace,
                  sample_weight)


def focal_loss(logits, target, gamma=2.0, *, weight=None, ignore_index=-100, reduction="mean",
               return_grad=False, inplace=False, sample_weight=None):
    """Softmax focal loss (Lin et al. 2017), fused loss and logits gradient.

    Per row L = −(1 − p_y)^γ · log p_y with the focusing parameter γ ≥ 0 (γ = 0 is
    cross-entropy; class weights play the role of the paper's α). Its gradient is again a
    per-row scalar times (softmax − one-hot): with ℓ = log p_y and dℓ/dz = onehot − softmax,

        dL/dz = w · (softmax(z) − onehot(y)),
        w = −dL/dℓ = (1 − p_y)^γ · (1 + γ · p_y · (−ℓ) / (1 − p_y))

    (the last factor tends to 1 + γ as p_y → 1, where w → 0 for γ > 0). 1 − p_y is formed as
    −expm1(ℓ), so peaked rows keep full accuracy. Note that ``gamma`` here is the focusing
    exponent, not the γ of :func:`gamma_cross_entropy`.

    gamma : float >= 0
    """
    return _fused(_FOCAL, _real(gamma, "gamma"), 0.0, logits, target, weight, ignore_index, reduction, return_grad, inplace,
                  sample_weight)


for _f in (gamma_cross_entropy, generalized_cross_entropy, focal_loss):
    _f.__doc__ += _COMMON_DOC
del _f
