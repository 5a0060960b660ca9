"""The shared random-bytes buffer: every byte handed out once, in the order the OS gave them."""

from __future__ import annotations

import itertools

import pytest

from eventkit import randomness


def test_takes_hand_out_the_os_bytes_in_order_none_twice_refilling_when_short(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = itertools.count()
    reads: list[int] = []

    def numbered(count: int) -> bytes:  # each byte says where it came from in the OS's stream
        reads.append(count)
        return bytes(next(counter) % 256 for _ in range(count))

    monkeypatch.setattr(randomness.os, "urandom", numbered)
    source = randomness.RandomBytes(chunk=32)
    taken = [source.take(12) for _ in range(5)]  # 60 bytes: two per chunk, the third needs a refill
    big = source.take(40)  # more than a chunk: read whole

    assert [len(t) for t in taken] == [12] * 5 and len(big) == 40
    # Bytes 24-31 of each chunk are left when 12 more do not fit; none is handed out twice.
    assert b"".join(taken) == bytes([*range(0, 24), *range(32, 56), *range(64, 76)])
    assert big == bytes(range(96, 136))
    assert reads == [32, 32, 32, 40]


def test_random_bytes_differ_from_call_to_call() -> None:
    made = {randomness.random_bytes(16) for _ in range(1000)}
    assert len(made) == 1000
