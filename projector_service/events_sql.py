"""The projector's reads of the event store: events after a position (names picked out by PostgreSQL), lag, LISTEN."""

from __future__ import annotations

from typing import NamedTuple

from psycopg import sql

from eventkit.channels import EVENTS_CHANNEL
from eventkit.codec import NO_METADATA, RecordedEvent
from eventkit.correlation import METADATA_KEY
from eventkit.sealing import SEALED_FIELD
from projector_service.store import Conn


def read_events(
    conn: Conn, after: int, limit: int, upto: int | None = None, share: Share | None = None
) -> list[RecordedEvent]:
    """Returns up to `limit` events after position `after` (and at most `upto`; of one share's users), in position order.

    An event's data comes back holding only what the fold reads: its name in clear, or sealed.
    PostgreSQL picks them out of the JSON (a value that is not a string counts as absent, which is
    what the fold would make of it), so this process never parses a document: that was a third of
    its work per event. Results come in binary, which costs less to load than text.
    """
    bound = "AND position <= %s" if upto is not None else ""
    params: list[object] = [after, upto] if upto is not None else [after]
    if share is not None:
        bound += " AND (hashtext(stream_id::text) & 2147483647) %% %s = %s"
        params += [share.shares, share.number]
    params.append(limit)
    rows = (
        conn.cursor(binary=True)
        .execute(
            f"SELECT position, stream_id::text, version, type, {_NAME_FIELDS}, record_time, metadata->>%s,"
            f" schema_version FROM events WHERE position > %s {bound} ORDER BY position LIMIT %s",
            [METADATA_KEY, *params],
        )
        .fetchall()
    )
    return [
        RecordedEvent(
            p,
            stream,
            version,
            kind,
            _data(name, sealed),
            at,
            {METADATA_KEY: cid} if cid else NO_METADATA,
            schema_version,
        )
        for p, stream, version, kind, name, sealed, at, cid, schema_version in rows
    ]


def _data(name: str | None, sealed: str | None) -> dict[str, str]:
    if sealed is None:
        return {} if name is None else {"name": name}
    return {SEALED_FIELD: sealed} if name is None else {"name": name, SEALED_FIELD: sealed}


class Share(NamedTuple):
    """Share `number` of `shares` shares of the users, chosen by a hash of their ids (the rebuild folds one at a time)."""

    shares: int
    number: int


# The two data fields the fold reads, each as text when it holds a string and NULL otherwise.
_NAME_FIELDS = ", ".join(
    f"CASE WHEN jsonb_typeof(data->'{field}') = 'string' THEN data->>'{field}' END" for field in ("name", SEALED_FIELD)
)


def head(conn: Conn) -> int:
    """Returns the store's highest position (0 when empty): one descent of the primary key."""
    row = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
    assert row is not None
    return int(row[0])


def lag(conn: Conn, after: int) -> tuple[int, int, float]:
    """Returns (head position, events after `after`, seconds the oldest of them has waited)."""
    row = conn.execute(
        "SELECT (SELECT coalesce(max(position), 0) FROM events), count(*),"
        " coalesce(extract(epoch FROM now() - min(record_time)), 0)::float8 FROM events WHERE position > %s",
        [after],
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), float(row[2])


class Sample(NamedTuple):
    """The event store as the projector's metrics see it after a checkpoint."""

    head: int
    lag_seconds: float
    notification_queue_usage: float


def sample(conn: Conn, after: int) -> Sample:
    """Returns the store's head, how long the first event after `after` has waited, and the NOTIFY queue's use.

    Two index lookups, no count: cheap enough to run at every heartbeat whatever the lag.
    """
    row = conn.execute(
        "SELECT (SELECT coalesce(max(position), 0) FROM events),"
        " coalesce((SELECT extract(epoch FROM now() - record_time)::float8 FROM events WHERE position > %s"
        " ORDER BY position LIMIT 1), 0), pg_notification_queue_usage()",
        [after],
    ).fetchone()
    assert row is not None
    return Sample(int(row[0]), float(row[1]), float(row[2]))


def listen(conn: Conn) -> None:
    """Subscribes an autocommit connection to the event store's wake-up channel."""
    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(EVENTS_CHANNEL)))
