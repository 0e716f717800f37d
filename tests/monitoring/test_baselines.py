"""The hourly baseline refresh moves the counted window on (what came in added, the hour
that left taken off) and ends with the counts a fresh count makes, compaction in between
or not; a pinned or new baseline is counted whole."""

from datetime import UTC, datetime, timedelta

import pytest

from monitoring import simulator
from monitoring.models import Monitor
from monitoring.services.baselines import baselines_refresh
from monitoring.services.compaction import rollups_compact
from monitoring.services.ingest import events_ingest
from monitoring.services.monitors import monitor_create
from tests.factories import AISystemFactory

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
# Before the window, in its first hour (which leaves it an hour later), three days old, recent.
AGES = (
    timedelta(days=7, hours=2),
    timedelta(days=7) - timedelta(minutes=30),
    timedelta(days=3),
    timedelta(hours=2),
)


def _feed(system, start: datetime, seed: int, seconds: int = 600, rate: float = 1.0):
    sim = simulator.Simulator("refund-classifier", seed=seed, versions={"model": "3"})
    events = sim.events(start.timestamp(), int(seconds * rate), rate)
    events_ingest(system=system, payload={"events": events})


@pytest.fixture
def watched(owner):
    system = AISystemFactory(slug="refunds", owner=owner)
    for seed, age in enumerate(AGES, 1):
        _feed(system, NOW - age, seed)
    fields = [("category_share", "fraud"), ("numeric", "score"), ("numeric", "length")]
    return [
        monitor_create(actor=owner, system=system, name=kind, kind=kind, target=target)
        for kind, target in fields
    ]


def _fresh(monitors, now) -> list[dict]:
    again = list(Monitor.objects.filter(pk__in=[m.pk for m in monitors]).order_by("pk"))
    for monitor in again:
        monitor.baseline, monitor.baseline_at = {}, None
    baselines_refresh(again, now)
    return [{"n": m.baseline["n"], "counts": m.baseline["counts"]} for m in again]


@pytest.mark.parametrize("compacted", [False, True])
def test_an_hour_later_the_moved_baseline_equals_a_fresh_count(watched, compacted):
    baselines_refresh(watched, NOW)
    assert all(m.baseline["whole"] for m in watched)
    before = [m.baseline["n"] for m in watched]
    _feed(watched[0].system, NOW + timedelta(minutes=10), seed=9, seconds=1200)
    later = NOW + timedelta(hours=1, minutes=5)
    if compacted:
        rollups_compact(now=later)

    baselines_refresh(watched, later)

    assert [{"n": m.baseline["n"], "counts": m.baseline["counts"]} for m in watched] == _fresh(
        watched, later
    )
    # It moved on (the first hour's traffic left, the new traffic came) without a recount.
    assert all(m.baseline["counted_at"] == NOW.isoformat() for m in watched)
    assert [m.baseline["n"] for m in watched] != before


def test_a_day_after_its_count_a_baseline_is_counted_whole_again(watched):
    baselines_refresh(watched, NOW)
    later = NOW + timedelta(days=1)

    baselines_refresh(watched, later)

    assert all(m.baseline["counted_at"] == later.isoformat() for m in watched)
