"""Waiting on a condition with a deadline: the one helper in devtools, under the name the tests import."""

from __future__ import annotations

from devtools.waiting import wait_until

__all__ = ["wait_until"]
