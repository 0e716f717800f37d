"""Concurrent senders whose batches need a day table that does not exist yet: each batch is
stored, none fails on a deadlock between making the table and reading the events table."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from monitoring import partitions
from monitoring.models import Event
from monitoring.services.ingest import events_ingest
from tests.concurrency import at_once
from tests.factories import AISystemFactory

pytestmark = pytest.mark.django_db(transaction=True)

DAYS_AGO = range(10, 16)


def test_two_senders_making_the_same_new_day_table_both_store_their_batch():
    system = AISystemFactory(slug="refund-classifier", retention_days=30)
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    with connection.cursor() as cursor:
        for days_ago in DAYS_AGO:
            day = (today - timedelta(days=days_ago)).date()
            cursor.execute(f"DROP TABLE IF EXISTS {partitions.day_table(30, day)}")
    sender = iter(range(1_000))
    for days_ago in DAYS_AGO:
        at = today - timedelta(days=days_ago)

        def send(at=at):
            n = next(sender)
            events = [
                {"id": f"s{n}-{i}", "ts": at.isoformat(), "output": {"label": "approve"}}
                for i in range(50)
            ]
            return events_ingest(system=system, payload={"events": events})

        answers = at_once(send, workers=2)

        assert answers == [{"accepted": 50, "duplicates": 0}] * 2
    assert Event.objects.filter(system=system).count() == 50 * 2 * len(DAYS_AGO)
