"""Benchmark cases for the logsumexp family, registered into the harness.

``register_family_cases()`` adds seven cases, five headline rows and the targets below to the
``python -m logitcore bench`` registry (idempotent):

* ``logsumexp`` and ``softmax`` over the last axis — logitcore against the straightforward
  stable NumPy formulas (:func:`numpy_logsumexp`, :func:`numpy_softmax`),
  ``scipy.special`` and PyTorch, on :data:`DEFAULT_SHAPES`.
* ``floor`` — ``logitcore.logsumexp`` on one row of 10**7 against one ``np.max`` pass over it:
  the memory-bound floor.
* ``threads`` — ``logitcore.logsumexp`` on (64, 32000) at one and two threads.
* ``log_softmax`` — like ``softmax``; ``softmax_vs_lse`` — softmax and log_softmax of the
  (1, 10**7) row (a new output per call, and into ``out=``) against its logsumexp;
  ``softmax_threads`` — softmax of that row at one and two threads.

Targets (float32): on (64, 32000) at one thread, logitcore >= 20x faster than
``scipy.special.logsumexp`` and >= 5x faster than ``torch.logsumexp``; on (1, 10**7) the
logsumexp time <= 2x one ``np.max``; two threads >= 1.7x one thread (with 2 usable CPUs).
Issue 13's, meant for both ISAs (run once as is and once with ``LOGITCORE_ISA=avx2
ATEN_CPU_CAPABILITY=avx2``): logsumexp >= 6x torch on (64, 32000) and (8, 128256) and <= 1.5x
one ``np.max`` on (1, 10**7); softmax and log_softmax >= 2x torch on (64, 32000), (8, 128256)
and (4096, 1024), <= 2.5x the logsumexp of the (1, 10**7) row, and two threads >= 1.7x one on it.
"""
from __future__ import annotations

from typing import List

import numpy as np

import logitcore

from . import harness as B
from .harness import Case, Contestant, Shape, Target, _torch, optional_import, register

__all__ = ["register_family_cases", "numpy_logsumexp", "numpy_softmax", "numpy_log_softmax", "DEFAULT_SHAPES", "TARGET_SHAPE",
           "FLOOR_SHAPE"]

# --- the NumPy baselines: the straightforward stable formulas -------------------------------


