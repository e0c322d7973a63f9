"""The gradient-penalty report (``logitcore.gradpen``; docs/math.md §8).

For an MLP h^(t+1) = g^(t)(W^(t) h^(t) + b^(t)), t = 1..l, h^(1) = x, and a scalar f of its
output (the loss of a label, one output, or the logsumexp of the outputs), every example
satisfies

    ‖∇_x f‖² · C(x, θ) ≤ ‖∇_θ f‖²,   C(x, θ) = Σ_t (1 + ‖h^(t)‖²) / (‖W^(t)‖² ‖∂h^(t)/∂x‖²)

(spectral or Frobenius matrix norms), summed from one inequality per layer. Penalizing the
parameter gradient (as SGD implicitly does) therefore also penalizes the input gradient, by
the factor C. :func:`gradient_penalty_report` measures both sides, C, and each layer's
tightness for a model and a batch of data::

    from logitcore.gradpen import gradient_penalty_report
    rep = gradient_penalty_report(model, X, y)      # model: [(W, b, "relu"), ...] or nn.Sequential
    print(rep.summary()); rep.factor; rep.tightness

NumPy only (PyTorch is needed only to pass a ``torch.nn.Sequential``; pandas only for
``to_dataframe()``); the hot path is BLAS matrix products over the whole batch.
"""
from __future__ import annotations

from ._model import ACTIVATIONS, Activation, as_activation, as_layers, from_torch
from ._report import (
    ForwardBackward,
    GradientPenaltyReport,
    forward_backward,
    gradient_penalty_report,
    input_jacobians,
)

__all__ = [
    "gradient_penalty_report",
    "GradientPenaltyReport",
    "forward_backward",
    "ForwardBackward",
    "input_jacobians",
    "as_layers",
    "from_torch",
    "as_activation",
    "Activation",
    "ACTIVATIONS",
]
