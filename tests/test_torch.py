"""logitcore.torch: autograd functions and loss modules on CPU tensors (skipped when torch is
not installed, an error instead when LOGITCORE_TEST_REQUIRE names torch).

Parity with PyTorch's own functions (torch.logsumexp, softmax, log_softmax, F.cross_entropy
with weight / ignore_index / reduction, (N, C, d1, d2) inputs) on every ISA the host supports;
torch.autograd.gradcheck in float64 for every function; the losses' backward reusing the
forward's gradient (and not computing it without grad mode); zero-copy views; dtypes; bad
input; torch.compile; a small training run identical to one with F.cross_entropy.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from ._helpers import optional_import

torch = optional_import("torch")
F = torch.nn.functional

import logitcore  # noqa: E402
import logitcore.torch as lt  # noqa: E402
from logitcore import losses as np_losses  # noqa: E402
from logitcore.torch import _convert, _functions  # noqa: E402

from .test_losses_torch import torch_loss  # noqa: E402

D64 = torch.float64
gradcheck = torch.autograd.gradcheck


def randn(*shape, dtype=D64, seed=0, scale=2.0, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=D64) * scale).to(dtype).requires_grad_(requires_grad)


def strided(shape, seed=0, dtype=D64):
    """A non-contiguous tensor of ``shape``: every other column of a transposed buffer."""
    base = randn(shape[-1] * 2, *shape[:-1], seed=seed, dtype=dtype)
    return base.movedim(0, -1)[..., ::2]


# --- packaging: lazy import, the real torch inside the package ---------------------------------


def test_import_logitcore_does_not_import_torch():
    code = "import sys, logitcore; assert 'torch' not in sys.modules; print('ok')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "ok"  # (an editable install may print a build line first)


def test_without_torch_installed():
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "import logitcore\n"
        "assert float(logitcore.logsumexp([0.0, 0.0])) > 0.69\n"
        "try:\n"
        "    logitcore.torch\n"
        "except ImportError as e:\n"
        "    print('ImportError', e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("ImportError"), r.stdout


def test_bfloat16_without_ml_dtypes():
    """Without ml_dtypes bfloat16 tensors are computed in float32 (and returned as bfloat16)."""
    code = (
        "import sys\n"
        "sys.modules['ml_dtypes'] = None\n"
        "import torch, logitcore.torch as lt\n"
        "x = torch.randn(3, 5).to(torch.bfloat16)\n"
        "y = lt.softmax(x)\n"
        "assert y.dtype == torch.bfloat16 and torch.allclose(y.float(), torch.softmax(x.float(), -1), atol=1e-2)\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "ok"


def test_submodule_uses_the_real_torch():
    import importlib

    assert logitcore.torch is lt
    assert importlib.import_module("logitcore.torch") is lt
    assert sys.modules["torch"] is torch and torch is not lt
    for mod in (_convert, _functions, importlib.import_module("logitcore.torch._modules")):
        assert mod.torch is torch
    assert hasattr(_functions.torch, "autograd")
    assert set(lt.__all__) <= set(dir(lt))


# --- parity with torch, every ISA ------------------------------------------------------------


@pytest.mark.usefixtures("isa")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_family_matches_torch(dtype, layout):
    x = randn(6, 5, 37, dtype=dtype, seed=1) if layout == "contiguous" else strided((6, 5, 37), 1, dtype)
    x[0, 0, :] = -torch.inf  # an all -inf row
    x[1, 2, 3] = -torch.inf
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    for dim in (0, 1, 2, -1):
        for keepdim in (False, True):
            torch.testing.assert_close(lt.logsumexp(x, dim, keepdim), torch.logsumexp(x, dim, keepdim), **tol)
        if dim != 2 and dim != -1:
            continue  # (torch.softmax of an all -inf row is NaN, logitcore's is 0: compared below)
    for dim in (0, 1):
        torch.testing.assert_close(lt.softmax(x, dim), torch.softmax(x, dim), **tol)
        torch.testing.assert_close(lt.log_softmax(x, dim), torch.log_softmax(x, dim), **tol)
    torch.testing.assert_close(lt.logsumexp(x, (0, 2)), torch.logsumexp(x, (0, 2)), **tol)
    y = x[1:]  # rows without the all -inf one, along the last dim
    torch.testing.assert_close(lt.softmax(y, -1), torch.softmax(y, -1), **tol)
    torch.testing.assert_close(lt.log_softmax(y, -1), torch.log_softmax(y, -1), **tol)
    h_ref = -(torch.softmax(y, -1) * torch.log_softmax(y, -1)).nan_to_num(0.0).sum(-1)
    torch.testing.assert_close(lt.softmax_entropy(y, -1), h_ref, **tol)
    torch.testing.assert_close(lt.softmax_entropy(y, 1, keepdim=True),
                               -(torch.softmax(y, 1) * torch.log_softmax(y, 1)).nan_to_num(0.0).sum(1, keepdim=True), **tol)
    assert lt.softmax(x, -1)[0, 0].eq(0).all()  # all -inf row: no support, zeros (docs/math.md §1.3)


def test_outputs_are_tensors_of_the_input_dtype():
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        x = randn(3, 4, dtype=dtype)
        for f in (lt.logsumexp, lt.softmax, lt.log_softmax, lt.softmax_entropy):
            y = f(x)
            assert isinstance(y, torch.Tensor) and y.dtype == dtype, (f.__name__, dtype)
        assert lt.gamma_cross_entropy(x, torch.tensor([0, 1, 2])).dtype == dtype
        assert lt.entropy_normalize(x, 0.5).dtype == dtype


# --- gradcheck in float64 --------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_gradcheck_family(layout):
    x = (randn(3, 4, 6, seed=2) if layout == "contiguous" else strided((3, 4, 6), 2)).requires_grad_()
    for dim in (0, 2, -1):
        assert gradcheck(lambda t: lt.softmax(t, dim), (x,))
        assert gradcheck(lambda t: lt.log_softmax(t, dim), (x,))
        for keepdim in (False, True):
            assert gradcheck(lambda t: lt.logsumexp(t, dim, keepdim), (x,))
            assert gradcheck(lambda t: lt.softmax_entropy(t, dim, keepdim), (x,))
    assert gradcheck(lambda t: lt.logsumexp(t, (0, 2)), (x,))
    assert gradcheck(lambda t: lt.softmax_entropy(t, (1, 2), True), (x,))


def test_gradients_with_minus_inf_entries():
    """-inf logits have probability 0: their gradient is 0 and the other entries' gradient is
    that of the row without them (no NaN from 0 * inf)."""
    x = randn(2, 6, seed=3)
    x[0, 1] = -torch.inf
    x[1, :] = -torch.inf
    x.requires_grad_()
    g = randn(2, seed=4)
    for f in (lt.softmax_entropy, lt.logsumexp):
        x.grad = None
        f(x).mul(g).sum().backward()
        assert torch.isfinite(x.grad).all(), f.__name__
        assert x.grad[0, 1] == 0 and x.grad[1].eq(0).all(), f.__name__
        kept = torch.cat([x[0, :1], x[0, 2:]]).detach().requires_grad_()
        f(kept).mul(g[0]).backward()
        torch.testing.assert_close(torch.cat([x.grad[0, :1], x.grad[0, 2:]]), kept.grad)


def test_gradcheck_losses():
    x = randn(5, 7, seed=5, requires_grad=True)
    t = torch.tensor([0, 6, 3, -100, 2])
    w = randn(7, seed=6).abs() + 0.1
    for red in ("mean", "sum", "none"):
        for weight in (None, w):
            for gamma in (0.0, 1e-3, 0.4, 1.0):
                assert gradcheck(lambda z: lt.gamma_cross_entropy(z, t, gamma, weight=weight, reduction=red), (x,))
            for q in (0.3, 1.0):
                assert gradcheck(lambda z: lt.generalized_cross_entropy(z, t, q, weight=weight, reduction=red), (x,))
            for gamma in (0.0, 2.0):
                assert gradcheck(lambda z: lt.focal_loss(z, t, gamma, weight=weight, reduction=red), (x,))
    x4 = randn(2, 4, 3, 2, seed=7, requires_grad=True)  # classes on dim 1
    t4 = torch.tensor([[[0, 3], [1, -100], [2, 2]], [[3, 3], [0, 1], [1, 0]]])
    for red in ("mean", "none"):
        assert gradcheck(lambda z: lt.gamma_cross_entropy(z, t4, 0.3, reduction=red), (x4,))
    x1 = randn(7, seed=8, requires_grad=True)  # one unbatched row
    assert gradcheck(lambda z: lt.focal_loss(z, torch.tensor(4)), (x1,))
    xs = strided((5, 7), 9).requires_grad_()
    assert gradcheck(lambda z: lt.gamma_cross_entropy(z, t, 0.5), (xs,))


def test_gradcheck_entropy_normalize():
    z = randn(4, 6, seed=10, requires_grad=True)
    h = torch.tensor([0.3, 0.9, 1.2, 1.6], dtype=D64, requires_grad=True)
    assert gradcheck(lambda a: lt.entropy_normalize(a, 1.0, tol=1e-14), (z,))
    assert gradcheck(lambda a, b: lt.entropy_normalize(a, b, tol=1e-14), (z, h))
    zt = strided((6, 4), 11).requires_grad_()  # outcomes on dim 0, non-contiguous
    assert gradcheck(lambda a, b: lt.entropy_normalize(a, b, dim=0, tol=1e-14), (zt, h))
    z3 = randn(2, 3, 5, seed=12, requires_grad=True)
    hb = torch.tensor([[0.5], [1.1]], dtype=D64, requires_grad=True)  # broadcast over dim 1
    assert gradcheck(lambda a, b: lt.entropy_normalize(a, b, tol=1e-14), (z3, hb))


def test_entropy_normalize_gradient_respects_the_constraint():
    """H(q) = H* whatever the logits: the gradient of H(q) is 0 for z and 1 for H*."""
    z = randn(3, 9, seed=26, requires_grad=True)
    h = torch.tensor([0.5, 1.0, 1.8], dtype=D64, requires_grad=True)
    q = lt.entropy_normalize(z, h, tol=1e-14)
    (-(q * torch.log(q)).sum()).backward()
    torch.testing.assert_close(z.grad, torch.zeros_like(z), rtol=0, atol=1e-9)
    torch.testing.assert_close(h.grad, torch.ones_like(h), rtol=0, atol=1e-9)


def test_entropy_normalize_values_and_special_rows():
    z = randn(5, 8, seed=13)
    z[1, 2] = -torch.inf
    h = torch.tensor([0.4, 1.0, 1.5, 5.0, 0.0], dtype=D64)  # 5.0 > log 8: clipped (uniform); 0: argmax
    q = lt.entropy_normalize(z, h, tol=1e-13)
    want = logitcore.entropy_normalize(z.numpy(), h.numpy(), logits=True, tol=1e-13)
    torch.testing.assert_close(q, torch.from_numpy(want), rtol=0, atol=0)
    torch.testing.assert_close(lt.softmax_entropy(torch.log(q[:3])), h[:3], rtol=0, atol=1e-11)
    zr = z.clone().requires_grad_()
    hr = h.clone().requires_grad_()
    g = randn(5, 8, seed=14)
    (lt.entropy_normalize(zr, hr, tol=1e-13) * g).sum().backward()
    assert torch.isfinite(zr.grad).all() and torch.isfinite(hr.grad).all()
    assert zr.grad[1, 2] == 0  # q = 0 there for every gamma
    assert zr.grad[3].eq(0).all() and hr.grad[3] == 0  # gamma pinned at 0: q is uniform whatever z is
    assert zr.grad[4].eq(0).all() and hr.grad[4] == 0  # gamma pinned at inf: one-hot
    # the row with a -inf entry: the gradient of the row without it
    kept = torch.cat([z[1, :2], z[1, 3:]]).requires_grad_()
    (lt.entropy_normalize(kept, 1.0, tol=1e-13) * torch.cat([g[1, :2], g[1, 3:]])).sum().backward()
    torch.testing.assert_close(torch.cat([zr.grad[1, :2], zr.grad[1, 3:]]), kept.grad)


# --- losses: parity with F.cross_entropy and the torch formulas --------------------------------


@pytest.mark.usefixtures("isa")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(9, 11), (11,), (3, 11, 4, 2)])
def test_cross_entropy_matches_F(shape, reduction, dtype):
    x = randn(*shape, dtype=dtype, seed=15)
    c = shape[1] if len(shape) > 1 else shape[0]
    tshape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    t = torch.randint(0, c, tshape, generator=torch.Generator().manual_seed(16))
    if t.ndim:
        t.view(-1)[::3] = 5  # (ignored below)
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-13)
    w = randn(c, seed=17, dtype=dtype).abs() + 0.2
    g_out = randn(*tshape, seed=18, dtype=dtype) if reduction == "none" else torch.tensor(0.7, dtype=dtype)
    for weight in (None, w):
        for ignore in (-100, 5):
            a = x.clone().requires_grad_()
            b = x.clone().requires_grad_()
            got = lt.gamma_cross_entropy(a, t, 0.0, weight=weight, ignore_index=ignore, reduction=reduction)
            want = F.cross_entropy(b, t, weight=weight, ignore_index=ignore, reduction=reduction)
            torch.testing.assert_close(got, want, **tol)
            got.backward(g_out)
            want.backward(g_out)
            torch.testing.assert_close(a.grad, b.grad, **tol)
            mod = lt.GammaCrossEntropyLoss(weight=weight, ignore_index=ignore, reduction=reduction)
            ref = torch.nn.CrossEntropyLoss(weight=weight, ignore_index=ignore, reduction=reduction)
            torch.testing.assert_close(mod(x, t), ref(x, t), **tol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_robust_losses_match_torch_formulas(reduction):
    rng = np.random.default_rng(19)
    x = rng.standard_normal((12, 9)) * 3
    t = rng.integers(0, 9, 12)
    t[4] = -100
    w = rng.uniform(0.2, 2.0, 9)
    tw = torch.tensor(w)
    cases = [
        ("gamma", 0.3, 0.0, lambda z, tt: lt.gamma_cross_entropy(z, tt, 0.3, weight=tw, reduction=reduction)),
        ("gamma", 1e-7, 0.2, lambda z, tt: lt.gamma_cross_entropy(z, tt, 1e-7, 0.2, weight=tw, reduction=reduction)),
        ("gamma", 1.0, 0.0, lambda z, tt: lt.GammaCrossEntropyLoss(1.0, weight=tw, reduction=reduction)(z, tt)),
        ("gce", 0.7, 0.0, lambda z, tt: lt.GeneralizedCrossEntropyLoss(0.7, weight=tw, reduction=reduction)(z, tt)),
        ("focal", 2.0, 0.0, lambda z, tt: lt.FocalLoss(2.0, weight=tw, reduction=reduction)(z, tt)),
    ]
    for kind, param, b, fn in cases:
        want_loss, want_grad = torch_loss(kind, param, x, t, w, -100, reduction, threshold=b)
        z = torch.tensor(x, requires_grad=True)
        loss = fn(z, torch.tensor(t))
        loss.sum().backward()
        np.testing.assert_allclose(loss.detach().numpy(), want_loss, rtol=1e-12, atol=1e-14, err_msg=kind)
        np.testing.assert_allclose(z.grad.numpy(), want_grad, rtol=1e-11, atol=1e-14, err_msg=kind)


def test_modules_are_nn_modules():
    w = torch.rand(5, dtype=D64) + 0.5
    m = lt.GammaCrossEntropyLoss(0.2, threshold=0.1, weight=w, ignore_index=3, reduction="sum")
    assert isinstance(m, torch.nn.Module)
    assert torch.equal(m.state_dict()["weight"], w)
    assert "gamma=0.2" in repr(m) and "threshold=0.1" in repr(m)
    m = m.float()
    assert m.weight.dtype == torch.float32
    assert "q=0.5" in repr(lt.GeneralizedCrossEntropyLoss(0.5))
    assert "gamma=2.0" in repr(lt.FocalLoss())
    assert lt.FocalLoss().weight is None
    with pytest.raises(ValueError, match="reduction"):
        lt.FocalLoss(reduction="avg")


# --- the fused gradient: saved in the forward, skipped without grad -----------------------------


def _recording(monkeypatch, name):
    calls = []
    fn = getattr(np_losses, name)

    def wrapper(logits, target, *args, **kw):
        calls.append(dict(kw, logits=logits))
        return fn(logits, target, *args, **kw)

    monkeypatch.setattr(np_losses, name, wrapper)
    return calls


def test_forward_saves_gradient_only_when_needed(monkeypatch):
    calls = _recording(monkeypatch, "gamma_cross_entropy")
    x = randn(4, 6, seed=20)
    t = torch.tensor([1, 2, 3, 4])
    xr = x.clone().requires_grad_()
    loss = lt.gamma_cross_entropy(xr, t, 0.5)
    assert calls[-1]["return_grad"] is True
    assert loss.grad_fn.saved_grad.shape == x.shape
    saved_ptr = loss.grad_fn.saved_grad.data_ptr()
    with torch.no_grad():
        lt.gamma_cross_entropy(xr, t, 0.5)
    assert calls[-1]["return_grad"] is False
    lt.gamma_cross_entropy(x, t, 0.5)  # no requires_grad
    assert calls[-1]["return_grad"] is False
    with torch.inference_mode():
        lt.gamma_cross_entropy(xr, t, 0.5)
    assert calls[-1]["return_grad"] is False
    # backward returns the saved gradient itself (no recomputation, no copy) for grad_output 1
    n = len(calls)
    loss.backward()
    assert len(calls) == n
    assert xr.grad.data_ptr() == saved_ptr


def test_backward_twice_and_double_backward():
    x = randn(4, 6, seed=21, requires_grad=True)
    t = torch.tensor([1, 2, 3, 4])
    loss = lt.focal_loss(x, t)
    loss.backward(retain_graph=True)
    g1 = x.grad.clone()
    loss.backward()
    torch.testing.assert_close(x.grad, 2 * g1)
    x.grad = None
    loss = lt.focal_loss(x, t)
    loss.backward()
    torch.testing.assert_close(x.grad, g1)
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()
    # a second derivative (the incoming gradient depends on x) raises
    for f in (lambda z: (lt.softmax(z) * z).sum(), lambda z: lt.focal_loss(z, t) ** 2,
              lambda z: (lt.softmax_entropy(z) * z[:, 0]).sum(), lambda z: (lt.entropy_normalize(z, 1.0) * z).sum()):
        (g,) = torch.autograd.grad(f(x), x, create_graph=True)
        with pytest.raises(RuntimeError, match="once_differentiable"):
            g.sum().backward()


# --- zero copy --------------------------------------------------------------------------------


def test_zero_copy_views(monkeypatch):
    base = randn(8, 30, seed=22, dtype=torch.float32)
    x = base[:, ::3]  # non-contiguous
    calls = _recording(monkeypatch, "gamma_cross_entropy")
    t = torch.arange(8)
    xr = x.detach().requires_grad_()
    lt.gamma_cross_entropy(xr, t).backward()
    assert np.shares_memory(calls[-1]["logits"], base.numpy())  # the kernel read x in place
    x4 = randn(2, 5, 3, 4, seed=23, dtype=torch.float32)
    lt.gamma_cross_entropy(x4, torch.zeros(2, 3, 4, dtype=torch.long))
    assert np.shares_memory(calls[-1]["logits"], x4.numpy())  # (N, C, d...) -> class-last view

    seen = {}
    softmax0 = _functions._family.softmax

    def spy(a, axis=None, *, out=None):
        seen["in"], seen["out"] = a, out
        return softmax0(a, axis=axis, out=out)

    monkeypatch.setattr(_functions._family, "softmax", spy)
    y = lt.softmax(x, 0)
    assert np.shares_memory(seen["in"], base.numpy())
    assert seen["out"].__array_interface__["data"][0] == y.data_ptr()  # written in place by the kernel


def test_bfloat16_views():
    optional_import("ml_dtypes")
    b16 = randn(4, 6, dtype=torch.bfloat16)
    v = _convert.as_numpy(b16)
    assert v.__array_interface__["data"][0] == b16.data_ptr() and v.shape == (4, 6)
    np.testing.assert_array_equal(v.astype(np.float32), b16.float().numpy())
    back = _convert.from_numpy(v)  # a bfloat16 NumPy result becomes a torch.bfloat16 tensor, shared
    assert back.dtype == torch.bfloat16 and back.data_ptr() == b16.data_ptr() and torch.equal(back, b16)
    s = _convert.from_numpy(np.float32(2.5))  # a NumPy scalar: a 0-d tensor
    assert s.shape == () and s.dtype == torch.float32 and s.item() == 2.5


# --- dtypes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, native_bf16", [(torch.float16, False), (torch.bfloat16, False), (torch.bfloat16, True)])
def test_half_dtypes(dtype, native_bf16, monkeypatch):
    if dtype == torch.bfloat16:
        optional_import("ml_dtypes")
        # the NumPy API takes ml_dtypes.bfloat16 natively; False exercises the float32 route
        # taken when ml_dtypes is missing
        assert _convert._numpy_api_takes_bfloat16()
        monkeypatch.setattr(_convert, "_BF16_NATIVE", native_bf16)
    x32 = randn(6, 40, seed=24, dtype=torch.float32)
    x = x32.to(dtype)
    xf = x.float()  # the exact values of the half input, in float32
    t = torch.tensor([0, 5, 39, 7, -100, 2])
    tol = dict(rtol=1e-2, atol=1e-2)
    for f in (lt.logsumexp, lt.softmax, lt.log_softmax, lt.softmax_entropy):
        y = f(x)
        assert y.dtype == dtype
        torch.testing.assert_close(y.float(), f(xf).to(dtype).float(), rtol=0, atol=0)  # computed in float32
    xr = x.clone().requires_grad_()
    xfr = xf.clone().requires_grad_()
    lt.gamma_cross_entropy(xr, t, 0.1).backward()
    lt.gamma_cross_entropy(xfr, t, 0.1).backward()
    assert xr.grad.dtype == dtype
    torch.testing.assert_close(xr.grad.float(), xfr.grad, **tol)
    w = torch.linspace(0.5, 2.0, 40)
    m = lt.GammaCrossEntropyLoss(0.1, weight=w, reduction="none").to(dtype)  # the weight buffer in the half dtype
    assert m.weight.dtype == dtype
    torch.testing.assert_close(m(x, t).float(), lt.gamma_cross_entropy(xf, t, 0.1, weight=w.to(dtype).float(),
                                                                       reduction="none"), **tol)
    q = lt.entropy_normalize(x, 1.0)
    assert q.dtype == dtype
    torch.testing.assert_close(q.float(), lt.entropy_normalize(xf, 1.0), **tol)


def test_bfloat16_native_route(monkeypatch):
    """The path taken once the NumPy API computes on ml_dtypes.bfloat16 arrays itself: the
    kernels get bfloat16 views and write bfloat16 outputs. Emulated here by NumPy API
    wrappers that compute in float32 and round, so the results must equal the float32
    conversion path bit for bit."""
    ml_dtypes = optional_import("ml_dtypes")
    bf16 = np.dtype(ml_dtypes.bfloat16)

    def to_bf16(r):
        if isinstance(r, tuple):
            return tuple(to_bf16(v) for v in r)
        if isinstance(r, (np.ndarray, np.floating)) and r.dtype == np.float32:
            return np.asarray(r).astype(bf16) if isinstance(r, np.ndarray) else bf16.type(r)
        return r

    def emulate(fn):
        def wrapper(a, *args, out=None, **kw):
            if a.dtype != bf16:
                return fn(a, *args, out=out, **kw) if out is not None else fn(a, *args, **kw)
            assert out is None or out.dtype == bf16
            r = to_bf16(fn(a.astype(np.float32), *args, **kw))
            if out is not None:
                q = r[0] if isinstance(r, tuple) else r
                out[...] = q
                return (out,) + r[1:] if isinstance(r, tuple) else out
            return r

        return wrapper

    x = randn(5, 33, seed=27, dtype=torch.bfloat16)
    t = torch.tensor([0, 5, 32, -100, 2])

    def run():
        xr = x.clone().requires_grad_()
        outs = [lt.logsumexp(x), lt.softmax(x, 0), lt.log_softmax(x), lt.softmax_entropy(x),
                lt.entropy_normalize(x, 1.0), lt.gamma_cross_entropy(xr, t, 0.2, reduction="none")]
        outs[-1].sum().backward()
        return outs + [xr.grad]

    monkeypatch.setattr(_convert, "_BF16_NATIVE", False)
    want = run()
    for mod, names in ((_functions._family, ("logsumexp", "softmax", "log_softmax", "softmax_entropy")),
                       (_functions._entropy_norm, ("entropy_normalize",)), (np_losses, ("gamma_cross_entropy",))):
        for name in names:
            monkeypatch.setattr(mod, name, emulate(getattr(mod, name)))
    monkeypatch.setattr(_convert, "_BF16_NATIVE", True)
    got = run()
    for a, b in zip(got, want):
        assert a.dtype == torch.bfloat16
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# --- bad input ----------------------------------------------------------------------------------


def test_bad_input():
    x = randn(3, 4)
    t = torch.tensor([0, 1, 2])
    meta = torch.empty(3, 4, device="meta")
    for f in (lt.logsumexp, lt.softmax, lt.log_softmax, lt.softmax_entropy, lambda a: lt.entropy_normalize(a, 1.0)):
        with pytest.raises(ValueError, match="device 'meta'.*CPU"):
            f(meta)
        with pytest.raises(TypeError, match="dtype torch.int64"):
            f(torch.ones(3, 4, dtype=torch.long))
        with pytest.raises(TypeError, match="dtype torch.bool"):
            f(torch.ones(3, 4, dtype=torch.bool))
        with pytest.raises(TypeError, match="torch.Tensor"):
            f(np.ones((3, 4)))
    with pytest.raises(TypeError, match="complex"):
        lt.softmax(torch.ones(3, dtype=torch.complex64))
    with pytest.raises(TypeError, match="layout"):
        lt.softmax(torch.eye(3).to_sparse())
    with pytest.raises(IndexError, match="dim=2"):
        lt.softmax(x, 2)
    with pytest.raises(IndexError, match="dim=-3"):
        lt.logsumexp(x, -3)
    with pytest.raises(ValueError, match="repeated"):
        lt.logsumexp(x, (1, -1))
    with pytest.raises(TypeError, match="dim must be an integer"):
        lt.softmax(x, 1.0)
    with pytest.raises(TypeError, match="dim must be an integer"):
        lt.logsumexp(x, True)
    with pytest.raises(ValueError, match="at least one"):
        lt.logsumexp(x, ())
    # losses
    for fn in (lt.gamma_cross_entropy, lt.generalized_cross_entropy, lt.focal_loss):
        with pytest.raises(ValueError, match="device 'meta'"):
            fn(meta, t)
        with pytest.raises(ValueError, match="target.*device 'meta'"):
            fn(x, torch.empty(3, dtype=torch.long, device="meta"))
        with pytest.raises(TypeError, match="input has dtype torch.int32"):
            fn(torch.ones(3, 4, dtype=torch.int32), t)
        with pytest.raises(TypeError, match="class-probability"):
            fn(x, torch.softmax(x, -1))
        with pytest.raises(TypeError, match="target must hold integer"):
            fn(x, torch.tensor([True, False, True]))
        with pytest.raises(ValueError, match=r"target has shape \(4,\), expected \(3,\)"):
            fn(x, torch.tensor([0, 1, 2, 3]))
        with pytest.raises(ValueError, match=r"expected \(3, 5\)"):
            fn(randn(3, 4, 5), t)
        with pytest.raises(ValueError, match="at least one dimension"):
            fn(torch.tensor(1.0, dtype=D64), torch.tensor(0))
        with pytest.raises(ValueError, match="reduction"):
            fn(x, t, reduction="avg")
        with pytest.raises(IndexError, match="out of range|class"):
            fn(x, torch.tensor([0, 4, 1]))
        with pytest.raises(ValueError, match="weight has shape"):
            fn(x, t, weight=torch.ones(3, dtype=D64))
        with pytest.raises(ValueError, match="weight.*device 'meta'"):
            fn(x, t, weight=torch.ones(4, device="meta"))
        with pytest.raises(ValueError, match="weight requires grad"):
            fn(x, t, weight=torch.ones(4, dtype=D64, requires_grad=True))
        with pytest.raises(TypeError, match="ignore_index"):
            fn(x, t, ignore_index=1.5)
    with pytest.raises(ValueError, match="gamma"):
        lt.gamma_cross_entropy(x, t, 1.5)
    with pytest.raises(ValueError, match="q"):
        lt.generalized_cross_entropy(x, t, 0.0)
    # entropy_normalize
    with pytest.raises(ValueError, match="does not broadcast"):
        lt.entropy_normalize(x, torch.ones(4, dtype=D64))
    with pytest.raises(TypeError, match="target_entropy must be a number or a tensor"):
        lt.entropy_normalize(x, "1.0")
    with pytest.raises(TypeError, match="got bool"):
        lt.entropy_normalize(x, True)
    with pytest.raises(ValueError, match="target_entropy.*device 'meta'"):
        lt.entropy_normalize(x, torch.ones(3, device="meta"))
    with pytest.raises(ValueError, match="at least one dimension"):
        lt.entropy_normalize(torch.tensor(1.0, dtype=D64), 0.0)
    with pytest.raises(ValueError, match="out_of_range"):
        lt.entropy_normalize(x, 1.0, out_of_range="wrap")
    with pytest.raises(ValueError, match="NaN"):
        lt.entropy_normalize(x, float("nan"))


def test_empty_and_zero_dim():
    e = torch.empty(0, 5, dtype=D64)
    assert lt.softmax(e).shape == (0, 5)
    assert lt.logsumexp(e).shape == (0,)
    torch.testing.assert_close(lt.logsumexp(torch.empty(3, 0, dtype=D64)), torch.full((3,), -torch.inf, dtype=D64))
    assert lt.gamma_cross_entropy(e, torch.empty(0, dtype=torch.long), reduction="sum") == 0
    assert lt.gamma_cross_entropy(e, torch.empty(0, dtype=torch.long)) == 0  # mean over no rows: 0
    s = torch.tensor(1.5, dtype=D64)
    torch.testing.assert_close(lt.logsumexp(s, 0), torch.logsumexp(s, 0))
    torch.testing.assert_close(lt.softmax(s, 0), torch.softmax(s, 0))


# --- torch.compile ----------------------------------------------------------------------------


def test_torch_compile_graph_break():
    lin = torch.nn.Linear(6, 5).double()
    loss_fn = lt.GammaCrossEntropyLoss(0.1)

    def step(inp, tgt):
        return loss_fn(lin(inp).tanh(), tgt) + lt.logsumexp(lin(inp), -1).mean()

    compiled = torch.compile(step, backend="eager")
    x = randn(4, 6, seed=25)
    t = torch.tensor([0, 1, 2, 4])
    want = step(x, t)
    want.backward()
    g_want = lin.weight.grad.clone()
    lin.weight.grad = None
    got = compiled(x, t)
    got.backward()
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(lin.weight.grad, g_want)


# --- a real training run ------------------------------------------------------------------------


def test_training_matches_F_cross_entropy():
    """An MLP on scikit-learn's digits, float64, full-batch SGD with momentum: training with
    GammaCrossEntropyLoss(gamma=0) gives the parameters F.cross_entropy gives."""
    datasets = optional_import("sklearn.datasets")
    data = datasets.load_digits()
    X = torch.tensor(data.data / 16.0, dtype=D64)
    y = torch.tensor(data.target, dtype=torch.long)
    y[::17] = -100  # some unlabelled rows

    def train(loss_fn):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).double()
        opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        losses = []
        for _ in range(40):
            opt.zero_grad()
            loss = loss_fn(model(X), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return model, losses

    w = torch.linspace(0.5, 1.5, 10, dtype=D64)
    ours, l_ours = train(lt.GammaCrossEntropyLoss(0.0, weight=w))
    ref, l_ref = train(torch.nn.CrossEntropyLoss(weight=w))
    assert l_ref[-1] < 0.5 * l_ref[0]  # it trains
    np.testing.assert_allclose(l_ours, l_ref, rtol=1e-10)
    for a, b in zip(ours.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


# --- label smoothing ----------------------------------------------------------------------------

LS_SHAPES = [((8, 5), (8,)), ((5,), ()), ((4, 5, 3, 2), (4, 3, 2))]


def _ls_case(shape, tshape, seed, dtype=D64):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(*shape, generator=g, dtype=torch.float64) * 2).to(dtype).requires_grad_()
    C = shape[1] if len(shape) > 1 else shape[0]
    t = torch.randint(0, C, tshape, generator=g)
    if t.ndim:
        t.view(-1)[1] = -100  # one ignored row
    w = torch.rand(C, generator=g, dtype=torch.float64) + 0.1
    return x, t, w


@pytest.mark.parametrize("shape,tshape", LS_SHAPES)
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.7, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_label_smoothing_matches_cross_entropy(shape, tshape, eps, weighted, reduction):
    import torch.nn.functional as F

    x, t, w = _ls_case(shape, tshape, seed=len(shape) + int(eps * 10))
    weight = w if weighted else None
    fns = [
        lambda x: lt.gamma_cross_entropy(x, t, 0.0, weight=weight, reduction=reduction, label_smoothing=eps),
        lambda x: lt.focal_loss(x, t, 0.0, weight=weight, reduction=reduction, label_smoothing=eps),
        lambda x: lt.GammaCrossEntropyLoss(0.0, weight=weight, reduction=reduction, label_smoothing=eps)(x, t),
        lambda x: lt.FocalLoss(0.0, weight=weight, reduction=reduction, label_smoothing=eps)(x, t),
    ]
    want = F.cross_entropy(x, t, weight=weight, reduction=reduction, label_smoothing=eps)
    (gwant,) = torch.autograd.grad(want.sum(), x)
    for fn in fns:
        got = fn(x)
        assert got.shape == want.shape and got.dtype == want.dtype
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        (g,) = torch.autograd.grad(got.sum(), x)
        torch.testing.assert_close(g, gwant, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_label_smoothing_gradcheck(reduction):
    x, t, w = _ls_case((4, 5, 3), (4, 3), seed=3)
    for weight in (None, w):
        assert gradcheck(lambda z: lt.gamma_cross_entropy(z, t, 0.0, weight=weight, reduction=reduction,
                                                          label_smoothing=0.2), (x,))


def test_label_smoothing_float32_half_and_special_rows():
    import torch.nn.functional as F

    x, t, w = _ls_case((16, 7), (16,), seed=5, dtype=torch.float32)
    for weight in (None, w.float()):
        got = lt.gamma_cross_entropy(x, t, weight=weight, label_smoothing=0.3)
        want = F.cross_entropy(x, t, weight=weight, label_smoothing=0.3)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want, rtol=2e-6, atol=1e-6)
    xb = x.detach().to(torch.bfloat16)
    got = lt.gamma_cross_entropy(xb, t, label_smoothing=0.3, reduction="none")
    want = F.cross_entropy(xb.float(), t, label_smoothing=0.3, reduction="none")
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want, rtol=1e-2, atol=1e-2)
    xr = xb.detach().requires_grad_()
    got = lt.focal_loss(xr, t, 2.0, label_smoothing=0.3)
    got.backward()
    want = _smoothed_reference(xb.double(), t, "focal", 2.0, 0.3, None, "mean")
    assert got.dtype == torch.bfloat16 and xr.grad.dtype == torch.bfloat16
    torch.testing.assert_close(got.double(), want, rtol=1e-2, atol=1e-2)
    # a -inf logit: the smoothing term is +inf, as PyTorch's; every row ignored: NaN
    z = torch.zeros(2, 3, dtype=D64)
    z[0, 2] = -torch.inf
    tt = torch.tensor([0, 1])
    torch.testing.assert_close(lt.gamma_cross_entropy(z, tt, label_smoothing=0.1, reduction="none"),
                               F.cross_entropy(z, tt, label_smoothing=0.1, reduction="none"))
    ign = torch.full((2,), -100)
    assert torch.isnan(lt.gamma_cross_entropy(z, ign, label_smoothing=0.1)) == torch.isnan(
        F.cross_entropy(z, ign, label_smoothing=0.1))


def test_label_smoothing_errors():
    x, t, _ = _ls_case((4, 5), (4,), seed=1)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
            lt.gamma_cross_entropy(x, t, label_smoothing=bad)
    with pytest.raises(TypeError, match="label_smoothing must be a number"):
        lt.focal_loss(x, t, 0.0, label_smoothing="0.1")
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
        lt.FocalLoss(label_smoothing=2.0)
    # ε = 0 keeps every loss as it was
    assert torch.equal(lt.focal_loss(x, t, 2.0, label_smoothing=0.0), lt.focal_loss(x, t, 2.0))


def _smoothed_reference(x, t, kind, param, eps, weight, reduction):
    """The expected loss under (1 − ε) e_y + ε/C from torch's own log_softmax, naively."""
    cdim = 1 if x.ndim > 1 else 0
    C = x.shape[cdim]
    lp = torch.log_softmax(x, cdim)
    p = lp.exp()
    if kind == "gamma_ce":
        L = -torch.log(param + (1 - param) * p) / (1 - param) if param < 1 else 1 - p
    elif kind == "gce":
        L = (1 - p**param) / param
    else:
        L = -((1 - p) ** param) * lp
    w = torch.ones(C, dtype=x.dtype) if weight is None else weight
    shape = [1] * x.ndim
    shape[cdim] = -1
    keep = t != -100
    tt = torch.where(keep, t, 0)
    wy = w[tt]
    main = torch.where(keep, L.gather(cdim, tt.unsqueeze(cdim)).squeeze(cdim) * wy, 0)
    smooth = torch.where(keep, (L * w.view(shape)).sum(cdim), 0)
    tot = (1 - eps) * main + eps / C * smooth
    if reduction == "none":
        return tot
    if reduction == "sum":
        return tot.sum()
    return tot.sum() / torch.where(keep, wy, 0).sum()


