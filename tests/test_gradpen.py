"""logitcore.gradpen: the input- vs parameter-gradient inequality report (docs/math.md §8).

The inequality summed and per layer on random MLPs of every activation and depth, at
initialization and after training; the equality cases (ρ = 1); parity of every gradient, norm
and Jacobian with torch.autograd / torch.func.jacrev in float64; the identity
∇_x f = J_tᵀ W^(t)ᵀ δ_t; the three Jacobian modes; the bad inputs.
"""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logitcore import gradpen
from logitcore.gradpen import forward_backward, gradient_penalty_report, input_jacobians

from ._helpers import optional_import

ACTS = ["identity", "relu", ("leaky_relu", 0.1), "tanh", "sigmoid", "gelu", ("gelu", "tanh"), "softplus",
        ("softplus", 2.0, 5.0)]
RTOL = 1e-10  # float64: the inequalities hold up to rounding


def act_id(a):
    return a if isinstance(a, str) else "-".join(map(str, a))


def random_mlp(rng, sizes, acts, bias=True, scale=1.0):
    """He-style initialization; the last layer is linear."""
    layers = []
    for t, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = rng.standard_normal((o, i)) * scale * np.sqrt(2.0 / i)
        b = rng.standard_normal(o) * 0.1 if bias else None
        a = acts[t % len(acts)] if t < len(sizes) - 2 else "identity"
        layers.append((W, b, a))
    return layers


def sgd(layers, X, y, steps=40, lr=0.2):
    """Plain mini-batch-free SGD on the mean cross-entropy (gradients from forward_backward)."""
    layers = [(W.copy(), None if b is None else b.copy(), a) for W, b, a in layers]
    n = X.shape[0]
    for _ in range(steps):
        fb = forward_backward(layers, X, y, output="loss")
        new = []
        for t, (W, b, a) in enumerate(layers):
            W = W - lr * fb.delta[t].T @ fb.hidden[t] / n
            b = None if b is None else b - lr * fb.delta[t].mean(axis=0)
            new.append((W, b, a))
        layers = new
    return layers


def assert_inequalities(rep, rtol=RTOL):
    assert np.all(rep.lhs <= rep.rhs * (1 + rtol)), np.max(rep.lhs / rep.rhs)
    assert np.all(rep.layer_lhs <= rep.layer_rhs * (1 + rtol))
    assert np.all(rep.tightness <= 1 + rtol)
    assert np.all(rep.tightness >= 0)
    assert not rep.violated.any()
    # the W and b inequalities separately
    # (multiplied out: a dead layer gives ‖J_t‖ = 0 and ∇x f = 0)
    ig, wj2 = rep.input_grad_sq[:, None], (rep.weight_norm * rep.jacobian_norm) ** 2
    assert np.all(ig * rep.hidden_norm_sq <= rep.weight_grad_sq * wj2 * (1 + rtol))
    hb = rep.has_bias[None, :]  # a layer without bias has no bias inequality
    assert np.all((ig <= rep.bias_grad_sq * wj2 * (1 + rtol)) | ~hb)


# --------------------------------------------------------------------------------------------
# the inequality


@pytest.mark.parametrize("act", ACTS, ids=act_id)
@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 6])
def test_inequality_exact_every_activation_and_depth(act, depth, rng):
    sizes = [7] + [int(rng.integers(4, 12)) for _ in range(depth - 1)] + [5]
    layers = random_mlp(rng, sizes, [act])
    X = rng.standard_normal((12, 7))
    y = rng.integers(0, 5, 12)
    for model in (layers, sgd(layers, X, y, lr=0.05)):
        for output in ("loss", "logsumexp", 3):
            rep = gradient_penalty_report(model, X, y, output=output)
            assert rep.input_grad_sq.shape == (12,) and rep.tightness.shape == (12, depth)
            assert_inequalities(rep)
            assert np.allclose(rep.rhs, rep.weight_grad_sq.sum(1) + rep.bias_grad_sq.sum(1), rtol=1e-13)
        rep_f = gradient_penalty_report(model, X, y, norm="frobenius")
        assert_inequalities(rep_f)
        # Frobenius norms are >= spectral ones: the Frobenius factor is the smaller
        assert np.all(rep_f.factor <= rep.factor * (1 + 1e-12))


def test_trained_digits_like_mlp_keeps_the_inequality(rng):
    layers = random_mlp(rng, [20, 32, 32, 4], ["relu"])
    X = rng.standard_normal((64, 20))
    y = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0)
    trained = sgd(layers, X, y, steps=200, lr=0.3)
    f0 = forward_backward(layers, X, y).value.mean()
    f1 = forward_backward(trained, X, y).value.mean()
    assert f1 < 0.5 * f0  # it did train
    assert_inequalities(gradient_penalty_report(trained, X, y))


