"""Reads of a monitor's signal: counts from the rollups, the baseline, the value charted,
its series with the band, the split by served version, whether it is back in its band."""

import math
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import OuterRef, Subquery, Sum
from django.utils import timezone

from monitoring import rollups
from monitoring.detectors import cusum, mixture
from monitoring.models import Monitor, Rollup, RollupHour, RollupHourMark
from systems.models import AISystem

# A signal back inside its band over this window resolves its alert.
RETURN_WINDOW = timedelta(minutes=3)


def counts(system, signal: str, since: datetime, until: datetime) -> dict[str, int]:
    """key → events over [since, until), summed over buckets and served versions."""
    return dict(
        Rollup.objects.filter(system=system, signal=signal, bucket__gte=since, bucket__lt=until)
        .values_list("key")
        .annotate(total=Sum("n"))
        .values_list("key", "total")
    )


def signal_counts(system_ids, signals, since: datetime, until: datetime) -> dict[int, dict]:
    """system → (signal, key) → events over [since, until), for several systems and signals
    in one query (what a batch of systems' baselines or shape windows read together)."""
    rows = (
        Rollup.objects.filter(
            system_id__in=sorted(system_ids),
            signal__in=sorted(signals),
            bucket__gte=since,
            bucket__lt=until,
        )
        .values_list("system_id", "signal", "key")
        .annotate(total=Sum("n"))
        .values_list("system_id", "signal", "key", "total")
    )
    found: dict[int, dict] = defaultdict(dict)
    for system_id, signal, key, total in rows:
        found[system_id][signal, key] = total
    return found


def window_counts(system_ids, signals, since: datetime, until: datetime) -> dict[int, dict]:
    """`signal_counts` over a long window (a baseline's week), reading its whole hours from
    the hour sums (`RollupHour`) as far as they reach, and cells only for the rest: a
    week's count reads 168 sums per key, not every cell of the week."""
    mark = RollupHourMark.objects.values_list("through", flat=True).first()
    start = rollups.bucket_of(since, 3600)
    start += timedelta(hours=1) if start < since else timedelta(0)
    end = rollups.bucket_of(min(until, mark), 3600) if mark else start
    if start >= end:
        return signal_counts(system_ids, signals, since, until)
    found: dict[int, dict] = defaultdict(dict)
    sums = (
        RollupHour.objects.filter(
            system_id__in=sorted(system_ids), signal__in=sorted(signals), hour__gte=start
        )
        .filter(hour__lt=end)
        .values_list("system_id", "signal", "key")
        .annotate(total=Sum("n"))
        .values_list("system_id", "signal", "key", "total")
    )
    for system_id, signal, key, total in sums:
        found[system_id][signal, key] = total
    for edge_since, edge_until in ((since, start), (end, until)):
        if edge_since >= edge_until:
            continue
        for system_id, edge in signal_counts(system_ids, signals, edge_since, edge_until).items():
            for cell, n in edge.items():
                found[system_id][cell] = found[system_id].get(cell, 0) + n
    return found


def first_buckets(system_ids, signal: str, since: datetime) -> dict[int, datetime | None]:
    """Each system's first bucket of a signal from `since` on: how much history there is.
    One query; per system the (system, signal, bucket, …) unique index answers it from its
    first entry."""
    first = (
        Rollup.objects.filter(system=OuterRef("pk"), signal=signal, bucket__gte=since)
        .order_by("bucket")
        .values("bucket")[:1]
    )
    return dict(
        AISystem.objects.filter(pk__in=sorted(system_ids))
        .annotate(first=Subquery(first))
        .values_list("pk", "first")
    )


def baseline_window(monitor: Monitor, now: datetime) -> tuple[datetime, datetime]:
    """The pinned period, or the previous `baseline_days` from the hour: a window that
    starts on an hour sums the same however its old cells are compacted."""
    if monitor.baseline_start and monitor.baseline_end:
        return monitor.baseline_start, monitor.baseline_end
    return rollups.bucket_of(now - timedelta(days=monitor.baseline_days), 3600), now


def observed(monitor: Monitor, since: datetime, until: datetime) -> tuple[int, dict[str, int]]:
    """(events, counts of what the monitor watches) over a window. For a rate monitor the
    counts are `{"x": successes}`; for a shape, its histogram."""
    total = denominator_count(monitor, since, until)
    signal, key = monitor.signal
    found = counts(monitor.system, signal, since, until)
    if monitor.is_rate:
        return total, {"x": found.get(key, 0)}
    return total, found


def denominator_count(monitor: Monitor, since: datetime, until: datetime) -> int:
    """How many events the monitor's share is of, over a window (`Monitor.denominator`)."""
    signal, key = monitor.denominator
    return counts(monitor.system, signal, since, until).get(key, 0)


