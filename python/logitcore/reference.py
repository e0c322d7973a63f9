"""Plain NumPy float64 references for every public function.

Slow and simple on purpose: the tests compare the native kernels against these. They follow
the same special-value conventions as the library (documented on each public function).
One module per family; this one gathers them.
"""
from __future__ import annotations

from ._reference_entropy import *  # noqa: F401,F403
from ._reference_entropy import __all__ as _entropy_all
from ._reference_family import *  # noqa: F401,F403
from ._reference_family import __all__ as _family_all
from ._reference_losses import *  # noqa: F401,F403
from ._reference_losses import __all__ as _losses_all

__all__ = [*_family_all, *_entropy_all, *_losses_all]
