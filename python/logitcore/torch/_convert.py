"""Tensor checks and the zero-copy bridge between CPU tensors and the NumPy API.

A CPU tensor and the NumPy view ``t.detach().numpy()`` share memory, strides included, so the
NumPy API reads the tensor's own bytes and writes into tensors allocated here by torch (its
``out=`` arguments): no input copy, no extra (rows, classes) buffer. bfloat16 is viewed as
``ml_dtypes.bfloat16`` (the same 16 bits); while the NumPy API does not accept that dtype,
:func:`compute_tensor` converts bfloat16 to float32 instead (the one place that does).
"""
from __future__ import annotations

import numpy as np
import torch

from .. import _family

__all__ = ["check_tensor", "check_target", "as_numpy", "from_numpy", "compute_tensor", "normalize_dims"]

_FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _check_cpu(t: torch.Tensor, name: str) -> None:
    if t.device.type != "cpu":
        raise ValueError(
            f"{name} is on device '{t.device}'; logitcore.torch computes on CPU tensors only and "
            f"does not copy between devices (move it with .cpu() first)"
        )
    if t.layout != torch.strided:
        raise TypeError(f"{name} has layout {t.layout}; logitcore.torch takes dense (strided) tensors")


def check_tensor(t, name: str = "input") -> torch.Tensor:
    """``t`` if it is a dense floating-point CPU tensor; TypeError / ValueError otherwise."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    _check_cpu(t, name)
    if t.dtype not in _FLOATS:
        raise TypeError(
            f"{name} has dtype {t.dtype}; expected a floating-point tensor "
            "(float32, float64, float16 or bfloat16)"
        )
    return t


def check_target(t, name: str = "target") -> torch.Tensor:
    """``t`` if it is a dense integer CPU tensor of class indices."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of class indices, got {type(t).__name__}")
    _check_cpu(t, name)
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise TypeError(
            f"{name} must hold integer class indices, got dtype {t.dtype} "
            "(class-probability targets are not supported)"
        )
    return t


def as_numpy(t: torch.Tensor) -> np.ndarray:
    """A NumPy view of a CPU tensor's memory (same shape and strides; bfloat16 as
    ``ml_dtypes.bfloat16``)."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        import ml_dtypes

        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy()


def from_numpy(a) -> torch.Tensor:
    """A tensor sharing the memory of a NumPy result (an array or a NumPy scalar;
    ``ml_dtypes.bfloat16`` arrays become torch.bfloat16)."""
    a = np.asarray(a)
    if a.dtype.kind == "V" and a.dtype.itemsize == 2 and a.dtype.name == "bfloat16":
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


_BF16_NATIVE: bool | None = None


def _numpy_api_takes_bfloat16() -> bool:
    """Whether the NumPy API computes on ``ml_dtypes.bfloat16`` arrays (decided once, by a
    tiny call)."""
    global _BF16_NATIVE
    if _BF16_NATIVE is None:
        try:
            import ml_dtypes

            x = np.zeros((1, 2), dtype=ml_dtypes.bfloat16)
            _family.logsumexp(x, axis=-1)
            _family.softmax(x, axis=-1)
            _BF16_NATIVE = True
        except (ImportError, TypeError, ValueError):
            _BF16_NATIVE = False
    return _BF16_NATIVE


def compute_tensor(t: torch.Tensor) -> torch.Tensor:
    """The tensor the NumPy API computes on: ``t`` itself, except bfloat16 while the NumPy API
    does not take it, which becomes a float32 copy (results are converted back to
    bfloat16 by the callers, which always return the input dtype)."""
    if t.dtype == torch.bfloat16 and not _numpy_api_takes_bfloat16():
        return t.float()
    return t


def normalize_dims(dim, ndim: int, name: str = "dim") -> tuple[int, ...]:
    """``dim`` (an int or a sequence of ints, negative allowed) as distinct non-negative axes."""
    items = list(dim) if isinstance(dim, (tuple, list)) else [dim]
    n = max(ndim, 1)  # a 0-d tensor has one (size-one) reducible dimension, as in torch
    out = []
    for d in items:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)):
            raise TypeError(f"{name} must be an integer or a tuple of integers, got {d!r}")
        d = int(d)
        if not -n <= d < n:
            raise IndexError(f"{name}={d} is out of range for a tensor with {ndim} dimensions")
        out.append(d % n)
    if not out:
        raise ValueError(f"{name} must name at least one dimension")
    if len(set(out)) != len(out):
        raise ValueError(f"repeated dimension in {name}={dim!r}")
    return tuple(out)
