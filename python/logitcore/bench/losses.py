"""Benchmark cases for the fused losses (logitcore.losses), registered into the harness.

``register_loss_cases()`` adds three cases and two targets to the ``python -m logitcore bench``
registry (idempotent):

* ``xent_fwd``  — cross-entropy loss only: ``gamma_cross_entropy(x, t)`` (γ = 0, 'mean') vs
  ``torch.nn.functional.cross_entropy`` under ``torch.no_grad()``.
* ``xent_grad`` — loss and logits gradient: ``gamma_cross_entropy(x, t, return_grad=True)``,
  the same with ``inplace=True`` (on a private copy of x that the calls keep overwriting with
  gradients: same cost, values stay finite), vs ``F.cross_entropy(...).backward()`` on a leaf
  tensor sharing x's memory (a fresh ``requires_grad`` view per call, so torch allocates its
  gradient as in training).
* ``robust_grad`` — the robust losses at the same cost: γ-CE (γ = 1e-7, b = 0.2), generalized
  cross-entropy (q = 0.7) and focal loss (γ = 2), each loss + gradient, against logitcore's
  own cross-entropy, and a plain autograd implementation of γ-CE in torch.

Targets (float32, one thread): on (64, 32000) and (8, 128256), logitcore loss + gradient
>= 4x faster than torch ``F.cross_entropy`` forward + backward. ``xent_grad`` on (64, 32000) at
one thread is also a row of the headline table of the default run.

Targets are integer class indices drawn once per shape (seed 0), identical for every
contestant. The extra memory of one call is measured by :mod:`logitcore.bench.memory`.
"""
from __future__ import annotations

import numpy as np

from ..losses import focal_loss, gamma_cross_entropy, generalized_cross_entropy
from . import harness as B

__all__ = ["register_loss_cases", "LOSS_SHAPES"]

LOSS_SHAPES = [(64, 32000), (8, 128256), (4096, 1024)]
_TARGET_SHAPES = [(64, 32000), (8, 128256)]


def _targets(d: B.Data) -> np.ndarray:
    return d.cached("loss_targets", lambda x: np.random.default_rng(0).integers(0, x.shape[-1], x.shape[:-1]))


def _torch_targets(d: B.Data):
    return d.cached("loss_targets_torch", lambda x: B._torch().from_numpy(_targets(d)))


# --- contestants -------------------------------------------------------------------------------


def _lc_fwd(d):
    x, t = d.x, _targets(d)
    return lambda: gamma_cross_entropy(x, t)


def _torch_fwd(d):
    torch = B._torch()
    F = torch.nn.functional
    x, t = d.torch, _torch_targets(d)

    def run():
        with torch.no_grad():
            return F.cross_entropy(x, t)

    return run


def _lc_grad(d):
    x, t = d.x, _targets(d)
    return lambda: gamma_cross_entropy(x, t, return_grad=True)[1]


def _lc_grad_inplace(d):
    buf = d.x.copy()
    t = _targets(d)

    def run():
        return gamma_cross_entropy(buf, t, return_grad=True, inplace=True)[1]

    return run


def _torch_grad(d):
    torch = B._torch()
    F = torch.nn.functional
    x, t = d.torch, _torch_targets(d)

    def run():
        z = x.detach().requires_grad_()
        F.cross_entropy(z, t).backward()
        return z.grad

    return run


def _lc_robust(fn, param, **kw):
    def make(d):
        x, t = d.x, _targets(d)
        return lambda: fn(x, t, param, return_grad=True, **kw)[1]

    return make


def _torch_gamma_ce(gamma: float, b: float):
    """γ-CE with the paper's threshold, written with torch autograd (the usual implementation)."""

    def make(d):
        torch = B._torch()
        F = torch.nn.functional
        x, t = d.torch, _torch_targets(d)

        def run():
            z = x.detach().requires_grad_()
            ell = F.log_softmax(z, dim=-1).gather(-1, t[:, None])[:, 0]
            p = ell.exp()
            w = (p / (gamma + (1 - gamma) * p)).detach().clamp(min=b)
            (w * -ell).mean().backward()
            return z.grad

        return run

    return make


# --- registration ----------------------------------------------------------------------------


def register_loss_cases() -> None:
    """Add the loss cases, headline row and targets to the harness (does nothing if already added)."""
    if any(c.name == "xent_grad" for c in B.CASES):
        return
    C = B.Contestant
    B.register(
        B.Case(
            name="xent_fwd",
            title="cross-entropy loss only (mean over rows)",
            shapes=list(LOSS_SHAPES),
            contestants={
                "logitcore": C(_lc_fwd),
                "torch": C(_torch_fwd, requires=("torch",)),
            },
            note="logitcore.losses.gamma_cross_entropy(x, t) (gamma=0) vs torch F.cross_entropy under no_grad",
        )
    )
    B.register(
        B.Case(
            name="xent_grad",
            title="cross-entropy loss + logits gradient",
            shapes=list(LOSS_SHAPES),
            contestants={
                "logitcore": C(_lc_grad),
                "lc inplace": C(_lc_grad_inplace),
                "torch": C(_torch_grad, requires=("torch",)),
            },
            ratios=[
                ("torch/logitcore", "torch", "logitcore"),
                ("torch/lc inplace", "torch", "lc inplace"),
            ],
            note="gamma_cross_entropy(x, t, return_grad=True) [inplace=True: gradient over a private copy "
            "of x] vs F.cross_entropy(z, t).backward(); ratio = torch time / logitcore time",
            headline={"torch": "torch"},
            headline_label="cross-entropy loss + grad",
            headline_note="torch = F.cross_entropy(z, t).backward() (logitcore: "
            "gamma_cross_entropy(x, t, return_grad=True))",
        )
    )
    B.HEADLINE.append(("xent_grad", (64, 32000), 1))
    B.register(
        B.Case(
            name="robust_grad",
            title="robust losses, loss + gradient, vs logitcore cross-entropy",
            shapes=list(_TARGET_SHAPES),
            contestants={
                "lc CE": C(_lc_grad),
                "lc gamma-CE": C(_lc_robust(gamma_cross_entropy, 1e-7, threshold=0.2)),
                "lc GCE": C(_lc_robust(generalized_cross_entropy, 0.7)),
                "lc focal": C(_lc_robust(focal_loss, 2.0)),
                "torch gamma-CE": C(_torch_gamma_ce(1e-7, 0.2), requires=("torch",)),
            },
            baseline="lc CE",
            ratios=[
                ("gamma-CE/CE", "lc gamma-CE", "lc CE"),
                ("GCE/CE", "lc GCE", "lc CE"),
                ("focal/CE", "lc focal", "lc CE"),
                ("torch gamma-CE/lc gamma-CE", "torch gamma-CE", "lc gamma-CE"),
            ],
            note="gamma-CE: gamma=1e-7, b=0.2; GCE: q=0.7; focal: gamma=2; torch gamma-CE: log_softmax, "
            "gather, stop-gradient weight, backward",
            check=False,
        )
    )
    for shape in _TARGET_SHAPES:
        B.TARGETS.append(
            B.Target(
                "logitcore CE loss+grad >= 4x faster than torch F.cross_entropy fwd+bwd (torch at 1 thread)",
                "xent_grad", shape, 1, "torch/logitcore", ">=", 4.0,
            )
        )