def test_layers_without_bias(rng):
    layers = random_mlp(rng, [6, 9, 8, 3], ["tanh"], bias=False)
    X = rng.standard_normal((10, 6))
    rep = gradient_penalty_report(layers, X, output="logsumexp")
    assert_inequalities(rep)
    assert not rep.has_bias.any()
    assert np.all(rep.bias_grad_sq == 0)
    # no bias: the factor has no "1 +" terms
    want = (rep.hidden_norm_sq / (rep.weight_norm * rep.jacobian_norm) ** 2).sum(1)
    np.testing.assert_allclose(rep.factor, want, rtol=1e-14)


@settings(max_examples=60)
@given(seed=st.integers(0, 2**32 - 1), depth=st.integers(1, 5), width=st.integers(1, 9),
       act=st.sampled_from(ACTS), scale=st.sampled_from([0.1, 1.0, 4.0]), bias=st.booleans(),
       output=st.sampled_from(["loss", "logsumexp", 0]), gamma=st.sampled_from([0.0, 0.2, 1.0]))
def test_inequality_property(seed, depth, width, act, scale, bias, output, gamma):
    """Any shape (widths down to 1), scale, bias or none, output and γ: exact and bound modes keep
    every inequality, ρ_t ∈ [0, 1], and bound's factor is at most exact's."""
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(1, width + 1)) for _ in range(depth)] + [3]
    layers = random_mlp(rng, sizes, [act], bias=bias, scale=scale)
    X = rng.standard_normal((5, sizes[0])) * scale
    y = rng.integers(0, 3, 5)
    exact = gradient_penalty_report(layers, X, y, output=output, gamma=gamma)
    assert_inequalities(exact)
    bound = gradient_penalty_report(layers, X, y, output=output, gamma=gamma, jacobian="bound")
    assert_inequalities(bound)
    assert np.all(bound.factor <= exact.factor * (1 + 1e-12))


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_inequality_wide_and_deep_sweep(dtype):
    """Wider and deeper random MLPs, more examples, every mode (float32 within its rounding)."""
    rng = np.random.default_rng(15)
    rtol = RTOL if dtype == np.float64 else 1e-4
    for act in ACTS:
        for depth in (2, 5, 8):
            sizes = [int(rng.integers(8, 70)) for _ in range(depth)] + [10]
            layers = [(W.astype(dtype), b.astype(dtype), a) for W, b, a in random_mlp(rng, sizes, [act])]
            X = rng.standard_normal((300, sizes[0])).astype(dtype)
            y = rng.integers(0, 10, 300)
            for layers_ in (layers, sgd(layers, X, y, steps=20, lr=0.02)):
                exact = gradient_penalty_report(layers_, X, y, batch_size=64)
                assert_inequalities(exact, rtol)
                assert_inequalities(gradient_penalty_report(layers_, X, y, jacobian="bound"), rtol)
                power = gradient_penalty_report(layers_, X, y, jacobian="power")
                assert np.all(power.jacobian_norm <= exact.jacobian_norm * (1 + rtol))


# --------------------------------------------------------------------------------------------
# equality: ρ = 1


def test_equality_single_row_layer(rng):
    """f = z_k of one linear layer whose only non-zero row is k: δ = e_k is W's top left singular
    vector, so ‖∇x f‖ = ‖W‖‖δ‖ (ρ = 1) and both sides are equal."""
    d, m, k = 6, 4, 2
    W = np.zeros((m, d))
    W[k] = rng.standard_normal(d)
    rep = gradient_penalty_report([(W, rng.standard_normal(m), "identity")], rng.standard_normal((5, d)), output=k)
    np.testing.assert_allclose(rep.tightness, 1.0, rtol=0, atol=1e-10)
    np.testing.assert_allclose(rep.lhs / rep.rhs, 1.0, rtol=0, atol=1e-10)


def test_equality_rank_one_logsumexp(rng):
    """W = 1 vᵀ, b constant: z = (vᵀx) 1 + b, softmax uniform ∥ 1, the top left singular vector."""
    d, m = 5, 7
    v = rng.standard_normal(d)
    W = np.outer(np.ones(m), v)
    rep = gradient_penalty_report([(W, np.full(m, 0.3), "identity")], rng.standard_normal((6, d)),
                                  output="logsumexp")
    np.testing.assert_allclose(rep.tightness, 1.0, rtol=0, atol=1e-10)
    np.testing.assert_allclose(rep.lhs, rep.rhs, rtol=1e-10)


def test_equality_second_layer(rng):
    """Layer 2's ρ = 1 when W^(2) = e_k vᵀ with v the top left singular vector of W^(1) (linear
    first layer): ∇x f = W^(1)ᵀ v, ‖J_2‖ = ‖W^(1)‖."""
    A = rng.standard_normal((5, 4))
    U = np.linalg.svd(A)[0]
    W2 = np.zeros((3, 5))
    W2[1] = 2.0 * U[:, 0]
    model = [(A, rng.standard_normal(5), "identity"), (W2, np.zeros(3), "identity")]
    rep = gradient_penalty_report(model, rng.standard_normal((4, 4)), output=1)
    np.testing.assert_allclose(rep.tightness[:, 1], 1.0, rtol=0, atol=1e-10)
    assert not rep.violated.any()


