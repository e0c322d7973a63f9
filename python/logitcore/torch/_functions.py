"""Autograd functions over the NumPy API (docs/math.md §6 for the backward formulas).

Each forward hands NumPy views of the input tensors (and of output tensors allocated here by
torch) to the NumPy API, so the native kernels read and write the tensors' own memory. The
backward passes are written in torch from saved tensors; the losses reuse the gradient their
fused kernel computed in the forward. Double backward is not supported
(``once_differentiable``: differentiating a gradient raises).
"""
from __future__ import annotations

import math
from functools import partial

import torch
from torch.autograd.function import once_differentiable

from .. import _family, entropy_norm as _entropy_norm, losses as _losses
from ._convert import as_numpy, check_target, check_tensor, compute_tensor, from_numpy, normalize_dims

__all__ = [
    "logsumexp",
    "softmax",
    "log_softmax",
    "softmax_entropy",
    "entropy_normalize",
    "gamma_cross_entropy",
    "generalized_cross_entropy",
    "focal_loss",
]


def _reduced_shape(shape, dims, keepdim):
    if keepdim:
        return tuple(1 if d in dims else s for d, s in enumerate(shape))
    return tuple(s for d, s in enumerate(shape) if d not in dims)


def _unsqueeze(t, dims, keepdim):
    """A per-row tensor broadcastable against the rows (the reduced dims put back as size 1)."""
    if not keepdim:
        for d in sorted(dims):
            t = t.unsqueeze(d)
    return t


def _softmax_into(x: torch.Tensor, dims) -> torch.Tensor:
    """softmax(x) over ``dims`` by the native kernel, in a new tensor of x's compute dtype."""
    xc = compute_tensor(x)
    out = torch.empty(xc.shape, dtype=xc.dtype)
    _family.softmax(as_numpy(xc), axis=dims, out=as_numpy(out))
    return out if out.dtype == x.dtype else out.to(x.dtype)


# --- logsumexp, softmax, log_softmax, softmax_entropy -----------------------------------------


class _LogSumExp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        xc = compute_tensor(x)
        out = torch.empty(_reduced_shape(xc.shape, dims, keepdim), dtype=xc.dtype)
        _family.logsumexp(as_numpy(xc), axis=dims, keepdims=keepdim, out=as_numpy(out))
        ctx.dims, ctx.keepdim = dims, keepdim
        ctx.save_for_backward(x)
        return out.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        # d lse / dx = softmax(x)
        return _softmax_into(x, ctx.dims).mul_(_unsqueeze(g, ctx.dims, ctx.keepdim)), None, None


class _Softmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dim, log):
        xc = compute_tensor(x)
        out = torch.empty(xc.shape, dtype=xc.dtype)
        f = _family.log_softmax if log else _family.softmax
        f(as_numpy(xc), axis=dim, out=as_numpy(out))
        out = out.to(x.dtype)
        ctx.dim, ctx.log = dim, log
        ctx.save_for_backward(out)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        if ctx.log:  # y = log_softmax: g - softmax * sum(g)
            return torch.exp(y).mul_(g.sum(ctx.dim, keepdim=True).neg_()).add_(g), None, None
        gy = g * y  # y = softmax: y * (g - sum(g * y))
        return gy.addcmul_(y, gy.sum(ctx.dim, keepdim=True), value=-1), None, None


class _SoftmaxEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        xc = compute_tensor(x)
        h = _family.softmax_entropy(as_numpy(xc), axis=dims, keepdims=keepdim)
        out = from_numpy(h)  # a new (batch-shaped) array: shared, not copied
        ctx.dims, ctx.keepdim = dims, keepdim
        ctx.save_for_backward(x)
        return out.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        # dH/dx_j = -p_j (x_j - E_p[x]); entries with p_j = 0 (x_j = -inf) get 0
        p = _softmax_into(x, ctx.dims)
        xm = torch.where(p > 0, x, torch.zeros((), dtype=x.dtype))
        mean = (p * xm).sum(ctx.dims, keepdim=True)
        return p.mul_(xm.sub_(mean)).mul_(_unsqueeze(g, ctx.dims, ctx.keepdim).neg()), None, None


