"""logitcore: fast, exact softmax-family kernels for CPUs.

Native kernels (AVX-512, AVX2+FMA and portable code, chosen at run time) behind a NumPy-style
API. Entropies are in nats. Set ``LOGITCORE_ISA=scalar|avx2|avx512`` to force a kernel path
and ``OMP_NUM_THREADS`` (or :func:`set_num_threads`) to choose the thread count.
"""
from __future__ import annotations

import os as _os

import numpy as _np

from . import _core
from ._family import entropy, log_softmax, logsumexp, softmax, softmax_entropy
from .entropy_norm import EntropyNormalizeInfo, entropy_normalize
from .losses import focal_loss, gamma_cross_entropy, generalized_cross_entropy
from .sampling import apply_penalties, sample
from .sparse import sparse_dot
from .streaming import LogSumExpState
from . import reference  # noqa: E402  (NumPy references, logitcore.reference)

__version__: str = _core.__version__

__all__ = [
    "logsumexp",
    "softmax",
    "log_softmax",
    "softmax_entropy",
    "entropy",
    "LogSumExpState",
    "entropy_normalize",
    "EntropyNormalizeInfo",
    "gamma_cross_entropy",
    "generalized_cross_entropy",
    "focal_loss",
    "sample",
    "apply_penalties",
    "sparse_dot",
    "show_config",
    "get_config",
    "set_num_threads",
    "get_num_threads",
]


# LOGITCORE_ISA is read by the native library (the same rule for C, C++ and Python callers);
# a value it cannot honour is an error at import rather than a silent fallback.
if _core._isa_env_error():
    raise ImportError(_core._isa_env_error())



def set_num_threads(n: int) -> None:
    """Use ``n`` threads in the kernels (``n <= 0`` restores the OpenMP default,
    which honours ``OMP_NUM_THREADS``; at most 4096). Results do not depend on the thread
    count."""
    import operator

    if isinstance(n, (bool, _np.bool_)):
        raise TypeError("n must be an integer, got bool")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n must be an integer, got {type(n).__name__}") from None
    if n > _core.MAX_THREADS:  # (the library checks it too; this one also covers n >= 2**31)
        raise ValueError(f"n must be at most {_core.MAX_THREADS} threads, got {n}")
    _core._set_num_threads(max(n, 0))


def get_num_threads() -> int:
    """Number of threads the kernels use."""
    return _core._get_num_threads()


def get_config() -> dict:
    """Build and runtime configuration as a dict (see :func:`show_config`)."""
    return {
        "version": __version__,
        "isa_selected": _core._isa(),
        "isa_compiled": list(_core._compiled_isas()),
        "isa_supported_by_cpu": list(_core._supported_isas()),
        "isa_forced_by_env": _os.environ.get("LOGITCORE_ISA") or None,
        "openmp": bool(_core._have_openmp()),
        "num_threads": _core._get_num_threads(),
        "block_size": int(_core._block_size),
    }


def show_config() -> None:
    """Print the compiled and selected kernel ISA, OpenMP support and the thread count."""
    cfg = get_config()
    width = max(len(k) for k in cfg)
    for k, v in cfg.items():
        if isinstance(v, list):
            v = ", ".join(v)
        print(f"{k:<{width}} : {v}")


# optional subpackages, imported on first use: `import logitcore` needs none of their extras
_LAZY = {"MaxEntClassifier": ("maxent", "MaxEntClassifier"), "JointFeatures": ("maxent", "JointFeatures")}
_LAZY_MODULES = ("maxent", "torch", "dask", "gradpen")  # logitcore.torch and logitcore.dask need their extras


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(f"{__name__}.{mod}"), attr)
    if name in _LAZY_MODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