# --------------------------------------------------------------------------------------------
# self-consistency and chunking


@pytest.mark.parametrize("act", ["relu", "tanh", "gelu", "softplus"])
def test_input_gradient_identity_every_layer(act, rng):
    """∇_x f = J_tᵀ W^(t)ᵀ δ_t for every t, with J_t from input_jacobians."""
    layers = random_mlp(rng, [5, 8, 7, 6, 3], [act])
    X = rng.standard_normal((9, 5))
    y = rng.integers(0, 3, 9)
    fb = forward_backward(layers, X, y)
    for t, (W, _, _) in enumerate(layers, start=1):
        J = input_jacobians(layers, X, t)
        assert J.shape == (9, W.shape[1], 5)
        got = np.einsum("nji,nj->ni", J, fb.delta[t - 1] @ W)
        np.testing.assert_allclose(got, fb.input_grad, rtol=1e-12, atol=1e-14)
    # the output Jacobian: J_(l+1)ᵀ ∂f/∂h^(l+1) as well
    J = input_jacobians(layers, X, len(layers) + 1)
    assert J.shape == (9, 3, 5)


def test_chunks_give_the_same_report(rng):
    layers = random_mlp(rng, [6, 10, 10, 4], ["relu"])
    X = rng.standard_normal((23, 6))
    y = rng.integers(0, 4, 23)
    for jac in ("exact", "bound", "power"):
        a = gradient_penalty_report(layers, X, y, jacobian=jac)
        b = gradient_penalty_report(layers, X, y, jacobian=jac, batch_size=4)
        for k in ("input_grad_sq", "param_grad_sq", "factor", "lhs", "rhs", "weight_grad_sq", "tightness"):
            np.testing.assert_allclose(getattr(b, k), getattr(a, k), rtol=1e-3 if jac == "power" else 1e-12,
                                       err_msg=f"{jac} {k}")


def test_empty_batch(rng):
    layers = random_mlp(rng, [3, 4, 2], ["relu"])
    rep = gradient_penalty_report(layers, np.zeros((0, 3)), np.zeros(0, dtype=int))
    assert rep.lhs.shape == (0,) and rep.tightness.shape == (0, 2)
    assert "0 examples" in rep.summary()


def test_dead_relu_example(rng):
    """All units of layer 1 dead for an example: ∇x f = 0, J_2 = 0; the report stays finite where defined."""
    W1 = -np.abs(rng.standard_normal((4, 3)))
    model = [(W1, -np.ones(4), "relu"), (rng.standard_normal((2, 4)), np.zeros(2), "identity")]
    X = np.abs(rng.standard_normal((3, 3)))
    rep = gradient_penalty_report(model, X, np.array([0, 1, 0]))
    assert np.all(rep.input_grad_sq == 0) and np.all(rep.jacobian_norm[:, 1] == 0)
    assert np.all(rep.lhs == 0) and np.all(np.isinf(rep.factor))
    assert np.all(rep.tightness == 0) and not rep.violated.any()


# --------------------------------------------------------------------------------------------
# parity with torch.autograd and torch.func.jacrev (float64)


def _torch_act(nn, a):
    name, *p = (a,) if isinstance(a, str) else a
    return {
        "identity": lambda: nn.Identity(),
        "relu": lambda: nn.ReLU(),
        "leaky_relu": lambda: nn.LeakyReLU(*p),
        "tanh": lambda: nn.Tanh(),
        "sigmoid": lambda: nn.Sigmoid(),
        "gelu": lambda: nn.GELU(approximate=p[0] if p else "none"),
        "softplus": lambda: nn.Softplus(*p),
    }[name]()


def _torch_model(torch, layers):
    nn = torch.nn
    mods = []
    for W, b, a in layers:
        lin = nn.Linear(W.shape[1], W.shape[0], bias=b is not None).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            if b is not None:
                lin.bias.copy_(torch.from_numpy(b))
        mods += [lin, _torch_act(nn, a)]
    return nn.Sequential(*mods)


def _torch_f(torch, out, y, output, gamma):
    if output == "loss":
        logp = torch.log_softmax(out, -1)[y]
        if gamma == 0:
            return -logp
        return -torch.log(gamma + (1 - gamma) * torch.exp(logp)) / (1 - gamma)
    if output == "logsumexp":
        return torch.logsumexp(out, -1)
    return out[output]