SMOOTHED = [("gamma_ce", 0.1), ("gamma_ce", 0.8), ("gamma_ce", 1.0), ("gce", 0.3), ("gce", 1.0),
            ("focal", 0.5), ("focal", 2.0)]


def _smoothed_call(kind, x, t, param, **kw):
    fn = {"gamma_ce": lt.gamma_cross_entropy, "gce": lt.generalized_cross_entropy, "focal": lt.focal_loss}[kind]
    return fn(x, t, param, **kw)


@pytest.mark.parametrize("kind,param", SMOOTHED)
@pytest.mark.parametrize("shape,tshape", LS_SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_label_smoothing_beyond_cross_entropy_is_the_expected_loss(kind, param, shape, tshape, reduction):
    """γ > 0 (and the generalized cross-entropy): the expected loss under the smoothed target,
    (1 − ε) w_y L(p_y) + (ε/C) Σ_c w_c L(p_c), value and gradient."""
    x, t, w = _ls_case(shape, tshape, seed=7)
    for eps in (0.2, 1.0):
        for weight in (None, w):
            xa, xb = x.detach().clone().requires_grad_(), x.detach().clone().requires_grad_()
            got = _smoothed_call(kind, xa, t, param, weight=weight, reduction=reduction, label_smoothing=eps)
            want = _smoothed_reference(xb, t, kind, param, eps, weight, reduction)
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
            (ga,) = torch.autograd.grad(got.sum(), xa)
            (gb,) = torch.autograd.grad(want.sum(), xb)
            torch.testing.assert_close(ga, gb, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kind,param", SMOOTHED)
def test_label_smoothing_beyond_cross_entropy_gradcheck_and_modules(kind, param):
    x, t, w = _ls_case((4, 5, 3), (4, 3), seed=9)
    assert gradcheck(lambda z: _smoothed_call(kind, z, t, param, weight=w, reduction="mean", label_smoothing=0.3),
                     (x,))
    module = {"gamma_ce": lambda: lt.GammaCrossEntropyLoss(param, weight=w, label_smoothing=0.3),
              "gce": lambda: lt.GeneralizedCrossEntropyLoss(param, weight=w, label_smoothing=0.3),
              "focal": lambda: lt.FocalLoss(param, weight=w, label_smoothing=0.3)}[kind]()
    torch.testing.assert_close(module(x, t), _smoothed_call(kind, x, t, param, weight=w, label_smoothing=0.3))


def test_label_smoothing_beyond_cross_entropy_special_rows():
    # a -inf logit: p = 0 there. γ-CE and GCE stay finite with finite gradients (L(0) is
    # -log γ / (1 - γ) and 1/q); the focal loss is +inf like cross-entropy
    z = torch.tensor([[0.5, -torch.inf, 1.0], [2.0, 1.0, 0.0]], dtype=D64, requires_grad=True)
    tt = torch.tensor([0, 1])
    for kind, param in (("gamma_ce", 0.1), ("gce", 0.7)):
        loss = _smoothed_call(kind, z, tt, param, label_smoothing=0.2)
        (g,) = torch.autograd.grad(loss, z)
        assert torch.isfinite(loss) and torch.isfinite(g).all()
        torch.testing.assert_close(loss, _smoothed_reference(z, tt, kind, param, 0.2, None, "mean"))
    focal = _smoothed_call("focal", z, tt, 2.0, label_smoothing=0.2, reduction="none")
    assert focal[0] == torch.inf and torch.isfinite(focal[1])
    # every row ignored: NaN for 'mean', as F.cross_entropy
    ign = torch.full((2,), -100)
    assert torch.isnan(_smoothed_call("gce", z, ign, 0.7, label_smoothing=0.2))
