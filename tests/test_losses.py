"""Fused losses of p_y (logitcore.losses, docs/math.md §3): parity with the float64 NumPy reference,
the paper's thresholded gradient, finite differences, numerics on peaked rows, special values,
bad input, dtypes, and the in-place mode (including its memory footprint). Every test runs on
every ISA the host supports (the `isa` fixture).

Thread-count reproducibility lives in test_losses_threads.py, PyTorch parity in
test_losses_torch.py.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from logitcore import _core
from logitcore import reference as R
from logitcore.losses import focal_loss, gamma_cross_entropy, generalized_cross_entropy
from ._helpers import loss_from_logp

GAMMAS = [0.0, 1e-7, 0.1, 0.8, 1.0]
REDUCTIONS = ["mean", "sum", "none"]
DTYPES = [np.float32, np.float64]

# (name, fused function, reference function, parameter values); the parameter is positional
LOSSES = [
    ("gamma_ce", gamma_cross_entropy, R.gamma_cross_entropy, GAMMAS),
    ("gce", generalized_cross_entropy, R.generalized_cross_entropy, [0.05, 0.3, 0.7, 1.0]),
    ("focal", focal_loss, R.focal_loss, [0.0, 0.5, 2.0, 5.0]),
]
LOSS_CASES = [(name, f, r, p) for name, f, r, ps in LOSSES for p in ps]
LOSS_IDS = [f"{name}-{p:g}" for name, _, _, p in LOSS_CASES]

# float32: ℓ comes from a float32 block sum (relative error ~1e-7 of s); gradient entries are
# float32 products exp(x - m) * scale
RTOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}

pytestmark = pytest.mark.usefixtures("isa")


def make_case(rng, rows, v, dtype=np.float64, *, spread=3.0, n_ignored=1, ignore_index=-100):
    x = (rng.standard_normal((rows, v)) * spread).astype(dtype)
    t = rng.integers(0, v, rows)
    if n_ignored and rows > 1:
        t[rng.choice(rows, size=min(n_ignored, rows - 1), replace=False)] = ignore_index
    return x, t


def check_close(got, want, dtype, what, *, factor=1.0):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    rtol = RTOL[np.dtype(dtype)] * factor
    scale = np.max(np.abs(want[np.isfinite(want)]), initial=0.0)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(scale, 1e-300) * 0.1, err_msg=what,
                               equal_nan=True)


def check_loss_grad(got, want, dtype, what, *, factor=1.0):
    (gl, gg), (wl, wg) = got, want
    check_close(gl, wl, dtype, f"{what}: loss", factor=factor)
    check_close(gg, wg, dtype, f"{what}: grad", factor=factor)


# --------------------------------------------------------------------------------------
# parity with the float64 reference


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name,fn,ref,param", LOSS_CASES, ids=LOSS_IDS)
def test_parity_reference(name, fn, ref, param, weighted, reduction, dtype):
    rng = np.random.default_rng(zlib.crc32(f"{name}-{param}-{weighted}-{reduction}".encode()))
    x, t = make_case(rng, 37, 101, dtype, n_ignored=3)
    w = rng.uniform(0.1, 2.0, 101) if weighted else None
    got = fn(x, t, param, weight=w, reduction=reduction, return_grad=True)
    want = ref(x.astype(np.float64), t, param, weight=w, reduction=reduction, return_grad=True)
    check_loss_grad(got, want, dtype, f"{name}({param}) {reduction} weighted={weighted}")
    loss, grad = got
    assert grad.dtype == dtype and grad.shape == x.shape
    if reduction == "none":
        assert isinstance(loss, np.ndarray) and loss.dtype == dtype and loss.shape == t.shape
    else:
        assert isinstance(loss, np.generic) and not isinstance(loss, np.ndarray) and loss.dtype == dtype
    # the forward-only call gives the same loss, bit for bit
    alone = fn(x, t, param, weight=w, reduction=reduction)
    np.testing.assert_array_equal(np.asarray(alone), np.asarray(loss))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,fn,ref,param", [LOSS_CASES[2], LOSS_CASES[6], LOSS_CASES[-2]],
                         ids=[LOSS_IDS[2], LOSS_IDS[6], LOSS_IDS[-2]])
def test_sample_weight(name, fn, ref, param, reduction, dtype):
    """Per-row weights multiply the class weights; 'mean' divides by their sum; a row of weight
    k counts as k copies of it; weight 0 removes the row."""
    rng = np.random.default_rng(zlib.crc32(f"sw-{name}-{param}-{reduction}".encode()))
    x, t = make_case(rng, 29, 53, dtype, n_ignored=2)
    cw = rng.uniform(0.1, 2.0, 53)
    sw = rng.uniform(0.0, 3.0, 29)
    sw[[1, 5]] = 0.0
    got = fn(x, t, param, weight=cw, sample_weight=sw, reduction=reduction, return_grad=True)
    want = ref(x.astype(np.float64), t, param, weight=cw, sample_weight=sw, reduction=reduction, return_grad=True)
    check_loss_grad(got, want, dtype, f"{name}({param}) {reduction} sample_weight")
    assert not np.any(got[1][[1, 5]])
    # integer weights = repeated rows
    k = rng.integers(0, 4, 29)
    rep_x, rep_t = np.repeat(x, k, axis=0), np.repeat(t, k)
    a = fn(x, t, param, sample_weight=k, reduction="sum" if reduction == "none" else reduction)
    b = fn(rep_x, rep_t, param, reduction="sum" if reduction == "none" else reduction)
    check_close(a, b, dtype, "integer sample weights = repeated rows")


def test_sample_weight_bad_input():
    x, t = np.zeros((4, 5)), np.array([0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"sample_weight has shape \(3,\), expected \(4,\)"):
        gamma_cross_entropy(x, t, sample_weight=np.ones(3))
    for bad in (-1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match=r"sample_weight must be finite and >= 0; entry 2"):
            gamma_cross_entropy(x, t, sample_weight=np.array([1.0, 1.0, bad, 1.0]))
    with pytest.raises(TypeError, match="sample_weight"):
        gamma_cross_entropy(x, t, sample_weight=np.ones(4, dtype=complex))
    # the library checks on its own too
    with pytest.raises(ValueError, match=r"row_weight\[1\] = -2 is not a finite number >= 0"):
        _core._loss(x, t, _core.LossOptions(), None, np.empty(4), None, np.array([1.0, -2.0, 1.0, 1.0]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "v", [2, 3, 17, 2047, 2048, 2049, 5000, 32000, 128256, 262144]
)
def test_parity_row_lengths(v, dtype):
    rng = np.random.default_rng(v)
    rows = 3 if v >= 100000 else 9
    x, t = make_case(rng, rows, v, dtype, spread=4.0)
    for gamma in (0.0, 0.1, 1.0):
        got = gamma_cross_entropy(x, t, gamma, reduction="none", return_grad=True)
        want = R.gamma_cross_entropy(x.astype(np.float64), t, gamma, reduction="none", return_grad=True)
        check_loss_grad(got, want, dtype, f"V={v} gamma={gamma}", factor=3.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_axes_and_layouts(dtype):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((3, 4, 50)) * 2).astype(dtype)
    t = rng.integers(0, 50, (3, 4))
    t[1, 2] = -100
    want = R.gamma_cross_entropy(x.astype(np.float64), t, 0.3, reduction="none", return_grad=True)
    for xv in (x, np.asfortranarray(x), x[:, :, ::-1][:, :, ::-1], np.repeat(x, 2, axis=-1)[:, :, ::2]):
        got = gamma_cross_entropy(xv, t, 0.3, reduction="none", return_grad=True)
        check_loss_grad(got, want, dtype, f"layout strides={xv.strides}")
    # non-contiguous targets of another integer dtype
    t2 = np.repeat(t, 2, axis=1)[:, ::2].astype(np.int16)
    check_loss_grad(gamma_cross_entropy(x, t2, 0.3, reduction="none", return_grad=True), want, dtype, "int16 t")
    # a single row: target is 0-d, 'none' gives a NumPy scalar
    loss, grad = gamma_cross_entropy(x[0, 0], t[0, 0], 0.3, reduction="none", return_grad=True)
    assert isinstance(loss, np.generic) and grad.shape == (50,)
    np.testing.assert_allclose(loss, want[0][0, 0], rtol=RTOL[np.dtype(dtype)])


def test_float16_and_integer_logits():
    rng = np.random.default_rng(3)
    x, t = make_case(rng, 5, 20, np.float16, spread=2.0)
    loss, grad = gamma_cross_entropy(x, t, 0.1, return_grad=True)
    assert loss.dtype == np.float16 and grad.dtype == np.float16
    l32, g32 = gamma_cross_entropy(x.astype(np.float32), t, 0.1, return_grad=True)
    assert loss == np.float16(l32)
    np.testing.assert_array_equal(grad, g32.astype(np.float16))
    xi = rng.integers(-3, 4, (4, 6))
    ti = np.array([0, 5, 2, 3])
    li, gi = gamma_cross_entropy(xi, ti, 0.5, return_grad=True)
    assert li.dtype == np.float64 and gi.dtype == np.float64
    check_loss_grad((li, gi), R.gamma_cross_entropy(xi, ti, 0.5, return_grad=True), np.float64, "int logits")


def test_isa_paths_agree(isa):
    for dtype in DTYPES:
        x, t = make_case(np.random.default_rng(1), 6, 3000, dtype)
        got = gamma_cross_entropy(x, t, 0.1, threshold=0.2, reduction="none", return_grad=True)
        want = R.gamma_cross_entropy(x.astype(np.float64), t, 0.1, threshold=0.2, reduction="none",
                                     return_grad=True)
        check_loss_grad(got, want, dtype, f"isa={isa}")


# --------------------------------------------------------------------------------------
# the threshold b (the paper's floor on the gradient weight)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("gamma,b", [(1e-7, 0.2), (0.1, 0.3), (0.8, 0.2), (1.0, 0.5), (0.5, 1.0), (0.0, 0.7)])
def test_threshold_is_weighted_nll(gamma, b, reduction, dtype):
    """grad with b = grad of sum_i stopgrad(max(b, w_i)) * (-log p_{y_i}), reduced the same way;
    the loss value is still L_gamma."""
    rng = np.random.default_rng(5)
    x, t = make_case(rng, 40, 64, dtype, spread=3.0, n_ignored=4)
    cw = rng.uniform(0.2, 3.0, 64)
    loss_b, grad_b = gamma_cross_entropy(x, t, gamma, threshold=b, weight=cw, reduction=reduction,
                                         return_grad=True)
    loss_0 = gamma_cross_entropy(x, t, gamma, weight=cw, reduction=reduction)
    np.testing.assert_array_equal(np.asarray(loss_b), np.asarray(loss_0))

    # the surrogate, built from plain float64 pieces: p, w, and the cross-entropy gradient
    x64 = x.astype(np.float64)
    valid = t != -100
    tv = np.where(valid, t, 0)
    p = np.exp(x64 - x64.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    py = p[np.arange(len(t)), tv]
    w = py / (gamma + (1 - gamma) * py) if gamma < 1 else py
    wb = np.maximum(b, w)
    rw = np.where(valid, cw[tv], 0.0)
    denom = rw.sum() if reduction == "mean" else 1.0
    onehot = np.zeros_like(p)
    onehot[np.arange(len(t)), tv] = 1.0
    want = (wb * rw / denom)[:, None] * (p - onehot)
    check_close(grad_b, want, dtype, f"thresholded gradient gamma={gamma} b={b}")
    # b = 1 makes every row plain (weighted) cross-entropy
    if b == 1.0:
        _, g_ce = gamma_cross_entropy(x, t, 0.0, weight=cw, reduction=reduction, return_grad=True)
        check_close(grad_b, g_ce, dtype, "b = 1 is cross-entropy")


# --------------------------------------------------------------------------------------
# finite differences (b = 0: the gradient is that of the returned loss)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,fn,ref,param", LOSS_CASES, ids=LOSS_IDS)
def test_finite_differences(name, fn, ref, param, reduction):
    rng = np.random.default_rng(2024)
    x, t = make_case(rng, 4, 7, np.float64, spread=1.5, n_ignored=1)
    cw = rng.uniform(0.5, 2.0, 7)

    def f(z):
        v = fn(z, t, param, weight=cw, reduction=reduction)
        return float(np.sum(v))

    _, grad = fn(x, t, param, weight=cw, reduction=reduction, return_grad=True)
    h = 1e-6
    num = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        zp, zm = x.copy(), x.copy()
        zp[idx] += h
        zm[idx] -= h
        num[idx] = (f(zp) - f(zm)) / (2 * h)
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-8, err_msg=f"{name}({param}) {reduction}")


# --------------------------------------------------------------------------------------
# numerics from log p_y (docs/math.md §3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_peaked_rows_target_underflows(dtype):
    """p_y underflows (ℓ = -1000 or -1e30): finite losses for gamma > 0, w = 1 exactly at gamma = 0."""
    v = 300
    x = np.zeros((3, v), dtype=dtype)
    x[:, 5] = 1000.0 if dtype == np.float64 else 150.0  # one dominant class
    x[2, 5] = 1e30 if dtype == np.float64 else 1e30
    t = np.array([7, 8, 9])
    for gamma in GAMMAS:
        loss, grad = gamma_cross_entropy(x, t, gamma, reduction="none", return_grad=True)
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad)), gamma
        zy_gap = x[:, 5].astype(np.float64)  # lse - z_y, the exact cross-entropy
        # the block sums may carry a relative error of a few eps * |max| (docs/math.md §1 accuracy)
        eps = float(np.finfo(dtype).eps)
        tol = np.minimum(16 * eps * np.maximum(1.0, zy_gap), 1e-3)
        if gamma == 0:
            np.testing.assert_allclose(loss, zy_gap, rtol=16 * eps)
            # w = 1 exactly (no 0/0 from the underflowed p_y): the gradient is
            # softmax - onehot = onehot(5) - onehot(y)
            want = np.zeros((3, v))
            want[:, 5] = 1.0
            want[np.arange(3), t] -= 1.0
            assert np.all(np.abs(grad - want) <= tol[:, None]), np.abs(grad - want).max(axis=1)
            np.testing.assert_array_equal(grad[np.arange(3), t], -np.ones(3, dtype=dtype))
        elif gamma == 1:
            np.testing.assert_array_equal(loss, np.ones(3, dtype=dtype))
            assert not grad.any()  # w = p_y = 0
        else:
            want = -np.log(gamma) / (1 - gamma)
            np.testing.assert_allclose(loss, want, rtol=RTOL[np.dtype(dtype)])
            assert not grad.any()  # w = p_y / gamma underflows to 0
    # the other losses stay finite too
    for fn, p in ((generalized_cross_entropy, 0.5), (focal_loss, 2.0)):
        loss, grad = fn(x, t, p, reduction="none", return_grad=True)
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))


def test_cross_entropy_is_lse_minus_zy_exactly():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((50, 333)) * 10
    t = rng.integers(0, 333, 50)
    loss = gamma_cross_entropy(x, t, 0.0, reduction="none")
    m = x.max(-1)
    lse = m + np.log(np.sum(np.exp(x - m[:, None]), -1))
    np.testing.assert_allclose(loss, lse - x[np.arange(50), t], rtol=1e-14, atol=1e-13)
    # focal with gamma 0 and gamma-CE at gamma 0 are the same computation
    np.testing.assert_array_equal(focal_loss(x, t, 0.0, reduction="none"), loss)
    # gamma-CE at gamma 1 and GCE at q 1 are both 1 - p_y with weight p_y
    a = gamma_cross_entropy(x, t, 1.0, reduction="none", return_grad=True)
    b = generalized_cross_entropy(x, t, 1.0, reduction="none", return_grad=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("gamma", [1e-12, 1e-7, 0.5, 1 - 1e-7, 1 - 1e-12])
def test_gamma_ce_accuracy_near_edges(gamma):
    """Against mpmath-free closed forms: L and w near p_y = 1 and near gamma = 1."""
    for ell in (-1e-12, -1e-6, -0.1, -0.69, -0.7, -5.0, -50.0, -800.0):
        loss, w = loss_from_logp(0, gamma, 0.0, ell)
        p = np.exp(ell)
        # high-precision references: log(gamma + (1-gamma) p) = log1p((1-gamma) expm1(ell))
        a = np.log1p((1 - gamma) * np.expm1(ell)) if p > 0.5 else np.logaddexp(np.log(gamma),
                                                                                np.log1p(-gamma) + ell)
        np.testing.assert_allclose(loss, -a / (1 - gamma), rtol=1e-13, err_msg=f"gamma={gamma} ell={ell}")
        np.testing.assert_allclose(w, np.exp(ell - a), rtol=1e-13, atol=1e-300, err_msg=f"w gamma={gamma}")
        assert 0 <= w <= 1 and loss >= 0
    # continuity in gamma at both ends
    for ell in (-1e-3, -0.5, -3.0):
        l0, _ = loss_from_logp(0, 0.0, 0.0, ell)
        l_small, _ = loss_from_logp(0, 1e-12, 0.0, ell)
        l1, _ = loss_from_logp(0, 1.0, 0.0, ell)
        l_big, _ = loss_from_logp(0, 1 - 1e-12, 0.0, ell)
        assert abs(l_small - l0) < 1e-9 and abs(l_big - l1) < 1e-9


def test_focal_weight_limits():
    for g in (0.5, 1.0, 2.0):
        loss, w = loss_from_logp(2, g, 0.0, 0.0)  # p_y = 1
        assert loss == 0.0 and w == 0.0
        loss, w = loss_from_logp(2, g, 0.0, -np.inf)  # p_y = 0: loss inf, weight 1
        assert loss == np.inf and w == 1.0
        # near p = 1, w ≈ (1-p)^g (1 + g)
        ell = -1e-8
        _, w = loss_from_logp(2, g, 0.0, ell)
        np.testing.assert_allclose(w, (-np.expm1(ell)) ** g * (1 + g), rtol=1e-6)


@given(
    st.lists(st.floats(-30, 30), min_size=2, max_size=40),
    st.integers(0, 10**6),
    st.sampled_from(GAMMAS),
)
def test_properties(row, seed, gamma):
    """Loss >= 0, 0 <= w <= 1 (gradient rows sum to 0, target entry = -(sum of the others)),
    and the loss decreases with gamma."""
    x = np.array(row)[None, :]
    t = np.array([seed % len(row)])
    loss, grad = gamma_cross_entropy(x, t, gamma, reduction="sum", return_grad=True)
    assert loss >= 0
    assert abs(grad.sum()) <= 1e-12
    others = np.delete(grad[0], t[0])
    assert np.all(others >= 0) and grad[0, t[0]] <= 0
    assert -grad[0, t[0]] <= 1.0 + 1e-15
    lower = gamma_cross_entropy(x, t, min(1.0, gamma + 0.1), reduction="sum")
    assert lower <= loss + 1e-12


# --------------------------------------------------------------------------------------
# conventions and special values


def test_ignore_index_and_empty_mean():
    rng = np.random.default_rng(1)
    x, _ = make_case(rng, 6, 10)
    t = np.full(6, -100)
    with np.errstate(all="raise"):
        loss, grad = gamma_cross_entropy(x, t, 0.1, return_grad=True)
    assert loss == 0.0 and not np.isnan(loss) and not grad.any()
    # zero rows
    loss, grad = gamma_cross_entropy(np.zeros((0, 10)), np.zeros(0, dtype=int), return_grad=True)
    assert loss == 0.0 and grad.shape == (0, 10)
    assert gamma_cross_entropy(np.zeros((0, 10)), np.zeros(0, dtype=int), reduction="sum") == 0.0
    assert gamma_cross_entropy(np.zeros((0, 10)), np.zeros(0, dtype=int), reduction="none").shape == (0,)
    # no classes at all, every row ignored
    loss, grad = gamma_cross_entropy(np.zeros((3, 0)), np.full(3, -100), weight=np.zeros(0), return_grad=True)
    assert loss == 0.0 and grad.shape == (3, 0)
    # a custom ignore_index, also one inside the class range
    t = np.array([1, 3, 3, 0, 2, 3])
    l1, g1 = gamma_cross_entropy(x, t, 0.1, ignore_index=3, return_grad=True)
    keep = t != 3
    l2, g2 = gamma_cross_entropy(x[keep], t[keep], 0.1, return_grad=True)
    np.testing.assert_allclose(l1, l2, rtol=1e-15)
    np.testing.assert_array_equal(g1[keep], g2)
    assert not g1[~keep].any()
    # zero-weight classes: 'mean' over zero total weight is 0
    assert gamma_cross_entropy(x, t, 0.1, weight=np.zeros(10)) == 0.0


def test_nan_logits_poison_only_their_row(isa):
    rng = np.random.default_rng(4)
    x, t = make_case(rng, 5, 3000, n_ignored=0)
    x[2, 1777] = np.nan
    for fn, p in ((gamma_cross_entropy, 0.1), (generalized_cross_entropy, 0.7), (focal_loss, 2.0)):
        loss, grad = fn(x, t, p, reduction="none", return_grad=True)
        assert np.isnan(loss[2]) and np.isnan(grad[2]).all()
        keep = [0, 1, 3, 4]
        assert np.isfinite(loss[keep]).all() and np.isfinite(grad[keep]).all()
        l2, g2 = fn(x[keep], t[keep], p, reduction="none", return_grad=True)
        np.testing.assert_array_equal(loss[keep], l2)
        np.testing.assert_array_equal(grad[keep], g2)
        assert np.isnan(fn(x, t, p))
    # wherever the NaN sits (first entry, a vector tail, a lone row entry)
    for v in (1, 2, 7, 33, 2049):
        for pos in sorted({0, v // 2, v - 1}):
            z = np.zeros((2, v))
            z[0, pos] = np.nan
            loss, grad = gamma_cross_entropy(z, np.array([v - 1, 0]), 0.1, reduction="none", return_grad=True)
            assert np.isnan(loss[0]) and np.isnan(grad[0]).all(), f"isa={isa} v={v} pos={pos}"
            assert np.isfinite(loss[1]) and np.isfinite(grad[1]).all()
    # an ignored NaN row is simply ignored
    t[2] = -100
    loss, grad = gamma_cross_entropy(x, t, 0.1, return_grad=True)
    assert np.isfinite(loss) and not grad[2].any()


def test_infinite_logits():
    x = np.array([[0.0, np.inf, 1.0, np.inf], [0.0, -np.inf, 1.0, 2.0], [-np.inf] * 4])
    t = np.array([1, 1, 0])
    loss, grad = gamma_cross_entropy(x, t, 0.0, reduction="none", return_grad=True)
    # row 0: softmax is uniform over the two +inf entries, p_y = 1/2
    np.testing.assert_allclose(loss[0], np.log(2))
    np.testing.assert_allclose(grad[0], [0.0, -0.5, 0.0, 0.5])
    # row 1: the target logit is -inf: p_y = 0, cross-entropy inf, gradient softmax - onehot
    assert loss[1] == np.inf
    p = np.exp(x[1] - x[1].max())
    p /= p.sum()
    np.testing.assert_allclose(grad[1], p - np.eye(4)[1])
    # row 2: no support at all: NaN
    assert np.isnan(loss[2]) and np.isnan(grad[2]).all()
    # gamma > 0 keeps a -inf target finite with zero gradient
    loss, grad = gamma_cross_entropy(x[1:2], t[1:2], 0.1, reduction="none", return_grad=True)
    np.testing.assert_allclose(loss, -np.log(0.1) / 0.9)
    assert not grad.any()


# --------------------------------------------------------------------------------------
# bad input


def test_bad_input():
    x = np.zeros((4, 5))
    t = np.array([0, 1, 2, 3])
    with pytest.raises(IndexError, match=r"target\[2\] = 5 is out of range for 5 classes"):
        gamma_cross_entropy(x, np.array([0, 1, 5, 3]))
    with pytest.raises(IndexError, match=r"= -1 is out of range"):
        gamma_cross_entropy(x, np.array([0, -1, 2, 3]))
    with pytest.raises(IndexError, match=r"= -100 is out of range .*ignore_index=-1"):
        gamma_cross_entropy(x, np.array([0, 1, 2, -100]), ignore_index=-1)
    with pytest.raises(IndexError, match="out of range"):
        gamma_cross_entropy(x, np.array([0, 1, 2, 2**64 - 1], dtype=np.uint64))
    with pytest.raises(TypeError, match="integer class indices"):
        gamma_cross_entropy(x, t.astype(np.float64))
    with pytest.raises(TypeError, match="integer class indices"):
        gamma_cross_entropy(x, t.astype(bool))
    with pytest.raises(ValueError, match=r"target has shape \(3,\), expected \(4,\)"):
        gamma_cross_entropy(x, t[:3])
    with pytest.raises(ValueError, match="target has shape"):
        gamma_cross_entropy(x, t[:, None])
    for g in (-0.1, 1.5, np.nan):
        with pytest.raises(ValueError, match=r"gamma must lie in \[0, 1\]"):
            gamma_cross_entropy(x, t, g)
    for b in (-0.1, 1.01, np.nan):
        with pytest.raises(ValueError, match=r"threshold must lie in \[0, 1\]"):
            gamma_cross_entropy(x, t, 0.1, threshold=b)
    with pytest.raises(TypeError, match="gamma must be a real number"):
        gamma_cross_entropy(x, t, "0.1")
    with pytest.raises(ValueError, match=r"weight has shape \(4,\), expected \(5,\)"):
        gamma_cross_entropy(x, t, weight=np.ones(4))
    with pytest.raises(ValueError, match="weight has shape"):
        gamma_cross_entropy(x, t, weight=np.ones((1, 5)))
    with pytest.raises(TypeError, match="weight"):
        gamma_cross_entropy(x, t, weight=np.ones(5, dtype=complex))
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none'"):
        gamma_cross_entropy(x, t, reduction="avg")
    with pytest.raises(TypeError, match="ignore_index must be an integer"):
        gamma_cross_entropy(x, t, ignore_index=1.5)
    with pytest.raises(ValueError, match="at least one dimension"):
        gamma_cross_entropy(np.float64(1.0), 0)
    with pytest.raises(TypeError, match="logits"):
        gamma_cross_entropy(x.astype(complex), t)
    with pytest.raises(ValueError, match=r"q must lie in \(0, 1\]"):
        generalized_cross_entropy(x, t, 0.0)
    with pytest.raises(ValueError, match=r"q must lie in \(0, 1\]"):
        generalized_cross_entropy(x, t, 1.2)
    with pytest.raises(ValueError, match="gamma must be a finite number >= 0"):
        focal_loss(x, t, -1.0)
    with pytest.raises(ValueError, match="gamma must be a finite number >= 0"):
        focal_loss(x, t, np.inf)
    # the native layer refuses out-of-range targets on its own, too
    with pytest.raises(IndexError, match="out of range"):
        _core._loss(x, np.array([0, 1, 9, 2]), _core.LossOptions(), None, np.empty(4), None)


# --------------------------------------------------------------------------------------
# in place


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,fn,ref,param", [LOSS_CASES[2], LOSS_CASES[6], LOSS_CASES[-2]],
                         ids=[LOSS_IDS[2], LOSS_IDS[6], LOSS_IDS[-2]])
def test_inplace_matches(name, fn, ref, param, dtype):
    rng = np.random.default_rng(8)
    x, t = make_case(rng, 20, 4500, dtype)
    w = rng.uniform(0.5, 1.5, 4500)
    want_loss, want_grad = fn(x, t, param, weight=w, return_grad=True)
    for xv in (x.copy(), np.asfortranarray(x), np.repeat(x, 2, axis=1)[:, ::2]):
        loss, grad = fn(xv, t, param, weight=w, return_grad=True, inplace=True)
        assert grad is xv
        assert loss == want_loss
        np.testing.assert_array_equal(xv, want_grad)


def test_inplace_refusals():
    x = np.zeros((3, 4), dtype=np.float32)
    t = np.array([0, 1, 2])
    ro = x.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        gamma_cross_entropy(ro, t, return_grad=True, inplace=True)
    for bad in (x.astype(np.int64), x.astype(">f4"), x.astype(">f2"), x.astype(bool)):
        with pytest.raises(ValueError, match="float32, float64, float16 or bfloat16"):
            gamma_cross_entropy(bad, t, return_grad=True, inplace=True)
    with pytest.raises(ValueError, match="numpy.ndarray"):
        gamma_cross_entropy(x.tolist(), t, return_grad=True, inplace=True)
    with pytest.raises(ValueError, match="return_grad=True"):
        gamma_cross_entropy(x, t, inplace=True)
    # a failed call leaves the logits untouched
    y = np.arange(12, dtype=np.float64).reshape(3, 4)
    y0 = y.copy()
    with pytest.raises(IndexError):
        gamma_cross_entropy(y, np.array([0, 1, 4]), return_grad=True, inplace=True)
    np.testing.assert_array_equal(y, y0)
    # the native layer refuses a partially overlapping gradient buffer
    z = np.zeros((3, 8))
    with pytest.raises(ValueError, match="overlap"):
        _core._loss(z[:, :4], t, _core.LossOptions(), None, np.empty(3), z[:, 2:6])


# The in-place mode's extra memory, measured as the process's peak resident set (VmHWM, reset
# through /proc/self/clear_refs) in a fresh interpreter: unlike tracemalloc this sees the C++
# allocations. glibc's mmap threshold is pinned (MALLOC_MMAP_THRESHOLD_) so that freed blocks
# are returned to the system and a large allocation always takes fresh pages.
_RSS_CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import logitcore as lc
    from logitcore import _core
    from logitcore.losses import gamma_cross_entropy

    def hwm():
        with open("/proc/self/status") as f:
            return next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmHWM:"))

    def peak(fn):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # peak RSS := current RSS
        base = hwm()
        fn()
        return hwm() - base

    _core._set_isa(sys.argv[1])
    v = int(sys.argv[2])
    rng = np.random.default_rng(0)
    x = {r: rng.standard_normal((r, v), dtype=np.float32) for r in (16, 256)}
    t = {r: np.arange(r) % v for r in x}
    call = lambda r: gamma_cross_entropy(x[r], t[r], 0.1, threshold=0.2, return_grad=True, inplace=True)
    call(16)  # warm-up: threads started, code paged in
    out = {"small": peak(lambda: call(16)), "large": peak(lambda: call(256))}
    # controls: the same call out of place allocates the gradient (NumPy), and entropy
    # normalization of a long row into out= allocates its log-weight and exponential rows (C++)
    out["copy"] = peak(lambda: gamma_cross_entropy(x[256], t[256], 0.1, return_grad=True))
    p = rng.random((1, 2_000_000), dtype=np.float32)
    p /= p.sum(dtype=np.float64)
    q = np.empty_like(p)
    out["cpp"] = peak(lambda: lc.entropy_normalize(p, 5.0, renormalize=True, out=q))
    print(json.dumps(out))
    """
)


def test_inplace_memory_is_O_rows(isa):
    v = 32000
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072")
    p = subprocess.run([sys.executable, "-c", _RSS_CHILD, isa, str(v)], env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    peak = json.loads(p.stdout.strip().splitlines()[-1])
    mb = {k: f"{b / 2**20:.2f} MB" for k, b in peak.items()}
    grad_bytes = 256 * v * 4  # 31.25 MB
    # the measurement sees allocations made by NumPy and by the C++ kernels
    assert peak["copy"] >= 0.9 * grad_bytes, mb
    assert peak["cpp"] >= 0.75 * 2 * 2_000_000 * 4, mb
    # in place: 16 rows or 256 rows of 32000 classes cost the same, a few pages and per-thread
    # scratch (a buffer growing with the batch, e.g. 256 x 32000 floats, would show as 31 MB)
    assert peak["large"] < 4 * 2**20, mb
    assert peak["large"] - peak["small"] < 2 * 2**20, mb
