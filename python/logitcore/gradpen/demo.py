"""``python -m logitcore gradpen-demo``: does the factor C(x, θ) stay roughly constant in training?

Trains an MLP (default 64-128-128-10, ReLU) on scikit-learn's digits (1797 images of 8 × 8
pixels scaled to [0, 1], a fixed 80/20 split) by plain mini-batch SGD on the cross-entropy —
in NumPy (gradients from :func:`logitcore.gradpen.forward_backward`) or in PyTorch when it is
installed — and every few epochs runs :func:`logitcore.gradpen.gradient_penalty_report` on the
training examples (f = each example's cross-entropy, exact spectral Jacobian norms). It prints a
text table of the medians over examples (‖∇x f‖², ‖∇θ f‖², C(x, θ) with its interquartile
range, lhs/rhs, ρ_t, ‖W^(t)‖) and, when matplotlib is installed (``logitcore[plot]``), writes a
PNG of the same figures against the epoch.

The last line states how much the median C varied over the records (max/min) and how much the
two sides varied, which is the seed's claim to check: if C stays roughly constant, penalizing
‖∇θ f‖² penalizes ‖∇x f‖² by a fixed factor.
"""
from __future__ import annotations

import argparse
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

from ._report import forward_backward, gradient_penalty_report

__all__ = ["run_demo", "add_arguments", "main", "load_digits_split"]