def rate_of(monitor: Monitor) -> float | None:
    """The baseline's rate for a rate monitor (None until it has one)."""
    n = monitor.baseline.get("n", 0)
    return monitor.baseline["counts"].get("x", 0) / n if n else None


def events_per_day(monitor: Monitor) -> float:
    return monitor.baseline.get("n", 0) / max(monitor.baseline.get("days", 1.0), 1 / 24)


def expected_delay(monitor: Monitor) -> dict | None:
    """What the false-alarm budget buys: the expected delay to detect the smallest shift of
    interest (the rate times `min_shift`, and divided by it), in events and in time."""
    # A bank of earlier versions ("kind" missing) is replaced at the next evaluation.
    if not monitor.is_rate or monitor.detector.get("kind") != mixture.KIND:
        return None
    detector = mixture.MixtureDetector.from_json(monitor.detector)
    per_second = events_per_day(monitor) / 86400
    answer = {}
    for direction, p in (
        ("up", min(detector.p0 * monitor.min_shift, 0.99)),
        ("down", detector.p0 / monitor.min_shift),
    ):
        delay = mixture.expected_delay(detector, p)
        # Infinite: no shift of the grid moves towards it, not detectable at this budget.
        events = None if math.isinf(delay) else delay
        answer[direction] = {
            "rate": p,
            "events": events,
            "seconds": events / per_second if per_second and events else None,
        }
    return answer


