"""Alerts from a team's own tools (Alertmanager, Grafana, anything speaking PagerDuty's
Events API): one open per fingerprint, brought to the system's open incident or to a new
SEV3 it opens, like a monitor's; repeats while open are deduplicated; the sender resolves
(or acknowledges) it. The intake that reads their payloads is telemetry's."""

import uuid
from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from core.services import audit_record
from incidents.models import TimelineEntry
from incidents.services.timeline import timeline_record
from monitoring.models import Alert
from monitoring.services.alerts import alert_incident
from systems.models import AISystem

# The labels written on the timeline, as "name=value, …", cut at this length.
LABELS_TEXT_LENGTH = 500


def labels_text(labels: dict) -> str:
    text = ", ".join(f"{name}={value}" for name, value in labels.items())
    return text if len(text) <= LABELS_TEXT_LENGTH else text[: LABELS_TEXT_LENGTH - 1] + "…"


def _open_alert(system, source: str, fingerprint: str):
    """The open alert of this fingerprint, locked after its system (the order every
    writer here takes them in, so a notification firing one alert and resolving another
    never deadlocks with one doing the opposite)."""
    AISystem.objects.select_for_update().get(pk=system.pk)
    return (
        Alert.objects.select_for_update(of=("self",))
        .filter(system=system, source=source, fingerprint=fingerprint, status=Alert.Status.OPEN)
        .select_related("incident")
        .first()
    )


@transaction.atomic
def external_alert_fire(
    *,
    actor,
    system: AISystem,
    source: str,
    fingerprint: str,
    summary: str,
    labels: dict,
    annotations: dict,
    starts_at: datetime | None,
    link: str = "",
    now: datetime | None = None,
) -> tuple[Alert, bool]:
    """Open an alert and bring it to an incident, or, while one with this fingerprint is
    open, only note it was seen again. (alert, whether it was opened now.)"""
    now = now or timezone.now()
    # PagerDuty makes up a dedup_key for a trigger without one, and answers it.
    fingerprint = fingerprint or uuid.uuid4().hex
    # Locking the system serializes its senders: two of the same alert at once open it
    # once, and two different alerts open one incident between them.
    alert = _open_alert(system, source, fingerprint)
    if alert is not None:
        alert.last_seen_at = now
        alert.save(update_fields=["last_seen_at"])
        return alert, False
    onset = min(starts_at or now, now)
    alert = Alert.objects.create(
        system=system,
        source=source,
        fingerprint=fingerprint,
        labels=labels,
        annotations=annotations,
        opened_at=now,
        onset_at=onset,
        last_seen_at=now,
        evidence={"kind": "external", "link": link},
        summary=summary[:300],
    )
    sender = alert.get_source_display()
    incident = alert_incident(
        actor=actor,
        alert=alert,
        title=f"{sender} alert on {system.name}: {summary}",
        summary=summary,
        now=now,
    )
    audit_record(
        actor=actor,
        verb="alert.raise",
        target=alert,
        after={
            "summary": alert.summary,
            "incident": incident.number,
            "source": source,
            "fingerprint": fingerprint,
            "labels": labels,
        },
    )
    shown = f" Labels: {labels_text(labels)}." if labels else ""
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.ALERT,
        actor=actor,
        at=now,
        text=(
            f"Alert from {sender}: {alert.summary}.{shown} "
            f"Started {onset.astimezone(UTC):%H:%M:%S} UTC."
        ),
        data={"alert": alert.pk, "source": source, "labels": labels},
    )
    return alert, True


@transaction.atomic
def external_alert_resolve(
    *, actor, system: AISystem, source: str, fingerprint: str, now: datetime | None = None
) -> Alert | None:
    """The sender says the alert is resolved: close it and say so on its incident's
    timeline. None when no such alert is open (a repeat, or one never seen firing)."""
    now = now or timezone.now()
    alert = _open_alert(system, source, fingerprint)
    if alert is None:
        return None
    alert.status, alert.resolved_at, alert.last_seen_at = Alert.Status.RESOLVED, now, now
    alert.save(update_fields=["status", "resolved_at", "last_seen_at"])
    sender = alert.get_source_display()
    audit_record(
        actor=actor,
        verb="alert.resolve",
        target=alert,
        before={"status": "open"},
        after={"status": "resolved"},
        reason=f"{sender} says it is resolved.",
    )
    if alert.incident_id:
        timeline_record(
            incident=alert.incident,
            kind=TimelineEntry.Kind.ALERT,
            actor=actor,
            at=now,
            text=f"Resolved: {alert.summary} ({sender} says it is resolved).",
            data={"alert": alert.pk, "source": source, "resolved": True},
        )
    return alert


@transaction.atomic
def external_alert_acknowledge(
    *, actor, system: AISystem, source: str, fingerprint: str, now: datetime | None = None
) -> Alert | None:
    """Someone took the alert on at the sender: on the incident's timeline, once. None
    when no such alert is open."""
    now = now or timezone.now()
    alert = _open_alert(system, source, fingerprint)
    if alert is None:
        return None
    alert.last_seen_at = now
    if alert.evidence.get("acknowledged_at"):
        alert.save(update_fields=["last_seen_at"])
        return alert
    alert.evidence = {**alert.evidence, "acknowledged_at": now.isoformat()}
    alert.save(update_fields=["last_seen_at", "evidence"])
    sender = alert.get_source_display()
    audit_record(
        actor=actor,
        verb="alert.acknowledge",
        target=alert,
        before={"acknowledged": False},
        after={"acknowledged": True},
        reason=f"Acknowledged at {sender}.",
    )
    if alert.incident_id:
        timeline_record(
            incident=alert.incident,
            kind=TimelineEntry.Kind.ALERT,
            actor=actor,
            at=now,
            text=f"Acknowledged at {sender}: {alert.summary}.",
            data={"alert": alert.pk, "source": source, "acknowledged": True},
        )
    return alert
