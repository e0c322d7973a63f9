"""Every benchmark case: the harness (:mod:`logitcore.bench`) with the case modules that
register into it. Import this module, not the harness alone, to run the benchmark; imports
point one way: cases -> harness."""
from __future__ import annotations

from . import bench
from .bench_entropy import register_entropy_cases
from .bench_losses import register_loss_cases

register_loss_cases()
register_entropy_cases()

__all__ = ["bench"]