def _check_dim1(x, dim):
    (d,) = normalize_dims(dim, x.ndim)
    return d


@torch.compiler.disable
def logsumexp(x: torch.Tensor, dim=-1, keepdim: bool = False) -> torch.Tensor:
    """log(sum(exp(x))) over ``dim`` (an int or a tuple of ints), like :func:`torch.logsumexp`.

    Differentiable: the gradient is softmax(x) times the incoming gradient. Rows of all
    ``-inf`` give ``-inf`` (and a zero gradient); NaN gives NaN (docs/math.md §1.1).
    """
    x = check_tensor(x, "x")
    return _LogSumExp.apply(x, normalize_dims(dim, x.ndim), bool(keepdim))


@torch.compiler.disable
def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """softmax(x) along ``dim``, like :func:`torch.softmax` (differentiable)."""
    x = check_tensor(x, "x")
    return _Softmax.apply(x, _check_dim1(x, dim), False)


@torch.compiler.disable
def log_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """log_softmax(x) along ``dim``, like :func:`torch.log_softmax` (differentiable)."""
    x = check_tensor(x, "x")
    return _Softmax.apply(x, _check_dim1(x, dim), True)


@torch.compiler.disable
def softmax_entropy(x: torch.Tensor, dim=-1, keepdim: bool = False) -> torch.Tensor:
    """Entropy (nats) of softmax(x) along ``dim``: H = lse(x) − Σ p·x, in one fused pass.

    Differentiable: dH/dx_j = −p_j (x_j − E_p[x]) (docs/math.md §6.1).
    """
    x = check_tensor(x, "x")
    return _SoftmaxEntropy.apply(x, normalize_dims(dim, x.ndim), bool(keepdim))


# --- entropy normalization ------------------------------------------------------------------


class _EntropyNormalize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, target, target_shape, dim, tol, max_iter, out_of_range):
        zc = compute_tensor(z)
        q = torch.empty(zc.shape, dtype=zc.dtype)
        tgt = target if isinstance(target, float) else as_numpy(target)
        _, info = _entropy_norm.entropy_normalize(
            as_numpy(zc), tgt, axis=dim, logits=True, tol=tol, max_iter=max_iter,
            out_of_range=out_of_range, return_info=True, out=as_numpy(q),
        )
        q = q.to(z.dtype)
        gamma = from_numpy(info.gamma).unsqueeze(dim)  # float64, one per row
        clipped = from_numpy(info.clipped).unsqueeze(dim)
        ctx.dim, ctx.target_shape = dim, target_shape
        ctx.save_for_backward(z, q, gamma, clipped)
        return q

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        z, q, gamma, clipped = ctx.saved_tensors
        dim = ctx.dim
        dt = z.dtype
        zero = torch.zeros((), dtype=dt)
        # softmax backward with respect to u = gamma * z
        v = q * g
        v = v.addcmul_(q, v.sum(dim, keepdim=True), value=-1)
        zm = torch.where(q > 0, z, zero)  # -inf logits have q = 0: keep them out of the sums
        mean = (q * zm).sum(dim, keepdim=True)
        d = zm - mean
        var = (q * d * d).sum(dim, keepdim=True)
        c = (v * zm).sum(dim, keepdim=True)
        gam = gamma.to(dt)
        # gamma follows z (implicit differentiation of H(softmax(gamma z)) = H*) unless the row
        # was clipped (gamma pinned at 0 or inf) or has no spread (var = 0)
        free = ~clipped & (var > 0) & torch.isfinite(gam) & (gam > 0)
        ratio = torch.where(free, c / torch.where(free, var, torch.ones((), dtype=dt)), zero)
        finite_gam = torch.where(torch.isfinite(gam), gam, zero)
        gz = None
        if ctx.needs_input_grad[0]:
            gz = (v - ratio * q * d) * finite_gam
        gt = None
        if ctx.needs_input_grad[1]:
            # dgamma/dH* = -1 / (gamma Var_q(z))
            gh = torch.where(free, -ratio / torch.where(free, finite_gam, torch.ones((), dtype=dt)), zero)
            gh = gh.squeeze(dim)
            shape = ctx.target_shape
            lead = gh.ndim - len(shape)
            gh = gh.sum(tuple(range(lead))) if lead > 0 else gh
            keep = tuple(i for i, s in enumerate(shape) if s == 1 and gh.shape[i] != 1)
            if keep:
                gh = gh.sum(keep, keepdim=True)
            gt = gh.reshape(shape).double()
        return gz, gt, None, None, None, None, None