@pytest.mark.parametrize("act", ACTS, ids=act_id)
@pytest.mark.parametrize("output,gamma", [("loss", 0.0), ("loss", 0.3), ("logsumexp", 0.0), (1, 0.0)])
def test_parity_with_torch_autograd(act, output, gamma, rng):
    torch = optional_import("torch")
    layers = random_mlp(rng, [6, 8, 7, 4], [act])
    X = rng.standard_normal((5, 6))
    y = rng.integers(0, 4, 5)
    seq = _torch_model(torch, layers)
    rep = gradient_penalty_report(layers, X, y, output=output, gamma=gamma)
    rep_t = gradient_penalty_report(seq, X, y, output=output, gamma=gamma)  # the converted Sequential
    linears = [m for m in seq if isinstance(m, torch.nn.Linear)]
    for i in range(5):
        x = torch.from_numpy(X[i]).requires_grad_()
        f = _torch_f(torch, seq(x), int(y[i]), output, gamma)
        params = [p for m in linears for p in (m.weight, m.bias)]
        grads = torch.autograd.grad(f, [x] + params)
        fv = f.detach().item()
        assert abs(fv - rep.value[i]) <= 1e-12 * max(1, abs(fv))
        np.testing.assert_allclose(rep.input_grad_sq[i], float((grads[0] ** 2).sum()), rtol=1e-11, atol=1e-20)
        for t in range(len(linears)):
            np.testing.assert_allclose(rep.weight_grad_sq[i, t], float((grads[1 + 2 * t] ** 2).sum()), rtol=1e-11, atol=1e-20)
            np.testing.assert_allclose(rep.bias_grad_sq[i, t], float((grads[2 + 2 * t] ** 2).sum()), rtol=1e-11, atol=1e-20)
        np.testing.assert_allclose(rep.param_grad_sq[i], sum(float((g ** 2).sum()) for g in grads[1:]), rtol=1e-11, atol=1e-20)
    for k in ("value", "input_grad_sq", "param_grad_sq", "factor", "tightness", "jacobian_norm"):
        np.testing.assert_allclose(getattr(rep_t, k), getattr(rep, k), rtol=1e-13, err_msg=k)


@pytest.mark.parametrize("act", ["relu", "tanh", "gelu", ("softplus", 2.0, 5.0)], ids=act_id)
def test_jacobians_match_jacrev(act, rng):
    torch = optional_import("torch")
    from torch.func import jacrev

    layers = random_mlp(rng, [5, 9, 8, 6, 3], [act])
    X = rng.standard_normal((4, 5))
    seq = _torch_model(torch, layers)
    rep = gradient_penalty_report(layers, X, output="logsumexp")
    rep_f = gradient_penalty_report(layers, X, output="logsumexp", norm="frobenius")
    for t in range(1, len(layers) + 2):
        J = input_jacobians(layers, X, t)
        sub = seq[: 2 * (t - 1)]  # modules computing h^(t) from x
        for i in range(4):
            Jt = jacrev(sub)(torch.from_numpy(X[i])).detach().numpy() if t > 1 else np.eye(5)
            np.testing.assert_allclose(J[i], Jt, rtol=1e-12, atol=1e-14)
            if t <= len(layers):
                np.testing.assert_allclose(rep.jacobian_norm[i, t - 1], np.linalg.norm(Jt, 2), rtol=1e-12)
                np.testing.assert_allclose(rep_f.jacobian_norm[i, t - 1], np.linalg.norm(Jt, "fro"), rtol=1e-12)
    for t, (W, _, _) in enumerate(layers):
        np.testing.assert_allclose(rep.weight_norm[:, t], float(torch.linalg.matrix_norm(torch.from_numpy(W), 2)),
                                   rtol=1e-12)


# --------------------------------------------------------------------------------------------
# the Jacobian modes


@pytest.mark.parametrize("act", ["relu", ("leaky_relu", 0.2), "tanh", "sigmoid", "gelu", "softplus"], ids=act_id)
def test_bound_mode_is_a_certified_upper_bound(act, rng):
    layers = random_mlp(rng, [10, 16, 12, 12, 5], [act])
    X = rng.standard_normal((15, 10))
    y = rng.integers(0, 5, 15)
    for norm in ("spectral", "frobenius"):
        exact = gradient_penalty_report(layers, X, y, norm=norm)
        bound = gradient_penalty_report(layers, X, y, norm=norm, jacobian="bound")
        assert np.all(bound.jacobian_norm >= exact.jacobian_norm * (1 - 1e-12))
        np.testing.assert_array_equal(bound.jacobian_norm[:, 0], exact.jacobian_norm[:, 0])
        if norm == "spectral":  # J_2 = D W^(1): its bound is max|g'|·‖W^(1)‖
            dmax = np.abs(forward_backward(layers, X, y).derivative[0]).max(axis=1)
            np.testing.assert_allclose(bound.jacobian_norm[:, 1], dmax * np.linalg.norm(layers[0][0], 2), rtol=1e-13)
        assert np.all(bound.factor <= exact.factor * (1 + 1e-12))
        assert_inequalities(bound)
        np.testing.assert_array_equal(bound.rhs, exact.rhs)  # the right side does not depend on the mode


