"""Writes of ground truth: the sampling plan, sampling outputs for review, verdicts."""

import random
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from core.errors import ServiceError
from core.permissions import require
from core.services import audit_record, snapshot
from groundtruth import sampling
from groundtruth.models import ReviewItem, ReviewPlan, Verdict
from incidents.models import Incident
from monitoring.models import Event, Rollup
from monitoring.selectors.incident import incident_window
from monitoring.selectors.signals import counts

# Events younger than this are left for the next run: a batch still committing could
# otherwise land behind the cursor.
SAMPLING_LAG = timedelta(seconds=10)
SAMPLING_CHUNK = 20_000
# About this many outputs of an open incident's window are reviewed, on top of the plan.
INCIDENT_SAMPLE = 40
PLAN_FIELDS = ["active", "per_day", "oversample", "double_share", "baseline_days"]


class ReviewError(ServiceError):
    """A sampling plan or a verdict the rules refuse."""


@transaction.atomic
def review_plan_set(*, actor, system, **fields) -> ReviewPlan:
    """Change how a system's outputs are sampled for review (owner or responder)."""
    require(actor, "monitor.manage", system)
    plan, _ = ReviewPlan.objects.select_for_update().get_or_create(system=system)
    before = snapshot(plan, PLAN_FIELDS)
    oversample = fields.get("oversample", plan.oversample)
    if not isinstance(oversample, dict) or not all(
        isinstance(k, str) and isinstance(v, int | float) and v >= 1 for k, v in oversample.items()
    ):
        raise ReviewError('Labels and factors of at least 1, e.g. {"fraud": 10}.', "oversample")
    if not 0 <= fields.get("double_share", plan.double_share) <= 1:
        raise ReviewError("A share between 0 and 1.", "double_share")
    for field, value in fields.items():
        if field in PLAN_FIELDS:
            setattr(plan, field, value)
    plan.save()
    audit_record(
        actor=actor,
        verb="review_plan.set",
        target=plan,
        before=before,
        after=snapshot(plan, PLAN_FIELDS),
    )
    return plan


def _label_counts(system, now) -> tuple[dict[str, int], float]:
    """Output labels over the last week, from the rollups, and the days they span."""
    since = now - timedelta(days=7)
    found = counts(system, "label", since, now)
    total = counts(system, "events", since, now).get("", 0)
    found[""] = max(total - sum(found.values()), 0)
    first = (
        Rollup.objects.filter(system=system, signal="events", bucket__gte=since)
        .order_by("bucket")
        .values_list("bucket", flat=True)
        .first()
    )
    days = max((now - first).total_seconds() / 86400, 1 / 24) if first else 1.0
    return found, days


def reviews_sample(now: datetime | None = None, rng=None) -> dict:
    """Queue new outputs of every system for review, as its plan says; plus, for each open
    incident, an extra sample of its window at a higher rate, tagged with the incident.

    Beat runs it every minute. Each plan's cursor (`sampled_through`) moves with a
    conditional UPDATE, so two runs at once sample each event once; an event is reviewed
    at most once whatever happens (one item per event)."""
    now = now or timezone.now()
    rng = rng or random.Random()  # noqa: S311 (sampling, not secrets)
    queued = 0
    for plan in ReviewPlan.objects.filter(active=True).select_related("system"):
        queued += _sample_plan(plan, now, rng)
    for incident in Incident.objects.open().prefetch_related("systems"):
        queued += _sample_incident(incident, now, rng)
    return {"queued": queued}


def _sample_plan(plan: ReviewPlan, now, rng) -> int:
    found, days = _label_counts(plan.system, now)
    settings_ = sampling.Plan(
        per_day=plan.per_day, oversample=plan.oversample, double_share=plan.double_share
    )
    probabilities = sampling.inclusion_probabilities(settings_, found, days)
    rows = list(
        Event.objects.filter(
            system=plan.system, pk__gt=plan.sampled_through, received_at__lt=now - SAMPLING_LAG
        )
        .order_by("pk")
        .values_list("pk", "label")[:SAMPLING_CHUNK]
    )
    if not rows:
        return 0
    through = rows[-1][0]
    base = sampling.base_probability(settings_, found, days)
    chosen = sampling.choose(
        [(str(pk), label) for pk, label in rows], probabilities, base, rng, plan.double_share
    )
    with transaction.atomic():
        moved = ReviewPlan.objects.filter(pk=plan.pk, sampled_through=plan.sampled_through).update(
            sampled_through=through, sampled_at=now
        )
        if not moved:
            return 0
        labels = dict(rows)
        ReviewItem.objects.bulk_create(
            [
                ReviewItem(
                    system=plan.system,
                    event_id=int(pk),
                    probability=probability,
                    stratum=labels[int(pk)],
                    reviews_needed=2 if double else 1,
                    sampled_at=now,
                )
                for pk, probability, double in chosen
            ],
            ignore_conflicts=True,
        )
    return len(chosen)


