"""Raw events are kept for their system's retention and no longer: on PostgreSQL a day table
past it is dropped whole, day tables are made ahead, and nothing within the window is lost;
a resent event is stored once whichever day table it falls in."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from core.models import AuditEntry
from groundtruth.models import ReviewItem
from monitoring import partitions
from monitoring.models import Event
from monitoring.services import retention
from monitoring.services.ingest import IngestError, events_ingest
from tests.factories import AISystemFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def _event(client_id: str, ts: datetime) -> dict:
    return {"id": client_id, "ts": ts.isoformat(), "output": {"label": "approve"}}


def _day_tables(retention_days: int) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relname LIKE %s AND relkind = 'r'",
            [f"{partitions.retention_table(retention_days)}\\_%"],
        )
        return {row[0] for row in cursor.fetchall()}


def _send_at(system, sent_at: datetime, *events: dict) -> dict:
    """Ingest as the server would have at `sent_at` (so older days can be filled)."""
    return events_ingest(system=system, payload={"events": list(events)}, now=sent_at)


@pytest.fixture
def system():
    return AISystemFactory(slug="refund-classifier", retention_days=3)


def test_a_day_past_retention_is_dropped_whole_and_days_ahead_are_made(system):
    for days_ago in range(6):
        sent_at = NOW - timedelta(days=days_ago)
        _send_at(system, sent_at, *(_event(f"d{days_ago}-{n}", sent_at) for n in range(5)))
    review_of_dropped = ReviewItem.objects.create(
        system=system, event=Event.objects.get(client_id="d5-0"), probability=1.0
    )
    review_of_kept = ReviewItem.objects.create(
        system=system, event=Event.objects.get(client_id="d1-0"), probability=1.0
    )

    done = retention.events_retention_apply(now=NOW)

    # Retention 3 days: the oldest kept event is from 12:00 three days ago, so that day stays.
    dropped_days = {day for _, day in done["dropped"]}
    assert dropped_days == {TODAY - timedelta(days=5), TODAY - timedelta(days=4)}
    tables = _day_tables(3)
    assert partitions.day_table(3, TODAY - timedelta(days=4)) not in tables
    assert partitions.day_table(3, TODAY - timedelta(days=3)) in tables
    assert partitions.day_table(3, TODAY + timedelta(days=2)) in tables
    kept = set(Event.objects.filter(system=system).values_list("client_id", flat=True))
    assert kept == {f"d{days_ago}-{n}" for days_ago in range(4) for n in range(5)}
    assert not ReviewItem.objects.filter(pk=review_of_dropped.pk).exists()
    assert ReviewItem.objects.filter(pk=review_of_kept.pk).exists()
    drops = AuditEntry.objects.filter(verb="events.retention_drop", target_id=str(system.pk))
    assert sorted(entry.after["events"] for entry in drops) == [5, 5]


def test_applying_retention_again_changes_nothing(system):
    _send_at(system, NOW, _event("a", NOW))
    retention.events_retention_apply(now=NOW)
    tables = _day_tables(3)
    again = retention.events_retention_apply(now=NOW)
    assert again == {"created": 0, "dropped": [], "deleted": 0}
    assert _day_tables(3) == tables
    assert Event.objects.count() == 1


def test_an_event_sent_twice_across_a_day_boundary_is_stored_once(system):
    last_moment = datetime(2026, 12, 3, 23, 59, 59, 999_999, tzinfo=UTC)
    first = _send_at(system, NOW, _event("late", last_moment))
    retention.events_retention_apply(now=NOW)  # tomorrow's tables made in between
    midnight = datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
    again = _send_at(system, NOW, _event("late", last_moment), _event("next", midnight))
    assert first == {"accepted": 1, "duplicates": 0}
    assert again == {"accepted": 1, "duplicates": 1}
    assert Event.objects.filter(system=system).count() == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM monitoring_event ORDER BY ts")
        assert [row[0] for row in cursor.fetchall()] == [
            partitions.day_table(3, last_moment.date()),
            partitions.day_table(3, midnight.date()),
        ]


def test_an_event_older_than_the_retention_is_refused_naming_it(system):
    too_old = NOW - timedelta(days=3, seconds=1)
    with pytest.raises(IngestError) as refused:
        _send_at(system, NOW, _event("ok", NOW), _event("old", too_old))
    assert refused.value.problems == [
        {"index": 1, "field": "ts", "message": "Older than this system keeps events (3 days)."}
    ]
    assert Event.objects.count() == 0


def test_systems_with_different_retentions_keep_their_own_days(system):
    long_kept = AISystemFactory(slug="support-drafter", retention_days=30)
    five_days_ago = NOW - timedelta(days=5)
    _send_at(system, five_days_ago, _event("short", five_days_ago))
    _send_at(long_kept, five_days_ago, _event("long", five_days_ago))
    retention.events_retention_apply(now=NOW)
    assert list(Event.objects.values_list("client_id", flat=True)) == ["long"]


def test_the_demo_deletes_the_same_days_it_would_drop(system):
    for days_ago in range(6):
        sent_at = NOW - timedelta(days=days_ago)
        _send_at(system, sent_at, _event(f"d{days_ago}", sent_at))
    deleted = retention._expired_delete(NOW)
    assert deleted == 2
    assert sorted(Event.objects.values_list("client_id", flat=True)) == ["d0", "d1", "d2", "d3"]


def test_the_same_id_more_than_a_day_from_the_stored_one_is_another_event(system):
    _send_at(system, NOW, _event("daily-report", NOW - timedelta(days=2)))
    within = _send_at(system, NOW, _event("daily-report", NOW - timedelta(hours=30)))
    apart = _send_at(system, NOW, _event("daily-report", NOW))
    assert within == {"accepted": 0, "duplicates": 1}
    assert apart == {"accepted": 1, "duplicates": 0}


@pytest.mark.django_db(transaction=True)
def test_a_day_table_is_analysed_once_it_receives_its_first_events():
    system = AISystemFactory(slug="refund-classifier", retention_days=3)
    recent = datetime.now(UTC) - timedelta(minutes=5)
    table = partitions.day_table(3, partitions.day_of(recent))
    events_ingest(system=system, payload={"events": [_event(f"e-{n}", recent) for n in range(40)]})
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
        assert cursor.fetchone()[0] == 40
