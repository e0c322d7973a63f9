"""Plain NumPy float64 references for every public function.

Slow and simple on purpose: the tests compare the native kernels against these. They follow
the same special-value conventions as the library (documented on each public function).

One module per family, each importing only NumPy (and :mod:`.losses` the log-softmax of
:mod:`.family`); this package gathers them:

* :mod:`.family` — logsumexp, softmax, log_softmax, the entropies, the streaming state
  (docs/math.md §1);
* :mod:`.entropy_norm` — entropy normalization and the source article's iteration
  (docs/math.md §2);
* :mod:`.losses` — γ-cross-entropy, generalized cross-entropy, focal loss (docs/math.md §3);
* :mod:`.sampling` — Philox4x32-10, the sampling distribution and draw, log-probabilities,
  penalties (docs/math.md §4; uses the log_softmax of :mod:`.family`);
* :mod:`.sparse` — the sparse (CSR) times dense product of ``logitcore.sparse_dot``.
"""
from __future__ import annotations

from .entropy_norm import *  # noqa: F401,F403
from .entropy_norm import __all__ as _entropy_all
from .family import *  # noqa: F401,F403
from .family import __all__ as _family_all
from .losses import *  # noqa: F401,F403
from .losses import __all__ as _losses_all
from .sampling import *  # noqa: F401,F403
from .sampling import __all__ as _sampling_all
from .sparse import *  # noqa: F401,F403
from .sparse import __all__ as _sparse_all

__all__ = [*_family_all, *_entropy_all, *_losses_all, *_sampling_all, *_sparse_all]
