"""Benchmark cases for the gradient-penalty report (logitcore.gradpen), registered into the harness.

``register_gradpen_cases()`` adds two cases, the group ``gradpen`` naming both, and one target
(idempotent). Neither runs by default (a report over 10,000 examples takes 0.1-10 s): use
``python -m logitcore bench --cases gradpen`` (or ``--full``).

* ``gradpen_mlp`` — x of shape (10000, 784) through a 784-256-256-10 ReLU MLP (He
  initialization, seed 0, labels drawn once): ``gradient_penalty_report(..., jacobian="bound")``
  and ``jacobian="power"`` (30 iterations at most) against one PyTorch forward and backward pass
  over the same batch (``F.cross_entropy(seq(x), y).backward()``, parameter gradients).
* ``gradpen_exact`` — the same on (10000, 64) through 64-256-256-10 with ``jacobian="exact"``
  (stacked Jacobians and their singular values) beside ``"bound"`` and PyTorch.

Everything in float32 (the harness's input), the model's parameters in float32 too, so the
report computes in float32 like PyTorch. BLAS gets the case's thread count (threadpoolctl when
installed), as logitcore and PyTorch do.

Target (one thread): bound mode at most 3x the time of PyTorch's forward + backward.
"""
from __future__ import annotations

import numpy as np

from . import harness as B

__all__ = ["register_gradpen_cases", "MLP_SHAPE", "EXACT_SHAPE"]

MLP_SHAPE = (10000, 784)
EXACT_SHAPE = (10000, 64)
HIDDEN = (256, 256)
N_CLASSES = 10


def _problem(d: B.Data):
    """(layers, y) for x's width: float32 He-initialized ReLU MLP d-256-256-10 and labels."""

    def make(x):
        rng = np.random.default_rng(0)
        sizes = [x.shape[1], *HIDDEN, N_CLASSES]
        layers = []
        for t, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
            W = (rng.standard_normal((o, i)) * np.sqrt(2.0 / i)).astype(np.float32)
            b = (0.1 * rng.standard_normal(o)).astype(np.float32)
            layers.append((W, b, "relu" if t < len(sizes) - 2 else "identity"))
        y = rng.integers(0, N_CLASSES, x.shape[0])
        return layers, y

    return d.cached("gradpen_problem", make)


def _blas_threads():
    """A context limiting BLAS to logitcore's current thread count (the case's setting)."""
    import contextlib

    import logitcore

    tpc = B.optional_import("threadpoolctl")
    if tpc is None:
        return contextlib.nullcontext()
    return tpc.threadpool_limits(limits=logitcore.get_num_threads(), user_api="blas")


def _report(mode: str):
    def make(d: B.Data):
        from ..gradpen import gradient_penalty_report

        layers, y = _problem(d)
        x = d.x

        def run():
            with _blas_threads():
                return gradient_penalty_report(layers, x, y, jacobian=mode)

        return run

    return make


def _torch_step(d: B.Data):
    torch = B._torch()
    layers, y = _problem(d)
    nn = torch.nn
    mods = []
    for W, b, act in layers:
        lin = nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        mods.append(lin)
        if act == "relu":
            mods.append(nn.ReLU())
    seq = nn.Sequential(*mods)
    x, t = d.torch, torch.from_numpy(y)
    F = nn.functional

    def run():
        seq.zero_grad(set_to_none=True)
        loss = F.cross_entropy(seq(x), t)
        loss.backward()
        return loss

    return run


def register_gradpen_cases() -> None:
    """Add the gradient-penalty cases, their group and target (does nothing if already added)."""
    if any(c.name == "gradpen_mlp" for c in B.CASES):
        return
    C = B.Contestant
    torch_c = C(_torch_step, requires=("torch",))
    B.register(
        B.Case(
            name="gradpen_mlp",
            title="gradient-penalty report, 784-256-256-10 MLP (logitcore.gradpen)",
            shapes=[MLP_SHAPE],
            contestants={"bound": C(_report("bound")), "power": C(_report("power")), "torch": torch_c},
            baseline="torch",
            ratios=[("bound/torch", "bound", "torch"), ("power/torch", "power", "torch")],
            note="gradient_penalty_report(jacobian='bound' | 'power') vs F.cross_entropy(seq(x), y).backward(); "
                 "ratio = report time / PyTorch fwd+bwd time",
            check=False,
        )
    )
    B.register(
        B.Case(
            name="gradpen_exact",
            title="gradient-penalty report with exact Jacobians, 64-256-256-10 MLP (logitcore.gradpen)",
            shapes=[EXACT_SHAPE],
            contestants={"exact": C(_report("exact")), "bound": C(_report("bound")), "torch": torch_c},
            baseline="torch",
            ratios=[("exact/torch", "exact", "torch"), ("bound/torch", "bound", "torch")],
            note="gradient_penalty_report(jacobian='exact' | 'bound') vs F.cross_entropy(seq(x), y).backward()",
            check=False,
        )
    )
    B.GROUPS.setdefault("gradpen", ["gradpen_mlp", "gradpen_exact"])
    B.TARGETS.append(
        B.Target("gradient-penalty report, jacobian='bound', <= 3x one PyTorch fwd+bwd", "gradpen_mlp", MLP_SHAPE, 1,
                 "bound/torch", "<=", 3.0, in_default=False)
    )