def _points(monitor: Monitor, since: datetime, until: datetime, step: int, by_served=False):
    """Per step (and served versions): events and watched counts."""
    signal, key = monitor.signal
    per, per_key = monitor.denominator
    rows = (
        Rollup.objects.filter(
            system=monitor.system,
            bucket__gte=since,
            bucket__lt=until,
            signal__in=[per, signal],
        )
        .values_list("bucket", "signal", "key", "served", "n")
        .iterator()
    )
    cells: dict = defaultdict(lambda: {"n": 0, "counts": defaultdict(int)})
    start = since.timestamp()
    for bucket, row_signal, row_key, served, n in rows:
        slot = int((bucket.timestamp() - start) // step)
        cell = cells[(served if by_served else "", slot)]
        if row_signal == per:
            if row_key == per_key:
                cell["n"] += n
        elif not monitor.is_rate or row_key == key:
            cell["counts"][row_key] += n
    return cells


def value_of(monitor: Monitor, n: int, found: dict) -> float | None:
    """The one number charted for a monitor: a share for rates, a mean for numbers, the
    share of the baseline's commonest category for a categorical input."""
    if not n:
        return None
    if monitor.is_rate:
        return sum(found.values()) / n
    total = sum(found.values())
    if not total:
        return None
    if monitor.kind == Monitor.Kind.NUMERIC or monitor.numeric:
        return sum(_midpoint(monitor, k) * c for k, c in found.items()) / total
    top = _top_category(monitor)
    return found.get(top, 0) / total if top is not None else None


def _top_category(monitor: Monitor):
    baseline = monitor.baseline.get("counts") or {}
    return max(baseline, key=lambda category: baseline[category]) if baseline else None


def _midpoint(monitor: Monitor, key: str) -> float:
    if monitor.target == "score" and monitor.kind == Monitor.Kind.NUMERIC:
        return {"<0": 0.0, ">1": 1.0}.get(key, float(key) + 0.05) if key else 0.0
    if key.endswith("+"):
        return float(key[:-1])
    if "-" in key and not key.startswith("-"):
        lo, hi = key.split("-")
        return (float(lo) + float(hi)) / 2
    return rollups.bin_value(key)


def counted(monitor: Monitor) -> str:
    """What a monitor watches, in words: "faithfulness below 0.5", "finish reason length",
    "timeout errors", "usage.output_tokens"."""
    kind, target = monitor.kind, monitor.target
    if kind == Monitor.Kind.SCORE_SHARE:
        return f"{target} {'below' if monitor.below else 'above'} {monitor.threshold:g}"
    texts: dict[str, str] = {
        Monitor.Kind.CATEGORY_SHARE: f"label {target}",
        Monitor.Kind.REFUSAL_RATE: "refusals",
        Monitor.Kind.PATTERN: f"outputs matching {target}",
        Monitor.Kind.ACTION_RATE: f"{target} actions",
        Monitor.Kind.ERROR_RATE: f"{target} errors" if target else "errors",
        Monitor.Kind.FINISH_REASON: f"finish reason {target}",
        Monitor.Kind.INPUT_FEATURE: f"input {target}",
        Monitor.Kind.ACCURACY: "reviewed accuracy",
    }
    return texts.get(kind, target)


def share_of(monitor: Monitor) -> str:
    """What a rate is a share of (`Monitor.denominator`), in words."""
    if monitor.kind == Monitor.Kind.SCORE_SHARE:
        return "of scored outputs"
    return "per output" if monitor.kind == Monitor.Kind.ACTION_RATE else "of outputs"


def window_value(points: list[dict]) -> float | None:
    """The charted value over all of `series`' points: each weighted by its events."""
    n = sum(p["n"] for p in points if p["value"] is not None)
    if not n:
        return None
    return sum(p["value"] * p["n"] for p in points if p["value"] is not None) / n


def baseline_value(monitor: Monitor) -> float | None:
    baseline = monitor.baseline
    if not baseline.get("n"):
        return None
    return value_of(monitor, baseline["n"], baseline["counts"])


def series(
    monitor: Monitor, since: datetime, until: datetime, step: int = 60, now=None
) -> list[dict]:
    """The monitor's signal per `step` seconds with its baseline band, for a chart. Over
    history old enough to be compacted, per that width at least (and from its start): an
    hour's cell is one point, not one spike among empty minutes."""
    age = (now or timezone.now()) - since
    ingested = settings.FAILSAFE_ROLLUP_SECONDS
    width = rollups.width_at(age, ingested)
    if width > ingested and step % width:
        step = -(-step // width) * width
        since = rollups.bucket_of(since, width)
    cells = _points(monitor, since, until, step)
    base = baseline_value(monitor)
    spread = _spread(monitor)
    points = []
    for slot in range(int((until - since).total_seconds() // step)):
        cell = cells.get(("", slot))
        at = since + timedelta(seconds=slot * step)
        value = value_of(monitor, cell["n"], cell["counts"]) if cell else None
        n = _behind(monitor, cell["n"], cell["counts"]) if cell else 0
        lo = hi = None
        if base is not None and n:
            if monitor.is_rate:
                lo, hi = cusum.band(base, n)
            elif spread is not None:
                width = 3 * spread / max(n, 1) ** 0.5
                lo, hi = base - width, base + width
        points.append({"at": at, "value": value, "n": n, "lo": lo, "hi": hi})
    return points


def _behind(monitor: Monitor, n: int, found: dict) -> int:
    """How many events the charted value is taken over: a share's denominator, or for a
    shape the events in its histogram (an output without a score is in no bin of it)."""
    return n if monitor.is_rate else sum(found.values())


def _spread(monitor: Monitor) -> float | None:
    """The baseline's standard deviation of the charted value, per event."""
    baseline = monitor.baseline
    if not baseline.get("n"):
        return None
    found = baseline["counts"]
    total = sum(found.values())
    if not total:
        return None
    if monitor.kind == Monitor.Kind.NUMERIC or monitor.numeric:
        mean = value_of(monitor, baseline["n"], found) or 0.0
        var = sum(c * (_midpoint(monitor, k) - mean) ** 2 for k, c in found.items()) / total
        return var**0.5
    share = value_of(monitor, baseline["n"], found)
    return (share * (1 - share)) ** 0.5 if share is not None else None


def version_split(monitor: Monitor, since: datetime, until: datetime) -> list[dict]:
    """The signal over a window split by each surface whose served version varied in it:
    where a shift is confined to one version ("prompt v13"), it shows."""
    cells = _points(monitor, since, until, int((until - since).total_seconds()) + 1, True)
    by_surface: dict = defaultdict(
        lambda: defaultdict(lambda: {"n": 0, "counts": defaultdict(int)})
    )
    for (served, _), cell in cells.items():
        for surface, version in rollups.served_split(served).items():
            into = by_surface[surface][version]
            into["n"] += cell["n"]
            for key, c in cell["counts"].items():
                into["counts"][key] += c
    rows = []
    for surface in rollups.SURFACES:
        versions = by_surface.get(surface, {})
        if len(versions) < 2:
            continue
        for version, cell in sorted(versions.items()):
            rows.append(
                {
                    "surface": surface,
                    "version": version,
                    "n": cell["n"],
                    "value": value_of(monitor, cell["n"], cell["counts"]),
                }
            )
    return rows


def back_in_band(monitor: Monitor, now: datetime) -> bool | None:
    """Is the signal over the last few minutes inside its baseline band? None: too few
    events to say."""
    base = baseline_value(monitor)
    if base is None:
        return None
    n, found = observed(monitor, now - RETURN_WINDOW, now)
    value = value_of(monitor, n, found)
    n = _behind(monitor, n, found)
    if n < 50:
        return None
    if value is None:
        return None
    if monitor.is_rate:
        lo, hi = cusum.band(base, n)
    else:
        spread = _spread(monitor) or 0.0
        lo, hi = base - 3 * spread / n**0.5, base + 3 * spread / n**0.5
    return lo <= value <= hi


def system_monitors(system):
    return list(system.monitors.all())
