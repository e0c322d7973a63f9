"""Maximum-entropy classification (SPEC §4, docs/math.md §5): :class:`MaxEntClassifier`, a
scikit-learn estimator fitted with logitcore's fused loss kernel and native sparse products,
and :class:`JointFeatures`, feature functions χ(x, y) that depend on the label.

Needs scikit-learn and SciPy (``pip install logitcore[maxent]``).
"""
from __future__ import annotations

try:
    import scipy  # noqa: F401
    import sklearn  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "logitcore.maxent needs scikit-learn and SciPy: pip install 'logitcore[maxent]'"
    ) from e

from ._estimator import MaxEntClassifier
from ._features import JointFeatures

__all__ = ["MaxEntClassifier", "JointFeatures"]
