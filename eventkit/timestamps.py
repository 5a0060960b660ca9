"""Converts between datetimes and protobuf Timestamps."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp


def to_timestamp(moment: datetime) -> Timestamp:
    """Returns `moment` as a protobuf Timestamp."""
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp
