"""Benchmark case for half-precision inputs (docs/math.md §1.5), registered into the harness.

``register_half_cases()`` adds two cases. ``half``: logsumexp and the fused loss with its
gradient (γ-cross-entropy at γ = 0.1) on bfloat16 and float16 copies of the float32 input,
against the same calls on float32, one thread. ``half_kernels``: the other functions that read
half precision natively, entropy normalization of the logits (target 2 nats, q in the input's
dtype) and the sampler (top_p = 0.9, one token per row), likewise; it has no targets, so it
runs only when named (``--cases half_kernels``) or with ``--full``, keeping the default run
short. The kernels widen each half entry as they load
it and compute in float32, so the arithmetic is float32's with half the bytes to read; the
targets ask a half call to take at most 1.1x the float32 call's time on the same element
count. bfloat16 needs ``ml_dtypes`` (its contestants are skipped without it).
"""
from __future__ import annotations

import numpy as np

import logitcore

from . import harness as B
from .harness import Case, Contestant, Target, register

__all__ = ["register_half_cases", "HALF_SHAPES"]

HALF_SHAPES = [(64, 32000), (8, 128256)]


def _as(d: B.Data, name: str) -> np.ndarray:
    if name == "float32":
        return d.x
    if name == "float16":
        return d.cached("half_float16", lambda x: x.astype(np.float16))
    return d.cached("half_bfloat16", lambda x: x.astype(B.optional_import("ml_dtypes").bfloat16))


def _targets(d: B.Data) -> np.ndarray:
    return d.cached("loss_targets", lambda x: np.random.default_rng(0).integers(0, x.shape[-1], x.shape[:-1]))


def _lse(name):
    return lambda d: (lambda x: lambda: logitcore.logsumexp(x, axis=-1))(_as(d, name))


def _loss(name):
    return lambda d: (lambda x, t: lambda: logitcore.gamma_cross_entropy(x, t, 0.1, return_grad=True))(
        _as(d, name), _targets(d))


def _en(name):
    return lambda d: (lambda x: lambda: logitcore.entropy_normalize(x, 2.0, logits=True))(_as(d, name))


def _sample(name):
    return lambda d: (lambda x: lambda: logitcore.sample(x, seed=1, top_p=0.9))(_as(d, name))


def register_half_cases() -> None:
    """Add the half-precision case and its targets to the harness (once)."""
    if any(c.name == "half" for c in B.CASES):
        return
    contestants = {}
    more = {}
    for name in ("float32", "bfloat16", "float16"):
        req = ("ml_dtypes",) if name == "bfloat16" else ()
        contestants[f"lse {name}"] = Contestant(_lse(name), requires=req, threads=1)
        contestants[f"loss {name}"] = Contestant(_loss(name), requires=req, threads=1)
        more[f"en {name}"] = Contestant(_en(name), requires=req, threads=1)
        more[f"sample {name}"] = Contestant(_sample(name), requires=req, threads=1)
    for name, title, group, base, ops in [
        ("half", "logsumexp; gamma_cross_entropy loss + gradient", contestants, "lse", ("lse", "loss")),
        ("half_kernels", "entropy_normalize of logits; sample with top_p", more, "en", ("en", "sample")),
    ]:
        register(
            Case(
                name=name,
                title=f"bfloat16 / float16 inputs vs float32 ({title})",
                shapes=list(HALF_SHAPES),
                contestants=group,
                baseline=f"{base} float32",
                ratios=[(f"{op} {h}/f32", f"{op} {h}", f"{op} float32") for op in ops for h in ("bfloat16", "float16")],
                note="time of the half call / time of the float32 call on the same elements, one thread "
                     "(lower is better)",
                fixed_threads=0,
                check=False,
                repeat_scale=3,
            )
        )

    B.TARGETS.extend([
        Target(f"{op} on {h} <= 1.1x float32 time", "half", shape, None, f"{op} {h}/f32", "<=", 1.1)
        for op in ("lse", "loss") for h in ("bfloat16", "float16") for shape in HALF_SHAPES
    ])
