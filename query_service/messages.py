"""Builds the API's messages from read-model rows."""

from __future__ import annotations

from eventkit.codec import TYPE_IDS, USER_DELETED
from eventkit.messages import user_message
from eventkit.rows import LogRow
from eventkit.timestamps import to_timestamp
from users.v1 import query_service_pb2 as pb
from users.v1 import resources_pb2

DELETED = TYPE_IDS[USER_DELETED]
# The key of StreamEventsResponse.batch: field number 4, length-delimited (wire type 2).
_BATCH_TAG = bytes([pb.StreamEventsResponse.BATCH_FIELD_NUMBER << 3 | 2])


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


def encoded(row: LogRow) -> bytes:
    """Returns the wire bytes of the stream message that carries one event-log row."""
    return event(row).SerializeToString()


def batch(events: list[bytes]) -> bytes:
    """Returns the wire bytes of one `batch` message holding these `encoded` event messages.

    A StreamEventsResponse with its `event` set is the Event as field 1; an EventBatch is its events
    as field 1, repeated. So the batch's body is the event messages' bytes joined, unchanged: each
    event is encoded once per process, however many subscribers and batches carry it.
    """
    body = b"".join(events)
    return _BATCH_TAG + _varint(len(body)) + body


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def caught_up(position: int) -> pb.StreamEventsResponse:
    """Returns the marker that the replay has reached the head."""
    return pb.StreamEventsResponse(caught_up=pb.CaughtUp(position=position))


def heartbeat(position: int) -> pb.StreamEventsResponse:
    """Returns a heartbeat: every matching event up to `position` has been sent."""
    return pb.StreamEventsResponse(heartbeat=pb.Heartbeat(position=position))
