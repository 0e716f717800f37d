"""Spans and log records in (OTLP/HTTP, docs/TELEMETRY.md): each generative-AI span stored
as an event through monitoring's own ingestion, each evaluation result added as a score,
and the system's intake counted (`OtlpIntake`) in the same transaction."""

import math
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from monitoring import contract, partitions
from monitoring.services.ingest import checked_store, scores_add
from systems.models import AISystem
from telemetry.errors import OtlpRefused
from telemetry.models import OtlpIntake
from telemetry.otlp import mapping
from telemetry.otlp.records import LogRecord, Resource, SpanRecord

# The partial success names this many rejections, then how many more there were.
SHOWN_PROBLEMS = 5


@dataclass
class Outcome:
    """What the answer's partial success says: how many were rejected and why, and what
    was skipped."""

    rejected: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def reject(self, problem: str, count: int = 1) -> None:
        self.rejected += count
        self.problems.append(problem)

    @property
    def message(self) -> str:
        parts = self.problems[:SHOWN_PROBLEMS]
        if len(self.problems) > SHOWN_PROBLEMS:
            parts.append(f"and {len(self.problems) - SHOWN_PROBLEMS} more")
        said = f"Rejected {'; '.join(parts)}." if parts else ""
        return " ".join([said, *self.notes]).strip()


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def spans_ingest(*, system_id: int, resources: list[Resource], now: datetime | None = None):
    """Store the generative-AI spans of a traces request as events of the token's system.

    A span that is no generative-AI call is skipped; one whose event the contract refuses
    is rejected with its reason, the others stored; a resent span is a duplicate. Spans
    of another system's resource are rejected, and a request of nothing else is refused
    (403)."""
    system = _system(system_id)
    now = now or timezone.now()
    outcome = Outcome()
    spans: list[SpanRecord] = [
        span for resource in _own(system, resources, outcome, now) for span in resource.records
    ]
    generation = [span for span in spans if mapping.is_generation(span.attributes)]
    skipped = len(spans) - len(generation)
    if skipped:
        outcome.notes.append(
            "1 span was not a generative-AI call and was skipped."
            if skipped == 1
            else f"{skipped} spans were not generative-AI calls and were skipped."
        )
    checked = _checked(system, generation, now, outcome)
    with transaction.atomic():
        counts = checked_store(system=system, checked=checked, now=now)
        _intake_add(
            system,
            now,
            outcome,
            spans_accepted=counts["accepted"],
            spans_duplicate=counts["duplicates"],
            spans_skipped=skipped,
            spans_rejected=outcome.rejected,
        )
    return outcome


def _checked(system: AISystem, spans: list[SpanRecord], now: datetime, outcome: Outcome) -> list:
    """The spans' events that pass the event contract and are within the system's
    retention; each refused span rejected with its first problem."""
    retention_days = system.retention_days
    oldest = partitions.oldest_kept(now, retention_days)
    checked: list[contract.Checked] = []
    for start in range(0, len(spans), contract.MAX_EVENTS):
        kept: list[SpanRecord] = []
        events = []
        nul = False
        for span in spans[start : start + contract.MAX_EVENTS]:
            event = mapping.span_event(span)
            ts = event["ts"]
            if isinstance(ts, datetime) and ts < oldest:
                outcome.reject(
                    f"{span.path} (span {span.span_id}): ts: older than this system keeps "
                    f"events ({retention_days} days)"
                )
                continue
            kept.append(span)
            events.append(event)
            nul = nul or mapping.may_hold_nul(span)
        if not events:
            continue
        found, problems = contract.events_check({"events": events}, now, nul=nul)
        checked += found
        first: dict[int, dict] = {}
        for problem in problems:
            first.setdefault(problem["index"], problem)
        for index, problem in first.items():
            span = kept[index]
            outcome.reject(
                f"{span.path} (span {span.span_id}): {problem['field']}: {problem['message']}"
            )
    return checked


