"""Builds, starts and stops the command service: the one wiring used by `__main__` and by the tests."""

from __future__ import annotations

import logging
import threading

from command_service import keyring
from command_service.appender import Appender, Timeouts
from command_service.service import CommandService
from eventkit import config, observing, server
from eventkit.watchdog import watch_database
from users.v1 import command_service_pb2, command_service_pb2_grpc

log = logging.getLogger("command_service")

SERVICE_NAME = command_service_pb2.DESCRIPTOR.services_by_name["CommandService"].full_name


class App:
    """The command service: a group-commit appender behind a gRPC server, and its database watchdog."""

    def __init__(self, settings: config.CommandSettings) -> None:
        self.settings = settings
        self.connect, keys = keyring.wire(settings.event_store, settings.key_store)
        timeouts = Timeouts(settings.append_lock_timeout, settings.append_statement_timeout)
        self.appender = Appender(self.connect, settings.batch_max, timeouts, keys)
        self._watching = threading.Event()
        self._running: server.Running | None = None
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        assert self._running is not None, "start() first"
        return self._running.port

    def start(self) -> App:
        """Starts the appender, the server (health NOT_SERVING) and the watchdog that turns it SERVING."""
        self.appender.start()
        self._running = server.start(
            [
                server.Service(
                    SERVICE_NAME,
                    command_service_pb2_grpc.add_CommandServiceServicer_to_server,
                    CommandService(self.appender),
                    writes=True,
                )
            ],
            self.settings.common.listen_host,
            self.settings.port,
            self.settings.max_workers,
            self.settings.common.transport,
            # A command without a correlation id gets one here; its events and logs carry it on.
            correlate=observing.Correlate([SERVICE_NAME], make_missing=True),
            reuse_port=self.settings.workers > 1,
        )
        watch_database(self._check, self._running.health, self._watching)
        log.info("command service listening", extra={"port": self._running.port})
        return self

    def _check(self) -> None:
        self.connect().close()

    def stop(self, process_exits: bool = False) -> None:
        """Health NOT_SERVING, new calls UNAVAILABLE, calls in flight drain for the grace, then ends what is left.

        A batch still running after the grace (stuck behind the append lock, or a database that does
        not answer) is cancelled in the database and answered UNAVAILABLE, so the stop takes bounded
        time whatever the database does. With `process_exits` the gRPC server is left to the
        process's exit (see server.exit_process).
        """
        assert self._running is not None
        try:
            self._watching.set()
            self._running.stop(
                self.settings.common.shutdown_grace, on_overrun=self.appender.abandon, stop_server=not process_exits
            )
            self.appender.stop()
            log.info("command service stopped")
        finally:
            self._stopped.set()

    def wait(self) -> None:
        """Blocks the main thread until `stop()` has finished; signals still reach it (see server.py)."""
        server.wait_in_main_thread(self._stopped)
