"""Parsing environment values: the error that stops start-up with a variable's name, and typed readers."""

from __future__ import annotations

from collections.abc import Mapping


class ConfigError(Exception):
    """A required variable is missing or a value cannot be used."""


def integer(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    """Returns the integer `name` holds (at least `minimum`), or `default` when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def boolean(env: Mapping[str, str], name: str, default: bool) -> bool:
    """Returns the switch `name` holds (true/false, 1/0, yes/no, on/off), or `default` when unset."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    return raw in ("true", "1", "yes", "on")


def file_bytes(env: Mapping[str, str], name: str) -> bytes | None:
    """Returns the content of the file `name` points to, or None when unset; an unreadable file stops start-up."""
    path = env.get(name, "").strip()
    if not path:
        return None
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {path}: {exc.strerror}") from None
