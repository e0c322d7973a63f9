"""Benchmark cases for the fused losses (logitcore.losses), registered into logitcore.bench.

``register_loss_cases()`` adds three cases and two targets to the ``python -m logitcore bench``
registry (idempotent):

* ``xent_fwd``  — cross-entropy loss only: ``gamma_cross_entropy(x, t)`` (γ = 0, 'mean') vs
  ``torch.nn.functional.cross_entropy`` under ``torch.no_grad()``.
* ``xent_grad`` — loss and logits gradient: ``gamma_cross_entropy(x, t, return_grad=True)``,
  the same with ``inplace=True`` (on a private copy of x that the calls keep overwriting with
  gradients: same cost, values stay finite), vs ``F.cross_entropy(...).backward()`` on a leaf
  tensor sharing x's memory (a fresh ``requires_grad`` view per call, so torch allocates its
  gradient as in training).
* ``robust_grad`` — the robust losses at the same cost: γ-CE (γ = 1e-7, b = 0.2), generalized
  cross-entropy (q = 0.7) and focal loss (γ = 2), each loss + gradient, against logitcore's
  own cross-entropy, and a plain autograd implementation of γ-CE in torch.

Targets (float32, one thread): on (64, 32000) and (8, 128256), logitcore loss + gradient
>= 4x faster than torch ``F.cross_entropy`` forward + backward. ``xent_grad`` on (64, 32000) at
one thread is also a row of the headline table of the default run.

``measure_memory(shape)`` reports the extra memory of one call (tracemalloc peak, which sees
NumPy's allocations, and, in a fresh subprocess, the peak resident set during the call minus
the resident set before it, the peak mark being reset through /proc/self/clear_refs) for the
out-of-place and in-place modes and for torch; ``python -m logitcore.bench_losses --memory``
prints it.
Targets are integer class indices drawn once per shape (seed 0), identical for every
contestant.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tracemalloc
from typing import TYPE_CHECKING, Dict, Optional, Sequence

import numpy as np

from .losses import focal_loss, gamma_cross_entropy, generalized_cross_entropy

if TYPE_CHECKING:
    from . import bench as B

# logitcore.bench is imported inside the functions, never at the top: bench imports this
# module at its end to register the cases, so either module may be imported first.

__all__ = ["register_loss_cases", "measure_memory", "LOSS_SHAPES"]

LOSS_SHAPES = [(64, 32000), (8, 128256), (4096, 1024)]
_TARGET_SHAPES = [(64, 32000), (8, 128256)]


def _targets(d: "B.Data") -> np.ndarray:
    return d.cached("loss_targets", lambda x: np.random.default_rng(0).integers(0, x.shape[-1], x.shape[:-1]))


def _torch_targets(d: "B.Data"):
    from . import bench as B

    return d.cached("loss_targets_torch", lambda x: B._torch().from_numpy(_targets(d)))


# --- contestants -------------------------------------------------------------------------------


def _lc_fwd(d):
    x, t = d.x, _targets(d)
    return lambda: gamma_cross_entropy(x, t)


def _torch_fwd(d):
    from . import bench as B

    torch = B._torch()
    F = torch.nn.functional
    x, t = d.torch, _torch_targets(d)

    def run():
        with torch.no_grad():
            return F.cross_entropy(x, t)

    return run


def _lc_grad(d):
    x, t = d.x, _targets(d)
    return lambda: gamma_cross_entropy(x, t, return_grad=True)[1]


def _lc_grad_inplace(d):
    buf = d.x.copy()
    t = _targets(d)

    def run():
        return gamma_cross_entropy(buf, t, return_grad=True, inplace=True)[1]

    return run


def _torch_grad(d):
    from . import bench as B

    torch = B._torch()
    F = torch.nn.functional
    x, t = d.torch, _torch_targets(d)

    def run():
        z = x.detach().requires_grad_()
        F.cross_entropy(z, t).backward()
        return z.grad

    return run


def _lc_robust(fn, param, **kw):
    def make(d):
        x, t = d.x, _targets(d)
        return lambda: fn(x, t, param, return_grad=True, **kw)[1]

    return make


def _torch_gamma_ce(gamma: float, b: float):
    """γ-CE with the paper's threshold, written with torch autograd (the usual implementation)."""

    def make(d):
        from . import bench as B

        torch = B._torch()
        F = torch.nn.functional
        x, t = d.torch, _torch_targets(d)

        def run():
            z = x.detach().requires_grad_()
            ell = F.log_softmax(z, dim=-1).gather(-1, t[:, None])[:, 0]
            p = ell.exp()
            w = (p / (gamma + (1 - gamma) * p)).detach().clamp(min=b)
            (w * -ell).mean().backward()
            return z.grad

        return run

    return make


