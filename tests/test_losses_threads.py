"""Fused losses give bitwise-identical loss and gradient for any thread count (docs/math.md §1: fixed
block size and merge order), both when rows are spread over threads and when a few very long
rows are split into blocks across threads; in-place and out-of-place gradients are identical."""
from __future__ import annotations

import numpy as np
import pytest

import logitcore
from logitcore.losses import focal_loss, gamma_cross_entropy, generalized_cross_entropy

# every test runs on every ISA the host supports
pytestmark = pytest.mark.usefixtures("isa")

# row-parallel shapes, and few very long rows (split into blocks across threads)
SHAPES = [(64, 5000), (37, 2048), (3, 300_000), (2, 2049 * 9), (1, 1 << 20)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=[f"{r}x{v}" for r, v in SHAPES])
def test_bitwise_across_threads(shape, dtype, restore_threads):
    rng = np.random.default_rng(shape[0] * 7 + shape[1])
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    t = rng.integers(0, shape[1], shape[0])
    if shape[0] > 2:
        t[1] = -100
    w = rng.uniform(0.5, 2.0, shape[1])
    calls = [
        (gamma_cross_entropy, 0.1, dict(threshold=0.3, weight=w, reduction="none")),
        (gamma_cross_entropy, 0.0, dict(reduction="mean")),
        (generalized_cross_entropy, 0.7, dict(reduction="sum")),
        (focal_loss, 2.0, dict(weight=w)),
    ]
    for fn, param, kw in calls:
        what = f"{fn.__name__}({param}, {sorted(kw)})"
        results = []
        for n in (1, 2, 4):
            logitcore.set_num_threads(n)
            loss, grad = fn(x, t, param, return_grad=True, **kw)
            xi = x.copy()
            loss_i, grad_i = fn(xi, t, param, return_grad=True, inplace=True, **kw)
            assert grad_i is xi
            assert np.asarray(loss_i).tobytes() == np.asarray(loss).tobytes(), f"{what}: in-place loss, {n} threads"
            assert grad_i.tobytes() == grad.tobytes(), f"{what}: in-place gradient differs at {n} threads"
            fwd = fn(x, t, param, **kw)
            assert np.asarray(fwd).tobytes() == np.asarray(loss).tobytes(), f"{what}: forward-only loss"
            results.append((np.asarray(loss).tobytes(), grad.tobytes()))
        assert results[1] == results[0], f"{what}: 2 threads differ from 1"
        assert results[2] == results[0], f"{what}: 4 threads differ from 1"