@torch.compiler.disable
def entropy_normalize(logits: torch.Tensor, target_entropy, dim: int = -1, *, tol=None, max_iter=None,
                      out_of_range: str = "clip") -> torch.Tensor:
    """q = softmax(γ·logits) along ``dim`` with γ ≥ 0 chosen per row so that H(q) = target.

    ``target_entropy`` (nats) is a number or a tensor broadcastable to the batch shape (the
    logits' shape without ``dim``). The forward is :func:`logitcore.entropy_normalize` with
    ``logits=True``; the backward differentiates through the solved γ implicitly
    (docs/math.md §6.2), with respect to the logits and to a tensor target. Rows whose target
    was clipped to the reachable range have γ pinned (0 or ∞) and get the gradient with γ held
    constant. ``tol`` and ``max_iter`` are those of the NumPy API; a gradient is as accurate as
    the solved entropy (use a small ``tol`` for finite-difference checks).
    """
    z = check_tensor(logits, "logits")
    (d,) = normalize_dims(dim, z.ndim)
    if z.ndim == 0:
        raise ValueError("logits must have at least one dimension")
    if isinstance(target_entropy, torch.Tensor):
        t = target_entropy if target_entropy.dtype.is_floating_point else target_entropy.double()
        check_tensor(t, "target_entropy")
        target_shape = tuple(t.shape)
        batch = tuple(s for i, s in enumerate(z.shape) if i != d)
        try:
            ok = torch.broadcast_shapes(target_shape, batch) == torch.Size(batch)
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(f"target_entropy of shape {target_shape} does not broadcast to the batch shape {batch}")
        target = t.double()
    else:
        if isinstance(target_entropy, (bool, str, bytes)):
            raise TypeError(f"target_entropy must be a number or a tensor, got {type(target_entropy).__name__}")
        try:
            target = float(target_entropy)
        except (TypeError, ValueError):
            raise TypeError(
                f"target_entropy must be a number or a tensor, got {type(target_entropy).__name__}"
            ) from None
        target_shape = ()
    if max_iter is None:
        max_iter = _MAX_ITER
    return _EntropyNormalize.apply(z, target, target_shape, d, tol, max_iter, out_of_range)


_MAX_ITER = _entropy_norm._core.EN_DEFAULT_MAX_ITER


# --- losses of the target probability --------------------------------------------------------


