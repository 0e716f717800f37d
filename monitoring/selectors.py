"""Reads of monitoring: counts from the rollups, signal series for charts, blast radius."""

import math
from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from monitoring import accuracy, detectors, rollups
from monitoring.models import Alert, Event, Monitor, ReviewItem, ReviewPlan, Rollup
from rollbacks.models import Deployment

# A signal back inside its band over this window resolves its alert.
RETURN_WINDOW = timedelta(minutes=3)
# A rollback made during an incident is confirmed when its alerts resolve within this.
VERIFY_WITHIN = timedelta(minutes=30)


def counts(system, signal: str, since: datetime, until: datetime) -> dict[str, int]:
    """key → events over [since, until), summed over buckets and served versions."""
    return dict(
        Rollup.objects.filter(system=system, signal=signal, bucket__gte=since, bucket__lt=until)
        .values_list("key")
        .annotate(total=Sum("n"))
        .values_list("key", "total")
    )


def baseline_window(monitor: Monitor, now: datetime) -> tuple[datetime, datetime]:
    if monitor.baseline_start and monitor.baseline_end:
        return monitor.baseline_start, monitor.baseline_end
    return now - timedelta(days=monitor.baseline_days), now


def observed(monitor: Monitor, since: datetime, until: datetime) -> tuple[int, dict[str, int]]:
    """(events, counts of what the monitor watches) over a window. For a rate monitor the
    counts are `{"x": successes}`; for a shape, its histogram."""
    total = counts(monitor.system, "events", since, until).get("", 0)
    signal, key = monitor.signal
    found = counts(monitor.system, signal, since, until)
    if monitor.is_rate:
        return total, {"x": found.get(key, 0)}
    return total, found


def rate_of(monitor: Monitor) -> float | None:
    """The baseline's rate for a rate monitor (None until it has one)."""
    n = monitor.baseline.get("n", 0)
    return monitor.baseline["counts"].get("x", 0) / n if n else None


def events_per_day(monitor: Monitor) -> float:
    return monitor.baseline.get("n", 0) / max(monitor.baseline.get("days", 1.0), 1 / 24)


def expected_delay(monitor: Monitor) -> dict | None:
    """What the false-alarm budget buys: the expected delay to detect the smallest shift of
    interest (the rate times `min_shift`, and divided by it), in events and in time."""
    if not monitor.is_rate or not monitor.detector:
        return None
    bank = detectors.DetectorBank.from_json(monitor.detector)
    per_second = events_per_day(monitor) / 86400
    answer = {}
    for direction, p in (
        ("up", min(bank.p0 * monitor.min_shift, 0.99)),
        ("down", bank.p0 / monitor.min_shift),
    ):
        events = detectors.expected_delay(bank, p)
        if math.isinf(events):
            events = None  # no design moves towards it: not detectable at this budget
        answer[direction] = {
            "rate": p,
            "events": events,
            "seconds": events / per_second if per_second and events else None,
        }
    return answer


