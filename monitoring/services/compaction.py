"""Compacting old rollup cells: the 2-second cells of ingestion become 1-minute cells after
a day and 1-hour cells after a week (`rollups.COMPACTED`), so what reads a week of history
(baselines, charts, the gate's baseline) reads a bounded number of cells.

Totals stay exact: a range's fine cells are deleted and their sums added to the coarse cell
that starts their minute (or hour), in one transaction. Every reader counts a cell by its
start, so a window aligned to the coarse width sums the same before and after.

Safe beside ingestion: a late event for a compacted range adds to the coarse cell when its
bucket is the cell's start (ingestion's ON CONFLICT), or else is a fine cell of its own,
counted like any other (compaction does not go back for the rare event that arrives more
than a day late). A cell that ingestion updates while its range is compacted is waited
for, then moved with its new count; one it adds meanwhile at a coarse cell's start is
added to.

Claimed: each width's progress (`RollupCompaction.through`) moves with a conditional UPDATE
in the transaction that compacts the range, so two workers never compact the same range;
one that loses the claim reads the new progress and takes the next range.
"""

from collections import Counter
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Min, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from monitoring import rollups
from monitoring.models import Rollup, RollupCompaction
from monitoring.services.hour_sums import hours_sum

# A range compacted per transaction: short enough for its locks, long enough to be few.
CHUNK = {60: timedelta(hours=1), 3600: timedelta(days=1)}

_COMPACT_SQL = """
WITH gone AS (
    DELETE FROM monitoring_rollup
    WHERE bucket >= %(start)s AND bucket < %(end)s AND width < %(width)s
        AND mod(extract(epoch FROM bucket)::bigint, %(width)s) <> 0
    RETURNING system_id, bucket, signal, key, served, n
)
INSERT INTO monitoring_rollup (system_id, bucket, signal, key, served, n, width)
SELECT system_id, to_timestamp(floor(extract(epoch FROM bucket) / %(width)s) * %(width)s),
    signal, key, served, sum(n), %(width)s
FROM gone GROUP BY 1, 2, 3, 4, 5
ON CONFLICT (system_id, signal, bucket, key, served)
    DO UPDATE SET n = monitoring_rollup.n + EXCLUDED.n,
        width = greatest(monitoring_rollup.width, EXCLUDED.width)
"""
# The fine cells left are those starting a coarse cell: they become it.
_WIDEN_SQL = """
UPDATE monitoring_rollup SET width = %(width)s
WHERE bucket >= %(start)s AND bucket < %(end)s AND width < %(width)s
    AND mod(extract(epoch FROM bucket)::bigint, %(width)s) = 0
"""


def rollups_compact(now: datetime | None = None) -> dict[int, int]:
    """Compact what is old enough, every width in turn, and sum the hours old enough
    (`hour_sums`); answers the coarse cells written (made or added to), per width.
    Idempotent: what is compacted is left as it is."""
    now = now or timezone.now()
    written = {}
    for width, age in rollups.COMPACTED:
        until = rollups.bucket_of(now - age, width)
        written[width] = 0
        while (cells := _compact_next(width, until)) is not None:
            written[width] += cells
    hours_sum(now)
    return written


def _compact_next(width: int, until: datetime) -> int | None:
    """Claim and compact the next range of `width` before `until`: the coarse cells
    written, 0 when another worker claimed it first, None when nothing is left to claim."""
    mark = _mark(width, until)
    if mark.through >= until:
        return None
    end = min(mark.through + CHUNK[width], until)
    with transaction.atomic():
        claimed = RollupCompaction.objects.filter(width=width, through=mark.through).update(
            through=end
        )
        if not claimed:
            return 0
        return _compact(width, mark.through, end)


def _mark(width: int, until: datetime) -> RollupCompaction:
    """The width's progress; the first time, from the oldest cell not yet that wide."""
    mark = RollupCompaction.objects.filter(width=width).first()
    if mark is not None:
        return mark
    oldest = Rollup.objects.filter(width__lt=width).aggregate(first=Min("bucket"))["first"]
    start = rollups.bucket_of(min(oldest or until, until), width)
    try:
        with transaction.atomic():
            return RollupCompaction.objects.create(width=width, through=start)
    except IntegrityError:  # another worker started it at the same moment
        return RollupCompaction.objects.get(width=width)


def _compact(width: int, start: datetime, end: datetime) -> int:
    params: dict[str, int | datetime] = {"width": width, "start": start, "end": end}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_COMPACT_SQL, params)
            written = cursor.rowcount
            cursor.execute(_WIDEN_SQL, params)
        return written
    return _compact_portable(width, start, end)


def _compact_portable(width: int, start: datetime, end: datetime) -> int:
    """The same, cell by cell: for the demo's SQLite, whose cells are few."""
    cells = Rollup.objects.filter(bucket__gte=start, bucket__lt=end, width__lt=width)
    totals: Counter = Counter()
    gone = []
    for pk, system_id, bucket, signal, key, served, n in cells.values_list(
        "pk", "system_id", "bucket", "signal", "key", "served", "n"
    ):
        if bucket.timestamp() % width:
            totals[system_id, rollups.bucket_of(bucket, width), signal, key, served] += n
            gone.append(pk)
    Rollup.objects.filter(pk__in=gone).delete()
    for (system_id, bucket, signal, key, served), n in totals.items():
        cell = {"system_id": system_id, "bucket": bucket, "signal": signal}
        cell |= {"key": key, "served": served}
        if not Rollup.objects.filter(**cell).update(
            n=F("n") + n, width=Greatest("width", Value(width))
        ):
            Rollup.objects.create(**cell, n=n, width=width)
    cells.filter(width__lt=width).update(width=width)
    return len(totals)
