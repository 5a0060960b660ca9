"""`python -m tests.chaos`: runs the fault suite on a private PostgreSQL cluster and prints the summary line."""

from __future__ import annotations

import os

# Before grpc is imported: this process starts children (see tests/conftest.py, grpc/grpc#43055).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
import argparse
import json
import logging
import shutil
import sys
import tempfile
from pathlib import Path

from devtools.pgcluster import Cluster, free_port
from tests.chaos import report
from tests.chaos.run import Options, run


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--seed", type=int, default=1, help="seed of the fault schedule and the workload")
    parser.add_argument("--faults", type=int, default=200, help="faults to inject (the run ends after them)")
    parser.add_argument("--seconds", type=float, default=1800, help="longest fault phase; the soak's length")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--soak", action="store_true", help="steady load, process-preserving faults, sampling")
    parser.add_argument("--out", type=Path, help="folder for the JSON figures and the PNG plots")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    if args.soak:
        # A steady load (each writer about 20 commands/s) and a fault every 10-20 s, for as long as asked.
        options = Options(args.seed, 10**6, args.seconds, args.writers, 0.05, True, (10.0, 20.0))
    else:
        options = Options(args.seed, args.faults, args.seconds, args.writers)
    base = Path(tempfile.mkdtemp(prefix="users-cqrs-chaos-"))
    os.chmod(base, 0o755)  # the server may run as another user (root runs it as postgres)
    cluster = Cluster(base / "data", free_port(), durable=False)
    cluster.init()
    cluster.start()
    try:
        outcome = run(options, cluster, base)
    finally:
        cluster.stop(fast=False)
    print(report.summary_line(outcome), flush=True)
    for violation in outcome.verdict.violations[:50]:
        print(f"VIOLATION {violation}")
    for error in outcome.fault_errors:
        print(f"FAULT NOT INJECTED {error}")
    if args.out:
        name = f"{'soak' if args.soak else 'chaos'}-seed{args.seed}"
        report.write(outcome, args.out / f"{name}.json")
        data = json.loads((args.out / f"{name}.json").read_text())
        from tests.chaos import plots  # matplotlib only here: `make chaos` installs it, `make test` needs none

        plots.timeline(data, args.out / f"{name}-timeline.png")
        if args.soak:
            plots.soak(data, args.out / f"{name}-resources.png")
            print(report.soak_table(data["soak"]))
    if outcome.verdict.violations:
        print(f"logs and databases kept in {base}", file=sys.stderr)
        return 1
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
