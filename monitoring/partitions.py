"""How raw events are cut into tables on PostgreSQL, and which days a system keeps. Pure:
names, days and bounds; `monitoring.services.retention` runs the DDL.

`monitoring_event` is partitioned by list on `retention_days` (every system keeping events
30 days shares one list partition), and each of those by range on the event's time, one
table per UTC day. A day table whose every event is older than its retention is detached
and dropped whole: raw events are never deleted row by row, which at a billion events a
day would be the heaviest write Failsafe makes. An event's retention is the one its system
had when it was stored; lowering it applies to events stored from then on."""

from datetime import UTC, date, datetime, time, timedelta

PARENT = "monitoring_event"
# Day tables are created this many days ahead, so ingestion rarely has to make one.
AHEAD_DAYS = 2


def retention_table(retention_days: int) -> str:
    return f"{PARENT}_r{retention_days}"


def day_table(retention_days: int, day: date) -> str:
    return f"{retention_table(retention_days)}_{day:%Y%m%d}"


def day_of(ts: datetime) -> date:
    return ts.astimezone(UTC).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def oldest_kept(now: datetime, retention_days: int) -> datetime:
    """The oldest time of an event a system with this retention still keeps."""
    return now - timedelta(days=retention_days)


def first_kept_day(now: datetime, retention_days: int) -> date:
    """The oldest day table still needed: it holds events not yet past their retention."""
    return day_of(oldest_kept(now, retention_days))


def days_wanted(now: datetime, retention_days: int) -> list[date]:
    """Every day table a retention needs now: from the oldest kept day to a few days ahead."""
    first, last = first_kept_day(now, retention_days), day_of(now) + timedelta(days=AHEAD_DAYS)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def day_of_table(name: str, retention_days: int) -> date | None:
    """The day a day table of this retention holds; None for any other name."""
    prefix = f"{retention_table(retention_days)}_"
    if not name.startswith(prefix):
        return None
    try:
        return datetime.strptime(name[len(prefix) :], "%Y%m%d").date()
    except ValueError:
        return None


def expired(tables: list[str], now: datetime, retention_days: int) -> list[tuple[str, date]]:
    """The day tables (name, day) of this retention whose every event is past it."""
    first = first_kept_day(now, retention_days)
    found = [(name, day_of_table(name, retention_days)) for name in tables]
    return sorted((name, day) for name, day in found if day is not None and day < first)


def day_table_ddl(retention_days: int, day: date) -> list[str]:
    """The statements that make a day table (and its retention's table) if missing."""
    start, end = day_bounds(day)
    parent = retention_table(retention_days)
    return [
        f"CREATE TABLE IF NOT EXISTS {parent} PARTITION OF {PARENT} "
        f"FOR VALUES IN ({int(retention_days)}) PARTITION BY RANGE (ts)",
        f"CREATE TABLE IF NOT EXISTS {day_table(retention_days, day)} PARTITION OF {parent} "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')",
    ]