def logs_ingest(*, system_id: int, resources: list[Resource], now: datetime | None = None):
    """Add the evaluation results of a logs request as scores of their spans' events.

    Results for one span in the same request are joined; a score its event already has
    is not added again (a resent request counts once). A result whose span has not been
    received, or that is not a valid score, is rejected; other log records are skipped."""
    system = _system(system_id)
    now = now or timezone.now()
    outcome = Outcome()
    records: list[LogRecord] = [
        record for resource in _own(system, resources, outcome, now) for record in resource.records
    ]
    scores: dict[str, dict[str, float]] = {}
    senders: dict[str, list[LogRecord]] = {}
    skipped = 0
    for record in records:
        found = mapping.evaluation(record.attributes) if mapping.is_evaluation(record) else None
        if found is None:
            skipped += 1
            continue
        problem = _score_problem(record, *found)
        if problem:
            outcome.reject(f"{record.path}: {problem}")
            continue
        scores.setdefault(record.span_id, {}).setdefault(found[0], float(found[1]))  # type: ignore[arg-type]
        senders.setdefault(record.span_id, []).append(record)
    if skipped:
        outcome.notes.append(
            f"{_plural(skipped, 'log record')} without an evaluation score "
            f"{'was' if skipped == 1 else 'were'} skipped."
        )
    with transaction.atomic():
        added = scores_add(system=system, scores=scores) if scores else {"added": 0, "missing": []}
        for span_id in added["missing"]:
            for record in senders[span_id]:
                outcome.reject(
                    f"{record.path}: no span {span_id} has been received; send an evaluation "
                    "result after its span"
                )
        _intake_add(
            system,
            now,
            outcome,
            scores_added=added["added"],
            log_records_skipped=skipped,
            log_records_rejected=outcome.rejected,
        )
    return outcome


def _system(system_id: int) -> AISystem:
    # Storing needs only its key and slug; a request's few queries are a visible share of it.
    system = AISystem.objects.only("pk", "slug", "retention_days").filter(pk=system_id).first()
    if system is None:  # deleted while its token's card was still cached
        raise OtlpRefused(401, "This token's system no longer exists.")
    return system


def _score_problem(record: LogRecord, name: str, value) -> str:
    if not record.span_id:
        return "spanId: an evaluation result names the span it scores"
    if not contract.SCORE_NAME.fullmatch(name):
        return "gen_ai.evaluation.name: 1 to 64 letters, digits or _ . : -"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return "gen_ai.evaluation.score.value: a finite number"
    return ""


def _own(system: AISystem, resources: list[Resource], outcome: Outcome, now) -> list[Resource]:
    """The resources this system's token may report: not those whose `service.name` is
    another system's slug. When those are all there is, the request is refused."""
    names = {r.service_name for r in resources if r.service_name and r.service_name != system.slug}
    if not names:
        return resources
    foreign = set(AISystem.objects.filter(slug__in=names).values_list("slug", flat=True))
    own = [resource for resource in resources if resource.service_name not in foreign]
    for resource in resources:
        if resource.service_name in foreign:
            outcome.reject(
                f"{resource.path}: service.name {resource.service_name!r} is another "
                f"system's; this token reports for {system.slug}",
                count=len(resource.records),
            )
    if outcome.rejected and not any(resource.records for resource in own):
        message = f"Every resource is another system's; this token reports for {system.slug}."
        intake_refuse(system_id=system.pk, reason=message, now=now)
        raise OtlpRefused(403, message)
    return own


def _intake_update(system_id: int, fields: dict) -> None:
    if not OtlpIntake.objects.filter(system_id=system_id).update(**fields):
        OtlpIntake.objects.bulk_create([OtlpIntake(system_id=system_id)], ignore_conflicts=True)
        OtlpIntake.objects.filter(system_id=system_id).update(**fields)


def _intake_add(system: AISystem, now, outcome: Outcome, **counts: int) -> None:
    fields: dict = {name: F(name) + n for name, n in counts.items() if n}
    fields["received_at"] = now
    if outcome.problems:
        fields |= {"rejection": outcome.problems[0][:500], "rejected_at": now}
    _intake_update(system.pk, fields)


def intake_refuse(*, system_id: int, reason: str, now: datetime | None = None) -> None:
    """A whole request refused (nothing of it stored): counted, with its reason, so the
    system's page says why its exporter's requests fail."""
    now = now or timezone.now()
    with transaction.atomic():
        _intake_update(
            system_id,
            {
                "requests_refused": F("requests_refused") + 1,
                "received_at": now,
                "rejection": reason[:500],
                "rejected_at": now,
            },
        )
