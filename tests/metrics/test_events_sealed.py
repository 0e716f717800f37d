"""failsafe_events_ingested_total reads old rollup buckets once: their sums are kept
(sealed) and only the buckets since are read at each scrape."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from metrics.selectors import READ_WHOLE_EVERY, SEALED_AFTER, SEALED_KEY, events_ingested
from monitoring.models import Rollup
from monitoring.services.ingest import events_ingest

# Committed batches, as in production: ingestion's COPY table is emptied at each commit.
pytestmark = pytest.mark.django_db(transaction=True)


def _batch(prefix: str, *ages: timedelta) -> dict:
    now = timezone.now()
    return {
        "events": [
            {"id": f"{prefix}-{n}", "ts": (now - age).isoformat(), "output": {"label": "ok"}}
            for n, age in enumerate(ages)
        ]
    }


def _in_rollups(system) -> int:
    return sum(Rollup.objects.filter(system=system, signal="events").values_list("n", flat=True))


def test_old_buckets_are_sealed_and_new_ones_still_counted(system):
    hour = timedelta(hours=1)
    events_ingest(system=system, payload=_batch("a", 72 * hour, 30 * hour, 5 * hour, hour))
    now = timezone.now()

    assert events_ingested(now)[system.pk] == _in_rollups(system) == 4
    seal, sealed, _ = cache.get(SEALED_KEY)
    assert seal <= now - SEALED_AFTER and sealed[system.pk] == 2

    # Hours on, the seal has moved past the 5-hour-old event: kept sums plus the buckets between.
    assert events_ingested(now + 3 * hour)[system.pk] == 4
    later_seal, later_sealed, _ = cache.get(SEALED_KEY)
    assert later_seal == seal + 3 * hour and later_sealed[system.pk] == 3


def test_an_event_arriving_after_its_bucket_was_sealed_counts_from_the_next_whole_read(system):
    events_ingest(system=system, payload=_batch("a", timedelta(hours=1)))
    now = timezone.now()
    assert events_ingested(now)[system.pk] == 1
    events_ingest(system=system, payload=_batch("late", timedelta(days=3)))

    assert events_ingested(now + timedelta(hours=1))[system.pk] == 1
    assert events_ingested(now + READ_WHOLE_EVERY)[system.pk] == _in_rollups(system) == 2
