"""The MLPs the gradient-penalty report reads: elementwise activations with their derivatives,
validated ``(W, b, activation)`` layer lists, and the conversion of a ``torch.nn.Sequential``.

A layer computes z = W h + b (W of shape (out, in), b of shape (out,) or None for a layer
without bias) and then h' = g(z) elementwise. Activations are named by a string, or by a tuple
``(name, parameter, ...)`` for the parametrized ones:

=================  ==========================================  ==================================
name               g(z)                                        g'(z)
=================  ==========================================  ==================================
identity           z                                           1
relu               max(z, 0)                                   [z > 0]
leaky_relu, a      z for z > 0, a·z otherwise (a = 0.01)       1 or a
tanh               tanh z                                      1 − tanh² z
sigmoid            σ(z) = 1 / (1 + e^−z)                       σ(z)(1 − σ(z))
gelu               z Φ(z) (Φ the normal CDF)                   Φ(z) + z φ(z)
gelu, "tanh"       z/2 (1 + tanh(c (z + 0.044715 z³)))         its derivative (c = √(2/π))
softplus, β, τ     log(1 + e^{βz}) / β; z where βz > τ         σ(βz); 1 where βz > τ
=================  ==========================================  ==================================

(softplus defaults β = 1, τ = 20, the linear tail of ``torch.nn.Softplus``). At z = 0 the
derivative of relu is taken as 0, as PyTorch's autograd does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["Activation", "Layer", "ACTIVATIONS", "as_activation", "as_layers", "from_torch"]

ACTIVATIONS = ("identity", "relu", "leaky_relu", "tanh", "sigmoid", "gelu", "softplus")

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _erf(x: np.ndarray) -> np.ndarray:
    try:
        from scipy.special import erf  # optional: vectorized
    except ImportError:  # pragma: no cover - exercised only without SciPy
        return np.frompyfunc(math.erf, 1, 1)(x).astype(x.dtype)
    return erf(x)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # 1 / (1 + e^-z) without overflow for large negative z
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


@dataclass(frozen=True)
class Activation:
    """An elementwise activation g with its derivative g' (see the module's table)."""

    name: str
    params: Tuple = ()

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.value_and_derivative(z)[0]

    def derivative(self, z: np.ndarray) -> np.ndarray:
        return self.value_and_derivative(z)[1]

    def value_and_derivative(self, z: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        n = self.name
        if n == "identity":
            return z, np.ones_like(z)
        if n == "relu":
            pos = z > 0
            return np.where(pos, z, 0).astype(z.dtype, copy=False), pos.astype(z.dtype)
        if n == "leaky_relu":
            a = self.params[0]
            pos = z > 0
            d = np.where(pos, 1.0, a).astype(z.dtype, copy=False)
            return z * d, d
        if n == "tanh":
            t = np.tanh(z)
            return t, 1 - t * t
        if n == "sigmoid":
            s = _sigmoid(z)
            return s, s * (1 - s)
        if n == "gelu":
            if self.params[0] == "tanh":
                u = _SQRT_2_OVER_PI * (z + 0.044715 * z**3)
                t = np.tanh(u)
                du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * z * z)
                return 0.5 * z * (1 + t), 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * du
            cdf = 0.5 * (1 + _erf(z * _INV_SQRT_2))
            pdf = _INV_SQRT_2PI * np.exp(-0.5 * z * z)
            return z * cdf, cdf + z * pdf
        if n == "softplus":
            beta, thr = self.params
            bz = beta * z
            lin = bz > thr
            v = np.where(lin, z, np.logaddexp(0, bz) / beta).astype(z.dtype, copy=False)
            d = np.where(lin, 1, _sigmoid(bz)).astype(z.dtype, copy=False)
            return v, d
        raise AssertionError(n)  # pragma: no cover - names are validated in as_activation

    def __str__(self) -> str:
        return self.name if not self.params or self.params == _DEFAULTS.get(self.name) else (
            f"{self.name}({', '.join(map(str, self.params))})")


_DEFAULTS = {"leaky_relu": (0.01,), "gelu": ("none",), "softplus": (1.0, 20.0)}


def as_activation(spec, where: str = "activation") -> Activation:
    """An :class:`Activation` from a name, a ``(name, param, ...)`` tuple or an Activation."""
    if isinstance(spec, Activation):
        return spec
    if spec is None:
        spec = "identity"
    if isinstance(spec, str):
        name, params = spec, ()
    elif isinstance(spec, tuple) and spec and isinstance(spec[0], str):
        name, params = spec[0], tuple(spec[1:])
    else:
        raise TypeError(f"{where} must be an activation name ({', '.join(ACTIVATIONS)}) or a (name, parameter) "
                        f"tuple, got {spec!r}")
    name = name.lower()
    if name not in ACTIVATIONS:
        raise ValueError(f"{where}: unsupported activation {name!r}; supported: {', '.join(ACTIVATIONS)}")
    default = _DEFAULTS.get(name, ())
    if len(params) > len(default):
        raise ValueError(f"{where}: {name} takes at most {len(default)} parameter(s), got {params!r}")
    params = tuple(params) + default[len(params):]
    if name == "gelu":
        if params[0] not in ("none", "tanh"):
            raise ValueError(f"{where}: gelu's approximation must be 'none' or 'tanh', got {params[0]!r}")
    else:
        try:
            params = tuple(float(p) for p in params)
        except (TypeError, ValueError):
            raise TypeError(f"{where}: {name}'s parameters must be real numbers, got {params!r}") from None
        if not all(math.isfinite(p) for p in params):
            raise ValueError(f"{where}: {name}'s parameters must be finite, got {params!r}")
        if name == "softplus" and params[0] <= 0:
            raise ValueError(f"{where}: softplus's beta must be > 0, got {params[0]}")
    return Activation(name, params)


@dataclass(frozen=True)
class Layer:
    """One validated layer: W (out, in), b (out,) or None, activation."""

    W: np.ndarray
    b: Optional[np.ndarray]
    activation: Activation

    @property
    def shape(self) -> Tuple[int, int]:
        return self.W.shape  # type: ignore[return-value]


def _float_matrix(a, ndim: int, what: str) -> np.ndarray:
    if hasattr(a, "detach") and hasattr(a, "numpy"):  # a torch tensor
        a = a.detach().cpu().numpy()
    try:
        arr = np.asarray(a)
    except Exception as e:  # pragma: no cover - exotic objects
        raise TypeError(f"{what} is not array-like: {e}") from None
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{what} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{what} must be {ndim}-D, got shape {arr.shape}")
    return arr


def as_layers(model) -> List[Layer]:
    """Validate a model: a ``torch.nn.Sequential`` (converted by :func:`from_torch`) or a sequence of
    ``(W, b, activation)`` triples with matching shapes and finite values. The arrays keep their
    dtype here; the report chooses the computing dtype."""
    if _is_torch_module(model):
        return from_torch(model)
    if isinstance(model, (str, bytes)) or not isinstance(model, Sequence):
        raise TypeError(f"model must be a list of (W, b, activation) layers or a torch.nn.Sequential, "
                        f"got {type(model).__name__}")
    if len(model) == 0:
        raise ValueError("model has no layers")
    layers: List[Layer] = []
    prev_out = None
    for t, item in enumerate(model, start=1):
        if isinstance(item, Layer):
            item = (item.W, item.b, item.activation)
        if not isinstance(item, (tuple, list)) or len(item) != 3:
            raise TypeError(f"layer {t} must be a (W, b, activation) triple, got {type(item).__name__}"
                            + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else ""))
        W, b, act = item
        W = _float_matrix(W, 2, f"layer {t}: W")
        out_dim, in_dim = W.shape
        if out_dim == 0 or in_dim == 0:
            raise ValueError(f"layer {t}: W has shape {W.shape}; both dimensions must be positive")
        if prev_out is not None and in_dim != prev_out:
            raise ValueError(f"layer {t}: W has shape {W.shape} (in {in_dim}) but layer {t - 1} outputs {prev_out} "
                             f"features")
        if not np.all(np.isfinite(W)):
            raise ValueError(f"layer {t}: W holds non-finite values (NaN or inf)")
        if b is not None:
            b = _float_matrix(b, 1, f"layer {t}: b")
            if b.shape != (out_dim,):
                raise ValueError(f"layer {t}: b has shape {b.shape}, expected ({out_dim},) to match W {W.shape}")
            if not np.all(np.isfinite(b)):
                raise ValueError(f"layer {t}: b holds non-finite values (NaN or inf)")
        layers.append(Layer(W, b, as_activation(act, f"layer {t}")))
        prev_out = out_dim
    return layers


def _is_torch_module(obj) -> bool:
    import sys

    torch = sys.modules.get("torch")  # never import torch here: a model from torch has loaded it
    return torch is not None and isinstance(obj, torch.nn.Module)


def from_torch(seq) -> List[Layer]:
    """Convert a ``torch.nn.Sequential`` of ``Linear`` layers, each followed by at most one
    elementwise activation (ReLU, LeakyReLU, Tanh, Sigmoid, GELU, Softplus, Identity), into
    layers (copies of the parameters, in their dtype)."""
    import torch

    nn = torch.nn
    if isinstance(seq, nn.Linear):
        seq = nn.Sequential(seq)
    if not isinstance(seq, nn.Sequential):
        raise TypeError(f"a torch model must be a torch.nn.Sequential of Linear layers and activations, "
                        f"got {type(seq).__name__}")
    items: List[list] = []  # [W, b, activation or None, index]
    for i, m in enumerate(seq):
        where = f"module {i} ({type(m).__name__})"
        if isinstance(m, nn.Linear):
            W = m.weight.detach().cpu().numpy().copy()
            b = None if m.bias is None else m.bias.detach().cpu().numpy().copy()
            items.append([W, b, None, i])
            continue
        if isinstance(m, nn.ReLU):
            act = "relu"
        elif isinstance(m, nn.LeakyReLU):
            act = ("leaky_relu", float(m.negative_slope))
        elif isinstance(m, nn.Tanh):
            act = "tanh"
        elif isinstance(m, nn.Sigmoid):
            act = "sigmoid"
        elif isinstance(m, nn.GELU):
            act = ("gelu", m.approximate)
        elif isinstance(m, nn.Softplus):
            act = ("softplus", float(m.beta), float(m.threshold))
        elif isinstance(m, nn.Identity):
            continue
        else:
            raise TypeError(f"{where}: unsupported layer; the report reads Linear layers and the elementwise "
                            f"activations ReLU, LeakyReLU, Tanh, Sigmoid, GELU, Softplus, Identity")
        if not items:
            raise ValueError(f"{where}: an activation before the first Linear layer")
        if items[-1][2] is not None:
            raise ValueError(f"{where}: two activations in a row after Linear module {items[-1][3]}")
        items[-1][2] = act
    if not items:
        raise ValueError("the torch.nn.Sequential holds no Linear layer")
    return as_layers([(W, b, act if act is not None else "identity") for W, b, act, _ in items])
