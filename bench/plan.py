"""How big and how long each measurement is: the full run, and the quick one CI runs so the bench never rots."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """Sizes and durations of one run."""

    quick: bool
    warmup: float  # seconds of load before a window opens (connections, JIT-free but cache-warm)
    duration: float  # seconds of every measured window
    concurrency: tuple[int, ...]  # clients for appends and the limits they are compared with
    client_processes: int  # load comes from this many processes, never from the servers' own
    steady_rate: float  # commands/s for the steady propagation run
    full_load_clients: int  # closed-loop clients for the propagation run "at full load"
    probe_every_full: int  # at full load, every n-th command also waits for GetUser (read-your-writes)
    store_users: int  # users in the seeded event store (projector, queries, raw read rate)
    edits_per_user: int  # events per user beyond UserAdded: events = users * (1 + edits)
    query_clients: int
    fanout_levels: tuple[int, ...]
    fanout_rate: float  # events/s while the subscribers listen
    fanout_batch: int  # max_batch_size of the batched fan-out level (1,000 subscribers)
    peer_projection_events: int  # the peer projects one event per transaction: ~700/s, so fewer
    scale_events: int  # events written with COPY for the store-growth measurement (--scale only)
    scale: bool = False  # grow the store (`--scale`, `make bench SCALE=1`): minutes of COPY and gigabytes

    @property
    def store_events(self) -> int:
        return self.store_users * (1 + self.edits_per_user)


FULL = Plan(
    quick=False,
    warmup=3.0,
    duration=15.0,
    concurrency=(1, 16, 64),
    client_processes=4,
    steady_rate=200.0,
    full_load_clients=16,
    probe_every_full=10,
    store_users=100_000,
    edits_per_user=1,
    query_clients=16,
    fanout_levels=(100, 500, 1000),
    fanout_rate=100.0,
    fanout_batch=100,
    peer_projection_events=50_000,
    scale_events=10_000_000,
)

QUICK = Plan(
    quick=True,
    warmup=1.0,
    duration=2.5,
    concurrency=(1, 16, 64),
    client_processes=4,
    steady_rate=200.0,
    full_load_clients=16,
    probe_every_full=10,
    store_users=10_000,
    edits_per_user=1,
    query_clients=16,
    fanout_levels=(100, 500, 1000),
    fanout_rate=100.0,
    fanout_batch=100,
    peer_projection_events=2_000,
    scale_events=1_000_000,
)
