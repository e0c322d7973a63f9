"""Joint feature functions χ(x, y) of the maximum-entropy model (SPEC §4, docs/math.md §5).

A joint feature depends on the sample AND the label: the model scores label y of sample x as
Σ_k λ_k χ_k(x, y). For n samples and K labels the features form one sparse matrix Φ of shape
(n·K, F) whose row i·K + c is χ(x_i, classes[c]); the model's scores are (Φ·λ).reshape(n, K).
"""
from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["JointFeatures"]


def _sparse():
    import scipy.sparse as sp

    return sp


def _check_classes(classes) -> np.ndarray:
    c = np.asarray(list(classes) if not isinstance(classes, np.ndarray) else classes)
    if c.ndim != 1 or c.size == 0:
        raise ValueError("classes must be a non-empty sequence of labels")
    if len(set(c.tolist())) != c.size:
        raise ValueError("classes must not repeat a label")
    return c


class JointFeatures:
    """Joint feature vectors χ(x, y) of n samples for every label, as a sparse (n·K, F) matrix.

    Build one with :meth:`from_featuresets` (NLTK's binary encoding of ``{name: value}``
    dicts), :meth:`from_function` (a callable ``chi(sample, label)``) or :meth:`from_matrix`
    (the matrix itself); :meth:`transform` encodes new samples in the same feature space (not
    for :meth:`from_matrix`). Pass it to :class:`MaxEntClassifier.fit` / ``predict`` in place
    of ``X``.

    Attributes
    ----------
    matrix : scipy.sparse.csr_matrix, shape (n_samples * n_classes, n_features)
        Row ``i * n_classes + c`` is χ(x_i, classes[c]).
    classes : ndarray, shape (n_classes,)
        The labels, in the order of the matrix's rows.
    n_samples, n_classes, n_features : int
    """

    def __init__(self, matrix, classes, *, names: Sequence[str] | None = None, _encoder=None):
        sp = _sparse()
        self.classes = _check_classes(classes)
        k = self.classes.size
        if not sp.issparse(matrix):
            m = np.asarray(matrix)
            if m.ndim != 2:
                raise ValueError(f"the joint feature matrix must be 2-D (n_samples * n_classes, n_features), got shape {m.shape}")
            matrix = m
        m = sp.csr_matrix(matrix)
        if m.dtype.kind not in "fiub":
            raise TypeError(f"joint features must be real numbers, got dtype {m.dtype}")
        if m.dtype not in (np.float32, np.float64):
            m = m.astype(np.float64)
        if m.shape[0] % k:
            raise ValueError(
                f"the joint feature matrix has {m.shape[0]} rows, not a multiple of the {k} classes "
                "(row i * n_classes + c holds chi(x_i, classes[c]))"
            )
        if m.nnz and not np.all(np.isfinite(m.data)):
            raise ValueError("joint features must be finite (found NaN or inf)")
        m.sum_duplicates()
        self.matrix = m
        self.n_classes = k
        self.n_samples = m.shape[0] // k
        self.n_features = m.shape[1]
        if names is not None:
            names = [str(s) for s in names]
            if len(names) != self.n_features:
                raise ValueError(f"names has {len(names)} entries, expected one per feature ({self.n_features})")
        self._names = names
        self._encoder = _encoder

    def __repr__(self) -> str:
        return (f"JointFeatures(n_samples={self.n_samples}, n_classes={self.n_classes}, "
                f"n_features={self.n_features}, nnz={self.matrix.nnz})")

    # ---- construction ------------------------------------------------------------------

    @classmethod
    def from_featuresets(cls, featuresets: Sequence[Mapping], labels: Sequence, *, classes=None,
                         count_cutoff: int = 0, alwayson: bool = False) -> "JointFeatures":
        """NLTK's binary encoding (``BinaryMaxentFeatureEncoding``) of ``{name: value}`` dicts.

        One indicator per (name, value, label) attested in the training pairs: χ = 1 when the
        sample's feature ``name`` has ``value`` and the label is ``label``. As in NLTK, a
        triple enters the encoding once the pair (name, value) has been seen ``count_cutoff``
        times (counting in order over all labels). ``alwayson`` adds one feature per label
        that is 1 whenever the label is that one (a per-label bias). ``classes`` defaults to the
        sorted distinct labels.
        """
        fs = list(featuresets)
        ys = list(labels)
        if len(fs) != len(ys):
            raise ValueError(f"featuresets has {len(fs)} entries but labels has {len(ys)}")
        if not isinstance(count_cutoff, numbers.Integral) or isinstance(count_cutoff, bool) or count_cutoff < 0:
            raise ValueError(f"count_cutoff must be an integer >= 0, got {count_cutoff!r}")
        for i, f in enumerate(fs):
            if not isinstance(f, Mapping):
                raise TypeError(f"featuresets[{i}] is a {type(f).__name__}, expected a dict {{name: value}}")
        cls_arr = _check_classes(sorted(set(ys)) if classes is None else classes)
        known = set(cls_arr.tolist())
        for y in ys:
            if y not in known:
                raise ValueError(f"label {y!r} is not one of the classes {cls_arr.tolist()}")
        mapping: dict = {}
        count: dict = {}
        for f, y in zip(fs, ys):
            for name, value in f.items():
                count[name, value] = count.get((name, value), 0) + 1
                if count[name, value] >= count_cutoff and (name, value, y) not in mapping:
                    mapping[name, value, y] = len(mapping)
        enc = _BinaryEncoder(cls_arr, mapping, bool(alwayson))
        return enc.encode(fs, owner=cls)

    @classmethod
    def from_function(cls, chi: Callable, samples: Sequence, classes, n_features: int, *,
                      names: Sequence[str] | None = None) -> "JointFeatures":
        """χ from a callable: ``chi(sample, label)`` returns an iterable of (index, value)
        pairs (index in [0, n_features); repeated indices add up)."""
        if not callable(chi):
            raise TypeError("chi must be callable: chi(sample, label) -> iterable of (index, value)")
        if not isinstance(n_features, numbers.Integral) or isinstance(n_features, bool) or n_features < 0:
            raise ValueError(f"n_features must be an integer >= 0, got {n_features!r}")
        enc = _FunctionEncoder(chi, _check_classes(classes), int(n_features), names)
        return enc.encode(list(samples), owner=cls)

    @classmethod
    def from_matrix(cls, matrix, classes, *, names: Sequence[str] | None = None) -> "JointFeatures":
        """The (n_samples·K, F) matrix itself (dense or scipy.sparse); row i·K + c is
        χ(x_i, classes[c])."""
        return cls(matrix, classes, names=names)

    def transform(self, samples: Sequence) -> "JointFeatures":
        """Encode new samples (featuresets or ``chi`` inputs) in this feature space."""
        if self._encoder is None:
            raise ValueError("this JointFeatures was built from a matrix: it cannot encode new samples "
                             "(build the new samples' matrix and use JointFeatures.from_matrix)")
        return self._encoder.encode(list(samples), owner=type(self))

    # ---- description -------------------------------------------------------------------

    def describe(self, i: int) -> str:
        """A readable name of joint feature ``i``."""
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError(f"feature index must be an integer, got {i!r}")
        if not 0 <= i < self.n_features:
            raise IndexError(f"feature index {i} out of range for {self.n_features} features")
        if self._encoder is not None:
            return self._encoder.describe(int(i))
        return self._names[i] if self._names is not None else f"feature {int(i)}"

    def is_nonnegative(self) -> bool:
        return self.matrix.nnz == 0 or bool(self.matrix.data.min() >= 0)


