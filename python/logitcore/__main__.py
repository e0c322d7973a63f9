"""Command line: ``python -m logitcore bench [options]``."""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m logitcore", description="logitcore command line tools")
    sub = parser.add_subparsers(dest="command", metavar="command")
    p_bench = sub.add_parser(
        "bench",
        help="time logitcore against NumPy, SciPy and PyTorch side by side",
        description="Time logitcore against NumPy, SciPy and PyTorch (when installed), side by side in one "
        "run, and evaluate the performance targets. Figures only; nothing is asserted.",
    )
    from . import bench

    bench.add_arguments(p_bench)
    args = parser.parse_args(argv)
    if args.command == "bench":
        bench.run(args)
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
