"""How the CLI shows results: short sentences and aligned tables for people, JSON for scripts."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from users_client import models


def timestamp(value: datetime | None) -> str:
    """Returns an RFC 3339 UTC time to the second, or '-' when unknown."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_json(value: Any) -> str:
    """Returns one line of JSON for a client value (dataclasses, lists, dicts)."""
    return json.dumps(models.as_json(value), ensure_ascii=False, sort_keys=False)


def width(text: str) -> int:
    """Returns how many terminal columns `text` takes: wide (CJK) characters take two, combining marks none."""
    total = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


def _pad(text: str, columns: int) -> str:
    return text + " " * (columns - width(text))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Returns rows under headers, each column as wide as its widest cell, two spaces apart."""
    widths = [max([width(h)] + [width(row[i]) for row in rows]) for i, h in enumerate(headers)]
    lines = []
    for row in [list(headers), *rows]:
        cells = [_pad(cell, widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def users_table(users: Sequence[models.User]) -> str:
    """Returns users as an aligned table; the name comes last so that long names do not push columns."""
    rows = [[u.id, str(u.version), timestamp(u.update_time), u.name] for u in users]
    return table(["ID", "VERSION", "UPDATED", "NAME"], rows)


def user_details(user: models.User) -> str:
    """Returns one user as aligned 'field value' lines."""
    rows = [
        ["id", user.id],
        ["name", user.name],
        ["version", str(user.version)],
        ["created", timestamp(user.create_time)],
        ["updated", timestamp(user.update_time)],
    ]
    widest = max(width(label) for label, _ in rows)
    return "\n".join(f"{_pad(label, widest)}  {value}" for label, value in rows)


def written(verb: str, result: models.Written) -> str:
    """Returns the sentence for an added or edited user."""
    user = result.user
    return f'{verb} user {user.id} "{user.name}" (version {user.version}, position {result.position})'


def forgotten(result: models.Deleted) -> str:
    """Returns the sentence for a forgotten user."""
    return f"forgot user {result.id}: its names are erased (version {result.version}, position {result.position})"


def deleted(result: models.Deleted) -> str:
    """Returns the sentence for a deleted user."""
    return f"deleted user {result.id} (version {result.version}, position {result.position})"


def event_line(event: models.Event) -> str:
    """Returns one event as a line of aligned fields: time, position, type, user, version, name."""
    name = "(forgotten)" if event.forgotten else f'"{event.name}"' if event.name else ""
    return (
        f"{timestamp(event.record_time)}  {event.position:>6}  {event.type:<11}  "
        f"{event.user_id}  v{event.version:<3} {name}"
    ).rstrip()


def stream_json(item: models.StreamItem) -> str:
    """Returns one stream message as a JSON line keyed by its kind, as in the proto's oneof."""
    kind = {models.Event: "event", models.CaughtUp: "caught_up", models.Heartbeat: "heartbeat"}[type(item)]
    return to_json({kind: item})