# --- registration ----------------------------------------------------------------------------


def register_loss_cases() -> None:
    """Add the loss cases and targets to logitcore.bench (does nothing if already added)."""
    from . import bench as B

    if any(c.name == "xent_grad" for c in B.CASES):
        return
    C = B.Contestant
    B.register(
        B.Case(
            name="xent_fwd",
            title="cross-entropy loss only (mean over rows)",
            shapes=list(LOSS_SHAPES),
            contestants={
                "logitcore": C(_lc_fwd),
                "torch": C(_torch_fwd, requires=("torch",)),
            },
            note="logitcore.losses.gamma_cross_entropy(x, t) (gamma=0) vs torch F.cross_entropy under no_grad",
        )
    )
    B.register(
        B.Case(
            name="xent_grad",
            title="cross-entropy loss + logits gradient",
            shapes=list(LOSS_SHAPES),
            contestants={
                "logitcore": C(_lc_grad),
                "lc inplace": C(_lc_grad_inplace),
                "torch": C(_torch_grad, requires=("torch",)),
            },
            ratios=[
                ("torch/logitcore", "torch", "logitcore"),
                ("torch/lc inplace", "torch", "lc inplace"),
            ],
            note="gamma_cross_entropy(x, t, return_grad=True) [inplace=True: gradient over a private copy "
            "of x] vs F.cross_entropy(z, t).backward(); ratio = torch time / logitcore time",
            headline={"torch": "torch"},
            headline_label="cross-entropy loss + grad",
            headline_note="torch = F.cross_entropy(z, t).backward() (logitcore: "
            "gamma_cross_entropy(x, t, return_grad=True))",
        )
    )
    B.HEADLINE.append(("xent_grad", (64, 32000), 1))
    B.register(
        B.Case(
            name="robust_grad",
            title="robust losses, loss + gradient, vs logitcore cross-entropy",
            shapes=list(_TARGET_SHAPES),
            contestants={
                "lc CE": C(_lc_grad),
                "lc gamma-CE": C(_lc_robust(gamma_cross_entropy, 1e-7, threshold=0.2)),
                "lc GCE": C(_lc_robust(generalized_cross_entropy, 0.7)),
                "lc focal": C(_lc_robust(focal_loss, 2.0)),
                "torch gamma-CE": C(_torch_gamma_ce(1e-7, 0.2), requires=("torch",)),
            },
            baseline="lc CE",
            ratios=[
                ("gamma-CE/CE", "lc gamma-CE", "lc CE"),
                ("GCE/CE", "lc GCE", "lc CE"),
                ("focal/CE", "lc focal", "lc CE"),
                ("torch gamma-CE/lc gamma-CE", "torch gamma-CE", "lc gamma-CE"),
            ],
            note="gamma-CE: gamma=1e-7, b=0.2; GCE: q=0.7; focal: gamma=2; torch gamma-CE: log_softmax, "
            "gather, stop-gradient weight, backward",
            check=False,
        )
    )
    for shape in _TARGET_SHAPES:
        B.TARGETS.append(
            B.Target(
                "logitcore CE loss+grad >= 4x faster than torch F.cross_entropy fwd+bwd (torch at 1 thread)",
                "xent_grad", shape, 1, "torch/logitcore", ">=", 4.0,
            )
        )


# --- memory ----------------------------------------------------------------------------------


