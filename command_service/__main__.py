"""Starts the command service: `python -m command_service` (the only wiring point)."""

from __future__ import annotations

from typing import NoReturn

from command_service.app import App
from eventkit import config, logs, server, tracing


def main() -> NoReturn:
    settings = config.load(config.command_settings, "command_service")
    logs.configure(settings.common.log_level, settings.common.log_format, "command")
    if settings.common.tracing:
        tracing.configure("command")
    app = App(settings).start()
    if settings.common.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.common.metrics_port)
    server.stop_on_signals(lambda: app.stop(process_exits=True))
    app.wait()
    server.exit_process(0)


if __name__ == "__main__":
    main()
