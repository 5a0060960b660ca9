"""Builds the API's messages from read-model rows."""

from __future__ import annotations

from eventkit.codec import TYPE_IDS, USER_DELETED
from eventkit.messages import user_message
from eventkit.rows import LogRow
from eventkit.timestamps import to_timestamp
from users.v1 import query_service_pb2 as pb
from users.v1 import resources_pb2

DELETED = TYPE_IDS[USER_DELETED]


# A read-model row becomes the same User message the command side returns.
user = user_message


def event(row: LogRow) -> pb.StreamEventsResponse:
    """Returns the stream message that carries one event-log row."""
    return pb.StreamEventsResponse(
        event=resources_pb2.Event(
            position=row.position,
            type=row.type,  # type: ignore[arg-type]  # the column holds EventType numbers
            user_id=row.user_id,
            version=row.version,
            # The API promises an empty name for deletions, whatever the log keeps (the projector
            # stores the user's last name there).
            name="" if row.type == DELETED or row.forgotten else row.name,
            record_time=to_timestamp(row.record_time),
            correlation_id=row.correlation_id or "",
            forgotten=row.forgotten,
        )
    )


def caught_up(position: int) -> pb.StreamEventsResponse:
    """Returns the marker that the replay has reached the head."""
    return pb.StreamEventsResponse(caught_up=pb.CaughtUp(position=position))


def heartbeat(position: int) -> pb.StreamEventsResponse:
    """Returns a heartbeat: every matching event up to `position` has been sent."""
    return pb.StreamEventsResponse(heartbeat=pb.Heartbeat(position=position))
