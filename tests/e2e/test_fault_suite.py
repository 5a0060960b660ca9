"""The fault suite, short: two of each service under load through every kind of fault, and no invariant broken."""

from __future__ import annotations

import pytest

from devtools.pgcluster import Cluster
from tests.chaos.nemesis import ALL_FAULTS
from tests.chaos.report import summary_line
from tests.chaos.run import Options, run

ROUNDS = 2  # every kind of fault twice: 22 faults


@pytest.mark.slow
def test_no_acknowledged_write_is_lost_or_doubled_and_every_reader_sees_each_event_once_under_faults(
    own_cluster: Cluster,
) -> None:
    # Its own cluster: the nemesis restarts and freezes it, which the shared one must not suffer.
    own_cluster.start()
    options = Options(seed=11, faults=ROUNDS * len(ALL_FAULTS), seconds=150, writers=3)
    outcome = run(options, own_cluster, own_cluster.datadir.parent)
    print(summary_line(outcome))
    assert outcome.verdict.violations == [], "\n".join(outcome.verdict.violations[:20])
    assert outcome.fault_errors == []
    assert sorted(f.kind for f in outcome.faults) == sorted(ALL_FAULTS * ROUNDS)
    records = outcome.records
    assert records.acks and records.rejections and records.reads  # every kind of answer was checked
    assert outcome.verdict.events_checked == len({a.position for a in records.acks})
    # A stopping or crashing service answers UNAVAILABLE, never CANCELLED, UNKNOWN or INTERNAL,
    # and a cut stream ends with UNAVAILABLE: what clients that retry only UNAVAILABLE rely on.
    assert not {"CANCELLED", "UNKNOWN", "INTERNAL"} & set(records.retries), records.retries
    assert set(outcome.subscriber_cuts) <= {"UNAVAILABLE"}, outcome.subscriber_cuts
