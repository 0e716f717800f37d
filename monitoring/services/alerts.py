"""Alerts: a monitor firing opens one, brought to the system's open incident (or to a new
SEV3 it opens); the signal back in its band resolves it."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.services import audit_record
from incidents.models import Incident, TimelineEntry
from incidents.services.incident import incident_declare
from incidents.services.timeline import timeline_record
from monitoring.models import Alert, Monitor, Rollup
from monitoring.selectors.signals import counted, share_of


def _percent_or_number(monitor: Monitor, value) -> str:
    if value is None:
        return "no data"
    if monitor.is_rate or not (monitor.kind == Monitor.Kind.NUMERIC or monitor.numeric):
        return f"{value:.1%}"
    # A mean of tokens reads as a whole number; a mean score (0.82) keeps its digits.
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.2g}"


def alert_summary(monitor: Monitor, evidence: dict) -> str:
    """One line a responder reads first: what moved, from what, to what."""
    if evidence["kind"] == "breaker":
        # The action gate's circuit breaker raises these: counts per window.
        baseline = evidence.get("baseline")
        was = "no baseline yet" if baseline is None else f"a baseline of {baseline:.1f}"
        return (
            f"{monitor.name}: {evidence['requests']} {evidence['action']} requests in "
            f"{evidence['window_seconds']} s against {was} (limit {evidence['threshold']}); "
            "new ones are held"
        )
    now = _percent_or_number(monitor, evidence.get("current"))
    was = _percent_or_number(monitor, evidence.get("baseline"))
    if evidence["kind"] == "rate":
        how = "rose" if evidence["direction"] == "up" else "fell"
        what, name = counted(monitor), monitor.name
        # A name may not say what these count ("Quality (faithfulness below 0.5) rose…").
        said = (Monitor.Kind.ERROR_RATE, Monitor.Kind.FINISH_REASON, Monitor.Kind.SCORE_SHARE)
        if monitor.kind in said and what.lower() not in name.lower():
            name = f"{name} ({what})"
        return f"{name} {how} to {now} {share_of(monitor)} against a baseline of {was}"
    if evidence["kind"] == "accuracy":
        return (
            f"{monitor.name} fell to {now} over {evidence['current_events']} reviewed outputs "
            f"against a baseline of {was}"
        )
    return (
        f"{monitor.name} changed shape ({evidence['test']} {evidence['statistic']:.2f}): "
        f"{now} against a baseline of {was}"
    )


@transaction.atomic
def alert_raise(*, monitor: Monitor, evidence: dict, now: datetime | None = None):
    """Open an alert (one per monitor at a time) and bring it to an incident: the system's
    open one, or a new SEV3 opened by the alert."""
    now = now or timezone.now()
    if Alert.objects.filter(monitor=monitor, status=Alert.Status.OPEN).exists():
        return None
    system = monitor.system
    onset = min(datetime.fromisoformat(evidence["onset"]), now)
    summary = alert_summary(monitor, evidence)
    alert = Alert.objects.create(
        monitor=monitor,
        system=system,
        opened_at=now,
        onset_at=onset,
        evidence=evidence,
        summary=summary[:300],
    )
    incident = alert_incident(
        actor=monitor,
        alert=alert,
        title=f"{monitor.name} shifted on {system.name}",
        summary=summary,
        now=now,
    )
    audit_record(
        actor=monitor,
        verb="alert.raise",
        target=alert,
        after={"summary": summary, "incident": incident.number, "evidence": evidence},
    )
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.ALERT,
        actor=monitor,
        at=now,
        text=f"Alert: {summary}. Estimated onset {onset:%H:%M:%S} UTC.",
        data={"alert": alert.pk, "monitor": monitor.pk},
    )
    return alert


def alert_incident(*, actor, alert: Alert, title: str, summary: str, now: datetime):
    """Bring a new alert to the system's open incident, or to a SEV3 it opens (harm
    "anomalous", the irreversible-actions answer taken from the events since the onset)."""
    system = alert.system
    incident = Incident.objects.open_for(system).order_by("declared_at").first()
    if incident is None:
        onset = alert.onset_at or now
        incident = incident_declare(
            actor=actor,
            title=title[:200],
            systems=[system],
            summary=summary,
            harm=Incident.Harm.ANOMALOUS,
            irreversible_actions=irreversible_fired_between(system, onset, now),
            source=Incident.Source.ALERT,
            onset_at=onset,
            detected_at=now,
            declared_at=now,
        )
    alert.incident = incident
    alert.save(update_fields=["incident"])
    return incident


def irreversible_fired_between(system, since, until) -> bool:
    """Did actions that cannot be undone fire since the onset? (The severity question.)"""
    irreversible = list(system.action_types.filter(reversible=False).values_list("name", flat=True))
    return (
        bool(irreversible)
        and Rollup.objects.filter(
            system=system,
            signal="action",
            key__in=irreversible,
            bucket__gte=since,
            bucket__lte=until,
        ).exists()
    )


@transaction.atomic
def alert_resolve(*, monitor: Monitor, now: datetime | None = None):
    """The signal is back within its baseline band: close the alert, re-arm the monitor."""
    now = now or timezone.now()
    alert = (
        Alert.objects.select_for_update().filter(monitor=monitor, status=Alert.Status.OPEN).first()
    )
    Monitor.objects.filter(pk=monitor.pk).update(status=Monitor.Status.OK, state=[])
    monitor.status, monitor.state = Monitor.Status.OK, []
    if alert is None:
        return None
    alert.status, alert.resolved_at = Alert.Status.RESOLVED, now
    alert.save(update_fields=["status", "resolved_at"])
    audit_record(
        actor=monitor,
        verb="alert.resolve",
        target=alert,
        before={"status": "open"},
        after={"status": "resolved"},
        reason="The signal returned within its baseline band.",
    )
    if alert.incident_id:
        timeline_record(
            incident=alert.incident,
            kind=TimelineEntry.Kind.ALERT,
            actor=monitor,
            at=now,
            text=f"Resolved: {monitor.name} is back within its baseline band.",
            data={"alert": alert.pk, "monitor": monitor.pk, "resolved": True},
        )
    return alert