class _BinaryEncoder:
    def __init__(self, classes, mapping, alwayson):
        self.classes = classes
        self.mapping = mapping
        self.alwayson = alwayson
        self.inv = [None] * len(mapping)
        for key, j in mapping.items():
            self.inv[j] = key
        self.n_features = len(mapping) + (classes.size if alwayson else 0)

    def encode(self, fs, owner):
        sp = _sparse()
        labels = self.classes.tolist()
        k = len(labels)
        rows, cols = [], []
        for i, f in enumerate(fs):
            if not isinstance(f, Mapping):
                raise TypeError(f"featuresets[{i}] is a {type(f).__name__}, expected a dict {{name: value}}")
            for c, y in enumerate(labels):
                r = i * k + c
                for name, value in f.items():
                    j = self.mapping.get((name, value, y))
                    if j is not None:
                        rows.append(r)
                        cols.append(j)
                if self.alwayson:
                    rows.append(r)
                    cols.append(len(self.mapping) + c)
        m = sp.csr_matrix((np.ones(len(rows)), (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
                          shape=(len(fs) * k, self.n_features))
        return owner(m, self.classes, _encoder=self)

    def describe(self, j):
        if j < len(self.mapping):
            name, value, y = self.inv[j]
            return f"{name}=={value!r} and label is {y!r}"
        return f"label is {self.classes[j - len(self.mapping)].item()!r}"


class _FunctionEncoder:
    def __init__(self, chi, classes, n_features, names):
        self.chi = chi
        self.classes = classes
        self.n_features = n_features
        if names is not None:
            names = [str(s) for s in names]
            if len(names) != n_features:
                raise ValueError(f"names has {len(names)} entries, expected one per feature ({n_features})")
        self.names = names

    def encode(self, samples, owner):
        sp = _sparse()
        labels = self.classes.tolist()
        k = len(labels)
        rows, cols, vals = [], [], []
        for i, s in enumerate(samples):
            for c, y in enumerate(labels):
                out = self.chi(s, y)
                if not isinstance(out, Iterable):
                    raise TypeError(f"chi(sample {i}, {y!r}) returned {type(out).__name__}, "
                                    "expected an iterable of (index, value) pairs")
                for pair in out:
                    try:
                        j, v = pair
                    except (TypeError, ValueError):
                        raise TypeError(f"chi(sample {i}, {y!r}) yielded {pair!r}, expected an (index, value) pair") from None
                    if isinstance(j, bool) or not isinstance(j, numbers.Integral):
                        raise TypeError(f"chi(sample {i}, {y!r}) yielded index {j!r}, expected an integer")
                    if not 0 <= j < self.n_features:
                        raise IndexError(f"chi(sample {i}, {y!r}) yielded index {j}, out of range for "
                                         f"{self.n_features} features")
                    rows.append(i * k + c)
                    cols.append(int(j))
                    vals.append(float(v))
        m = sp.csr_matrix((np.asarray(vals, dtype=np.float64), (np.asarray(rows, dtype=np.int64),
                                                                 np.asarray(cols, dtype=np.int64))),
                          shape=(len(samples) * k, self.n_features))
        return owner(m, self.classes, names=self.names, _encoder=self)

    def describe(self, j):
        return self.names[j] if self.names is not None else f"feature {j}"
