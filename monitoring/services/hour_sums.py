"""Hour sums: every system's rollup cells of an hour, summed per signal and key once the hour
is HOUR_AGE old (`RollupHour`), so a read of a week at once reads 168 sums per key rather
than every cell of the week, however fine the cells and however busy the system.

Exact, not approximate: a range of hours is summed in one transaction that moves the mark
(`RollupHourMark`, a conditional UPDATE, so two workers never sum the same hours), and
ingestion adds what it counts into an hour already summed (a late event, a late score) to
that hour's sum as well, in its own transaction (`hours_add_late`). The two take one
advisory lock, the summing exclusively, a late batch shared: a late batch's cells are
either in the rollups the summing reads, or added by the batch after it reads the new
mark. A batch whose cells are all younger than half of HOUR_AGE (by the clock) cannot be
late for a summed hour, and takes no lock: real-time ingestion never waits for the sums.
"""

from collections import Counter
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Min, Sum
from django.utils import timezone

from monitoring import rollups
from monitoring.models import Rollup, RollupHour, RollupHourMark

HOUR = 3600
# An hour is summed this long after it ends: after nearly every late event.
HOUR_AGE = timedelta(hours=1)
# Hours summed per transaction at most: once caught up, each run sums the hour or so that
# aged, so the lock a late batch may wait for is short; catching up takes few transactions.
CHUNK = timedelta(days=1)
HOURS_LOCK = 7_301_002

_SUM_SQL = """
INSERT INTO monitoring_rolluphour (system_id, hour, signal, key, n)
SELECT system_id, to_timestamp(floor(extract(epoch FROM bucket) / 3600) * 3600), signal, key,
    sum(n)
FROM monitoring_rollup WHERE bucket >= %(start)s AND bucket < %(end)s
GROUP BY 1, 2, 3, 4
"""
_ADD_SQL = """
INSERT INTO monitoring_rolluphour (system_id, hour, signal, key, n)
SELECT %s, * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::bigint[])
ON CONFLICT (system_id, signal, hour, key) DO UPDATE SET n = monitoring_rolluphour.n + EXCLUDED.n
"""


def hours_sum(now: datetime | None = None) -> int:
    """Sum every hour that ended HOUR_AGE ago (never later than the clock says) and is not
    summed yet; answers the hours summed."""
    now = min(now or timezone.now(), timezone.now())
    until = rollups.bucket_of(now - HOUR_AGE, HOUR)
    summed = 0
    while (mark := _mark(until)).through < until:
        end = min(mark.through + CHUNK, until)
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [HOURS_LOCK])
            if not RollupHourMark.objects.filter(pk=mark.pk, through=mark.through).update(
                through=end
            ):
                continue  # another worker summed it: read the new mark
            _sum(mark.through, end)
        summed += int((end - mark.through).total_seconds() // HOUR)
    return summed


def _mark(until: datetime) -> RollupHourMark:
    """The mark; the first time, from the hour of the oldest cell."""
    mark = RollupHourMark.objects.first()
    if mark is not None:
        return mark
    oldest = Rollup.objects.aggregate(first=Min("bucket"))["first"]
    try:
        with transaction.atomic():
            return RollupHourMark.objects.create(
                pk=1, through=rollups.bucket_of(min(oldest or until, until), HOUR)
            )
    except IntegrityError:  # another worker made it at the same moment
        return RollupHourMark.objects.get(pk=1)


def _sum(start: datetime, end: datetime) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_SUM_SQL, {"start": start, "end": end})
        return
    # The demo's SQLite: its cells are few.
    cells = Rollup.objects.filter(bucket__gte=start, bucket__lt=end)
    totals: Counter = Counter()
    for system_id, bucket, signal, key, n in cells.values_list(
        "system_id", "bucket", "signal", "key"
    ).annotate(total=Sum("n")):
        totals[system_id, rollups.bucket_of(bucket, HOUR), signal, key] += n
    RollupHour.objects.bulk_create(
        RollupHour(system_id=s, hour=h, signal=signal, key=key, n=n)
        for (s, h, signal, key), n in totals.items()
    )


def hours_add_late(system, totals) -> None:
    """Add a batch's counts ((bucket, signal, key, served) → events) that fall in hours
    already summed to those hours' sums: called by ingestion in the transaction that adds
    them to the rollups."""
    if not totals or min(cell[0] for cell in totals) >= timezone.now() - HOUR_AGE / 2:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [HOURS_LOCK])
    mark = RollupHourMark.objects.first()
    if mark is None:
        return
    late: Counter = Counter()
    for (bucket, signal, key, _), n in totals.items():
        if bucket < mark.through:
            late[rollups.bucket_of(bucket, HOUR), signal, key] += n
    if not late:
        return
    # Sorted, so concurrent batches lock shared sums in the same order (no deadlock).
    cells = sorted(late.items(), key=lambda item: (item[0][1], item[0][0], item[0][2]))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _ADD_SQL,
                [
                    system.pk,
                    [hour for (hour, _, _), _ in cells],
                    [signal for (_, signal, _), _ in cells],
                    [key for (_, _, key), _ in cells],
                    [n for _, n in cells],
                ],
            )
        return
    for (hour, signal, key), n in cells:
        found = RollupHour.objects.filter(system=system, hour=hour, signal=signal, key=key)
        if not found.update(n=F("n") + n):
            RollupHour.objects.create(system=system, hour=hour, signal=signal, key=key, n=n)
