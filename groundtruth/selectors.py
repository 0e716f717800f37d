"""Reads of ground truth: the review queue and its health, accuracy from the verdicts."""

from collections import defaultdict
from datetime import timedelta

from django.utils import timezone

from groundtruth import accuracy
from groundtruth.models import ReviewItem, ReviewPlan
from monitoring.selectors.incident import incident_window


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
            first, second = ("correct" if v.correct else "incorrect" for v in first_two)
            pairs.append((first, second))
    return {
        "kappa": accuracy.cohen_kappa(pairs),
        "pairs": len(pairs),
        "disagreements": sum(1 for a, b in pairs if a != b),
    }


def first_wrong_since(system, since):
    """When the first output found wrong since `since` was produced (None: none found)."""
    return (
        ReviewItem.objects.filter(
            system=system, status=ReviewItem.Status.DONE, correct=False, event__ts__gte=since
        )
        .order_by("event__ts")
        .values_list("event__ts", flat=True)
        .first()
    )


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
