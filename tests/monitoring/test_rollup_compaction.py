"""Old rollup cells compacted: to 1-minute cells after a day, 1-hour cells after a week, with
every total unchanged, a second run changing nothing, late events still counted, and two
workers compacting at once each range once."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum

from monitoring import simulator
from monitoring.models import Rollup, RollupCompaction
from monitoring.selectors.signals import observed, series
from monitoring.services.compaction import rollups_compact
from monitoring.services.ingest import events_ingest
from monitoring.services.monitors import monitor_create
from tests.concurrency import at_once
from tests.factories import AISystemFactory

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
# Ten minutes of traffic at each age: nine days (hour cells), three days (minute cells),
# one hour (left as ingested).
AGES = (timedelta(days=9), timedelta(days=3), timedelta(hours=1))
VERSIONS = {"model": "3", "prompt": "1"}


def _feed(system, start: datetime, seconds: int = 600, rate: float = 2.0, seed: int = 1):
    sim = simulator.Simulator("refund-classifier", seed=seed, versions=VERSIONS)
    count, at = int(seconds * rate), start.timestamp()
    while count:
        n = min(count, 500)
        events_ingest(system=system, payload={"events": sim.events(at, n, rate)})
        at, count = at + n / rate, count - n


def _totals(system) -> Counter:
    """Events per signal, key and served versions, over all time."""
    return Counter(
        {
            (signal, key, served): n
            for signal, key, served, n in Rollup.objects.filter(system=system)
            .values_list("signal", "key", "served")
            .annotate(total=Sum("n"))
            .values_list("signal", "key", "served", "total")
        }
    )


def _cells(system) -> list[tuple]:
    return sorted(
        Rollup.objects.filter(system=system).values_list(
            "bucket", "signal", "key", "served", "n", "width"
        )
    )


@pytest.fixture
def history(owner):
    system = AISystemFactory(slug="refunds", owner=owner)
    for seed, age in enumerate(AGES, 1):
        _feed(system, NOW - age + timedelta(seconds=7), seed=seed)
    return system


@pytest.mark.django_db
def test_compaction_keeps_every_total_and_widens_old_cells(history):
    before, cells = _totals(history), Rollup.objects.filter(system=history).count()

    rollups_compact(now=NOW)

    assert _totals(history) == before
    assert Rollup.objects.filter(system=history).count() < cells / 2
    for age, width in zip(AGES, (3600, 60, 0), strict=True):
        start = NOW - age
        rows = Rollup.objects.filter(
            system=history,
            bucket__gte=start - timedelta(hours=1),
            bucket__lt=start + timedelta(hours=1),
        )
        assert set(rows.values_list("width", flat=True)) == {width}
        if width:
            assert all(b.timestamp() % width == 0 for b in rows.values_list("bucket", flat=True))


@pytest.mark.django_db
def test_compacting_again_changes_nothing(history):
    rollups_compact(now=NOW)
    once = _cells(history)

    rollups_compact(now=NOW)
    rollups_compact(now=NOW + timedelta(minutes=5))

    assert _cells(history) == once


@pytest.mark.django_db
def test_late_events_for_compacted_buckets_still_count(history):
    rollups_compact(now=NOW)
    compacted = _totals(history)
    # The same late traffic to a system of its own, never compacted: what it adds.
    alone = AISystemFactory(slug="alone")
    late = NOW - timedelta(days=3) + timedelta(minutes=5)  # on a minute's start, then off it
    _feed(alone, late, seconds=30, seed=9)

    _feed(history, late, seconds=30, seed=9)

    assert _totals(history) == compacted + _totals(alone)
    at_start = Rollup.objects.get(system=history, signal="events", bucket=late)
    assert at_start.width == 60  # the late event at a minute's start joined its minute's cell
    rollups_compact(now=NOW + timedelta(minutes=5))
    assert _totals(history) == compacted + _totals(alone)


@pytest.mark.django_db
def test_reads_over_aligned_windows_are_the_same_after_compaction(history, owner):
    monitor = monitor_create(
        actor=owner, system=history, name="Fraud share", kind="category_share", target="fraud"
    )
    shape = monitor_create(
        actor=owner, system=history, name="Score", kind="numeric", target="score"
    )
    since, until = NOW - timedelta(days=10), NOW
    before = [observed(m, since, until) for m in (monitor, shape)]
    old = NOW - AGES[0] - timedelta(hours=1)
    chart = series(monitor, old, old + timedelta(hours=3), step=3600, now=NOW)

    rollups_compact(now=NOW)

    assert [observed(m, since, until) for m in (monitor, shape)] == before
    assert series(monitor, old, old + timedelta(hours=3), step=3600, now=NOW) == chart
    # Asked per minute over hour cells, the chart is per hour: no spike among empty minutes.
    hourly = series(monitor, old, old + timedelta(hours=3), step=60, now=NOW)
    assert [p["at"] for p in hourly] == [old + timedelta(hours=h) for h in range(3)]
    assert [p["n"] for p in hourly] == [p["n"] for p in chart]


@pytest.mark.django_db(transaction=True)
def test_two_workers_compacting_at_once_compact_each_range_once():
    system = AISystemFactory(slug="refunds")
    for seed, age in enumerate(AGES, 1):
        _feed(system, NOW - age + timedelta(seconds=7), seed=seed)
    before = _totals(system)
    written = at_once(lambda: rollups_compact(now=NOW))

    assert _totals(system) == before
    assert len(written) == 2
    assert dict(RollupCompaction.objects.values_list("width", "through")) == {
        60: NOW - timedelta(days=1),
        3600: NOW - timedelta(days=7),
    }
    # Each day of hour cells written by one worker only: together, one write per cell.
    hours = Rollup.objects.filter(system=system, width=3600).count()
    assert sum(w[3600] for w in written) == hours
    old = Rollup.objects.filter(system=system, bucket__lt=NOW - timedelta(days=1))
    assert not old.filter(width=0).exists()