_RSS_SNIPPET = r"""
import resource, sys, json, numpy as np
mode, rows, v = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
x = np.random.default_rng(0).standard_normal((rows, v), dtype=np.float32)
t = np.random.default_rng(1).integers(0, v, rows)
if mode == "torch":
    import torch
    torch.set_num_threads(1)
    xt = torch.from_numpy(x); tt = torch.from_numpy(t)
    def call():
        z = xt.detach().requires_grad_(); torch.nn.functional.cross_entropy(z, tt).backward(); return z.grad
else:
    import logitcore
    from logitcore.losses import gamma_cross_entropy
    logitcore.set_num_threads(1)
    xc = x.copy() if mode == "inplace" else x
    def call():
        return gamma_cross_entropy(xc, t, 0.1, threshold=0.2, return_grad=True, inplace=(mode == "inplace"))[1]
def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
call()  # warm-up: first-call allocations and library initialisation
import gc; gc.collect()
try:  # reset the peak-RSS mark (Linux >= 4.0), then peak during the call - resident before it
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status("VmRSS")
    g = call()
    growth = status("VmHWM") - before
except OSError:  # ru_maxrss cannot be reset: a lower bound only when an earlier peak was higher
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    g = call()
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
print(json.dumps({"rss_growth_bytes": growth}))
"""


def _rss_growth(mode: str, shape) -> Optional[int]:
    try:
        out = subprocess.run([sys.executable, "-c", _RSS_SNIPPET, mode, str(shape[0]), str(shape[1])],
                             capture_output=True, text=True, check=True, timeout=300)
        return int(json.loads(out.stdout.strip().splitlines()[-1])["rss_growth_bytes"])
    except Exception:
        return None


def measure_memory(shape=(256, 32000)) -> Dict[str, Dict[str, Optional[int]]]:
    """Extra bytes of one loss+gradient call on float32 ``shape``: tracemalloc peak (NumPy's
    allocations) and peak-RSS growth in a fresh process, for 'out-of-place', 'inplace' and
    'torch' (when installed)."""
    from . import bench as B

    rows, v = shape
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    t = np.random.default_rng(1).integers(0, v, rows)
    res: Dict[str, Dict[str, Optional[int]]] = {}
    for mode in ("out-of-place", "inplace"):
        xc = x.copy() if mode == "inplace" else x
        gamma_cross_entropy(xc[:2], t[:2], return_grad=True)  # warm-up (imports, first-call allocations)
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            g = gamma_cross_entropy(xc, t, 0.1, threshold=0.2, return_grad=True, inplace=(mode == "inplace"))
            peak = tracemalloc.get_traced_memory()[1] - base
            del g
        finally:
            tracemalloc.stop()
        res[mode] = {"tracemalloc_peak_bytes": peak,
                     "rss_growth_bytes": _rss_growth("inplace" if mode == "inplace" else "copy", shape)}
    if B.optional_import("torch") is not None:
        res["torch"] = {"tracemalloc_peak_bytes": None, "rss_growth_bytes": _rss_growth("torch", shape)}
    res["_rows_x_V_float32_bytes"] = {"bytes": rows * v * 4}
    return res


def _print_memory(shape) -> None:
    res = measure_memory(shape)
    buf = res.pop("_rows_x_V_float32_bytes")["bytes"]
    print(f"# extra memory of one loss+gradient call, float32 {shape} (one rows x V buffer = {buf / 2**20:.1f} MiB)")
    for mode, r in res.items():
        parts = []
        for k, v in r.items():
            if v is not None:
                parts.append(f"{k} = {v / 2**20:.3f} MiB ({v} B)")
        print(f"  {mode:<13} " + "; ".join(parts))


def main(argv: Optional[Sequence[str]] = None) -> int:
    from . import bench as B

    p = argparse.ArgumentParser(prog="python -m logitcore.bench_losses",
                                description="benchmark the fused losses (the loss cases of python -m logitcore bench)")
    B.add_arguments(p)
    p.add_argument("--memory", action="store_true", help="only measure the extra memory of one call")
    p.add_argument("--memory-shape", default="256x32000")
    args = p.parse_args(argv)
    if args.memory:
        _print_memory(B._parse_shapes(args.memory_shape)[0])
        return 0
    register_loss_cases()
    if not args.cases:
        args.cases = "xent_fwd,xent_grad,robust_grad"
        args.full = True  # the whole loss suite, one table per case
    return B.exit_status(B.run(args)["targets"], args.check)


if __name__ == "__main__":
    sys.exit(main())
