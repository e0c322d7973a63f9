"""Command line: ``python -m logitcore bench [options]``."""
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
    args = parser.parse_args(argv)
    if args.command == "bench":
        report = bench.run(args)
        return bench.exit_status(report["targets"], args.check)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