def test_bound_mode_formula_and_its_tight_case(rng):
    """Scaled orthogonal layers with identity activations: ‖J_t‖ = s_1···s_(t−1) exactly, and the bound
    ‖W^(1)‖·Π_{1<s<t} ‖W^(s)‖₂·Π max|g′| is attained; with ReLU it is the per-example formula."""
    scales = [0.5, 3.0, 1.7, 0.8, 2.5]
    d = 6
    model = [(s * np.linalg.qr(rng.standard_normal((d, d)))[0], rng.standard_normal(d), "identity") for s in scales]
    X = rng.standard_normal((4, d))
    exact = gradient_penalty_report(model, X, output=0)
    bound = gradient_penalty_report(model, X, output=0, jacobian="bound")
    want = np.cumprod([1.0] + scales[:-1])
    np.testing.assert_allclose(exact.jacobian_norm, np.broadcast_to(want, (4, 5)), rtol=1e-12)
    np.testing.assert_allclose(bound.jacobian_norm, exact.jacobian_norm, rtol=1e-12)
    relu = [(W, b, "relu" if t < 4 else "identity") for t, (W, b, _) in enumerate(model)]
    rep = gradient_penalty_report(relu, X, output=0, jacobian="bound")
    der = forward_backward(relu, X, output=0).derivative
    B = np.ones(4)
    for t in range(1, 5):
        B = B * np.abs(der[t - 1]).max(axis=1) * scales[t - 1]
        np.testing.assert_allclose(rep.jacobian_norm[:, t], B, rtol=1e-12, err_msg=f"layer {t + 1}")


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_narrowing_first_layer_reduced_input_space(act, rng):
    """d_1 > d_2: the norms are computed with W^(1) replaced by Rᵀ (W^(1)ᵀ = QR); they equal the
    norms of the full Jacobians from input_jacobians, spectral and Frobenius, in every mode."""
    layers = random_mlp(rng, [30, 6, 9, 7, 3], [act])
    X = rng.standard_normal((8, 30))
    y = rng.integers(0, 3, 8)
    spec = gradient_penalty_report(layers, X, y)
    frob = gradient_penalty_report(layers, X, y, norm="frobenius")
    power = gradient_penalty_report(layers, X, y, jacobian="power", power_iters=2000, power_tol=0)
    for t in range(1, 5):
        J = input_jacobians(layers, X, t)
        np.testing.assert_allclose(spec.jacobian_norm[:, t - 1], np.linalg.norm(J, 2, axis=(1, 2)), rtol=1e-12)
        np.testing.assert_allclose(frob.jacobian_norm[:, t - 1], np.linalg.norm(J, "fro", axis=(1, 2)), rtol=1e-12)
        np.testing.assert_allclose(power.jacobian_norm[:, t - 1], spec.jacobian_norm[:, t - 1], rtol=1e-6)
    assert np.all(power.jacobian_norm <= spec.jacobian_norm * (1 + 1e-12))


def test_power_mode_is_a_lower_estimate_close_to_exact(rng):
    layers = random_mlp(rng, [12, 20, 16, 16, 4], ["tanh"])
    X = rng.standard_normal((10, 12))
    y = rng.integers(0, 4, 10)
    exact = gradient_penalty_report(layers, X, y)
    power = gradient_penalty_report(layers, X, y, jacobian="power", power_iters=500, power_tol=1e-13)
    assert np.all(power.jacobian_norm <= exact.jacobian_norm * (1 + 1e-12))
    np.testing.assert_allclose(power.jacobian_norm, exact.jacobian_norm, rtol=1e-5)
    np.testing.assert_allclose(power.factor, exact.factor, rtol=1e-5)
    few = gradient_penalty_report(layers, X, y, jacobian="power", power_iters=2)
    assert np.all(few.jacobian_norm <= exact.jacobian_norm * (1 + 1e-12))
    assert np.all(few.power_iterations[1:] == 2)
    assert "lower estimates" in few.summary()


def test_power_mode_flags_examples_that_look_violated(rng):
    """At ρ_2 = 1 any underestimate of ‖J_2‖ breaks the bound: flagged by power mode, not by exact."""
    A = rng.standard_normal((6, 5))
    U = np.linalg.svd(A)[0]
    W2 = np.zeros((3, 6))
    W2[1] = U[:, 0]
    model = [(A, rng.standard_normal(6), "identity"), (W2, np.zeros(3), "identity")]
    X = rng.standard_normal((8, 5))
    exact = gradient_penalty_report(model, X, output=1)
    assert not exact.violated.any()
    power = gradient_penalty_report(model, X, output=1, jacobian="power", power_iters=1)
    assert power.violated.all()
    assert np.all(power.tightness[:, 1] > 1)
    assert "looks violated" in power.summary() and "holds for 0 of 8" in power.summary()
    # a layer where the estimate is good enough is not flagged: tightness below 1 keeps it valid
    good = gradient_penalty_report(model, X, output=1, jacobian="power", power_iters=300, power_tol=0)
    assert np.all(good.tightness[:, 1] <= 1 + 1e-9)


