"""Command line: ``python -m logitcore bench [options]`` and ``python -m logitcore gradpen-demo [options]``."""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status (``bench``: 0, or 1 with ``--check`` when a
    performance target failed)."""
    parser = argparse.ArgumentParser(prog="python -m logitcore", description="logitcore command line tools")
    sub = parser.add_subparsers(dest="command", metavar="command")
    p_bench = sub.add_parser(
        "bench",
        help="time logitcore against NumPy, SciPy and PyTorch side by side",
        description="Time logitcore against NumPy, SciPy and PyTorch (when installed), side by side in one "
        "run, and evaluate the performance targets. By default a short run (the headline table and the "
        "targets, 10-25 s on two cores); --full runs every case and shape (about 2 minutes). Figures only: "
        "the exit status is 0 unless --check is given and a target fails.",
    )
    from . import bench  # the harness with every case registered

    bench.add_arguments(p_bench)
    p_demo = sub.add_parser(
        "gradpen-demo",
        help="train an MLP on digits and record both sides of the gradient-penalty inequality",
        description="Train an MLP (64-128-128-10 by default) on scikit-learn's digits by SGD (NumPy, or PyTorch "
        "when installed) and every few epochs record ‖∇x f‖², ‖∇θ f‖², the factor C(x, θ) and each layer's "
        "tightness (logitcore.gradpen); print a table and write a PNG plot (matplotlib). Default: 30 epochs, "
        "a few seconds.",
    )
    from .gradpen import demo as gradpen_demo

    gradpen_demo.add_arguments(p_demo)
    args = parser.parse_args(argv)
    if args.command == "bench":
        report = bench.run(args)
        return bench.exit_status(report["targets"], args.check)
    if args.command == "gradpen-demo":
        return gradpen_demo.main(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
