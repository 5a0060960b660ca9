"""Configures logging once per process: one JSON object a line (or plain text) on stdout.

Every line carries the service, the level, and the correlation id of the call or event being
handled and its position where there is one. Names and other personal data are logged only at
DEBUG; nothing secret is logged at all.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from eventkit import correlation

# Keys a line shows in text format too, after the message, when the record has them.
_TEXT_KEYS = ("correlation_id", "position")


class Context(logging.Filter):
    """Adds the service's name and the current correlation id to every record (an explicit `extra=` wins)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self._service
        if getattr(record, "correlation_id", None) is None:
            found = correlation.get()
            if found is not None:
                record.correlation_id = found
        return True


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object, with any `extra=` fields kept as keys."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": getattr(record, "service", ""),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """Formats a record as one readable line, ending with its correlation id and position when it has them."""

    def __init__(self, service: str) -> None:
        prefix = f"{service} " if service else ""
        super().__init__(f"%(asctime)s {prefix}%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        tags = [f"{key}={getattr(record, key)}" for key in _TEXT_KEYS if getattr(record, key, None) is not None]
        return f"{line} [{' '.join(tags)}]" if tags else line


def configure(level: str = "INFO", fmt: str = "json", service: str = "") -> None:
    """Sends every log record to stdout in the chosen format."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter(service))
    handler.addFilter(Context(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
