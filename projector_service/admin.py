"""The operator commands `status` and `skip POSITION`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

from eventkit import db
from eventkit.config import ProjectorSettings
from projector_service import events_sql, leadership, status_sql, store


def gather(settings: ProjectorSettings, connect_read_model: Callable[[], store.Conn]) -> dict[str, Any]:
    """Returns what `status` shows: checkpoint, store head, lag, leader, stall and last error."""
    name = settings.projection_name
    with connect_read_model() as rm:
        row = status_sql.status(rm, name) or {"position": 0}
        leader = status_sql.lock_holder(rm, leadership.leader_key(settings.read_model.schema, name))
    with db.connect(settings.event_store, autocommit=True) as es:
        head, lag_events, lag_seconds = events_sql.lag(es, int(row["position"]))
    return {
        "projection": name,
        "checkpoint": int(row["position"]),
        "checkpoint_event_time": row.get("event_time"),
        "store_head": head,
        "lag_events": lag_events,
        "lag_seconds": round(lag_seconds, 3) if lag_events else 0.0,
        "leader": leader.removeprefix("projector ") if leader else None,
        "heartbeat_age_seconds": _round(row.get("heartbeat_age")),
        "last_leader": row.get("leader"),
        "stalled_position": row.get("stalled_position"),
        "last_error": row.get("last_error"),
        "last_error_time": row.get("last_error_time"),
        "skipped_unknown": int(row.get("skipped_unknown") or 0),
        "skipped_operator": int(row.get("skipped_operator") or 0),
    }


def print_status(info: dict[str, Any], out: TextIO, as_json: bool = False) -> None:
    """Writes the status as aligned text lines, or as one JSON object."""
    if as_json:
        out.write(json.dumps(info, default=_iso) + "\n")
        return
    if info["leader"]:
        leader = f"{info['leader']} (heartbeat {info['heartbeat_age_seconds']} s ago)"
    else:
        leader = f"none (last: {info['last_leader'] or '-'})"
    error = f"{_iso(info['last_error_time'])} {info['last_error']}" if info["last_error"] else "-"
    lines = [
        ("projection", info["projection"]),
        ("checkpoint", f"{info['checkpoint']} (event time {_iso(info['checkpoint_event_time']) or '-'})"),
        ("store head", info["store_head"]),
        ("lag", f"{info['lag_events']} events, {info['lag_seconds']} s"),
        ("leader", leader),
        ("stalled at", info["stalled_position"] if info["stalled_position"] is not None else "-"),
        ("last error", error),
        ("skipped", f"{info['skipped_unknown']} unknown type, {info['skipped_operator']} by operator"),
    ]
    for label, value in lines:
        out.write(f"{label + ':':<12} {value}\n")


def skip(
    settings: ProjectorSettings, connect_read_model: Callable[[], store.Conn], position: int, force: bool, reason: str
) -> tuple[bool, str]:
    """Records an operator's skip of one position; returns (done, message for the operator)."""
    name = settings.projection_name
    with connect_read_model() as rm:
        rm.autocommit = True
        store.ensure_rows(rm, name)
        row = status_sql.status(rm, name) or {}
        checkpoint, stalled = int(row.get("position") or 0), row.get("stalled_position")
        if position <= checkpoint:
            return False, f"position {position} is already behind the checkpoint ({checkpoint}); nothing to skip"
        if not force and stalled != position:
            where = f"stalled at {stalled}" if stalled is not None else "not stalled"
            return False, (
                f"the projector is {where}, not at {position}; pass --force to skip a position it has not reached yet"
            )
        if not store.add_skip(rm, name, position, reason):
            return True, f"position {position} was already marked to be skipped"
    return True, f"position {position} will be skipped; the projector moves past it within seconds"


def _round(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