# --------------------------------------------------------------------------------------------
# torch.nn.Sequential, float32, summary and data frame


def test_torch_sequential_conversion(rng):
    torch = optional_import("torch")
    nn = torch.nn
    torch.manual_seed(0)
    seq = nn.Sequential(nn.Linear(6, 9), nn.GELU(approximate="tanh"), nn.Identity(), nn.Linear(9, 7, bias=False),
                        nn.Linear(7, 8), nn.Softplus(beta=1.5, threshold=4.0), nn.Linear(8, 3))
    layers = gradpen.from_torch(seq)
    assert [str(L.activation) for L in layers] == ["gelu(tanh)", "identity", "softplus(1.5, 4.0)", "identity"]
    assert layers[1].b is None and layers[0].W.dtype == np.float32
    X = rng.standard_normal((7, 6)).astype(np.float32)
    y = rng.integers(0, 3, 7)
    rep = gradient_penalty_report(seq, X, y)
    assert rep.dtype == np.float32
    assert_inequalities(rep, rtol=1e-4)
    # float32 against float64 on the same parameters
    rep64 = gradient_penalty_report([(L.W.astype(np.float64), None if L.b is None else L.b.astype(np.float64),
                                      L.activation) for L in layers], X.astype(np.float64), y)
    assert rep64.dtype == np.float64
    for k in ("input_grad_sq", "param_grad_sq", "factor", "tightness"):
        np.testing.assert_allclose(getattr(rep, k), getattr(rep64, k), rtol=2e-4, err_msg=k)
    with torch.no_grad():
        want = nn.functional.cross_entropy(seq(torch.from_numpy(X)).double(), torch.from_numpy(y), reduction="none")
    np.testing.assert_allclose(rep.value, want.numpy(), rtol=1e-5)
    # a single Linear layer is accepted as is
    assert len(gradpen.as_layers(nn.Linear(3, 2))) == 1


def test_torch_sequential_errors():
    torch = optional_import("torch")
    nn = torch.nn
    X = np.zeros((2, 4), dtype=np.float32)
    with pytest.raises(TypeError, match=r"module 1 \(Conv1d\): unsupported layer"):
        gradient_penalty_report(nn.Sequential(nn.Linear(4, 4), nn.Conv1d(1, 1, 1)), X, output=0)
    with pytest.raises(TypeError, match=r"module 2 \(Dropout\): unsupported layer"):
        gradient_penalty_report(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Dropout()), X, output=0)
    with pytest.raises(ValueError, match=r"module 0 \(ReLU\): an activation before the first Linear"):
        gradient_penalty_report(nn.Sequential(nn.ReLU(), nn.Linear(4, 4)), X, output=0)
    with pytest.raises(ValueError, match=r"module 2 \(Tanh\): two activations in a row"):
        gradient_penalty_report(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Tanh()), X, output=0)
    with pytest.raises(ValueError, match="holds no Linear layer"):
        gradient_penalty_report(nn.Sequential(), X, output=0)
    with pytest.raises(TypeError, match="must be a torch.nn.Sequential"):
        gradient_penalty_report(nn.ReLU(), X, output=0)
    seq = nn.Sequential(nn.Linear(4, 3))
    with torch.no_grad():
        seq[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="layer 1: W holds non-finite values"):
        gradient_penalty_report(seq, X, output=0)


def test_outputs_and_gamma(rng):
    """f and its gradient per output kind, against direct NumPy formulas (torch parity is above)."""
    layers = random_mlp(rng, [5, 7, 4], ["relu"])
    X = rng.standard_normal((6, 5))
    y = rng.integers(0, 4, 6)
    fb = forward_backward(layers, X, y, output="logsumexp")
    out = fb.hidden[-1]
    m = out.max(1)
    np.testing.assert_allclose(fb.value, m + np.log(np.exp(out - m[:, None]).sum(1)), rtol=1e-14)
    fb2 = forward_backward(layers, X, y, output=-1)  # negative index: the last output
    np.testing.assert_array_equal(fb2.value, out[:, 3])
    p_y = np.exp(out[np.arange(6), y] - forward_backward(layers, X, y, output="logsumexp").value)
    for g in (0.0, 0.5, 1.0):
        v = forward_backward(layers, X, y, output="loss", gamma=g).value
        want = -np.log(p_y) if g == 0 else (1 - p_y if g == 1 else -np.log(g + (1 - g) * p_y) / (1 - g))
        np.testing.assert_allclose(v, want, rtol=1e-12)
        assert_inequalities(gradient_penalty_report(layers, X, y, gamma=g))