def load_digits_split(seed: int = 0):
    """Digits scaled to [0, 1], shuffled with ``seed``, split 80/20: (X_train, y_train, X_test, y_test)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the gradient-penalty demo trains on scikit-learn's digits: pip install scikit-learn") from None
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    idx = np.random.default_rng(seed).permutation(len(y))
    X, y = X[idx], y[idx]
    cut = int(0.8 * len(y))
    return X[:cut], y[:cut], X[cut:], y[cut:]


def _init(sizes: Sequence[int], rng) -> List[tuple]:
    """He initialization (N(0, 2/fan_in) weights, zero biases), ReLU hidden layers, linear output."""
    layers = []
    for t, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        act = "relu" if t < len(sizes) - 2 else "identity"
        layers.append((rng.standard_normal((o, i)) * np.sqrt(2.0 / i), np.zeros(o), act))
    return layers


class _NumpyTrainer:
    def __init__(self, layers, lr):
        self.layers = [(W.copy(), b.copy(), a) for W, b, a in layers]
        self.lr = lr

    def step(self, X, y) -> float:
        fb = forward_backward(self.layers, X, y, output="loss")
        n = X.shape[0]
        self.layers = [(W - self.lr * (fb.delta[t].T @ fb.hidden[t]) / n, b - self.lr * fb.delta[t].mean(axis=0), a)
                       for t, (W, b, a) in enumerate(self.layers)]
        return float(fb.value.mean())

    def model(self):
        return self.layers


class _TorchTrainer:
    def __init__(self, layers, lr):
        import torch

        self.torch = torch
        nn = torch.nn
        mods = []
        for W, b, a in layers:
            lin = nn.Linear(W.shape[1], W.shape[0]).double()
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W))
                lin.bias.copy_(torch.from_numpy(b))
            mods.append(lin)
            if a == "relu":
                mods.append(nn.ReLU())
        self.seq = nn.Sequential(*mods)
        self.opt = torch.optim.SGD(self.seq.parameters(), lr=lr)

    def step(self, X, y) -> float:
        torch = self.torch
        self.opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(self.seq(torch.from_numpy(X)), torch.from_numpy(y))
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def model(self):
        return self.seq


def _accuracy(model, X, y) -> float:
    fb = forward_backward(model, X, output="logsumexp")
    return float((fb.hidden[-1].argmax(axis=1) == y).mean())


def run_demo(epochs: int = 30, every: int = 5, output: Optional[str] = "gradpen-demo.png", backend: str = "auto",
             hidden: Sequence[int] = (128, 128), lr: float = 0.1, batch_size: int = 32, seed: int = 0,
             out=None) -> Dict[str, object]:
    """Train, record and print; returns {"backend", "records": [dict per record], "png": path or None,
    "factor_variation": max/min of the recorded median C}."""
    # scikit-learn brings SciPy, whose OpenBLAS pool would spin against NumPy's on small products
    # (the demo's mini-batches): one BLAS thread, through threadpoolctl (a scikit-learn dependency)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn requires it
        return _run_demo(epochs, every, output, backend, hidden, lr, batch_size, seed, out)
    with threadpool_limits(limits=1, user_api="blas"):
        return _run_demo(epochs, every, output, backend, hidden, lr, batch_size, seed, out)


def _run_demo(epochs, every, output, backend, hidden, lr, batch_size, seed, out):
    out = out or sys.stdout
    if epochs < 0 or every < 1 or batch_size < 1 or lr <= 0:
        raise ValueError("epochs must be >= 0, every >= 1, batch_size >= 1 and lr > 0")
    Xtr, ytr, Xte, yte = load_digits_split(seed)
    rng = np.random.default_rng(seed)
    sizes = [Xtr.shape[1], *hidden, 10]
    layers = _init(sizes, rng)
    if backend == "auto":
        try:
            import torch  # noqa: F401

            backend = "torch"
        except ImportError:
            backend = "numpy"
    if backend == "torch":
        import torch

        # one thread: a mini-batch of 32 gains nothing from more, and PyTorch's OpenMP pool spinning
        # beside logitcore's made the run 9x slower on two cores
        threads0 = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            torch.manual_seed(seed)
            return _train_and_record(_TorchTrainer(layers, lr), "torch", Xtr, ytr, Xte, yte, sizes, epochs, every,
                                     output, lr, batch_size, seed, out)
        finally:
            torch.set_num_threads(threads0)
    if backend != "numpy":
        raise ValueError(f"backend must be 'auto', 'numpy' or 'torch', got {backend!r}")
    return _train_and_record(_NumpyTrainer(layers, lr), "numpy", Xtr, ytr, Xte, yte, sizes, epochs, every, output,
                             lr, batch_size, seed, out)


def _train_and_record(trainer, backend, Xtr, ytr, Xte, yte, sizes, epochs, every, output, lr, batch_size, seed, out):
    L = len(sizes) - 1
    print(f"gradient-penalty demo: MLP {'-'.join(map(str, sizes))} (ReLU) on digits ({len(ytr)} train / "
          f"{len(yte)} test), SGD lr {lr}, batch {batch_size}, {epochs} epochs, {backend}; report on the training "
          f"examples every {every} epochs (f = cross-entropy, spectral norms, exact Jacobians)", file=out)
    head = (f"{'epoch':>5} {'loss':>7} {'test acc':>8} {'‖∇x f‖²':>10} {'‖∇θ f‖²':>10} {'C med':>9} "
            f"{'C IQR':>17} {'lhs/rhs':>8} " + " ".join(f"{'ρ' + str(t + 1):>6}" for t in range(L)) + " "
            + " ".join(f"{'‖W' + str(t + 1) + '‖':>6}" for t in range(L)))
    print(head, file=out)
    print("-" * len(head), file=out)
    records: List[Dict[str, object]] = []
    order_rng = np.random.default_rng(seed + 1)
    last_loss = float("nan")
    for epoch in range(epochs + 1):
        if epoch > 0:
            perm = order_rng.permutation(len(ytr))
            losses = [trainer.step(Xtr[perm[a:a + batch_size]], ytr[perm[a:a + batch_size]])
                      for a in range(0, len(ytr), batch_size)]
            last_loss = float(np.mean(losses))
        if epoch % every and epoch != epochs:
            continue
        model = trainer.model()
        rep = gradient_penalty_report(model, Xtr, ytr, output="loss")
        train_loss = float(rep.value.mean())
        rec = {
            "epoch": epoch,
            "train_loss": train_loss,
            "epoch_loss": last_loss,
            "test_accuracy": _accuracy(model, Xte, yte),
            "input_grad_sq": float(np.median(rep.input_grad_sq)),
            "param_grad_sq": float(np.median(rep.param_grad_sq)),
            "factor": float(np.median(rep.factor)),
            "factor_q25": float(np.quantile(rep.factor, 0.25)),
            "factor_q75": float(np.quantile(rep.factor, 0.75)),
            "ratio": float(np.median(rep.lhs / rep.rhs)),
            "tightness": [float(np.median(rep.tightness[:, t])) for t in range(L)],
            "weight_norm": [float(rep.weight_norm[0, t]) for t in range(L)],
            "jacobian_norm": [float(np.median(rep.jacobian_norm[:, t])) for t in range(L)],
            "violated": int(rep.violated.sum()),
        }
        records.append(rec)
        print(f"{epoch:>5} {train_loss:>7.4f} {rec['test_accuracy']:>8.3f} {rec['input_grad_sq']:>10.3e} "
              f"{rec['param_grad_sq']:>10.3e} {rec['factor']:>9.3f} "
              f"{'[' + format(rec['factor_q25'], '.3f') + ', ' + format(rec['factor_q75'], '.3f') + ']':>17} "
              f"{rec['ratio']:>8.4f} " + " ".join(f"{r:>6.3f}" for r in rec["tightness"]) + " "
              + " ".join(f"{w:>6.2f}" for w in rec["weight_norm"]), file=out)
    fac = np.array([r["factor"] for r in records])
    ig = np.array([r["input_grad_sq"] for r in records])
    pg = np.array([r["param_grad_sq"] for r in records])
    variation = float(fac.max() / fac.min()) if fac.size else float("nan")
    print(f"median C(x, θ): {fac.min():.3f} .. {fac.max():.3f} over the records (max/min {variation:.2f}); "
          f"median ‖∇x f‖² varied {ig.max() / ig.min():.3g}x and median ‖∇θ f‖² {pg.max() / pg.min():.3g}x; "
          f"no example violated the inequality" if not any(r["violated"] for r in records)
          else "some examples violated the inequality (a bug: exact mode)", file=out)
    png = _plot(records, sizes, output, out) if output else None
    return {"backend": backend, "records": records, "png": png, "factor_variation": variation}


def _plot(records, sizes, path, out) -> Optional[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no plot; pip install 'logitcore[plot]')", file=out)
        return None
    ep = [r["epoch"] for r in records]
    L = len(sizes) - 1
    fig, ax = plt.subplots(2, 2, figsize=(10, 7))
    a = ax[0, 0]
    a.semilogy(ep, [r["input_grad_sq"] for r in records], "o-", label="‖∇x f‖²")
    a.semilogy(ep, [r["param_grad_sq"] for r in records], "s-", label="‖∇θ f‖² (rhs)")
    a.semilogy(ep, [r["input_grad_sq"] * r["factor"] for r in records], "^-", label="‖∇x f‖²·C")
    a.set_title("medians over training examples")
    a.legend()
    a = ax[0, 1]
    a.plot(ep, [r["factor"] for r in records], "o-", color="C3", label="median C(x, θ)")
    a.fill_between(ep, [r["factor_q25"] for r in records], [r["factor_q75"] for r in records], color="C3",
                   alpha=0.2, label="interquartile range")
    a.set_ylim(bottom=0)
    a.set_title("the factor C(x, θ)")
    a.legend()
    a = ax[1, 0]
    for t in range(L):
        a.plot(ep, [r["tightness"][t] for r in records], "o-", label=f"ρ_{t + 1}")
    a.set_ylim(0, 1)
    a.set_title("median tightness per layer")
    a.set_xlabel("epoch")
    a.legend()
    a = ax[1, 1]
    for t in range(L):
        a.plot(ep, [r["weight_norm"][t] for r in records], "o-", label=f"‖W^({t + 1})‖")
    a.set_title("spectral norms of the weights")
    a.set_xlabel("epoch")
    a.legend()
    fig.suptitle(f"MLP {'-'.join(map(str, sizes))} on digits: ‖∇x f‖²·C(x, θ) ≤ ‖∇θ f‖²")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}", file=out)
    return path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    p.add_argument("--every", type=int, default=5, help="record every this many epochs (default 5; and the last)")
    p.add_argument("--output", default="gradpen-demo.png",
                   help="PNG path (default gradpen-demo.png; needs matplotlib; '' for no plot)")
    p.add_argument("--backend", choices=("auto", "numpy", "torch"), default="auto",
                   help="train in NumPy or PyTorch (default: PyTorch when installed)")
    p.add_argument("--hidden", default="128,128", help="hidden layer widths (default 128,128)")
    p.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (default 0.1)")
    p.add_argument("--batch-size", type=int, default=32, help="SGD mini-batch (default 32)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the initialization and the batches")


def main(args: argparse.Namespace) -> int:
    try:
        hidden = tuple(int(h) for h in args.hidden.split(",") if h.strip())
    except ValueError:
        raise SystemExit(f"--hidden must be comma-separated integers, got {args.hidden!r}") from None
    if not hidden or min(hidden) < 1:
        raise SystemExit(f"--hidden must be comma-separated positive integers, got {args.hidden!r}")
    try:
        run_demo(epochs=args.epochs, every=args.every, output=args.output or None, backend=args.backend,
                 hidden=hidden, lr=args.lr, batch_size=args.batch_size, seed=args.seed)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    return 0
