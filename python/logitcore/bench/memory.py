"""Extra memory of one fused loss + gradient call (logitcore.losses), out of place, in place and
in PyTorch: ``python -m logitcore.bench.memory [--shape 256x32000]``.

Not a timing case (no case is registered): :func:`measure_memory` reports, for float32 logits
of the given shape, the tracemalloc peak of one call (it sees NumPy's allocations) and, in a
fresh subprocess, the peak resident set during the call minus the resident set before it (the
peak mark reset through /proc/self/clear_refs), for the out-of-place and in-place modes and
for torch ``F.cross_entropy`` forward + backward when PyTorch is installed.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tracemalloc
from typing import Dict, Optional, Sequence

import numpy as np

from ..losses import gamma_cross_entropy
from .harness import _parse_shapes, optional_import

__all__ = ["measure_memory"]

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
    if optional_import("torch") is not None:
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
    p = argparse.ArgumentParser(prog="python -m logitcore.bench.memory",
                                description="extra memory of one loss + gradient call (logitcore out of place, "
                                "in place, and torch when installed)")
    p.add_argument("--shape", type=_parse_shapes, default=[(256, 32000)],
                   help="comma-separated float32 logits shapes, rows x classes (default 256x32000)")
    args = p.parse_args(argv)
    for shape in args.shape:
        _print_memory(shape)
    return 0


if __name__ == "__main__":
    sys.exit(main())
