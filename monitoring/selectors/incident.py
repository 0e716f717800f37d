"""Reads of an incident's evidence from monitoring: its window, the blast radius, the
affected subjects, its alerts, the rollback verdicts, whether irreversible actions fired."""

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from monitoring.models import Alert, Event, Rollup
from rollbacks.models import Deployment

# A rollback made during an incident is confirmed when its alerts resolve within this.
VERIFY_WITHIN = timedelta(minutes=30)


def incident_window(incident, now: datetime | None = None) -> tuple[datetime, datetime]:
    """From the onset (or detection, or declaration) to containment (or now)."""
    start = incident.onset_at or incident.detected_at or incident.declared_at
    end = incident.contained_at or incident.resolved_at or now or timezone.now()
    return start, max(end, start)


def blast_radius(incident, now: datetime | None = None) -> dict:
    """What the model produced, what downstream actions fired, and to whom, from the onset
    to containment, counted from the events of the incident's systems. What the action
    gate stopped meanwhile is the gate's to say: the pages add it
    (`response.blast_radius.blast_radius`)."""
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
    }


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
            verdict["at"] = max(a.resolved_at for a in watched if a.resolved_at)
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
