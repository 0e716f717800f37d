"""Raw events kept for each system's retention, and no longer (docs/ARCHITECTURE.md,
"Events"). On PostgreSQL day tables are made ahead and dropped whole once past their
retention (`monitoring.partitions`); on the demo's SQLite the same days are deleted.

Rollups are not touched: charts and baselines outlive the raw events they counted."""

from datetime import date, datetime

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from core.services import audit_record
from monitoring import partitions
from monitoring.models import Event, Rollup
from monitoring.signals import events_expiring
from systems.models import AISystem

# Serialises the making of day tables: two batches that both find one missing must not both
# create it (the second would fail on the name).
PARTITIONS_LOCK = 7_301_001


def day_tables_ensure(cursor, retention_days: int, days: set[date]) -> set[str]:
    """Make the day tables these days of this retention need, in the caller's transaction.
    Cheap when they exist (one catalogue lookup), which the periodic work makes the rule.

    Answers those of them without statistics of their rows yet (made now, made ahead, or
    analysed while empty): see `day_tables_analyze`."""
    names = {partitions.day_table(retention_days, day): day for day in days}
    cursor.execute("SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s)", [list(names)])
    found = dict(cursor.fetchall())
    unanalysed = {name for name in names if found.get(name, 0) <= 0}
    missing = set(names) - set(found)
    if not missing:
        return unanalysed
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITIONS_LOCK])
    for name in sorted(missing):
        for statement in partitions.day_table_ddl(retention_days, names[name]):
            cursor.execute(statement)
    return unanalysed


def day_tables_analyze(tables: set[str]) -> None:
    """ANALYZE day tables that have just received their first rows. Until then the planner
    takes them for empty, and would read every event of a system in them where one probe of
    the unique key is meant (ingestion's look-up of stored ids); autovacuum's own analysis
    comes only after a minute or more."""
    with connection.cursor() as cursor:
        for table in sorted(tables):
            cursor.execute(f"ANALYZE {table}")


def _retentions() -> set[int]:
    """Every retention in use: the systems' own and the default new systems get."""
    default = AISystem._meta.get_field("retention_days").default
    return set(AISystem.objects.values_list("retention_days", flat=True)) | {default}


def events_retention_apply(*, now: datetime | None = None) -> dict:
    """Make the day tables ahead and drop (or, on SQLite, delete) what is past retention.
    Answers `{"created": tables made, "dropped": [(table, day)], "deleted": events}`."""
    now = now or timezone.now()
    if connection.vendor != "postgresql":
        return {"created": 0, "dropped": [], "deleted": _expired_delete(now)}
    created, dropped = 0, []
    for retention_days in sorted(_retentions()):
        created += _ahead(retention_days, now)
        for table, day in partitions.expired(_day_tables(retention_days), now, retention_days):
            _drop(table, day, retention_days)
            dropped.append((table, day))
    return {"created": created, "dropped": dropped, "deleted": 0}


def _day_tables(retention_days: int) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = inhrelid "
            "JOIN pg_class parent ON parent.oid = inhparent WHERE parent.relname = %s",
            [partitions.retention_table(retention_days)],
        )
        return [row[0] for row in cursor.fetchall()]


def _ahead(retention_days: int, now: datetime) -> int:
    existing = set(_day_tables(retention_days))
    wanted = {
        day
        for day in partitions.days_wanted(now, retention_days)
        if partitions.day_table(retention_days, day) not in existing
    }
    if wanted:
        with transaction.atomic(), connection.cursor() as cursor:
            day_tables_ensure(cursor, retention_days, wanted)
    return len(wanted)


def _drop(table: str, day: date, retention_days: int) -> None:
    """Detach and drop one day table, after what refers to its events (review items) is
    gone; each system whose events it held gets an audit entry with their count."""
    start, end = partitions.day_bounds(day)
    with transaction.atomic():
        events_expiring.send(sender=Event, table=table)
        counted = (
            Rollup.objects.filter(signal="events", bucket__gte=start, bucket__lt=end)
            .values("system")
            .annotate(events=Sum("n"))
        )
        systems = AISystem.objects.in_bulk([row["system"] for row in counted])
        for row in counted:
            system = systems.get(row["system"])
            if system is not None:
                audit_record(
                    actor=None,
                    verb="events.retention_drop",
                    target=system,
                    after={"day": day.isoformat(), "events": row["events"]},
                    reason=f"Raw events older than {retention_days} days.",
                )
        with connection.cursor() as cursor:
            parent = partitions.retention_table(retention_days)
            # Deferred foreign-key checks of rows written earlier in this transaction would
            # keep the table from being dropped: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"ALTER TABLE {parent} DETACH PARTITION {table}")
            cursor.execute(f"DROP TABLE {table}")


def _expired_delete(now: datetime) -> int:
    """SQLite: the same days deleted, system by system (the demo holds little)."""
    deleted = 0
    for system in AISystem.objects.all():
        oldest = partitions.oldest_kept(now, system.retention_days)
        day_start, _ = partitions.day_bounds(partitions.day_of(oldest))
        with transaction.atomic():
            _, by_model = Event.objects.filter(system=system, ts__lt=day_start).delete()
            events = by_model.get(Event._meta.label, 0)
            if events:
                audit_record(
                    actor=None,
                    verb="events.retention_drop",
                    target=system,
                    after={"before": day_start.date().isoformat(), "events": events},
                    reason=f"Raw events older than {system.retention_days} days.",
                )
        deleted += events
    return deleted
