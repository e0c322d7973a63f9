"""Benchmark cases for the PyTorch integration (logitcore.torch), registered into the harness.

``register_torch_cases()`` adds two cases and two targets (idempotent):

* ``torch_xent`` — one training step's loss through autograd: a fresh leaf tensor sharing
  x's memory, ``logitcore.torch.gamma_cross_entropy(z, t).backward()`` (γ = 0, 'mean') vs
  ``F.cross_entropy(z, t).backward()``; both leave the gradient in ``z.grad``.
* ``torch_xent_dim1`` — the same on (N, C, d) logits with the classes on dimension 1 (as
  ``nn.CrossEntropyLoss`` takes image-like inputs; ``--cases torch_xent_dim1`` or ``--full``).

Targets (float32, one thread): on (64, 32000) and (8, 128256), logitcore's autograd loss
fwd+bwd >= 3x faster than ``F.cross_entropy`` + ``backward()``. The targets' rows run in the
default ``python -m logitcore bench``.
"""
from __future__ import annotations

import numpy as np

from . import harness as B

__all__ = ["register_torch_cases", "TORCH_SHAPES"]

TORCH_SHAPES = [(64, 32000), (8, 128256)]
_DIM1_SHAPES = [(8, 1000, 256), (4, 32000, 8)]


def _torch_targets(d: B.Data):
    """Class indices: the shape of x without dimension 1, drawn once (seed 0)."""

    def make(x):
        shape = (x.shape[0],) + x.shape[2:]
        t = np.random.default_rng(0).integers(0, x.shape[1], shape)
        return B._torch().from_numpy(t)

    return d.cached("torch_targets_dim1", make)


def _lc_step(d):
    from .. import torch as lt

    x, t = d.torch, _torch_targets(d)

    def run():
        z = x.detach().requires_grad_()
        lt.gamma_cross_entropy(z, t).backward()
        return z.grad

    return run


def _torch_step(d):
    F = B._torch().nn.functional
    x, t = d.torch, _torch_targets(d)

    def run():
        z = x.detach().requires_grad_()
        F.cross_entropy(z, t).backward()
        return z.grad

    return run


def register_torch_cases() -> None:
    """Add the PyTorch integration's cases and targets (does nothing if already added)."""
    if any(c.name == "torch_xent" for c in B.CASES):
        return
    C = B.Contestant
    contestants = {
        "logitcore": C(_lc_step, requires=("torch",)),
        "torch": C(_torch_step, requires=("torch",)),
    }
    note = ("logitcore.torch.gamma_cross_entropy(z, t).backward() vs F.cross_entropy(z, t).backward(), "
            "z a fresh leaf sharing x; ratio = torch time / logitcore time")
    B.register(
        B.Case(
            name="torch_xent",
            title="training step: cross-entropy fwd+bwd through autograd (logitcore.torch)",
            shapes=list(TORCH_SHAPES),
            contestants=dict(contestants),
            ratios=[("torch/logitcore", "torch", "logitcore")],
            note=note,
        )
    )
    B.register(
        B.Case(
            name="torch_xent_dim1",
            title="training step, (N, C, d) logits with classes on dim 1 (logitcore.torch)",
            shapes=list(_DIM1_SHAPES),
            contestants=dict(contestants),
            ratios=[("torch/logitcore", "torch", "logitcore")],
            note=note,
        )
    )
    for shape in TORCH_SHAPES:
        B.TARGETS.append(
            B.Target(
                "logitcore.torch CE fwd+bwd (autograd) >= 3x faster than F.cross_entropy + backward()",
                "torch_xent", shape, 1, "torch/logitcore", ">=", 3.0,
            )
        )
