"""Loss modules mirroring ``torch.nn.CrossEntropyLoss`` (same arguments, same input shapes)."""
from __future__ import annotations

import torch

from . import _functions as F

__all__ = ["GammaCrossEntropyLoss", "GeneralizedCrossEntropyLoss", "FocalLoss"]


class _TargetProbLossModule(torch.nn.Module):
    def __init__(self, weight: torch.Tensor | None = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__()
        if not isinstance(reduction, str) or reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.label_smoothing = label_smoothing


class GammaCrossEntropyLoss(_TargetProbLossModule):
    """γ-cross-entropy loss module: ``nn.CrossEntropyLoss`` with a γ (γ = 0 is cross-entropy).

    ``loss_fn(input, target)`` takes (N, C), (C,) or (N, C, d1, ...) logits and class indices
    of shape (N,), () or (N, d1, ...); see :func:`logitcore.torch.gamma_cross_entropy`.
    ``label_smoothing``: the expected loss under the smoothed target (at γ = 0
    ``nn.CrossEntropyLoss``'s).
    """

    def __init__(self, gamma: float = 0.0, threshold: float = 0.0, weight: torch.Tensor | None = None,
                 ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, ignore_index, reduction, label_smoothing)
        F._check_label_smoothing(label_smoothing)
        self.gamma = gamma
        self.threshold = threshold

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.gamma_cross_entropy(input, target, self.gamma, self.threshold, self.weight,
                                     self.ignore_index, self.reduction, self.label_smoothing)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, threshold={self.threshold}, reduction={self.reduction!r}"


class GeneralizedCrossEntropyLoss(_TargetProbLossModule):
    """Generalized cross-entropy (1 − p_y^q)/q as a loss module; see
    :func:`logitcore.torch.generalized_cross_entropy`."""

    def __init__(self, q: float = 0.7, weight: torch.Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, ignore_index, reduction, label_smoothing)
        F._check_label_smoothing(label_smoothing)
        self.q = q

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.generalized_cross_entropy(input, target, self.q, self.weight, self.ignore_index, self.reduction,
                                           self.label_smoothing)

    def extra_repr(self) -> str:
        return f"q={self.q}, reduction={self.reduction!r}"


class FocalLoss(_TargetProbLossModule):
    """Softmax focal loss −(1 − p_y)^γ log p_y as a loss module; see
    :func:`logitcore.torch.focal_loss`."""

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, ignore_index, reduction, label_smoothing)
        F._check_label_smoothing(label_smoothing)
        self.gamma = gamma

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.focal_loss(input, target, self.gamma, self.weight, self.ignore_index, self.reduction,
                            self.label_smoothing)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, reduction={self.reduction!r}"
