"""Runs the sections in order against one durable throwaway cluster and writes the results."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import ModuleType

from bench import appends, fanout, growth, limits, machine, peer, projector, propagation, queries, report
from bench.context import Context
from bench.model import FAILED, NOT_RUN, NotRunnable, SectionResult
from bench.plan import Plan
from bench.pool import ClientPool
from devtools.pgcluster import Cluster, free_port

# In this order: limits first (every ratio needs them), the projector before the queries (it
# builds the read model they query), the peer last (its tables stay out of everyone's way).
SECTIONS: list[tuple[str, ModuleType]] = [
    ("limits", limits),
    ("appends", appends),
    ("growth", growth),
    ("projector", projector),
    ("queries", queries),
    ("propagation", propagation),
    ("fanout", fanout),
    ("peer", peer),
]


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _run_section(ctx: Context, name: str, module: ModuleType) -> SectionResult:
    result = SectionResult(name, module.TITLE)
    started = time.monotonic()
    _say(f"== {name}: {module.TITLE}")
    try:
        module.run(ctx, result)
    except NotRunnable as exc:
        result.status, result.reason = NOT_RUN, str(exc)
    except Exception as exc:
        result.status, result.reason = FAILED, f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    finally:
        ctx.stop_all()
        result.seconds = time.monotonic() - started
    _say(report.section_text(result))
    return result


def _keep_logs(workdir: Path, results_dir: Path) -> None:
    kept = results_dir / "tmp" / time.strftime("%Y%m%d-%H%M%S")
    kept.mkdir(parents=True, exist_ok=True)
    for log in workdir.glob("*.log"):
        shutil.copy(log, kept / log.name)
    _say(f"logs of the failed run kept in {kept}")


def run(plan: Plan, only: list[str], results_dir: Path) -> int:
    """Runs the selected sections (all when `only` is empty); returns 1 if any measurement failed to run."""
    workdir = Path(tempfile.mkdtemp(prefix="users-cqrs-bench-"))
    os.chmod(workdir, 0o755)  # the server runs as an unprivileged user when the bench runs as root
    results: list[SectionResult] = []
    started = time.monotonic()
    completed = False
    try:
        cluster = Cluster(workdir / "data", free_port(), durable=True)
        cluster.init()
        cluster.start()
        try:
            pool = ClientPool(plan.client_processes + 1)
            ctx = Context(plan, cluster, pool, workdir)
            facts = machine.describe(cluster.dsn())
            try:
                for name, module in SECTIONS:
                    if not only or name in only:
                        results.append(_run_section(ctx, name, module))
            finally:
                ctx.stop_all()
                pool.close()
        finally:
            cluster.stop()
        completed = True
    finally:
        # Logs outlive the run when something failed or it was interrupted; the cluster never does.
        if not completed or any(r.status == FAILED for r in results):
            _keep_logs(workdir, results_dir)
        shutil.rmtree(workdir, ignore_errors=True)
    facts["seconds"] = round(time.monotonic() - started, 1)
    facts["load_after"] = machine.load_average()
    written = report.write(results, facts, plan, results_dir)
    _say(report.summary_text(results))
    _say("wrote " + ", ".join(str(p) for p in written) + f" in {facts['seconds']:.0f} s")
    return 1 if any(r.status == FAILED for r in results) else 0