class _TargetProbLoss(torch.autograd.Function):
    """Forward: the fused kernel's loss (and, when a gradient will be needed, its logits
    gradient, saved). Backward: that gradient times the incoming one."""

    @staticmethod
    def forward(ctx, x, target, weight, fn, param, kw, need_grad):
        xc = compute_tensor(x)
        class_last = xc.movedim(1, -1) if xc.ndim > 2 else xc  # (N, C, d1, ...) -> (N, d1, ..., C): a view
        res = fn(as_numpy(class_last), as_numpy(target), param,
                 weight=None if weight is None else as_numpy(weight.double()),  # (C,): the kernel reads float64
                 return_grad=need_grad, **kw)
        loss, grad = res if need_grad else (res, None)
        loss = from_numpy(loss)  # the loss array (or NumPy scalar), shared
        if grad is not None:
            grad = from_numpy(grad)  # allocated once by the kernel call, shared
            if xc.ndim > 2:
                grad = grad.movedim(-1, 1)
            ctx.saved_grad = grad.to(x.dtype)
            ctx.class_dim = 1 if x.ndim > 1 else 0
            ctx.reduction = kw["reduction"]
        return loss.to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        grad = getattr(ctx, "saved_grad", None)
        if grad is None:
            raise RuntimeError(
                "Trying to backward through a logitcore.torch loss a second time: its saved gradient "
                "was released after the first backward (pass retain_graph=True to keep it)"
            )
        if not _keep_graph():
            # the graph is freed after this pass: hand the saved gradient over, so that autograd
            # may take it as the leaf's .grad instead of copying it
            del ctx.saved_grad
        if ctx.reduction == "none":
            gx = grad * g.unsqueeze(ctx.class_dim)
        elif g.item() == 1.0:  # the usual loss.backward(): the saved gradient as it is, no copy
            gx = grad
        else:
            gx = grad * g
        return gx, None, None, None, None, None, None


def _keep_graph() -> bool:
    """Whether the running backward pass keeps the graph (``retain_graph=True``); True when
    this torch cannot tell."""
    try:
        return bool(torch._C._autograd._get_current_graph_task_keep_graph())
    except (AttributeError, RuntimeError):
        return True


def _check_label_smoothing(label_smoothing) -> float:
    try:
        if isinstance(label_smoothing, (str, bytes, bool)):
            raise TypeError
        eps = float(label_smoothing)
    except (TypeError, ValueError):
        raise TypeError(f"label_smoothing must be a number, got {type(label_smoothing).__name__}") from None
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    return eps


# The per-class loss L(ℓ) of each loss as a function of ℓ = log p (docs/math.md §3) and its
# derivative dL/dℓ = −w(ℓ), both finite wherever L is (−inf logits: ℓ = −inf).
def _gamma_ce_terms(ell, gamma):
    if gamma == 1.0:
        p = ell.exp()
        return -torch.expm1(ell), -p
    hi = torch.log1p((1.0 - gamma) * torch.expm1(ell))
    lo = torch.logaddexp(torch.full_like(ell, math.log(gamma)), math.log1p(-gamma) + ell)
    lg = torch.where(ell >= -math.log(2.0), hi, lo)  # log(γ + (1 − γ) p)
    return -lg / (1.0 - gamma), -torch.exp(ell - lg)


def _gce_terms(ell, q):
    return -torch.expm1(q * ell) / q, -torch.exp(q * ell)


def _focal_terms(ell, gamma):
    p = ell.exp()
    om = -torch.expm1(ell)  # 1 − p
    neg = -ell
    zero = torch.zeros((), dtype=ell.dtype)
    # (1 − p)^(γ − 1) is used only where 1 − p > 0, γ p (−ℓ) only where p > 0 (0 elsewhere)
    extra = torch.where((p > 0) & (om > 0), gamma * p * neg * torch.where(om > 0, om, 1.0).pow(gamma - 1.0), zero)
    return om.pow(gamma) * neg, -(om.pow(gamma) + extra)


class _SmoothTerm(torch.autograd.Function):
    """s_n = Σ_c w_c L(ℓ_{n,c}), ℓ = log_softmax(z) (native), 0 on ignored rows. Backward:
    ds_n/dz_j = G_j − p_j Σ_c G_c with G_c = w_c dL/dℓ_c (the chain through log_softmax)."""

    @staticmethod
    def forward(ctx, z, keep, wview, terms, cdim):
        ell = log_softmax(z, dim=cdim)
        lossc, dl = terms(ell)
        if wview is not None:
            lossc = lossc * wview
            dl = dl * wview
        zero = torch.zeros((), dtype=lossc.dtype)
        s = torch.where(keep, lossc.sum(cdim), zero)
        ctx.cdim = cdim
        ctx.save_for_backward(ell, torch.where(keep.unsqueeze(cdim), dl, zero))
        return s

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        ell, G = ctx.saved_tensors
        p = ell.exp()
        gz = (G - p * G.sum(ctx.cdim, keepdim=True)) * g.unsqueeze(ctx.cdim)
        return gz, None, None, None, None


