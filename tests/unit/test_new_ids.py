"""New user ids are RFC 9562 version-7 UUIDs: valid, unique, and in the order they were made."""

from __future__ import annotations

import os
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


def test_a_forked_child_makes_ids_from_bytes_of_its_own() -> None:
    new_id()  # the parent now holds unused random bytes
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(child, 0)
    made_by_child = os.read(read, 64).decode()
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert uuid.UUID(made_by_child).int & (1 << 74) - 1 != uuid.UUID(new_id()).int & (1 << 74) - 1
