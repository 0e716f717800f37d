"""Hour sums: an old hour's cells summed once, kept exact when late events and late scores
come for it, and read by a baseline counted from scratch, which then counts what a walk
over every cell counts."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum

from monitoring import simulator
from monitoring.models import Monitor, Rollup, RollupHour
from monitoring.selectors.signals import signal_counts, window_counts
from monitoring.services.baselines import baselines_refresh
from monitoring.services.hour_sums import hours_sum
from monitoring.services.ingest import events_ingest, scores_add
from monitoring.services.monitors import monitor_create
from tests.concurrency import at_once
from tests.factories import AISystemFactory

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
SIGNALS = {"events", "label", "length", "score", "action", "scores.faithfulness"}


def _feed(system, start: datetime, seconds: int = 600, rate: float = 1.0, seed: int = 1):
    sim = simulator.Simulator("refund-classifier", seed=seed, versions={"model": "3"})
    events = sim.events(start.timestamp(), int(seconds * rate), rate)
    events_ingest(system=system, payload={"events": events})
    return events


def _hour_totals(system) -> Counter:
    """Per hour, signal and key: the hour sums."""
    return Counter(
        {
            (hour, signal, key): n
            for hour, signal, key, n in RollupHour.objects.filter(system=system).values_list(
                "hour", "signal", "key", "n"
            )
        }
    )


def _cell_totals(system, until: datetime) -> Counter:
    """Per hour, signal and key: the cells before `until`, summed by their hour."""
    totals: Counter = Counter()
    cells = Rollup.objects.filter(system=system, bucket__lt=until)
    for bucket, signal, key, n in cells.values_list("bucket", "signal", "key").annotate(
        total=Sum("n")
    ):
        totals[bucket.replace(minute=0, second=0), signal, key] += n
    return totals


@pytest.fixture
def system(owner):
    system = AISystemFactory(slug="refunds", owner=owner)
    for seed, age in enumerate((timedelta(days=6), timedelta(days=2), timedelta(hours=5)), 1):
        _feed(system, NOW - age, seed)
    return system


@pytest.mark.django_db
def test_old_hours_are_summed_once_with_the_totals_of_their_cells(system):
    assert hours_sum(now=NOW) > 0
    summed = _hour_totals(system)

    assert hours_sum(now=NOW) == 0
    assert summed == _cell_totals(system, NOW - timedelta(hours=1))
    assert _hour_totals(system) == summed


@pytest.mark.django_db
def test_a_late_event_and_a_late_score_for_a_summed_hour_are_added_to_its_sum(system):
    hours_sum(now=NOW)
    late = _feed(system, NOW - timedelta(days=2, minutes=-3), seed=7, seconds=60)
    scores_add(system=system, scores={late[0]["id"]: {"faithfulness": 0.4}})

    assert _hour_totals(system) == _cell_totals(system, NOW - timedelta(hours=1))


@pytest.mark.django_db
def test_a_week_counted_from_the_hour_sums_equals_one_counted_from_every_cell(system):
    hours_sum(now=NOW)
    _feed(system, NOW - timedelta(days=2, minutes=-20), seed=8, seconds=60)  # late
    since, until = NOW - timedelta(days=7, minutes=30), NOW + timedelta(minutes=1)

    assert window_counts({system.pk}, SIGNALS, since, until) == signal_counts(
        {system.pk}, SIGNALS, since, until
    )


@pytest.mark.django_db
def test_a_fresh_baseline_from_the_hour_sums_is_the_baseline_of_the_cells(system, owner):
    fields = [("category_share", "fraud"), ("numeric", "score"), ("numeric", "length")]
    watched = [
        monitor_create(actor=owner, system=system, name=kind, kind=kind, target=target)
        for kind, target in fields
    ]
    baselines_refresh(watched, NOW)
    from_cells = [(m.baseline["n"], m.baseline["counts"]) for m in watched]
    hours_sum(now=NOW)
    again = list(Monitor.objects.filter(pk__in=[m.pk for m in watched]).order_by("pk"))
    for monitor in again:
        monitor.baseline, monitor.baseline_at = {}, None

    baselines_refresh(again, NOW)

    assert [(m.baseline["n"], m.baseline["counts"]) for m in again] == from_cells


@pytest.mark.django_db(transaction=True)
def test_two_workers_summing_at_once_sum_each_hour_once(owner):
    system = AISystemFactory(slug="refunds", owner=owner)
    _feed(system, NOW - timedelta(days=1), seed=3)

    summed = at_once(lambda: hours_sum(now=NOW))

    assert sum(summed) == 23
    assert _hour_totals(system) == _cell_totals(system, NOW - timedelta(hours=1))