def _smoothing_term(x, target, weight, ignore_index, reduction, terms=None):
    """PyTorch's label-smoothing term of cross-entropy, before its factor ε/C: per row
    s_n = −Σ_c w_c log p_{n,c} = W lse_n − Σ_c w_c z_{n,c} (W = Σ_c w_c, or C unweighted),
    0 on ignored rows; reduced as F.cross_entropy reduces it ('mean': divided by the summed
    target weights of the rows kept, or their count). Differentiable (lse through the native
    kernel)."""
    cdim = 1 if x.ndim > 1 else 0
    xc = x if x.dtype in (torch.float32, torch.float64) else x.float()
    keep = target != ignore_index
    shape = [1] * xc.ndim
    shape[cdim] = -1
    if terms is not None:  # a loss other than cross-entropy: Σ_c w_c L(ℓ_c) per row
        wview = None if weight is None else weight.to(xc.dtype).view(shape)
        s = _SmoothTerm.apply(xc, keep, wview, terms, cdim)
    else:
        lse = logsumexp(xc, dim=cdim)
        if weight is None:
            lin = xc.sum(cdim)
            W = float(xc.shape[cdim])
        else:
            wv = weight.to(xc.dtype)
            lin = (xc * wv.view(shape)).sum(cdim)
            W = wv.sum()
        s = torch.where(keep, lse * W - lin, torch.zeros((), dtype=xc.dtype))
    if reduction == "none":
        return s
    if reduction == "sum":
        return s.sum()
    if weight is None:
        norm = keep.sum().to(xc.dtype)
    else:
        tw = weight.to(xc.dtype)[torch.where(keep, target, torch.zeros((), dtype=target.dtype))]
        norm = torch.where(keep, tw, torch.zeros((), dtype=xc.dtype)).sum()
    return s.sum() / norm


def _loss(fn, x, target, param, weight, ignore_index, reduction, label_smoothing=0.0, terms=None, **kw):
    x = check_tensor(x, "input")
    target = check_target(target, "target")
    if x.ndim == 0:
        raise ValueError("input must have at least one dimension (the classes)")
    want = (x.shape[0],) + tuple(x.shape[2:]) if x.ndim >= 2 else ()
    if tuple(target.shape) != want:
        raise ValueError(
            f"target has shape {tuple(target.shape)}, expected {want} for input of shape {tuple(x.shape)} "
            "(classes on dimension 1, or on dimension 0 for one unbatched row)"
        )
    if weight is not None:
        weight = check_tensor(weight, "weight")
        if weight.requires_grad and torch.is_grad_enabled():
            raise ValueError("weight requires grad; logitcore.torch treats class weights as constants")
    if not isinstance(reduction, str) or reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    need_grad = torch.is_grad_enabled() and x.requires_grad
    kw.update(ignore_index=ignore_index, reduction=reduction)
    loss = _TargetProbLoss.apply(x, target, weight, fn, param, kw, need_grad)
    if not label_smoothing:
        return loss
    # the expected loss under the target (1 − ε) e_y + ε / C (docs/math.md §6.3):
    # (1 − ε) L(p_y) + (ε / C) Σ_c w_c L(p_c); for cross-entropy F.cross_entropy(label_smoothing=ε)
    if target.dtype == torch.bool or target.is_floating_point():
        target = target.long()
    n_classes = x.shape[1 if x.ndim > 1 else 0]
    smooth = _smoothing_term(x, target.to(torch.int64), weight, ignore_index, reduction, terms)
    return ((1.0 - label_smoothing) * loss + smooth * (label_smoothing / n_classes)).to(x.dtype)


