"""Benchmark cases for entropy normalization, registered into the harness.

``register_entropy_cases()`` adds two cases and two targets to the ``python -m logitcore bench``
registry (idempotent):

* ``entropy_normalize`` — ``logitcore.entropy_normalize(p, log(30), tol=1e-5)`` vs the source
  article's NumPy iteration, ``logitcore.reference.entropy_normalize_seed(p, log(30), 50,
  tol=1e-5)`` (Newton steps on the power, compounding, stopped once every row is within the
  same tolerance). Extra columns, computed once per input outside the timing: mean and max
  ``n_iter`` per row of logitcore (``return_info=True``; passes over the row, the first at
  gamma = 1), the steps the seed took (``return_iterations=True``), and the largest
  |H(q) - log 30| of each result, evaluated in float64. A result more than 1e-4 nats off the
  target is flagged.
* ``entropy_vs_softmax`` — the same ``entropy_normalize`` on one row of 128256 (a LLaMA-3
  vocabulary) against one ``logitcore.softmax`` of that row's logits: the normalization in
  units of the pass that produced the probabilities.

Inputs: p = softmax(2 z), z ~ N(0, 1) drawn with a fixed seed (0) per shape, computed in
float64 and rounded to the benchmark dtype; the softmax contestant gets the logits 2 z in that
dtype. The rows have entropy of about log(V) - 2 nats, well above the target log 30 = 3.40.

Targets (float32, one thread): on (64, 32000) logitcore >= 30x faster than the seed; on
(1, 128256) entropy_normalize time <= 6x one logitcore.softmax of the row. ``entropy_normalize``
on (64, 32000) at one thread is also a row of the headline table of the default run (the seed
in its NumPy column).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List

import numpy as np

import logitcore

from .. import reference
from . import harness as B

__all__ = ["register_entropy_cases", "ENTROPY_SHAPES", "TARGET_ENTROPY", "TOL", "SEED_MAX_STEPS"]

TARGET_ENTROPY = math.log(30.0)  # nats
TOL = 1e-5  # |H(q) - target| at which both contestants stop
SEED_MAX_STEPS = 50
AGREE = 1e-4  # a result further than this from the target is flagged
ENTROPY_SHAPES = [(1, 32000), (64, 32000), (8, 128256), (1, 128256), (4096, 1024)]
_SEED = 0


def _logits_and_probs(x: np.ndarray):
    """(2 z, softmax(2 z)) in x's dtype, z ~ N(0, 1) from a fixed seed (x gives shape, dtype)."""
    z2 = 2.0 * np.random.default_rng(_SEED).standard_normal(x.shape)
    e = np.exp(z2 - z2.max(axis=-1, keepdims=True))
    e /= e.sum(axis=-1, keepdims=True)
    return z2.astype(x.dtype), e.astype(x.dtype)


def _probs(d: B.Data) -> np.ndarray:
    return d.cached("entropy_probs", _logits_and_probs)[1]


def _logits(d: B.Data) -> np.ndarray:
    return d.cached("entropy_probs", _logits_and_probs)[0]


def _entropy64(q: np.ndarray) -> np.ndarray:
    """-sum q log q per row in float64, 0 log 0 = 0."""
    q = np.asarray(q, dtype=np.float64)
    return -np.sum(q * np.log(q, out=np.zeros_like(q), where=q > 0), axis=-1)


# --- contestants -------------------------------------------------------------------------------


def _lc(d):
    p = _probs(d)
    return lambda: logitcore.entropy_normalize(p, TARGET_ENTROPY, tol=TOL)


def _seed(d):
    p = _probs(d)
    return lambda: reference.entropy_normalize_seed(p, TARGET_ENTROPY, SEED_MAX_STEPS, tol=TOL)


def _softmax(d):
    z = _logits(d)
    return lambda: logitcore.softmax(z, axis=-1)


# --- untimed figures and agreement -------------------------------------------------------------