def _points(monitor: Monitor, since: datetime, until: datetime, step: int, by_served=False):
    """Per step (and served versions): events and watched counts."""
    signal, key = monitor.signal
    rows = (
        Rollup.objects.filter(
            system=monitor.system,
            bucket__gte=since,
            bucket__lt=until,
            signal__in=["events", signal],
        )
        .values_list("bucket", "signal", "key", "served", "n")
        .iterator()
    )
    cells: dict = defaultdict(lambda: {"n": 0, "counts": defaultdict(int)})
    start = since.timestamp()
    for bucket, row_signal, row_key, served, n in rows:
        slot = int((bucket.timestamp() - start) // step)
        cell = cells[(served if by_served else "", slot)]
        if row_signal == "events":
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
    return max(baseline, key=baseline.get) if baseline else None


def _midpoint(monitor: Monitor, key: str) -> float:
    if monitor.target == "score" and monitor.kind == Monitor.Kind.NUMERIC:
        return {"<0": 0.0, ">1": 1.0}.get(key, float(key) + 0.05) if key else 0.0
    if key.endswith("+"):
        return float(key[:-1])
    if "-" in key and not key.startswith("-"):
        lo, hi = key.split("-")
        return (float(lo) + float(hi)) / 2
    if key in ("0", "nan"):
        return 0.0
    sign = -1 if key.startswith("-") else 1
    return sign * 1.5 * 2.0 ** int(key.lstrip("-")[2:])


def baseline_value(monitor: Monitor) -> float | None:
    baseline = monitor.baseline
    if not baseline.get("n"):
        return None
    return value_of(monitor, baseline["n"], baseline["counts"])


def series(monitor: Monitor, since: datetime, until: datetime, step: int = 60) -> list[dict]:
    """The monitor's signal per `step` seconds with its baseline band, for a chart."""
    cells = _points(monitor, since, until, step)
    base = baseline_value(monitor)
    spread = _spread(monitor)
    points = []
    for slot in range(int((until - since).total_seconds() // step)):
        cell = cells.get(("", slot))
        at = since + timedelta(seconds=slot * step)
        value = value_of(monitor, cell["n"], cell["counts"]) if cell else None
        n = cell["n"] if cell else 0
        lo = hi = None
        if base is not None and n:
            if monitor.is_rate:
                lo, hi = detectors.band(base, n)
            elif spread is not None:
                width = 3 * spread / max(n, 1) ** 0.5
                lo, hi = base - width, base + width
        points.append({"at": at, "value": value, "n": n, "lo": lo, "hi": hi})
    return points


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
        mean = value_of(monitor, baseline["n"], found)
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
    if n < 50:
        return None
    value = value_of(monitor, n, found)
    if value is None:
        return None
    if monitor.is_rate:
        lo, hi = detectors.band(base, n)
    else:
        spread = _spread(monitor) or 0.0
        lo, hi = base - 3 * spread / n**0.5, base + 3 * spread / n**0.5
    return lo <= value <= hi


def system_monitors(system):
    return list(system.monitors.all())


def open_alerts(system):
    return list(
        Alert.objects.filter(system=system, status=Alert.Status.OPEN).select_related("monitor")
    )


# --- The incident's view ----------------------------------------------------------------


def incident_window(incident, now: datetime | None = None) -> tuple[datetime, datetime]:
    """From the onset (or detection, or declaration) to containment (or now)."""
    start = incident.onset_at or incident.detected_at or incident.declared_at
    end = incident.contained_at or incident.resolved_at or now or timezone.now()
    return start, max(end, start)


def blast_radius(incident, now: datetime | None = None) -> dict:
    """What the model produced, what downstream actions fired, and to whom, from the onset
    to containment, counted from the events of the incident's systems."""
    since, until = incident_window(incident, now)
    systems = list(incident.systems.all())
    catalog = {}
    for system in systems:
        for action in system.action_types.all():
            catalog[(system.pk, action.name)] = action
    events = Event.objects.filter(system__in=systems, ts__gte=since, ts__lt=until)
    summary = events.aggregate(
        outputs=Count("id"),
        subjects=Count("subject", distinct=True, filter=~Q(subject="")),
    )
    labels = dict(
        events.exclude(label="")
        .values_list("label")
        .annotate(n=Count("id"))
        .values_list("label", "n")
    )
    actions: dict = defaultdict(int)
    subjects_by_action: dict = defaultdict(set)
    for system_id, fired in (
        events.exclude(actions=[]).values_list("system_id", "actions").iterator()
    ):
        for action in fired:
            actions[(system_id, action["type"])] += 1
            subjects_by_action[(system_id, action["type"])].add(action.get("subject", ""))
    rows = []
    for (system_id, name), n in sorted(actions.items(), key=lambda item: -item[1]):
        known = catalog.get((system_id, name))
        rows.append(
            {
                "type": name,
                "count": n,
                "subjects": len(subjects_by_action[(system_id, name)] - {""}),
                "reversible": known.reversible if known else None,
                "user_visible": known.user_visible if known else None,
            }
        )
    return {
        "since": since,
        "until": until,
        "contained": incident.contained_at is not None,
        "outputs": summary["outputs"],
        "subjects": summary["subjects"],
        "labels": dict(sorted(labels.items(), key=lambda item: -item[1])),
        "actions": rows,
        "irreversible": sum(r["count"] for r in rows if r["reversible"] is False),
        "user_visible": sum(r["count"] for r in rows if r["user_visible"]),
        "stopped": _stopped(systems, since, until),
    }


def _stopped(systems, since, until) -> dict:
    """What the action gate held or denied in the window: the harm that did not happen."""
    from gate.selectors import stopped  # gate builds on monitoring, not the other way round

    return stopped(systems, since, until)


def affected(incident, *, action_type: str = "", label: str = "", now=None):
    """One row per downstream action (or per output without action) in the incident's
    window, for the list and the CSV export: when, system, subject, label, action."""
    since, until = incident_window(incident, now)
    events = (
        Event.objects.filter(system__in=incident.systems.all(), ts__gte=since, ts__lt=until)
        .select_related("system")
        .order_by("ts")
    )
    if label:
        events = events.filter(label=label)
    for event in events.iterator(chunk_size=2000):
        fired = event.actions or [{"type": "", "subject": ""}]
        for action in fired:
            if action_type and action["type"] != action_type:
                continue
            yield {
                "ts": event.ts,
                "system": event.system.slug,
                "event": event.client_id,
                "subject": event.subject,
                "label": event.label,
                "action": action["type"],
                "action_subject": action.get("subject", ""),
            }


def incident_alerts(incident) -> list[Alert]:
    return list(incident.alerts.select_related("monitor", "system").order_by("opened_at"))


def rollback_verdicts(incident, now: datetime | None = None) -> list[dict]:
    """For each rollback made during the incident: did the alerted signals return within
    their baseline band afterwards? "confirmed at 14:32" / "not confirmed after 30 min"."""
    now = now or timezone.now()
    since, _ = incident_window(incident, now)
    rollbacks = Deployment.objects.filter(
        system__in=incident.systems.all(),
        kind=Deployment.Kind.ROLLBACK,
        at__gte=min(since, incident.declared_at),
    ).select_related("to_version", "from_version", "system")
    alerts = incident_alerts(incident)
    verdicts = []
    for rollback in rollbacks:
        watched = [
            a
            for a in alerts
            if a.system_id == rollback.system_id
            and a.opened_at <= rollback.at
            and (a.resolved_at is None or a.resolved_at >= rollback.at)
        ]
        verdict = {"rollback": rollback, "alerts": watched, "state": "", "at": None}
        if not watched:
            verdict["state"] = "nothing"
        elif all(a.resolved_at for a in watched):
            verdict["state"] = "confirmed"
            verdict["at"] = max(a.resolved_at for a in watched)
        elif now - rollback.at >= VERIFY_WITHIN:
            verdict["state"] = "not_confirmed"
        else:
            verdict["state"] = "verifying"
        verdicts.append(verdict)
    return verdicts


def irreversible_fired(incident, now=None) -> bool | None:
    """Did irreversible actions fire in the incident's window? None: no events to say."""
    since, until = incident_window(incident, now)
    systems = list(incident.systems.all())
    window = {"system__in": systems, "bucket__gte": since, "bucket__lte": until}
    if not Rollup.objects.filter(signal="events", **window).exists():
        return None
    irreversible = {
        (a.system_id, a.name) for s in systems for a in s.action_types.all() if not a.reversible
    }
    fired = Rollup.objects.filter(signal="action", **window).values_list("system_id", "key")
    return any(pair in irreversible for pair in fired.distinct())


# --- Ground truth -----------------------------------------------------------------------


def review_queue(*, system=None, incident=None, label=None, reviewer=None):
    """Items awaiting a verdict, oldest first: open ones this reviewer has not judged yet
    (blind double review), then disputed ones needing a third look."""
    items = ReviewItem.objects.filter(
        status__in=[ReviewItem.Status.OPEN, ReviewItem.Status.DISPUTED]
    ).select_related("event", "system", "incident")
    if system is not None:
        items = items.filter(system=system)
    if incident is not None:
        items = items.filter(incident=incident)
    if label is not None:
        items = items.filter(stratum=label)
    if reviewer is not None:
        items = items.exclude(verdicts__reviewer=reviewer)
    return items.order_by("id")


def queue_health(systems, now=None) -> dict:
    """Backlog, the oldest unreviewed output's age, reviewed today against the target."""
    now = now or timezone.now()
    waiting = ReviewItem.objects.filter(
        system__in=systems, status__in=[ReviewItem.Status.OPEN, ReviewItem.Status.DISPUTED]
    )
    oldest = waiting.order_by("sampled_at").values_list("sampled_at", flat=True).first()
    start_of_day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    target = sum(
        ReviewPlan.objects.filter(system__in=systems, active=True).values_list("per_day", flat=True)
    )
    return {
        "backlog": waiting.count(),
        "disputed": waiting.filter(status=ReviewItem.Status.DISPUTED).count(),
        "oldest_age": (now - oldest) if oldest else None,
        "reviewed_today": ReviewItem.objects.filter(
            system__in=systems, status=ReviewItem.Status.DONE, decided_at__gte=start_of_day
        ).count(),
        "target": target,
    }


def _decided(system, since=None, until=None, *, by_event_time=True, incident_samples=False):
    items = ReviewItem.objects.filter(system=system, status=ReviewItem.Status.DONE)
    field = "event__ts" if by_event_time else "decided_at"
    if since is not None:
        items = items.filter(**{f"{field}__gte": since})
    if until is not None:
        items = items.filter(**{f"{field}__lt": until})
    if not incident_samples:
        # An incident's extra sample is not a uniform sample of the day: it would bias it.
        items = items.filter(incident__isnull=True)
    return items


def accuracy_estimate(system, since, until) -> accuracy.Estimate:
    """Re-weighted accuracy of the outputs produced in [since, until), from reviews."""
    pairs = list(_decided(system, since, until).values_list("correct", "probability"))
    return accuracy.weighted_accuracy(pairs)


def accuracy_baseline(system, now=None) -> accuracy.Estimate:
    """The reference: reviewed outputs of the plan's baseline window, before today."""
    now = now or timezone.now()
    plan = getattr(system, "review_plan", None)
    days = plan.baseline_days if plan else 28
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return accuracy_estimate(system, today - timedelta(days=days), today)


def accuracy_daily(system, days: int = 14, now=None) -> list[dict]:
    """Per day: the re-weighted accuracy with its Wilson interval, for the chart."""
    now = now or timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    by_day: dict = defaultdict(list)
    for correct, probability, ts in _decided(system, today - timedelta(days=days - 1)).values_list(
        "correct", "probability", "event__ts"
    ):
        by_day[ts.date()].append((correct, probability))
    points = []
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        estimate = accuracy.weighted_accuracy(by_day.get(day.date(), []))
        points.append(
            {
                "at": day,
                "value": estimate.correct if estimate.reviewed else None,
                "lo": estimate.low if estimate.reviewed else None,
                "hi": estimate.high if estimate.reviewed else None,
                "n": estimate.reviewed,
                "estimate": estimate,
            }
        )
    return points


def review_agreement(system) -> dict:
    """Cohen's kappa over items two reviewers judged blind, and how many they split on."""
    pairs = []
    for item in ReviewItem.objects.filter(system=system, reviews_needed=2).prefetch_related(
        "verdicts"
    ):
        first_two = list(item.verdicts.all())[:2]
        if len(first_two) == 2:
            pairs.append(tuple("correct" if v.correct else "incorrect" for v in first_two))
    return {
        "kappa": accuracy.cohen_kappa(pairs),
        "pairs": len(pairs),
        "disagreements": sum(1 for a, b in pairs if a != b),
    }


def incident_reviews(incident, now=None) -> list[dict]:
    """What the reviewers found in the incident's window, per system, against the baseline:
    "12 of 40 reviewed outputs from the incident window were wrong (30%, CI 17-46%)"."""
    since, until = incident_window(incident, now)
    found = []
    for system in incident.systems.all():
        pairs = list(
            _decided(system, since, until, incident_samples=True).values_list(
                "correct", "probability"
            )
        )
        if not pairs:
            continue
        estimate = accuracy.weighted_accuracy(pairs)
        found.append(
            {
                "system": system,
                "estimate": estimate,
                "wrong_share": 1 - estimate.correct,
                "wrong_low": 1 - estimate.high,
                "wrong_high": 1 - estimate.low,
                "baseline": accuracy_baseline(system, now),
            }
        )
    return found
