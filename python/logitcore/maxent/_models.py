"""The parameter layouts of the maximum-entropy model and their products (scores, gradients).

Two layouts share one interface (``scores`` writes the (n, K) scores in the compute dtype,
``backward`` maps a (n, K) matrix G to the gradient of Σ G∘scores in float64):

* input features X (n, F), dense or sparse: χ(x, y) = x ⊗ e_y, parameters Wᵀ (F, K) and an
  optional intercept (K,); scores = X·Wᵀ + b, gradient Xᵀ·G and Σ_i G_i.
* joint features Φ (n·K, F) (:class:`JointFeatures`): parameters λ (F,) and an optional
  intercept; scores = (Φ·λ).reshape(n, K) + b, gradient Φᵀ·vec(G) and Σ_i G_i.

Sparse products go through the native CSR·dense kernel (threads, deterministic); dense ones
through NumPy's BLAS.
"""
from __future__ import annotations

import numpy as np

from .. import _core


def _sparse():
    import scipy.sparse as sp

    return sp


def spmm(a, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = a·b for a CSR matrix a (canonical or not) and a dense row-major b, in a's dtype."""
    _core._csr_matmul(a.indptr, a.indices, a.data, a.shape[1], b, out)
    return out


def transpose_csr(a):
    """The CSR arrays of aᵀ (a's CSC form read as rows), computed once per fit."""
    sp = _sparse()
    t = a.tocsc()
    return sp.csr_matrix((t.data, t.indices, t.indptr), shape=(a.shape[1], a.shape[0]))


class InputModel:
    """χ(x, y) = x ⊗ e_y: parameters θ = [vec(Wᵀ) (F·K), b (K)]."""

    joint = False

    def __init__(self, X, n_classes: int, fit_intercept: bool):
        sp = _sparse() if not isinstance(X, np.ndarray) else None
        self.sparse = sp is not None and sp.issparse(X)
        self.X = X
        self.dtype = X.dtype
        self.n = X.shape[0]
        self.f = X.shape[1]
        self.k = n_classes
        self.fit_intercept = fit_intercept
        self._xt = None

    @property
    def n_params(self) -> int:
        return self.f * self.k + (self.k if self.fit_intercept else 0)

    def penalized(self) -> slice:
        return slice(0, self.f * self.k)

    def split(self, theta: np.ndarray):
        w = theta[: self.f * self.k].reshape(self.f, self.k)
        b = theta[self.f * self.k:] if self.fit_intercept else None
        return w, b

    def scores(self, theta: np.ndarray, out: np.ndarray) -> np.ndarray:
        w, b = self.split(theta)
        wt = np.ascontiguousarray(w, dtype=self.dtype)
        if self.sparse:
            spmm(self.X, wt, out)
        else:
            np.matmul(self.X, wt, out=out)
        if b is not None:
            out += b.astype(self.dtype)
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        grad = np.empty(self.n_params)
        # float64: the product is written straight into the gradient vector (no (F, K) temporary)
        gw = grad[: self.f * self.k].reshape(self.f, self.k)
        if self.dtype != np.float64:
            gw = np.empty((self.f, self.k), dtype=self.dtype)
        if self.sparse:
            if self._xt is None:
                self._xt = transpose_csr(self.X)
            spmm(self._xt, g, gw)
        else:
            np.matmul(self.X.T, g, out=gw)
        if self.dtype != np.float64:
            grad[: self.f * self.k] = gw.reshape(-1)
        if self.fit_intercept:
            grad[self.f * self.k:] = g.sum(axis=0, dtype=np.float64)
        return grad

    def totals(self) -> np.ndarray:
        """Σ_k χ_k(x_i, y) per sample and label, (n, K) (the same for every label here)."""
        s = np.asarray(self.X.sum(axis=1), dtype=np.float64).reshape(-1, 1)
        return np.broadcast_to(s + (1.0 if self.fit_intercept else 0.0), (self.n, self.k))

    def min_feature(self) -> float:
        if self.sparse:
            return float(self.X.data.min()) if self.X.nnz else 0.0
        return float(self.X.min()) if self.X.size else 0.0


class JointModel:
    """Joint features Φ (n·K, F): parameters θ = [λ (F), b (K)]."""

    joint = True

    def __init__(self, phi, n_classes: int, fit_intercept: bool):
        self.X = phi
        self.sparse = True
        self.dtype = phi.dtype
        self.k = n_classes
        self.n = phi.shape[0] // n_classes
        self.f = phi.shape[1]
        self.fit_intercept = fit_intercept
        self._xt = None

    @property
    def n_params(self) -> int:
        return self.f + (self.k if self.fit_intercept else 0)

    def penalized(self) -> slice:
        return slice(0, self.f)

    def split(self, theta: np.ndarray):
        return theta[: self.f], (theta[self.f:] if self.fit_intercept else None)

    def scores(self, theta: np.ndarray, out: np.ndarray) -> np.ndarray:
        lam, b = self.split(theta)
        lt = np.ascontiguousarray(lam, dtype=self.dtype).reshape(-1, 1)
        spmm(self.X, lt, out.reshape(-1, 1))
        if b is not None:
            out += b.astype(self.dtype)
        return out

    def backward(self, g: np.ndarray) -> np.ndarray:
        grad = np.empty(self.n_params)
        if self._xt is None:
            self._xt = transpose_csr(self.X)
        gl = spmm(self._xt, np.ascontiguousarray(g).reshape(-1, 1), np.empty((self.f, 1), dtype=self.dtype))
        grad[: self.f] = gl.reshape(-1)
        if self.fit_intercept:
            grad[self.f:] = g.sum(axis=0, dtype=np.float64)
        return grad

    def totals(self) -> np.ndarray:
        s = np.asarray(self.X.sum(axis=1), dtype=np.float64).reshape(self.n, self.k)
        return s + (1.0 if self.fit_intercept else 0.0)

    def min_feature(self) -> float:
        return float(self.X.data.min()) if self.X.nnz else 0.0
