"""The GetUser scale-out curve: its configurations, the series the results JSON keeps, and the note on its ceiling."""

from __future__ import annotations

import json

from bench import curve
from bench.curve import Measured, Point


def _curve() -> list[Measured]:
    base = {"clients": 60.0, "postgres": 30.0, "cores": 2.0}
    return [
        Measured(Point(1, 0), 1000.0, 9.0, 14.0, base | {"query_service": 97.0, "machine": 185.0}),
        Measured(
            Point(2, 0),
            1300.0,
            7.0,
            12.0,
            base | {"query worker 0": 65.0, "query worker 1": 60.0, "clients": 45.0, "machine": 195.0},
        ),
        Measured(
            Point(1, 1), 950.0, 9.5, 15.0, base | {"query_service": 96.0, "postgres replica": 25.0, "machine": 180.0}
        ),
        Measured(
            Point(2, 1), 1200.0, 8.0, 13.0, base | {"query worker 0": 60.0, "postgres replica": 30.0, "machine": 199.0}
        ),
    ]


def test_the_curve_starts_at_one_worker_on_the_primary_and_measures_each_configuration_once() -> None:
    assert curve.CONFIGURATIONS[0] == Point(1, 0)
    assert len(set(curve.CONFIGURATIONS)) == 4
    assert {(p.workers, p.replicas) for p in curve.CONFIGURATIONS} == {(1, 0), (2, 0), (1, 1), (2, 1)}
    # The replicated points come last: one replica is started once, for both.
    assert [p.replicas for p in curve.CONFIGURATIONS] == sorted(p.replicas for p in curve.CONFIGURATIONS)


def test_a_point_is_named_by_its_workers_and_where_they_read() -> None:
    assert Point(1, 0).label == "1 query worker on the primary"
    assert Point(2, 1).label == "2 query workers through 1 replica"


def test_the_series_gives_each_point_its_ratio_to_the_first_and_its_cpu_by_role() -> None:
    points = curve.series(_curve())
    json.dumps(points, allow_nan=False)
    assert [p["ratio"] for p in points] == [1.0, 1.3, 0.95, 1.2]
    two = points[1]
    assert (two["workers"], two["replicas"], two["rpc_per_s"], two["p99_ms"]) == (2, 0, 1300.0, 12.0)
    assert two["cpu_percent_of_one_core"]["query service"] == 125.0  # both workers
    assert points[3]["cpu_percent_of_one_core"]["postgres replica"] == 30.0


def test_a_points_figure_shows_its_cpu_by_role_and_the_replica_only_when_there_is_one() -> None:
    measured = _curve()
    assert curve.cpu_text(measured[1].profile) == (
        "CPU % of one core: query service 125, clients 45, postgres 30; machine 195 of 200"
    )
    assert "postgres replica 25" in curve.cpu_text(measured[2].profile)
    assert curve.cpu_text({}) == "no profile"


def test_the_note_names_the_saturated_cores_as_the_ceiling_and_what_a_replica_on_the_same_machine_adds() -> None:
    note = curve.ceiling_note(_curve())
    assert "2 query workers give 1.30x" in note
    assert "One worker used 97% of one core (its event loop's ceiling" in note
    assert "already busy 185% of 200%" in note
    assert "a second worker could add at most 8%" in note
    assert "The cores are the ceiling" in note
    assert "the workers' CPU per call stays (0.97 ms with one, 0.96 ms with two)" in note
    assert "p99 rose" not in note
    assert "With two, the machine was busy 195%: the workers 125% (split 65%/60%), the clients" in note
    assert "0.95x with 1 worker (1.00x on the primary), 1.20x with 2 workers (1.30x on the primary)" in note
    assert "the same within a window's noise (about 10% between runs)" in note
    assert "a replica adds a server, not cores" in note


def test_the_note_does_not_blame_the_cores_when_they_were_not_busy_and_says_when_the_tail_grew() -> None:
    points = _curve()
    points[1].profile["machine"] = 120.0
    points[1].p99_ms = 60.0
    note = curve.ceiling_note(points)
    assert "The cores were not all busy" in note
    assert "The cores are the ceiling" not in note
    assert "p99 rose from 14 to 60 ms" in note
    points[1].profile["query worker 1"] = 20.0
    points[1].rate = 1500.0
    note = curve.ceiling_note(points)
    assert "(split 65%/20%: the kernel spreads connections by a hash of their addresses, not by load)" in note
    assert "within a window's noise" not in note  # 1.20x through the replica against 1.50x on the primary
    assert curve.ceiling_note([]).startswith("GetUser scale-out: no reference point")