@torch.compiler.disable
def gamma_cross_entropy(input: torch.Tensor, target: torch.Tensor, gamma: float = 0.0, threshold: float = 0.0,
                        weight: torch.Tensor | None = None, ignore_index: int = -100,
                        reduction: str = "mean", label_smoothing: float = 0.0) -> torch.Tensor:
    """γ-cross-entropy −log(γ + (1 − γ) p_y)/(1 − γ) (docs/math.md §3.1), with the arguments
    of :func:`torch.nn.functional.cross_entropy`: ``input`` (N, C), (C,) or (N, C, d1, ...)
    with the classes on dimension 1, ``target`` class indices (N,), () or (N, d1, ...),
    per-class ``weight``, ``ignore_index``, ``reduction``. γ = 0 is ``F.cross_entropy``.

    ``threshold`` is the paper's floor b on the gradient weight (the gradient is then that of
    the surrogate, not of the returned loss). The backward reuses the gradient the fused
    kernel computed in the forward; without grad mode or ``requires_grad`` it is not computed.

    ``label_smoothing`` ε in [0, 1]: the expected loss under the target distribution
    (1 − ε) e_y + ε/C, i.e. (1 − ε) L(p_y) w_y + (ε/C) Σ_c w_c L(p_c), 'mean' dividing by the
    summed target weights of the rows kept (docs/math.md §6.3). At γ = 0 this is exactly
    ``F.cross_entropy(..., label_smoothing=ε)``. For γ > 0 the smoothing term costs a
    log_softmax pass and a few (N, C) temporaries, and its gradient is exact (the threshold
    floor applies to the target term only).
    """
    eps = _check_label_smoothing(label_smoothing)
    g = float(gamma)
    return _loss(_losses.gamma_cross_entropy, input, target, gamma, weight, ignore_index, reduction,
                 label_smoothing=eps, terms=None if g == 0.0 else partial(_gamma_ce_terms, gamma=g),
                 threshold=threshold)


@torch.compiler.disable
def generalized_cross_entropy(input: torch.Tensor, target: torch.Tensor, q: float = 0.7,
                              weight: torch.Tensor | None = None, ignore_index: int = -100,
                              reduction: str = "mean", label_smoothing: float = 0.0) -> torch.Tensor:
    """Generalized cross-entropy (1 − p_y^q)/q (docs/math.md §3.2); arguments as
    :func:`gamma_cross_entropy` (``label_smoothing``: the expected loss under the smoothed
    target, Σ_c w_c (1 − p_c^q)/q for its ε/C part)."""
    eps = _check_label_smoothing(label_smoothing)
    return _loss(_losses.generalized_cross_entropy, input, target, q, weight, ignore_index, reduction,
                 label_smoothing=eps, terms=partial(_gce_terms, q=float(q)))


@torch.compiler.disable
def focal_loss(input: torch.Tensor, target: torch.Tensor, gamma: float = 2.0,
               weight: torch.Tensor | None = None, ignore_index: int = -100,
               reduction: str = "mean", label_smoothing: float = 0.0) -> torch.Tensor:
    """Softmax focal loss −(1 − p_y)^γ log p_y (docs/math.md §3.3); arguments as
    :func:`gamma_cross_entropy` (``gamma`` is the focusing exponent; ``label_smoothing``: the
    expected loss under the smoothed target, −Σ_c w_c (1 − p_c)^γ log p_c for its ε/C part;
    γ = 0 is ``F.cross_entropy``'s)."""
    eps = _check_label_smoothing(label_smoothing)
    g = float(gamma)
    return _loss(_losses.focal_loss, input, target, gamma, weight, ignore_index, reduction, label_smoothing=eps,
                 terms=None if g == 0.0 else partial(_focal_terms, gamma=g))