def test_summary_and_dataframe(rng):
    pd = optional_import("pandas")
    layers = random_mlp(rng, [4, 6, 6, 3], ["relu"])
    X = rng.standard_normal((9, 4))
    y = rng.integers(0, 3, 9)
    rep = gradient_penalty_report(layers, X, y, jacobian="bound")
    text = rep.summary()
    assert "9 examples, MLP 4-6-6-3" in text and "certified upper bounds" in text and "holds for 9 of 9" in text
    assert sum(line.lstrip().startswith(("1 ", "2 ", "3 ")) for line in text.splitlines()) == 3
    assert f"{np.median(rep.factor):.4g}" in text
    df = rep.to_dataframe()
    assert isinstance(df, pd.DataFrame) and df.shape == (9, 7 + 8 * 3)
    np.testing.assert_array_equal(df["factor"].to_numpy(), rep.factor)
    np.testing.assert_array_equal(df["tightness[3]"].to_numpy(), rep.tightness[:, 2])
    assert "GradientPenaltyReport: 9 examples, 3 layers (4-6-6-3)" in repr(rep)


# --------------------------------------------------------------------------------------------
# bad input


def test_bad_models(rng):
    W1, W2 = rng.standard_normal((4, 3)), rng.standard_normal((2, 5))
    X = rng.standard_normal((2, 3))
    with pytest.raises(ValueError, match=r"layer 2: W has shape \(2, 5\) \(in 5\) but layer 1 outputs 4"):
        gradient_penalty_report([(W1, None, "relu"), (W2, None, "identity")], X, output=0)
    with pytest.raises(ValueError, match=r"layer 1: b has shape \(3,\), expected \(4,\)"):
        gradient_penalty_report([(W1, np.zeros(3), "relu")], X, output=0)
    with pytest.raises(ValueError, match="layer 1: unsupported activation 'swish'"):
        gradient_penalty_report([(W1, None, "swish")], X, output=0)
    with pytest.raises(TypeError, match="layer 1 must be a \\(W, b, activation\\) triple"):
        gradient_penalty_report([(W1, None)], X, output=0)
    bad = W1.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="layer 1: W holds non-finite values"):
        gradient_penalty_report([(bad, None, "relu")], X, output=0)
    with pytest.raises(ValueError, match="layer 1: b holds non-finite"):
        gradient_penalty_report([(W1, np.array([0, np.inf, 0, 0]), "relu")], X, output=0)
    with pytest.raises(ValueError, match="model has no layers"):
        gradient_penalty_report([], X, output=0)
    with pytest.raises(TypeError, match="model must be a list"):
        gradient_penalty_report("relu", X, output=0)
    with pytest.raises(ValueError, match="layer 1: W must be 2-D"):
        gradient_penalty_report([(np.zeros(3), None, "relu")], X, output=0)
    with pytest.raises(ValueError, match="leaky_relu takes at most 1 parameter"):
        gradient_penalty_report([(W1, None, ("leaky_relu", 0.1, 2))], X, output=0)


def test_bad_inputs_and_options(rng):
    model = [(rng.standard_normal((4, 3)), np.zeros(4), "relu"), (rng.standard_normal((2, 4)), None, "identity")]
    X = rng.standard_normal((2, 3))
    y = np.array([0, 1])
    with pytest.raises(ValueError, match="X has 5 features but layer 1's W has shape"):
        gradient_penalty_report(model, np.zeros((2, 5)), y)
    with pytest.raises(ValueError, match="X must be 2-D"):
        gradient_penalty_report(model, np.zeros(3), y)
    with pytest.raises(ValueError, match="X holds non-finite"):
        gradient_penalty_report(model, np.array([[0, np.nan, 0], [0, 0, 0]]), y)
    with pytest.raises(IndexError, match=r"y\[1\] = 2 is out of range for a model with 2 outputs"):
        gradient_penalty_report(model, X, np.array([0, 2]))
    with pytest.raises(IndexError, match=r"y\[0\] = -1"):
        gradient_penalty_report(model, X, np.array([-1, 0]))
    with pytest.raises(ValueError, match="needs the labels y"):
        gradient_penalty_report(model, X)
    with pytest.raises(ValueError, match=r"y has shape \(3,\), expected \(2,\)"):
        gradient_penalty_report(model, X, np.array([0, 1, 0]))
    with pytest.raises(TypeError, match="y must hold integer class indices"):
        gradient_penalty_report(model, X, np.array([0.0, 1.0]))
    with pytest.raises(IndexError, match="output index 2 is out of range for a model with 2 outputs"):
        gradient_penalty_report(model, X, output=2)
    with pytest.raises(ValueError, match="output must be 'loss', 'logsumexp' or an int"):
        gradient_penalty_report(model, X, output="mean")
    with pytest.raises(TypeError, match="output must be"):
        gradient_penalty_report(model, X, output=True)
    with pytest.raises(ValueError, match="norm must be 'spectral' or 'frobenius'"):
        gradient_penalty_report(model, X, y, norm="nuclear")
    with pytest.raises(ValueError, match="jacobian must be 'exact', 'power' or 'bound'"):
        gradient_penalty_report(model, X, y, jacobian="approx")
    with pytest.raises(ValueError, match="jacobian='power' estimates spectral norms"):
        gradient_penalty_report(model, X, y, jacobian="power", norm="frobenius")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        gradient_penalty_report(model, X, y, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be a positive integer"):
        gradient_penalty_report(model, X, y, batch_size=2.5)
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\]"):
        gradient_penalty_report(model, X, y, gamma=1.5)
    with pytest.raises(ValueError, match="power_iters must be a positive integer"):
        gradient_penalty_report(model, X, y, jacobian="power", power_iters=0)
    with pytest.raises(IndexError, match=r"layer must be in 1..3"):
        input_jacobians(model, X, 4)