def _sample_incident(incident, now, rng) -> int:
    """The blast radius reviewed: about INCIDENT_SAMPLE outputs of the incident's window."""
    since, until = incident_window(incident, now)
    queued = 0
    for system in incident.systems.all():
        already = ReviewItem.objects.filter(system=system, incident=incident).count()
        if already >= INCIDENT_SAMPLE:
            continue
        events = Event.objects.filter(system=system, ts__gte=since, ts__lt=until)
        total = events.count()
        if not total:
            continue
        plan = getattr(system, "review_plan", None)
        settings_ = sampling.Plan(
            per_day=plan.per_day if plan else 40,
            oversample={},
            double_share=plan.double_share if plan else 0.05,
        )
        probability = sampling.incident_probability(total, INCIDENT_SAMPLE - already)
        rows = list(
            events.exclude(review_item__isnull=False).values_list("pk", "label")[:SAMPLING_CHUNK]
        )
        chosen = sampling.choose(
            [(str(pk), label) for pk, label in rows], {}, probability, rng, settings_.double_share
        )
        labels = dict(rows)
        created = ReviewItem.objects.bulk_create(
            [
                ReviewItem(
                    system=system,
                    event_id=int(pk),
                    incident=incident,
                    probability=p,
                    stratum=labels[int(pk)],
                    reviews_needed=2 if double else 1,
                    sampled_at=now,
                )
                for pk, p, double in chosen
            ],
            ignore_conflicts=True,
        )
        queued += len(created)
    return queued


@transaction.atomic
def verdict_record(
    *, actor, item: ReviewItem, correct: bool, expected: str = "", note: str = ""
) -> ReviewItem:
    """A reviewer's verdict. One reviewer, one verdict per item; an item for two reviewers
    is decided when both agree, and disputed until a third settles it."""
    require(actor, "review.view")
    item = ReviewItem.objects.select_for_update().get(pk=item.pk)
    if item.status == ReviewItem.Status.DONE:
        raise ReviewError("This output has been reviewed already.", "item")
    if Verdict.objects.filter(item=item, reviewer=actor).exists():
        raise ReviewError("You have judged this output already.", "item")
    verdict = Verdict.objects.create(
        item=item, reviewer=actor, correct=correct, expected=expected[:500], note=note
    )
    given = list(item.verdicts.order_by("at", "pk"))
    if item.status == ReviewItem.Status.DISPUTED or len(given) >= item.reviews_needed:
        agreed = {v.correct for v in given[:2]}
        # A third look settles a dispute; two who agree decide.
        if item.status == ReviewItem.Status.DISPUTED or len(agreed) == 1:
            item.status, item.correct = ReviewItem.Status.DONE, verdict.correct
        else:
            item.status = ReviewItem.Status.DISPUTED
        if item.status == ReviewItem.Status.DONE:
            item.decided_at = verdict.at
        item.save(update_fields=["status", "correct", "decided_at"])
    audit_record(
        actor=actor,
        verb="review.verdict",
        target=item,
        after={"correct": correct, "expected": expected[:500], "note": note, "status": item.status},
    )
    return item


def review_items_expire(sender, *, table: str, **kwargs) -> int:
    """The review items (and verdicts) of the raw events in a day table about to be dropped
    (`monitoring.signals.events_expiring`): what was reviewed goes with what it reviewed."""
    # The table is one Failsafe made (monitoring.partitions), never input.
    expiring = RawSQL(  # noqa: S611
        f"SELECT r.id FROM monitoring_reviewitem r JOIN {table} e ON e.id = r.event_id",  # noqa: S608
        [],
    )
    deleted, _ = ReviewItem.objects.filter(pk__in=expiring).delete()
    return deleted
