"""The gradient-penalty report: both sides of ‖∇_x f‖²·C(x, θ) ≤ ‖∇_θ f‖² per example (docs/math.md §8).

Notation (layers t = 1..l, arrays indexed t − 1): h^(1) = x, z^(t+1) = W^(t) h^(t) + b^(t),
h^(t+1) = g^(t)(z^(t+1)); f a scalar function of h^(l+1); δ_t = ∂f/∂z^(t+1); J_t = ∂h^(t)/∂x
(J_1 = I). Per example, from one batched forward pass and one backward pass:

* ∇_b^(t) f = δ_t and ∇_W^(t) f = δ_t h^(t)ᵀ, a rank-one matrix: ‖∇_W^(t) f‖_F² = ‖δ_t‖² ‖h^(t)‖²
  (no per-example gradient is ever formed);
* ∇_x f = J_tᵀ W^(t)ᵀ δ_t for every t, hence ‖∇_x f‖ ≤ ‖J_t‖ ‖W^(t)‖ ‖δ_t‖: the tightness
  ρ_t = ‖∇_x f‖ / (‖J_t‖ ‖W^(t)‖ ‖δ_t‖) ∈ [0, 1], and per layer
  ‖∇_x f‖² (1 + ‖h^(t)‖²) / (‖W^(t)‖² ‖J_t‖²) ≤ ‖∇_W^(t) f‖² + ‖∇_b^(t) f‖²; summed over t,
  C(x, θ) = Σ_t (1 + ‖h^(t)‖²) / (‖W^(t)‖² ‖J_t‖²) (the 1 is absent for a layer without bias).

‖J_t‖ per example: ``jacobian="exact"`` builds the stacked Jacobians (chunked) and takes their
largest singular values; ``"power"`` estimates the spectral norm matrix-free by power iteration
(a lower estimate: C may come out too large and the inequality look violated; such examples are
flagged in ``violated``); ``"bound"`` uses the certified upper bound
‖J_t‖ ≤ ‖W^(1)‖ · Π_{s=2}^{t−1} ‖W^(s)‖₂ · Π_{s=1}^{t−1} max_i |g'(z^(s+1))_i| (per example), which
keeps the inequality valid, looser.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from ._model import Layer, as_layers

__all__ = [
    "GradientPenaltyReport",
    "ForwardBackward",
    "gradient_penalty_report",
    "forward_backward",
    "input_jacobians",
]

_OUTPUTS = ("loss", "logsumexp")
_NORMS = ("spectral", "frobenius")
_JACOBIANS = ("exact", "power", "bound")
# entries of the stacked Jacobians per chunk in exact mode (2**23 float64 values: 64 MiB)
_EXACT_CHUNK_ENTRIES = 1 << 23


# --------------------------------------------------------------------------------------------
# validation


def _compute_dtype(layers: List[Layer], X: np.ndarray) -> np.dtype:
    """float32 when the input and every parameter are float32, else float64."""
    arrs = [X] + [a for L in layers for a in (L.W, L.b) if a is not None]
    return np.dtype(np.float32) if all(a.dtype == np.float32 for a in arrs) else np.dtype(np.float64)


def _as_input(X, layers: List[Layer]) -> np.ndarray:
    if hasattr(X, "detach") and hasattr(X, "numpy"):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.dtype.kind not in "fiub":
        raise TypeError(f"X must hold real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (examples, features), got shape {X.shape}")
    d0 = layers[0].W.shape[1]
    if X.shape[1] != d0:
        raise ValueError(f"X has {X.shape[1]} features but layer 1's W has shape {layers[0].W.shape} (in {d0})")
    if not np.all(np.isfinite(X)):
        raise ValueError("X holds non-finite values (NaN or inf)")
    return X


def _as_output(output, n_out: int):
    if isinstance(output, str):
        if output not in _OUTPUTS:
            raise ValueError(f"output must be 'loss', 'logsumexp' or an int (an output index), got {output!r}")
        return output
    if isinstance(output, (bool, np.bool_)):
        raise TypeError(f"output must be 'loss', 'logsumexp' or an int, got {output!r}")
    try:
        k = operator.index(output)
    except TypeError:
        raise TypeError(f"output must be 'loss', 'logsumexp' or an int, got {output!r}") from None
    if not -n_out <= k < n_out:
        raise IndexError(f"output index {k} is out of range for a model with {n_out} outputs")
    return k % n_out


def _as_labels(y, n: int, n_out: int) -> np.ndarray:
    if y is None:
        raise ValueError("output='loss' needs the labels y (one class index per example)")
    if hasattr(y, "detach") and hasattr(y, "numpy"):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise TypeError(f"y must hold integer class indices, got dtype {y.dtype}")
    if y.shape != (n,):
        raise ValueError(f"y has shape {y.shape}, expected ({n},) (one label per example of X)")
    bad = np.flatnonzero((y < 0) | (y >= n_out))
    if bad.size:
        i = int(bad[0])
        raise IndexError(f"y[{i}] = {int(y[i])} is out of range for a model with {n_out} outputs (classes)")
    return y.astype(np.int64, copy=False)


def _as_batch_size(batch_size) -> Optional[int]:
    if batch_size is None:
        return None
    if isinstance(batch_size, (bool, np.bool_)):
        raise TypeError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    try:
        b = operator.index(batch_size)
    except TypeError:
        raise TypeError(f"batch_size must be a positive integer or None, got {batch_size!r}") from None
    if b < 1:
        raise ValueError(f"batch_size must be >= 1, got {b}")
    return b


def _prepare(model, X, y, output, gamma):
    layers = as_layers(model)
    X = _as_input(X, layers)
    dt = _compute_dtype(layers, X)
    layers = [Layer(np.ascontiguousarray(L.W, dtype=dt), None if L.b is None else np.ascontiguousarray(L.b, dtype=dt),
                    L.activation) for L in layers]
    X = np.ascontiguousarray(X, dtype=dt)
    n_out = layers[-1].W.shape[0]
    output = _as_output(output, n_out)
    labels = _as_labels(y, X.shape[0], n_out) if output == "loss" else None
    if isinstance(gamma, (bool, np.bool_, str, bytes)):
        raise TypeError(f"gamma must be a real number in [0, 1], got {gamma!r}")
    try:
        gamma = float(gamma)
    except (TypeError, ValueError):
        raise TypeError(f"gamma must be a real number in [0, 1], got {gamma!r}") from None
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    return layers, X, labels, output, gamma


# --------------------------------------------------------------------------------------------
# one batched forward and backward pass


@dataclass
class ForwardBackward:
    """One batched forward and backward pass (t = 1..l at index t − 1).

    value: f per example (n,); hidden: [h^(1) = x, ..., h^(l+1)] (n, d_t) each; derivative:
    g'(z^(t+1)) per layer (n, d_(t+1)); delta: δ_t = ∂f/∂z^(t+1) per layer (n, d_(t+1));
    input_grad: ∇_x f (n, d_1).
    """

    value: np.ndarray
    hidden: List[np.ndarray]
    derivative: List[np.ndarray]
    delta: List[np.ndarray]
    input_grad: np.ndarray


def _forward_backward(layers: List[Layer], X: np.ndarray, labels, output, gamma) -> ForwardBackward:
    hidden = [X]
    deriv = []
    h = X
    for L in layers:
        z = h @ L.W.T
        if L.b is not None:
            z += L.b
        h, d = L.activation.value_and_derivative(z)
        hidden.append(h)
        deriv.append(d)
    value, g = _output_grad(h, labels, output, gamma)
    delta: List[np.ndarray] = [None] * len(layers)  # type: ignore[list-item]
    for t in range(len(layers) - 1, -1, -1):
        delta[t] = g * deriv[t]
        g = delta[t] @ layers[t].W
    return ForwardBackward(value, hidden, deriv, delta, g)


def _output_grad(h: np.ndarray, labels, output, gamma):
    """f per example and ∂f/∂h^(l+1)."""
    import logitcore

    h = np.ascontiguousarray(h)
    if output == "loss":
        value, grad = logitcore.gamma_cross_entropy(h, labels, gamma, reduction="none", return_grad=True)
        return np.asarray(value, dtype=np.float64), grad.astype(h.dtype, copy=False)
    if output == "logsumexp":
        value = logitcore.logsumexp(h, axis=-1)
        return np.asarray(value, dtype=np.float64), logitcore.softmax(h, axis=-1).astype(h.dtype, copy=False)
    grad = np.zeros_like(h)
    grad[:, output] = 1
    return h[:, output].astype(np.float64), grad


def forward_backward(model, X, y=None, *, output="loss", gamma=0.0) -> ForwardBackward:
    """The batched forward and backward pass the report is built from (see :class:`ForwardBackward`);
    arguments as for :func:`gradient_penalty_report`."""
    layers, X, labels, output, gamma = _prepare(model, X, y, output, gamma)
    return _forward_backward(layers, X, labels, output, gamma)


def _jacobians_T(layers: List[Layer], deriv: List[np.ndarray], d0: int, upto: int):
    """Yield (t, J_tᵀ) for t = 2..upto, J_tᵀ stacked (c, d_1, d_t), built by one GEMM per layer:
    J_(t+1)ᵀ = J_tᵀ W^(t)ᵀ diag(g'(z^(t+1)))."""
    c = deriv[0].shape[0]
    JT = None
    for t in range(1, upto):
        W = layers[t - 1].W
        if JT is None:
            JT = W.T[None, :, :] * deriv[t - 1][:, None, :]
        else:
            k = JT.shape[2]
            JT = (JT.reshape(c * d0, k) @ W.T).reshape(c, d0, W.shape[0])
            JT *= deriv[t - 1][:, None, :]
        yield t + 1, JT


def input_jacobians(model, X, layer: int) -> np.ndarray:
    """J_t = ∂h^(t)/∂x per example, stacked (n, d_t, d_1), for layer t in 1..l+1 (t = 1: the
    identity; t = l + 1: the model's output)."""
    layers, X, _, _, _ = _prepare(model, X, None, "logsumexp", 0.0)
    t = operator.index(layer)
    if not 1 <= t <= len(layers) + 1:
        raise IndexError(f"layer must be in 1..{len(layers) + 1}, got {t}")
    n, d0 = X.shape
    if t == 1:
        return np.broadcast_to(np.eye(d0, dtype=X.dtype), (n, d0, d0)).copy()
    fb = _forward_backward(layers, X, None, 0, 0.0)
    for s, JT in _jacobians_T(layers, fb.derivative, d0, t):
        if s == t:
            return JT.transpose(0, 2, 1).copy()
    raise AssertionError  # pragma: no cover


# --------------------------------------------------------------------------------------------
# norms of the Jacobians


def _spectral_stack(A: np.ndarray) -> np.ndarray:
    """Largest singular value of each matrix of a stack (c, m, k): the square root of the largest
    eigenvalue of the smaller Gram matrix (min(m, k) square; its largest eigenvalue is accurate to
    rounding relative to itself, so σ_max to half an ulp more than an SVD's). Measured on
    (2000, 64, 256) at one thread: 0.25 s against 0.94 s for the singular values."""
    with _one_blas_thread():
        G = A @ A.transpose(0, 2, 1) if A.shape[1] <= A.shape[2] else A.transpose(0, 2, 1) @ A
        lam = np.linalg.eigvalsh(G)[:, -1].astype(np.float64)
    return np.sqrt(np.maximum(lam, 0.0))


def _one_blas_thread():
    """Stacks of small matrices go one BLAS/LAPACK call per matrix: threads only synchronize
    (2 threads were 4-6x slower than 1 on (2000, 64, 256) on two cores). Limited through
    threadpoolctl when it is installed (it comes with scikit-learn)."""
    import contextlib

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _reduced_first_layer(layers: List[Layer]) -> List[Layer]:
    """Layers whose Jacobian norms equal the model's, with the input space cut to d_2 < d_1 when
    the first layer narrows: W^(1) = Rᵀ Qᵀ (QR of W^(1)ᵀ, Q with orthonormal columns), and
    ‖M Rᵀ Qᵀ‖ = ‖M Rᵀ‖ in the spectral and the Frobenius norm for every M, so J_t's norms are those
    of the (d_t, d_2) Jacobians of the model with W^(1) replaced by Rᵀ."""
    W = layers[0].W
    if W.shape[1] <= W.shape[0]:
        return layers
    R = np.linalg.qr(W.T, mode="r")
    return [Layer(np.ascontiguousarray(R.T), layers[0].b, layers[0].activation)] + list(layers[1:])


def _rowsq(a: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, a, dtype=np.float64) if a.dtype == np.float64 else \
        np.einsum("ij,ij->i", a, a).astype(np.float64)


def _jacobian_norms_exact(layers, deriv, d0, norm) -> np.ndarray:
    c, L = deriv[0].shape[0], len(layers)
    out = np.empty((c, L))
    out[:, 0] = 1.0 if norm == "spectral" else math.sqrt(d0)
    layers = _reduced_first_layer(layers)
    for t, JT in _jacobians_T(layers, deriv, layers[0].W.shape[1], L):
        if norm == "spectral":
            out[:, t - 1] = _spectral_stack(JT)
        else:
            out[:, t - 1] = np.sqrt(np.einsum("cij,cij->c", JT, JT, dtype=np.float64))
    return out


def _jacobian_norms_bound(layers, deriv, d0, norm, wnorm, wspec) -> np.ndarray:
    """Per example: B_1 = ‖I‖, B_2 = max|g'_1|·‖W^(1)‖, B_(t+1) = max|g'_t|·‖W^(t)‖₂·B_t
    (‖D W J‖ ≤ ‖D‖₂‖W‖₂‖J‖ in either norm, and ‖D W^(1)‖ ≤ ‖D‖₂‖W^(1)‖)."""
    c, L = deriv[0].shape[0], len(layers)
    out = np.empty((c, L))
    out[:, 0] = 1.0 if norm == "spectral" else math.sqrt(d0)
    B = None
    for t in range(1, L):
        m = np.abs(deriv[t - 1]).max(axis=1).astype(np.float64)
        B = m * wnorm[0] if B is None else B * m * wspec[t - 1]
        out[:, t] = B
    return out


def _jacobian_norms_power(layers, deriv, d0, iters, tol, rng):
    """Power iteration on J_tᵀJ_t for each t ≥ 2, all examples of the chunk at once: v ← J_tᵀJ_t v / ‖·‖
    with J_t v by a forward (JVP) sweep and J_tᵀ u by a backward sweep; the estimate ‖J_t v‖ for a
    unit v is a lower bound of ‖J_t‖₂. An example stops when its estimate changes by at most
    ``tol`` relative (the arrays are compacted as examples stop). The input space is first cut to
    d_2 when the first layer narrows (:func:`_reduced_first_layer`). Returns the estimates and the
    iterations used per layer."""
    c, L = deriv[0].shape[0], len(layers)
    dt = deriv[0].dtype
    layers = _reduced_first_layer(layers)
    dv = layers[0].W.shape[1]
    out = np.empty((c, L))
    out[:, 0] = 1.0
    used = np.zeros(L, dtype=np.int64)
    for t in range(2, L + 1):  # J_t = ∂h^(t)/∂x involves layers 1..t-1
        v = rng.standard_normal((c, dv)).astype(dt)
        v /= np.sqrt(_rowsq(v)).astype(dt)[:, None]
        rows = np.arange(c)  # the examples still iterating
        der = [deriv[s] for s in range(t - 1)]
        prev = np.zeros(c)
        est = np.zeros(c)
        it = 0
        for it in range(1, iters + 1):
            u = v
            for s in range(t - 1):
                u = (u @ layers[s].W.T) * der[s]
            e = np.sqrt(_rowsq(u))
            est[rows] = e
            if it == iters:
                break
            w = u
            for s in range(t - 2, -1, -1):
                w = (w * der[s]) @ layers[s].W
            nw = np.sqrt(_rowsq(w))
            go = ~(np.abs(e - prev) <= tol * e) & (nw > 0)
            if not go.any():
                break
            v = w / np.where(nw > 0, nw, 1.0).astype(dt)[:, None]
            prev = e
            if go.sum() <= 0.75 * go.size:  # compact: drop the examples that stopped
                rows, v, prev = rows[go], v[go], prev[go]
                der = [a[go] for a in der]
        out[:, t - 1] = est
        used[t - 1] = it
    return out, used


# --------------------------------------------------------------------------------------------
# the report


class GradientPenaltyReport:
    """Per-example figures of the input- vs parameter-gradient inequality (docs/math.md §8).

    Arrays of shape (n,): ``input_grad_sq`` ‖∇_x f‖², ``param_grad_sq`` ‖∇_θ f‖², ``factor``
    C(x, θ), ``lhs`` ‖∇_x f‖²·C, ``rhs`` = ``param_grad_sq``, ``value`` f, ``violated`` (lhs > rhs,
    or a per-layer inequality broken, beyond rounding: possible only with ``jacobian="power"``).
    Arrays of shape (n, layers), column t − 1 for layer t: ``weight_grad_sq`` ‖∇_W^(t) f‖_F²,
    ``bias_grad_sq`` ‖∇_b^(t) f‖², ``weight_norm`` ‖W^(t)‖, ``jacobian_norm`` ‖J_t‖,
    ``hidden_norm_sq`` ‖h^(t)‖², ``tightness`` ρ_t, ``layer_lhs`` and ``layer_rhs`` (both sides of
    layer t's inequality, W and b together). Also: ``layer_sizes``, ``activations``, ``has_bias``
    (per layer), ``output``, ``norm``, ``jacobian``, ``gamma``, ``dtype`` (the computing dtype) and
    ``power_iterations`` (per layer, the most used in power mode).
    """

    def __init__(self, **fields):
        self.__dict__.update(fields)

    @property
    def n_examples(self) -> int:
        return int(self.input_grad_sq.shape[0])

    @property
    def n_layers(self) -> int:
        return len(self.layer_sizes) - 1

    def __repr__(self) -> str:
        return (f"<GradientPenaltyReport: {self.n_examples} examples, {self.n_layers} layers "
                f"({'-'.join(map(str, self.layer_sizes))}), output={self.output!r}, norm={self.norm!r}, "
                f"jacobian={self.jacobian!r}, violated={int(self.violated.sum())}>")

    def summary(self) -> str:
        """A text table: the summed inequality's figures and each layer's (medians, ranges)."""
        n = self.n_examples
        lines = [
            f"Gradient-penalty report: {n} examples, MLP {'-'.join(map(str, self.layer_sizes))}, "
            f"output {self.output!r}, {self.norm} norms, {self.jacobian} Jacobian norms",
        ]
        if self.jacobian == "power":
            lines.append(f"  ‖J_t‖ are power-iteration lower estimates ({', '.join(map(str, self.power_iterations[1:]))}"
                         f" iterations for t = 2..{self.n_layers}): C may be overestimated")
        elif self.jacobian == "bound":
            lines.append("  ‖J_t‖ are certified upper bounds: the inequality stays valid, C is underestimated")
        nv = int(self.violated.sum())
        lines.append(f"  ‖∇x f‖²·C(x, θ) <= ‖∇θ f‖² holds for {n - nv} of {n} examples"
                     + (f"; looks violated for {nv} (flagged in .violated)" if nv else ""))
        if n == 0:
            return "\n".join(lines)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(self.rhs > 0, self.lhs / self.rhs, np.where(self.lhs > 0, np.inf, 0.0))
        rows = [("‖∇x f‖²", self.input_grad_sq), ("‖∇θ f‖²", self.param_grad_sq), ("C(x, θ)", self.factor),
                ("lhs / rhs", ratio)]
        lines.append(f"  {'':<12}{'median':>12}{'min':>12}{'max':>12}")
        for name, a in rows:
            lines.append(f"  {name:<12}{np.median(a):>12.4g}{a.min():>12.4g}{a.max():>12.4g}")
        lines.append(f"  {'layer':<6}{'shape':>10}{'‖W‖':>10}{'‖J‖ med':>10}{'‖h‖² med':>11}{'‖∇W f‖² med':>13}"
                     f"{'‖∇b f‖² med':>13}{'ρ med':>8}{'ρ max':>8}")
        for t in range(self.n_layers):
            shape = f"{self.layer_sizes[t + 1]}x{self.layer_sizes[t]}"
            lines.append(
                f"  {t + 1:<6}{shape:>10}{self.weight_norm[0, t]:>10.4g}{np.median(self.jacobian_norm[:, t]):>10.4g}"
                f"{np.median(self.hidden_norm_sq[:, t]):>11.4g}{np.median(self.weight_grad_sq[:, t]):>13.4g}"
                f"{np.median(self.bias_grad_sq[:, t]):>13.4g}{np.median(self.tightness[:, t]):>8.3f}"
                f"{self.tightness[:, t].max():>8.3f}")
        return "\n".join(lines)

    def to_dataframe(self):
        """One row per example: the (n,) figures and, per layer t, columns such as
        ``weight_grad_sq[t]`` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("GradientPenaltyReport.to_dataframe() needs pandas (pip install pandas)") from None
        cols = {k: getattr(self, k) for k in ("value", "input_grad_sq", "param_grad_sq", "factor", "lhs", "rhs",
                                               "violated")}
        for k in ("weight_grad_sq", "bias_grad_sq", "weight_norm", "jacobian_norm", "hidden_norm_sq", "tightness",
                  "layer_lhs", "layer_rhs"):
            a = getattr(self, k)
            for t in range(self.n_layers):
                cols[f"{k}[{t + 1}]"] = a[:, t]
        return pd.DataFrame(cols)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0/0 = 0 and x/0 = inf for x > 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        q = num / den
    return np.where(num == 0, 0.0, np.where(den == 0, np.inf, q))


def gradient_penalty_report(model, X, y=None, *, output="loss", norm="spectral", jacobian="exact",
                            batch_size=None, gamma=0.0, power_iters=30, power_tol=1e-6, seed=0
                            ) -> GradientPenaltyReport:
    """Measure both sides of ‖∇_x f‖²·C(x, θ) ≤ ‖∇_θ f‖² (and of each layer's inequality) per example.

    model : list of ``(W, b, activation)`` (W (out, in), b (out,) or None; activations in
        :data:`logitcore.gradpen.ACTIVATIONS`) or a ``torch.nn.Sequential`` of ``Linear`` layers and
        elementwise activations.
    X : (n, d) inputs. float32 model and input are computed in float32, anything else in float64.
    y : (n,) class indices, for ``output="loss"``.
    output : "loss" (f = γ-cross-entropy of y, the fused ``logitcore.gamma_cross_entropy`` kernel with
        its gradient; ``gamma=0``: cross-entropy), an int k (f = output k) or "logsumexp" (f = lse of
        the outputs), all in nats.
    norm : "spectral" (‖W‖, ‖J_t‖ spectral norms) or "frobenius" (Frobenius norms).
    jacobian : "exact" (stacked Jacobians, their singular values; input dimension up to a few
        thousand), "power" (power iteration, a lower estimate, spectral only; examples made to look
        violated are flagged in ``violated``) or "bound" (certified upper bound: valid, looser).
    batch_size : examples per chunk (default: all; in exact mode, chunks of about 64 MiB of Jacobians).
    power_iters, power_tol, seed : power iteration's most iterations, its stopping rule (relative
        change of every estimate) and the seed of its starting vectors.
    """
    layers, X, labels, output, gamma = _prepare(model, X, y, output, gamma)
    if norm not in _NORMS:
        raise ValueError(f"norm must be 'spectral' or 'frobenius', got {norm!r}")
    if jacobian not in _JACOBIANS:
        raise ValueError(f"jacobian must be 'exact', 'power' or 'bound', got {jacobian!r}")
    if jacobian == "power" and norm == "frobenius":
        raise ValueError("jacobian='power' estimates spectral norms; with norm='frobenius' use 'exact' or 'bound'")
    batch = _as_batch_size(batch_size)
    if isinstance(power_iters, (bool, np.bool_)) or not isinstance(power_iters, (int, np.integer)) or power_iters < 1:
        raise ValueError(f"power_iters must be a positive integer, got {power_iters!r}")
    power_tol = float(power_tol)
    if not power_tol >= 0:
        raise ValueError(f"power_tol must be >= 0, got {power_tol}")

    n, d0 = X.shape
    L = len(layers)
    sizes = [d0] + [ly.W.shape[0] for ly in layers]
    W64 = [ly.W.astype(np.float64) for ly in layers]
    wspec = np.array([np.linalg.norm(W, 2) for W in W64])
    wnorm = wspec if norm == "spectral" else np.array([np.linalg.norm(W, "fro") for W in W64])
    has_bias = np.array([ly.b is not None for ly in layers], dtype=np.float64)
    if batch is None:
        batch = n if jacobian != "exact" else max(1, _EXACT_CHUNK_ENTRIES // (d0 * max(sizes[1:L] + [1])))
    rng = np.random.default_rng(seed)

    value = np.empty(n)
    input_grad_sq = np.empty(n)
    hsq = np.empty((n, L))
    dsq = np.empty((n, L))
    jnorm = np.empty((n, L))
    iters_used = np.zeros(L, dtype=np.int64)
    for a in range(0, n, batch):
        sl = slice(a, min(n, a + batch))
        fb = _forward_backward(layers, X[sl], None if labels is None else labels[sl], output, gamma)
        value[sl] = fb.value
        input_grad_sq[sl] = _rowsq(fb.input_grad)
        for t in range(L):
            hsq[sl, t] = _rowsq(fb.hidden[t])
            dsq[sl, t] = _rowsq(fb.delta[t])
        if jacobian == "exact":
            jnorm[sl] = _jacobian_norms_exact(layers, fb.derivative, d0, norm)
        elif jacobian == "bound":
            jnorm[sl] = _jacobian_norms_bound(layers, fb.derivative, d0, norm, wnorm, wspec)
        else:
            jnorm[sl], used = _jacobian_norms_power(layers, fb.derivative, d0, power_iters, power_tol, rng)
            iters_used = np.maximum(iters_used, used)

    weight_grad_sq = dsq * hsq
    bias_grad_sq = dsq * has_bias
    layer_rhs = weight_grad_sq + bias_grad_sq
    param_grad_sq = layer_rhs.sum(axis=1)
    wj_sq = (wnorm[None, :] * jnorm) ** 2
    terms = _safe_div(has_bias[None, :] + hsq, wj_sq)
    factor = terms.sum(axis=1)
    ig = input_grad_sq[:, None]
    with np.errstate(invalid="ignore"):  # 0 · inf (a dead layer: ∇x f = 0, ‖J_t‖ = 0) is 0
        layer_lhs = np.where(ig == 0, 0.0, ig * terms)
        lhs = np.where(input_grad_sq == 0, 0.0, input_grad_sq * factor)
    tightness = _safe_div(np.sqrt(ig) * np.ones((1, L)), np.sqrt(wj_sq * dsq))
    slack = 1 + 1000 * float(np.finfo(X.dtype).eps)
    violated = (lhs > param_grad_sq * slack) | (layer_lhs > layer_rhs * slack).any(axis=1)
    return GradientPenaltyReport(
        output=output, norm=norm, jacobian=jacobian, gamma=gamma, layer_sizes=sizes, dtype=X.dtype,
        has_bias=has_bias.astype(bool),
        activations=[str(ly.activation) for ly in layers], power_iterations=iters_used,
        value=value, input_grad_sq=input_grad_sq, param_grad_sq=param_grad_sq, factor=factor, lhs=lhs,
        rhs=param_grad_sq, violated=violated, weight_grad_sq=weight_grad_sq, bias_grad_sq=bias_grad_sq,
        weight_norm=np.broadcast_to(wnorm, (n, L)), jacobian_norm=jnorm, hidden_norm_sq=hsq,
        tightness=tightness, layer_lhs=layer_lhs, layer_rhs=layer_rhs,
    )