def _info(d) -> Dict[str, float]:
    p = _probs(d)
    q, info = logitcore.entropy_normalize(p, TARGET_ENTROPY, tol=TOL, return_info=True)
    return {
        "n_iter mean": float(np.mean(info.n_iter)),
        "n_iter max": int(np.max(info.n_iter)),
        "|dH| lc": float(np.max(np.abs(_entropy64(q) - TARGET_ENTROPY))),
    }


def _info_with_seed(d) -> Dict[str, float]:
    res = _info(d)
    qs, steps = reference.entropy_normalize_seed(_probs(d), TARGET_ENTROPY, SEED_MAX_STEPS, tol=TOL,
                                                 return_iterations=True)
    res["seed steps"] = int(steps)
    res["|dH| seed"] = float(np.max(np.abs(_entropy64(qs) - TARGET_ENTROPY)))
    return res


def _verify(d, outputs: Dict[str, Any]) -> List[str]:
    """Each entropy-normalized result must have entropy log 30 within AGREE in every row."""
    warnings = []
    for name, q in outputs.items():
        if name == "softmax":
            continue
        err = np.abs(_entropy64(q) - TARGET_ENTROPY)
        if not np.all(err <= AGREE):  # NaN fails too
            warnings.append(f"{name}: max |H(q) - log 30| = {float(np.max(err)):.3g} nats "
                            f"(> {AGREE:g}) in {int(np.sum(~(err <= AGREE)))} rows")
    return warnings


# --- registration ----------------------------------------------------------------------------


def register_entropy_cases() -> None:
    """Add the entropy-normalization cases, headline row and targets to the harness (once)."""
    if any(c.name == "entropy_normalize" for c in B.CASES):
        return
    C = B.Contestant
    B.register(
        B.Case(
            name="entropy_normalize",
            title="entropy normalization to log(30) nats, tol 1e-5",
            shapes=list(ENTROPY_SHAPES),
            contestants={
                "logitcore": C(_lc),
                "seed": C(_seed),
            },
            note="p = softmax(2 z), z ~ N(0, 1), seed 0; logitcore.entropy_normalize(p, log 30, tol=1e-5) vs "
            "reference.entropy_normalize_seed(p, log 30, 50, tol=1e-5) (the article's NumPy iteration, "
            "single-threaded); ratio = seed time / logitcore time; n_iter: passes per row (logitcore), "
            "seed steps: iterations the seed took; |dH|: max over rows of |H(q) - log 30| in float64",
            info=_info_with_seed,
            verify=_verify,
            headline={"numpy": "seed"},
            headline_label="entropy_normalize",
            headline_note="to log 30 nats, tol 1e-5, p = softmax(2 z); numpy = the source article's "
            "iteration (reference.entropy_normalize_seed)",
        )
    )
    B.HEADLINE.append(("entropy_normalize", (64, 32000), 1))
    B.register(
        B.Case(
            name="entropy_vs_softmax",
            title="entropy normalization of one row vs one softmax of it",
            shapes=[(1, 128256)],
            contestants={
                "entropy_normalize": C(_lc),
                "softmax": C(_softmax),
            },
            baseline="softmax",
            ratios=[("entropy_normalize/softmax", "entropy_normalize", "softmax")],
            note="logitcore.entropy_normalize(p, log 30, tol=1e-5) vs logitcore.softmax(2 z) with "
            "p = softmax(2 z); ratio = entropy_normalize time / softmax time (lower is better)",
            info=_info,
            verify=_verify,
            repeat_scale=5,
        )
    )
    B.TARGETS.append(
        B.Target("logitcore entropy_normalize >= 30x faster than the seed iteration (NumPy)",
                 "entropy_normalize", (64, 32000), 1, "seed/logitcore", ">=", 30.0)
    )
    B.TARGETS.append(
        B.Target("entropy_normalize time <= 6x one logitcore.softmax of the row",
                 "entropy_vs_softmax", (1, 128256), 1, "entropy_normalize/softmax", "<=", 6.0)
    )
