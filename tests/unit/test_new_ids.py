"""New user ids are RFC 9562 version-7 UUIDs: valid, unique, and in the order they were made."""

from __future__ import annotations

import time
import uuid

from eventkit.ids import new_id, parse_id


def test_a_new_id_is_a_version_7_uuid_whose_first_48_bits_are_the_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    made = uuid.UUID(new_id())
    after = time.time_ns() // 1_000_000
    assert (made.version, made.variant) == (7, uuid.RFC_4122)
    assert before <= made.int >> 80 <= after
    assert parse_id(str(made)) == str(made)


def test_ids_made_in_later_milliseconds_sort_after_earlier_ones_and_none_repeats() -> None:
    made = []
    deadline = time.monotonic() + 10
    while len({uuid.UUID(i).int >> 80 for i in made}) < 3:  # ids from at least three milliseconds
        made.append(new_id())
        assert time.monotonic() < deadline, "the clock did not move"
    assert len(set(made)) == len(made)
    stamps = [uuid.UUID(i).int >> 80 for i in made]
    assert stamps == sorted(stamps)
    first_of_each = [made[stamps.index(stamp)] for stamp in sorted(set(stamps))]
    assert first_of_each == sorted(first_of_each)  # as text too, which is how PostgreSQL's uuid sorts
