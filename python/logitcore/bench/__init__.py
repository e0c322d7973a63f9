"""Side-by-side benchmarks of logitcore against NumPy, SciPy and PyTorch
(``python -m logitcore bench``; figures only, never a test).

Imports point one way, downward: :mod:`.harness` holds the machinery (cases, timing, tables,
targets, command-line options) and imports no case; the case modules import the harness and
each registers its cases, headline rows and targets from one ``register_*_cases()`` function:

* :mod:`.family` — logsumexp and softmax, the memory-bound floor, thread scaling;
* :mod:`.losses` — the fused cross-entropy and robust losses against PyTorch;
* :mod:`.entropy_norm` — entropy normalization against the source article's iteration;
* :mod:`.half` — bfloat16 and float16 inputs against float32 (logsumexp, the fused loss; and,
  as the case ``half_kernels``, entropy normalization and the sampler);
* :mod:`.torch` — the PyTorch integration's autograd loss against ``F.cross_entropy``;
* :mod:`.gradpen` — the gradient-penalty report against one PyTorch forward and backward pass
  (``--cases gradpen``, or ``--full``; not in the default run);
* :mod:`.maxent` — the maximum-entropy classifier's fits against scikit-learn (a suite with its
  own loop: ``--cases maxent``, or ``--full``);
* :mod:`.dask` — vocabulary-parallel logsumexp and cross-entropy of a 31 GB lazily generated
  array on a two-process Dask cluster (a suite: ``--cases dask``, or ``--full``).

This package registers them all, in that order (the order of the tables, headline rows and
targets), so importing :mod:`logitcore.bench` or any module in it gives the whole suite.
:mod:`.memory` (``python -m logitcore.bench.memory``) measures the extra memory of one loss
call and registers nothing.

The registries (``CASES``, ``HEADLINE``, ``TARGETS``) are read and patched on
:mod:`.harness` itself; its classes and entry points are re-exported here.
"""
from __future__ import annotations

from . import harness
from .entropy_norm import register_entropy_cases
from .family import register_family_cases
from .harness import (
    Case,
    Contestant,
    Data,
    Target,
    add_arguments,
    exit_status,
    register,
    run,
    run_case,
)
from .gradpen import register_gradpen_cases
from .half import register_half_cases
from .losses import register_loss_cases
from .sampling import register_sampling_cases
from .torch import register_torch_cases

register_family_cases()
register_loss_cases()
register_entropy_cases()
register_sampling_cases()
register_half_cases()
register_torch_cases()
register_gradpen_cases()


def _maxent_suite(args, out):
    from . import maxent  # scikit-learn is optional: imported when the suite runs

    return maxent.run(args, out)


def _dask_suite(args, out):
    from . import dask  # dask and distributed are optional: imported when the suite runs

    return dask.run(args, out)


harness.SUITES.setdefault("maxent", _maxent_suite)
harness.SUITES.setdefault("dask", _dask_suite)

__all__ = [
    "harness",
    "Case",
    "Contestant",
    "Data",
    "Target",
    "register",
    "run_case",
    "run",
    "add_arguments",
    "exit_status",
]