def test_import_without_optional_dependencies():
    code = (
        "import sys\n"
        "for m in ('torch', 'pandas', 'matplotlib', 'scipy'):\n"
        "    sys.modules[m] = None\n"
        "import numpy as np, logitcore\n"
        "from logitcore.gradpen import gradient_penalty_report\n"
        "rng = np.random.default_rng(0)\n"
        "model = [(rng.standard_normal((4, 3)), np.zeros(4), 'gelu'), (rng.standard_normal((2, 4)), None, 'identity')]\n"
        "rep = gradient_penalty_report(model, rng.standard_normal((5, 3)), np.array([0, 1, 0, 1, 1]))\n"
        "assert not rep.violated.any()\n"
        "try:\n"
        "    rep.to_dataframe()\n"
        "except ImportError as e:\n"
        "    print('ImportError', e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("ImportError") and "pandas" in r.stdout


def test_lazy_submodule():
    import logitcore

    assert logitcore.gradpen is gradpen


# --------------------------------------------------------------------------------------------
# the demo (python -m logitcore gradpen-demo)


def test_demo_command_line(tmp_path):
    optional_import("sklearn")
    optional_import("matplotlib")
    png = tmp_path / "demo.png"
    r = subprocess.run([sys.executable, "-m", "logitcore", "gradpen-demo", "--epochs", "2", "--every", "1",
                        "--hidden", "16,12", "--backend", "numpy", "--output", str(png)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any("MLP 64-16-12-10" in line for line in lines)
    rows = [line for line in lines if line[:5].strip().isdigit()]
    assert [int(line.split()[0]) for line in rows] == [0, 1, 2]
    assert "no example violated the inequality" in r.stdout
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = subprocess.run([sys.executable, "-m", "logitcore", "gradpen-demo", "--every", "0", "--output", ""],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "every >= 1" in bad.stderr


def test_demo_backends_agree():
    """NumPy SGD and PyTorch SGD from the same initialization and batches record the same figures."""
    import io

    optional_import("sklearn")
    optional_import("torch")
    from logitcore.gradpen.demo import run_demo

    kw = dict(epochs=2, every=1, output=None, hidden=(12,), lr=0.1, batch_size=64)
    a = run_demo(backend="numpy", out=io.StringIO(), **kw)
    b = run_demo(backend="torch", out=io.StringIO(), **kw)
    assert (a["backend"], b["backend"]) == ("numpy", "torch") and len(a["records"]) == 3
    for ra, rb in zip(a["records"], b["records"]):
        for k in ("train_loss", "input_grad_sq", "param_grad_sq", "factor", "ratio"):
            np.testing.assert_allclose(ra[k], rb[k], rtol=1e-9, err_msg=k)
        assert ra["violated"] == 0 and 0 < ra["ratio"] <= 1
    assert a["records"][-1]["train_loss"] < a["records"][0]["train_loss"]
    assert a["factor_variation"] >= 1


# --------------------------------------------------------------------------------------------
# the benchmark cases (behaviour only, never figures)


def test_bench_gradpen_group_runs_on_a_tiny_shape(capsys, restore_threads):
    from logitcore.__main__ import main
    from logitcore.bench import harness as bench

    assert bench.GROUPS["gradpen"] == ["gradpen_mlp", "gradpen_exact"]
    default = {c.name for c, items in bench.build_plan(list(bench.CASES), full=False) if items}
    assert not default & {"gradpen_mlp", "gradpen_exact"}  # not in the default run
    status = main(["bench", "--repeat", "2", "--min-time", "0.0002", "--cases", "gradpen", "--shapes", "40x20",
                   "--threads", "1", "--check"])
    out = capsys.readouterr().out
    assert status == 0
    assert "[gradpen_mlp]" in out and "[gradpen_exact]" in out
    assert re.search(r"SKIP .*jacobian='bound', <= 3x one PyTorch fwd\+bwd", out)
    if optional_import("torch") is not None:
        assert "bound/torch" in out and "exact/torch" in out