def numpy_logsumexp(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """m + log(sum(exp(x - m))), m = max(x) along axis."""
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def numpy_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """e / sum(e), e = exp(x - max(x)) along axis."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def numpy_log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """x - m - log(sum(exp(x - m))) along axis."""
    m = np.max(x, axis=axis, keepdims=True)
    return (x - m) - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


# --- default shapes ---------------------------------------------------------------------------

DEFAULT_SHAPES: List[Shape] = [(1, 32000), (64, 32000), (8, 128256), (4096, 1024), (1, 10**7)]
TARGET_SHAPE: Shape = (64, 32000)
FLOOR_SHAPE: Shape = (1, 10**7)


def _scipy_special():
    return optional_import("scipy.special")


# --- registration ----------------------------------------------------------------------------


def _reduction_case(name: str, reference, formula: str, headline_note) -> Case:
    """logitcore.<name> over the last axis against the NumPy formula, scipy.special.<name> and
    torch.<name>, on DEFAULT_SHAPES; in the headline table when headline_note is given."""
    headline = {} if headline_note is None else dict(
        headline={"numpy": "numpy", "scipy": "scipy", "torch": "torch"}, headline_label=name,
        headline_note=f"numpy = {headline_note}")
    return Case(
        name=name,
        title=f"{name} over the last axis",
        shapes=list(DEFAULT_SHAPES),
        contestants={
            "logitcore": Contestant(lambda d: lambda: getattr(logitcore, name)(d.x, axis=-1)),
            "numpy": Contestant(lambda d: lambda: reference(d.x, axis=-1)),
            "scipy": Contestant(
                lambda d: lambda: getattr(_scipy_special(), name)(d.x, axis=-1), requires=("scipy.special",)
            ),
            "torch": Contestant(lambda d: lambda: getattr(_torch(), name)(d.torch, dim=-1), requires=("torch",)),
        },
        note=f"numpy: {formula}; ratio = competitor time / logitcore time",
        **headline,
    )



def register_family_cases() -> None:
    """Add the logsumexp-family cases, headline rows and targets to the harness (once)."""
    if any(c.name == "logsumexp" for c in B.CASES):
        return
    for name, reference, formula, headline_note in (
        ("logsumexp", numpy_logsumexp, "m + log(sum(exp(x - m)))", "m + log(sum(exp(x - m))), m = max(x)"),
        ("softmax", numpy_softmax, "e = exp(x - m); e / sum(e)", "e = exp(x - m); e / sum(e)"),
        ("log_softmax", numpy_log_softmax, "x - m - log(sum(exp(x - m)))", None),
    ):
        register(_reduction_case(name, reference, formula, headline_note))
    register(
        Case(
            name="softmax_vs_lse",
            title="softmax and log_softmax of one long row vs its logsumexp",
            shapes=[FLOOR_SHAPE],
            contestants={
                "logsumexp": Contestant(lambda d: lambda: logitcore.logsumexp(d.x, axis=-1)),
                "softmax": Contestant(lambda d: lambda: logitcore.softmax(d.x, axis=-1)),
                "log_softmax": Contestant(lambda d: lambda: logitcore.log_softmax(d.x, axis=-1)),
                "softmax out=": Contestant(
                    lambda d: (lambda out: lambda: logitcore.softmax(d.x, axis=-1, out=out))(np.empty_like(d.x))),
                "log_softmax out=": Contestant(
                    lambda d: (lambda out: lambda: logitcore.log_softmax(d.x, axis=-1, out=out))(np.empty_like(d.x))),
            },
            baseline="logsumexp",
            ratios=[("softmax/lse", "softmax", "logsumexp"), ("log_softmax/lse", "log_softmax", "logsumexp"),
                    ("softmax out=/lse", "softmax out=", "logsumexp"),
                    ("log_softmax out=/lse", "log_softmax out=", "logsumexp")],
            note="a new output array per call pays the kernel's zeroing of fresh pages; out= reuses one "
                 "(lower is better)",
            check=False,
        )
    )
    register(
        Case(
            name="floor",
            title="memory-bound floor: logitcore.logsumexp vs one np.max pass",
            shapes=[FLOOR_SHAPE],
            contestants={
                "logitcore": Contestant(lambda d: lambda: logitcore.logsumexp(d.x, axis=-1)),
                "np.max": Contestant(lambda d: lambda: np.max(d.x)),
            },
            ratios=[("logitcore/np.max", "logitcore", "np.max")],
            note="np.max is single-threaded; ratio = logitcore lse time / np.max(x) time (lower is better)",
            check=False,
            repeat_scale=5,
        )
    )
    register(
        Case(
            name="threads",
            title="logitcore.logsumexp thread scaling",
            shapes=[TARGET_SHAPE],
            contestants={
                "1 thread": Contestant(lambda d: lambda: logitcore.logsumexp(d.x, axis=-1), threads=1),
                "2 threads": Contestant(lambda d: lambda: logitcore.logsumexp(d.x, axis=-1), threads=2),
            },
            baseline="1 thread",
            ratios=[("speed-up 2T", "1 thread", "2 threads")],
            note="speed-up = one-thread time / two-thread time",
            fixed_threads=0,
            repeat_scale=5,
        )
    )
    register(
        Case(
            name="softmax_threads",
            title="logitcore.softmax thread scaling on one long row",
            shapes=[FLOOR_SHAPE],
            contestants={
                "1 thread": Contestant(lambda d: lambda: logitcore.softmax(d.x, axis=-1), threads=1),
                "2 threads": Contestant(lambda d: lambda: logitcore.softmax(d.x, axis=-1), threads=2),
            },
            baseline="1 thread",
            ratios=[("speed-up 2T", "1 thread", "2 threads")],
            note="speed-up = one-thread time / two-thread time",
            fixed_threads=0,
            check=False,
        )
    )
    B.HEADLINE.extend([
        ("logsumexp", TARGET_SHAPE, 1),
        ("logsumexp", TARGET_SHAPE, "all"),
        ("logsumexp", FLOOR_SHAPE, 1),
        ("softmax", TARGET_SHAPE, 1),
        ("softmax", TARGET_SHAPE, "all"),
    ])
    B.TARGETS.extend([
        Target("logitcore >= 20x faster than scipy.special.logsumexp", "logsumexp", TARGET_SHAPE, 1,
               "scipy/logitcore", ">=", 20.0),
        Target("logitcore >= 5x faster than torch.logsumexp (torch at 1 thread)", "logsumexp", TARGET_SHAPE, 1,
               "torch/logitcore", ">=", 5.0),
        Target("logitcore lse time <= 2x np.max time", "floor", FLOOR_SHAPE, 1,
               "logitcore/np.max", "<=", 2.0),
        Target("two threads >= 1.7x one thread", "threads", TARGET_SHAPE, None,
               "speed-up 2T", ">=", 1.7, min_cpus=2),
    ])
    # issue 13 (both ISAs: run once as is and once with LOGITCORE_ISA=avx2 ATEN_CPU_CAPABILITY=avx2)
    B.TARGETS.extend([
        Target("logsumexp >= 6x faster than torch.logsumexp (torch at 1 thread)", "logsumexp", shape, 1,
               "torch/logitcore", ">=", 6.0)
        for shape in (TARGET_SHAPE, (8, 128256))
    ])
    B.TARGETS.append(Target("logitcore lse time <= 1.5x np.max time", "floor", FLOOR_SHAPE, 1,
                            "logitcore/np.max", "<=", 1.5))
    B.TARGETS.extend([
        Target(f"{case} >= 2x faster than torch (torch at 1 thread)", case, shape, 1, "torch/logitcore", ">=", 2.0)
        for case in ("softmax", "log_softmax") for shape in (TARGET_SHAPE, (8, 128256), (4096, 1024))
    ])
    B.TARGETS.extend([
        Target(f"{name} of one long row <= 2.5x its logsumexp", "softmax_vs_lse", FLOOR_SHAPE, 1,
               f"{name}/lse", "<=", 2.5)
        for name in ("softmax", "log_softmax")
    ])
    B.TARGETS.append(Target("softmax of one long row: two threads >= 1.7x one thread", "softmax_threads",
                            FLOOR_SHAPE, None, "speed-up 2T", ">=", 1.7, min_cpus=2))
