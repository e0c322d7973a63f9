"""Parity of the fused losses with PyTorch autograd, on every ISA the host supports (skipped
when torch is not installed, an error instead when LOGITCORE_TEST_REQUIRE names torch).

γ-cross-entropy, generalized cross-entropy and focal loss are written out in torch on the
log-softmax and differentiated by autograd; at γ = 0 the reference is F.cross_entropy itself
(weights, ignore_index, reductions). The thresholded gradient is compared with autograd of the
paper's surrogate sum_i stopgrad(max(b, w_i)) * (-log p_{y_i}).
"""
from __future__ import annotations

import numpy as np
import pytest

from ._helpers import optional_import

torch = optional_import("torch")
F = torch.nn.functional

from logitcore.losses import focal_loss, gamma_cross_entropy, generalized_cross_entropy  # noqa: E402

pytestmark = pytest.mark.usefixtures("isa")

GAMMAS = [0.0, 1e-7, 0.1, 0.8, 1.0]
REDUCTIONS = ["mean", "sum", "none"]
RTOL = {np.float32: 2e-5, np.float64: 1e-11}


def reduce_t(row_loss, rw, reduction):
    weighted = row_loss * rw
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    return weighted.sum() / rw.sum()


def torch_loss(kind, param, x, t, weight, ignore_index, reduction, threshold=0.0):
    """(reported loss, gradient of the loss autograd differentiates) in torch, float64."""
    z = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    tt = torch.tensor(t)
    valid = tt != ignore_index
    idx = torch.where(valid, tt, torch.zeros_like(tt))
    cw = torch.ones(x.shape[-1], dtype=torch.float64) if weight is None else torch.tensor(weight)
    rw = torch.where(valid, cw[idx], torch.zeros((), dtype=torch.float64))
    ell = F.log_softmax(z, dim=-1).gather(-1, idx[..., None])[..., 0]
    ell = torch.where(valid, ell, torch.zeros_like(ell))
    p = ell.exp()
    if kind == "gamma":
        g = param
        if g == 0:
            row = -ell
            w = torch.ones_like(ell)
        elif g == 1:
            row = 1 - p
            w = p
        else:
            row = -torch.log(g + (1 - g) * p) / (1 - g)
            w = p / (g + (1 - g) * p)
        if threshold > 0:
            surrogate = torch.clamp(w.detach(), min=threshold) * (-ell)
            target = reduce_t(surrogate, rw, reduction)
        else:
            target = reduce_t(row, rw, reduction)
    elif kind == "gce":
        row = (1 - p**param) / param
        target = reduce_t(row, rw, reduction)
    else:
        row = -((1 - p) ** param) * ell
        target = reduce_t(row, rw, reduction)
    reported = reduce_t(row, rw, reduction)
    target.sum().backward()
    return reported.detach().numpy(), z.grad.numpy()


def make(rng, rows, v, dtype, spread=3.0):
    x = (rng.standard_normal((rows, v)) * spread).astype(dtype)
    t = rng.integers(0, v, rows)
    t[rng.choice(rows, 2, replace=False)] = -100
    return x, t


def close(got, want, dtype, what):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    rtol = RTOL[dtype]
    scale = np.max(np.abs(want), initial=0.0)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale * 0.1 + 1e-300, err_msg=what)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_matches_F_cross_entropy(reduction, weighted, dtype):
    rng = np.random.default_rng(1)
    x, t = make(rng, 50, 300, dtype)
    x[0, :] = 0.0
    x[0, 3] = 200.0  # peaked row: p_y = e^-200
    t[0] = 4
    w = rng.uniform(0.2, 2.0, 300) if weighted else None
    z = torch.tensor(x, requires_grad=True)
    ref = F.cross_entropy(z, torch.tensor(t), weight=None if w is None else torch.tensor(w, dtype=z.dtype),
                          ignore_index=-100, reduction=reduction)
    ref.sum().backward()
    loss, grad = gamma_cross_entropy(x, t, 0.0, weight=w, reduction=reduction, return_grad=True)
    close(loss, ref.detach().numpy(), dtype, "loss")
    close(grad, z.grad.numpy(), dtype, "grad")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("gamma", GAMMAS)
def test_gamma_ce_autograd(gamma, reduction, dtype):
    rng = np.random.default_rng(2)
    x, t = make(rng, 40, 129, dtype)
    x[1, :] = 0.0
    x[1, 7] = 120.0  # extremely peaked row: p_y underflows in float32
    t[1] = 8
    w = rng.uniform(0.2, 2.0, 129)
    want = torch_loss("gamma", gamma, x.astype(np.float64), t, w, -100, reduction)
    got = gamma_cross_entropy(x, t, gamma, weight=w, reduction=reduction, return_grad=True)
    close(got[0], want[0], dtype, f"gamma={gamma} loss")
    close(got[1], want[1], dtype, f"gamma={gamma} grad")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("gamma,b", [(1e-7, 0.2), (0.1, 0.3), (0.8, 0.2)])
def test_threshold_autograd_surrogate(gamma, b, reduction, dtype):
    rng = np.random.default_rng(3)
    x, t = make(rng, 40, 77, dtype)
    w = rng.uniform(0.2, 2.0, 77)
    want = torch_loss("gamma", gamma, x.astype(np.float64), t, w, -100, reduction, threshold=b)
    got = gamma_cross_entropy(x, t, gamma, threshold=b, weight=w, reduction=reduction, return_grad=True)
    close(got[0], want[0], dtype, "loss (still L_gamma)")
    close(got[1], want[1], dtype, "grad (weight max(b, w))")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind,param", [("gce", 0.3), ("gce", 0.7), ("gce", 1.0), ("focal", 0.5),
                                        ("focal", 2.0), ("focal", 5.0)])
def test_other_losses_autograd(kind, param, reduction, dtype):
    rng = np.random.default_rng(4)
    x, t = make(rng, 40, 200, dtype, spread=2.0)
    w = rng.uniform(0.2, 2.0, 200)
    want = torch_loss(kind, param, x.astype(np.float64), t, w, -100, reduction)
    fn = generalized_cross_entropy if kind == "gce" else focal_loss
    got = fn(x, t, param, weight=w, reduction=reduction, return_grad=True)
    close(got[0], want[0], dtype, f"{kind}({param}) loss")
    close(got[1], want[1], dtype, f"{kind}({param}) grad")


@pytest.mark.parametrize("v", [2, 2049, 32000, 262144])
def test_long_rows_against_torch(v):
    rng = np.random.default_rng(v)
    x, t = make(rng, 4, v, np.float32)
    want = torch_loss("gamma", 0.1, x.astype(np.float64), t, None, -100, "mean")
    got = gamma_cross_entropy(x, t, 0.1, return_grad=True)
    close(got[0], want[0], np.float32, "loss")
    close(got[1], want[1], np.float32, "grad")
