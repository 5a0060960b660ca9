"""`python -m bench [--quick] [--only SECTION ...]` runs the benchmark; `--render` rewrites BENCHMARKS.md's tables."""

from __future__ import annotations

import os

# Before anything imports grpc: the bench starts servers and client processes from a process that
# uses gRPC; with gRPC's fork handlers on, a child can abort before exec (grpc/grpc#43055).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
import argparse
import dataclasses
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def main(argv: list[str] | None = None) -> int:
    """Parses the command line and runs, or renders."""
    from bench import render, runner
    from bench.plan import FULL, QUICK

    names = [name for name, _ in runner.SECTIONS]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short windows and small data (under five minutes)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=names,
        default=[],
        metavar="SECTION",
        help=f"run only these sections: {', '.join(names)} (limits always run first; queries bring the projector)",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="also grow the store (Growth section): 10 million events written with COPY (quick: 1 million)",
    )
    parser.add_argument(
        "--render", action="store_true", help="write the latest results JSON's tables into BENCHMARKS.md and exit"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where results go (default bench/results)")
    args = parser.parse_args(argv)
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so servers, cluster and scratch files go too.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    if args.render:
        path = render.render(args.results, ROOT / "BENCHMARKS.md")
        print(f"BENCHMARKS.md now shows {path.name}")
        return 0
    # The limits come first (every ratio needs them); the queries need the read model the projector builds.
    only = ["limits", *(["projector"] if "queries" in args.only else []), *args.only] if args.only else []
    plan = dataclasses.replace(QUICK if args.quick else FULL, scale=args.scale)
    code = runner.run(plan, only, args.results)
    if code == 0 and not args.quick and not args.only:
        render.render(args.results, ROOT / "BENCHMARKS.md")
    return code


if __name__ == "__main__":
    sys.exit(main())
