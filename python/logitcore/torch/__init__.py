"""PyTorch autograd functions and loss modules over logitcore's kernels (``logitcore[torch]``).

PyTorch-style arguments (``dim``, ``keepdim``; the losses as ``F.cross_entropy``) on CPU
tensors, computed in the tensors' own memory: the native kernels read the input through a
NumPy view and write into tensors allocated by torch, so no input is copied and no extra
(rows, classes) buffer is made. Gradients (docs/math.md §6):

* :func:`logsumexp`, :func:`softmax`, :func:`log_softmax`, :func:`softmax_entropy`;
* :func:`entropy_normalize` on logits, differentiated through the solved power γ;
* :func:`gamma_cross_entropy`, :func:`generalized_cross_entropy`, :func:`focal_loss` and the
  modules :class:`GammaCrossEntropyLoss`, :class:`GeneralizedCrossEntropyLoss`,
  :class:`FocalLoss` (drop-in for ``nn.CrossEntropyLoss``): the forward's fused kernel also
  writes the logits gradient, which the backward scales; under ``torch.no_grad()`` (or for
  an input without ``requires_grad``) it is not computed.

Dtypes: float32 and float64 natively, float16 computed in float32, bfloat16 through
``ml_dtypes``; results in the input dtype. Tensors on another device raise ValueError (no
silent copy); integer inputs raise TypeError. Double backward is not supported (it raises).
Under ``torch.compile`` each call is a graph break (the functions run eagerly).
"""
from __future__ import annotations

from ._functions import (
    entropy_normalize,
    focal_loss,
    gamma_cross_entropy,
    generalized_cross_entropy,
    log_softmax,
    logsumexp,
    softmax,
    softmax_entropy,
)
from ._modules import FocalLoss, GammaCrossEntropyLoss, GeneralizedCrossEntropyLoss

__all__ = [
    "logsumexp",
    "softmax",
    "log_softmax",
    "softmax_entropy",
    "entropy_normalize",
    "gamma_cross_entropy",
    "generalized_cross_entropy",
    "focal_loss",
    "GammaCrossEntropyLoss",
    "GeneralizedCrossEntropyLoss",
    "FocalLoss",
]
