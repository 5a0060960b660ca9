"""Starts the projector: `python -m projector_service [run|rebuild|init|status|skip POSITION|version]` (the only wiring point)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import threading

import psycopg

from eventkit import config, logs, server, tracing
from eventkit.startup import migrating_connector
from eventkit.version import version
from projector_service import admin
from projector_service.applier import Stalled
from projector_service.rebuild import RebuildBusy, rebuild
from projector_service.runner import Runner
from projector_service.watch import watch

log = logging.getLogger("projector_service")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def parse(argv: list[str]) -> argparse.Namespace:
    """Reads the command line (the seed's `help | init | subscription | version`, grown up)."""
    parser = argparse.ArgumentParser(
        prog="python -m projector_service",
        description="Projects the event store into the read model, exactly once.",
        epilog="Configuration comes from environment variables (see README: Configuration).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", aliases=["subscription"], help="follow the event store (the default)")
    commands.add_parser("rebuild", aliases=["init"], help="replay every event into fresh tables, then swap them in")
    status = commands.add_parser("status", help="show checkpoint, store head, lag, leader and last error")
    status.add_argument("--json", action="store_true", help="print one JSON object (one per refresh with --watch)")
    status.add_argument("--watch", action="store_true", help="refresh until Ctrl-C, with throughput")
    status.add_argument("--interval", type=_positive, default=2.0, metavar="SECONDS", help="refresh interval (2)")
    status.add_argument("--count", type=int, default=0, metavar="N", help="stop after N refreshes (0: never)")
    skip = commands.add_parser("skip", help="tell the projector to pass over one event it cannot apply")
    skip.add_argument("position", type=int, help="the event's position (the one `status` shows as stalled)")
    skip.add_argument("--force", action="store_true", help="allow a position the projector is not stalled at")
    skip.add_argument("--reason", default="", help="why (kept with the skip)")
    commands.add_parser("version", help="print the version")
    commands.add_parser("help", help="print this help (the seed's `help`)")
    args = parser.parse_args(argv)
    if args.command == "help":
        parser.print_help()
        parser.exit()
    args.command = {None: "run", "subscription": "run", "init": "rebuild"}.get(args.command, args.command)
    return args


def run(settings: config.ProjectorSettings) -> int:
    """Follows the event store until SIGTERM/SIGINT, serving gRPC health on PROJECTOR_HEALTH_PORT."""
    running = server.start(
        [], settings.common.listen_host, settings.health_port, max_workers=4, transport=settings.common.transport
    )
    if settings.common.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.common.metrics_port)
    stop = threading.Event()

    def stopping() -> None:
        running.health.shutdown()  # first, so probes see NOT_SERVING while the runner finishes its batch
        stop.set()

    server.stop_on_signals(stopping)
    log.info("projector started", extra={"health_port": running.port, "projection": settings.projection_name})
    Runner(settings, running.health, stop, migrating_connector(settings.read_model, "read_model")).run()
    running.stop(settings.common.shutdown_grace)
    log.info("projector stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs the command the command line names; returns the process's exit code."""
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.command == "version":
        print(f"projector_service {version()}")
        return 0
    settings = config.load(config.projector_settings, "projector_service")
    logs.configure(settings.common.log_level, settings.common.log_format, "projector")
    if settings.common.tracing:
        tracing.configure("projector")
    if args.command == "run":
        return run(settings)
    connect = migrating_connector(settings.read_model, "read_model")
    try:
        if args.command == "status" and args.watch:
            with contextlib.suppress(KeyboardInterrupt):
                watch(lambda: admin.gather(settings, connect), sys.stdout, args.interval, args.count, args.json)
            return 0
        if args.command == "status":
            admin.print_status(admin.gather(settings, connect), sys.stdout, args.json)
            return 0
        if args.command == "skip":
            done, message = admin.skip(settings, connect, args.position, args.force, args.reason)
            print(message, file=sys.stdout if done else sys.stderr)
            return 0 if done else 2
        rebuild(settings, connect, sys.stdout)
        return 0
    except RebuildBusy as exc:
        print(f"projector_service: {exc}", file=sys.stderr)
        return 3
    except Stalled as exc:
        print(
            f"projector_service: rebuild stopped: {exc}; skip it with"
            f" `python -m projector_service skip {exc.position} --force`, then rebuild again",
            file=sys.stderr,
        )
        return 1
    except psycopg.OperationalError as exc:
        print(f"projector_service: a database is unreachable: {str(exc).strip()}", file=sys.stderr)
        return 1
    except psycopg.errors.InsufficientPrivilege as exc:
        print(
            f"projector_service: {str(exc).strip()}; `{args.command}` changes tables: give it the read model"
            " owner's connection string in READ_MODEL_MIGRATION_DSN",
            file=sys.stderr,
        )
        return 1
    except psycopg.errors.UndefinedTable as exc:
        print(
            f"projector_service: the event store is not initialised (start the command service once): {exc}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
