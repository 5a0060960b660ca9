"""The nemesis's schedule is reproducible from its seed and covers every kind; the report's arithmetic."""

from __future__ import annotations

from collections import Counter

from tests.chaos.nemesis import ALL_FAULTS, SERVICE_FAULTS, SOAK_FAULTS, schedule
from tests.chaos.report import per_second, slope


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    assert schedule(7, ALL_FAULTS, 50, (0.2, 1.0)) == schedule(7, ALL_FAULTS, 50, (0.2, 1.0))
    assert schedule(7, ALL_FAULTS, 50, (0.2, 1.0)) != schedule(8, ALL_FAULTS, 50, (0.2, 1.0))


def test_every_kind_comes_once_per_round_so_a_short_run_has_them_all() -> None:
    plan = schedule(3, ALL_FAULTS, 2 * len(ALL_FAULTS), (0.2, 1.0))
    assert Counter(f.kind for f in plan) == {kind: 2 for kind in ALL_FAULTS}
    assert {f.replica for f in plan} == {1, 2}
    assert all(1.0 <= f.seconds <= 4.0 and 0.2 <= f.pause <= 1.0 for f in plan)


def test_the_soak_never_kills_or_stops_a_service_for_good() -> None:
    assert not set(SOAK_FAULTS) & set(SERVICE_FAULTS)


def test_slope_is_the_least_squares_fit() -> None:
    assert slope([(0, 1), (1, 3), (2, 5)]) == 2
    assert slope([(0, 4), (1, 4), (2, 4)]) == 0
    assert abs(slope([(0, 0), (1, 1), (2, 1), (3, 2)]) - 0.6) < 1e-9
    assert slope([(1, 1)]) == 0


def test_per_second_counts_each_time_in_its_whole_second() -> None:
    assert per_second([0.1, 0.9, 2.5]) == [2, 0, 1]
    assert per_second([]) == [0]
