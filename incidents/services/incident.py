"""Every change to an incident: one call writes the change, its audit entry and its
timeline entry in one transaction, and tells the layers above (`incidents.signals`): the
room and the webhooks hear it from comms, reminders are scheduled there too."""

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from core.errors import ServiceError
from core.permissions import require
from core.roles import Role, role_of
from core.services import actor_of, audit_record, snapshot
from incidents import lifecycle, postmortem, severity, signals
from incidents.models import ActionItem, Incident, Postmortem, TimelineEntry

INCIDENT_FIELDS = ["number", "title", "severity", "status", "lead", "onset_at", "detected_at"]
TRIAGE_FIELDS = ["harm", "irreversible_actions", "severity", "severity_override_reason"]
STATUS_FIELDS = ["status", "closed_as_benign", "contained_at", "resolved_at", "closed_at"]
PEOPLE_FIELDS = ["lead", "scribe", "comms_owner"]
# The moment an incident first reaches a status is kept on the incident itself.
STATUS_TIMESTAMPS = {
    Incident.Status.CONTAINED: "contained_at",
    Incident.Status.RESOLVED: "resolved_at",
    Incident.Status.CLOSED: "closed_at",
}
NUMBER_ATTEMPTS = 5
MESSAGE_MAX_LENGTH = 4000


class IncidentError(ServiceError):
    """A change to an incident the rules refuse."""


def timeline_record(*, incident, kind: str, actor, text: str, data=None, at=None):
    """Append to the incident's timeline; everyone in its room sees it once committed."""
    user, label = actor_of(actor)
    entry = TimelineEntry.objects.create(
        incident=incident,
        kind=kind,
        actor=user,
        actor_label=label,
        text=text,
        data=data or {},
        at=at or timezone.now(),
    )
    signals.timeline_recorded.send(sender=TimelineEntry, entry=entry)
    return entry


def timeline_record_on_open(*, systems, kind: str, actor, text: str, data=None, at=None):
    """Write the same line to the timeline of every open incident of these systems (each
    locked, so it cannot close meanwhile); returns those incidents."""
    incidents = list(Incident.objects.open_for(*systems).select_for_update())
    for incident in incidents:
        timeline_record(incident=incident, kind=kind, actor=actor, text=text, data=data, at=at)
    return incidents


def _triage(harm: str, irreversible, chosen: str, reason: str) -> tuple[str, str]:
    """(severity, override reason) from the two answers and an optional override."""
    if not harm:
        if chosen:
            raise IncidentError("Answer the harm question to set a severity.", "harm")
        return "", ""
    if harm not in severity.Harm.values:
        raise IncidentError(f"“{harm}” is not one of {', '.join(severity.Harm.values)}.", "harm")
    assessed = severity.assess(harm, bool(irreversible)).severity
    if not chosen or chosen == assessed:
        return assessed, ""
    if chosen not in severity.Severity.values:
        raise IncidentError(f"“{chosen}” is not a severity.", "severity")
    if not reason.strip():
        raise IncidentError(
            f"The scale gives {assessed}; overriding it to {chosen} needs a reason.",
            "severity_override_reason",
        )
    return chosen, reason.strip()


def _severity_text(incident: Incident) -> str:
    """The severity and why, as one sentence ending in a full stop."""
    if not incident.severity:
        return "unclassified."
    if incident.severity_override_reason:
        return (
            f"{incident.severity} (overridden from {incident.severity_assessed}: "
            f"{incident.severity_override_reason})."
        )
    return (
        f"{incident.severity}: {severity.assess(incident.harm, incident.irreversible_actions).why}"
    )


def _tell(incident: Incident, change: str, *, actor, at, **details) -> None:
    signals.incident_changed.send(
        sender=Incident, incident=incident, change=change, actor=actor, at=at, **details
    )


def incident_declare(
    *,
    actor,
    title: str,
    systems,
    summary: str = "",
    harm: str = "",
    irreversible_actions=None,
    severity: str = "",
    severity_override_reason: str = "",
    lead=None,
    onset_at=None,
    detected_at=None,
    declared_at=None,
    source: str = Incident.Source.PERSON,
) -> Incident:
    """Open an incident in triage. Two declared at once race for a number: retry."""
    if not systems:
        raise IncidentError("Name the AI system (or systems) involved.", "systems")
    chosen, override_reason = _triage(
        harm, irreversible_actions, severity, severity_override_reason
    )
    if override_reason:
        # As in incident_classify: an incident lead, or the person who will lead this one.
        require(actor, "incident.override", Incident(lead=lead))
    declared_at = declared_at or timezone.now()
    opened = "Opened by an alert" if source == Incident.Source.ALERT else "Declared"
    if onset_at and onset_at > declared_at:
        raise IncidentError("The onset cannot be after the incident was declared.", "onset_at")
    for attempt in range(1, NUMBER_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                number = (Incident.objects.aggregate(n=Max("number"))["n"] or 0) + 1
                incident = Incident.objects.create(
                    number=number,
                    title=title,
                    summary=summary,
                    source=source,
                    harm=harm,
                    irreversible_actions=irreversible_actions if harm else None,
                    severity=chosen,
                    severity_override_reason=override_reason,
                    lead=lead,
                    declared_by=actor if role_of(actor) else None,
                    declared_at=declared_at,
                    onset_at=onset_at,
                    # A person noticed: that is when it was detected, unless told otherwise.
                    detected_at=detected_at or declared_at,
                )
                incident.systems.set(systems)
                after = snapshot(incident, INCIDENT_FIELDS + TRIAGE_FIELDS)
                after["systems"] = sorted(s.slug for s in systems)
                audit_record(actor=actor, verb="incident.declare", target=incident, after=after)
                timeline_record(
                    incident=incident,
                    kind=TimelineEntry.Kind.DECLARED,
                    actor=actor,
                    at=declared_at,
                    text=f"{opened}: {title}. Severity {_severity_text(incident)}",
                )
                if lead is not None:
                    incident.participants.add(lead)
                _tell(incident, signals.DECLARED, actor=actor, at=declared_at)
                return incident
        except IntegrityError:
            if attempt == NUMBER_ATTEMPTS:
                raise


EDIT_FIELDS = ["title", "summary", "onset_at"]


@transaction.atomic
def incident_edit(*, actor, incident: Incident, **changes) -> Incident:
    """Correct the title, summary or onset (the onset moves the time to detect)."""
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    unknown = set(changes) - set(EDIT_FIELDS)
    if unknown:
        raise IncidentError(f"Not editable here: {', '.join(sorted(unknown))}.")
    if "title" in changes and not changes["title"].strip():
        raise IncidentError("An incident needs a title.", "title")
    onset = changes.get("onset_at", incident.onset_at)
    if onset and onset > incident.declared_at:
        raise IncidentError("The onset cannot be after the incident was declared.", "onset_at")
    before = snapshot(incident, EDIT_FIELDS)
    for field, value in changes.items():
        setattr(incident, field, value)
    after = snapshot(incident, EDIT_FIELDS)
    if after == before:
        return incident
    incident.save(update_fields=list(changes))
    audit_record(actor=actor, verb="incident.edit", target=incident, before=before, after=after)
    changed = [f.replace("_at", "").replace("_", " ") for f in EDIT_FIELDS if before[f] != after[f]]
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.EDIT,
        actor=actor,
        text=f"Edited the {', '.join(changed)}.",
        data={f: after[f] for f in EDIT_FIELDS if before[f] != after[f]},
    )
    return incident


@transaction.atomic
def incident_classify(
    *,
    actor,
    incident: Incident,
    harm: str,
    irreversible_actions: bool,
    severity: str = "",
    severity_override_reason: str = "",
) -> Incident:
    """Answer the two triage questions again (e.g. escalate a SEV3 once harm is confirmed)."""
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if not incident.is_open:
        raise IncidentError("A resolved or closed incident is not reclassified.")
    if not harm:
        raise IncidentError("Say how bad the outputs were.", "harm")
    chosen, override_reason = _triage(
        harm, irreversible_actions, severity, severity_override_reason
    )
    if override_reason:
        require(actor, "incident.override", incident)
    before = snapshot(incident, TRIAGE_FIELDS)
    incident.harm = harm
    incident.irreversible_actions = bool(irreversible_actions)
    incident.severity = chosen
    incident.severity_override_reason = override_reason
    after = snapshot(incident, TRIAGE_FIELDS)
    if after == before:
        return incident
    incident.save(update_fields=TRIAGE_FIELDS)
    audit_record(
        actor=actor,
        verb="incident.classify",
        target=incident,
        before=before,
        after=after,
        reason=override_reason,
    )
    changed = before["severity"] != chosen
    was = before["severity"] or "unclassified"
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.SEVERITY,
        actor=actor,
        text=(f"Severity {was} → " if changed else "Triage answers changed; severity ")
        + _severity_text(incident),
        data={"from": before["severity"], "to": chosen},
    )
    if changed:
        _tell(incident, signals.SEVERITY_CHANGED, actor=actor, at=timezone.now())
    return incident


@transaction.atomic
def incident_status_change(
    *, actor, incident: Incident, status: str, reason: str = "", benign: bool = False, at=None
) -> Incident:
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if status == Incident.Status.CLOSED:
        require(actor, "incident.close", incident)
    try:
        lifecycle.check_transition(
            current=incident.status,
            to=status,
            severity=incident.severity,
            has_postmortem=ActionItem.objects.filter(postmortem__incident=incident).exists(),
            benign=benign,
            reason=reason,
        )
    except lifecycle.TransitionRefused as refused:
        raise IncidentError(str(refused), "status") from refused
    now = at or timezone.now()
    before = snapshot(incident, STATUS_FIELDS)
    reopening = incident.status == Incident.Status.RESOLVED and status != Incident.Status.CLOSED
    incident.status = status
    incident.closed_as_benign = benign
    if reopening:
        incident.resolved_at = None  # time to resolve counts to the final resolution
    stamp = STATUS_TIMESTAMPS.get(status)
    if stamp and getattr(incident, stamp) is None:
        setattr(incident, stamp, now)
    incident.save(update_fields=STATUS_FIELDS)
    audit_record(
        actor=actor,
        verb="incident.status_change",
        target=incident,
        before=before,
        after=snapshot(incident, STATUS_FIELDS),
        reason=reason,
    )
    label = "closed as a benign shift" if benign else status
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.STATUS,
        actor=actor,
        at=now,
        text=f"Status {before['status']} → {label}." + (f" {reason}" if reason else ""),
        data={"from": before["status"], "to": status, "benign": benign},
    )
    _tell(incident, signals.STATUS_CHANGED, actor=actor, at=now, previous=before["status"])
    return incident


def _responder(person, field: str):
    role = role_of(person)
    if role is None or role < Role.RESPONDER:
        raise IncidentError(f"{person.get_username()} is not a responder.", field)


@transaction.atomic
def incident_people_change(*, actor, incident: Incident, **people) -> Incident:
    """Hand over the lead, or name the scribe or comms owner (None takes the role away).

    With no lead, any responder may take the lead themselves; otherwise the lead decides.
    """
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    unknown = set(people) - set(PEOPLE_FIELDS)
    if unknown:
        raise IncidentError(f"Not an incident role: {', '.join(sorted(unknown))}.")
    taking_lead = set(people) == {"lead"} and incident.lead_id is None and people["lead"] == actor
    require(actor, "incident.triage" if taking_lead else "incident.lead", incident)
    if "lead" in people and people["lead"] is None:
        raise IncidentError("An incident always keeps a lead once it has one.", "lead")
    for field, person in people.items():
        if person is not None:
            _responder(person, field)
    before = snapshot(incident, PEOPLE_FIELDS)
    for field, person in people.items():
        setattr(incident, field, person)
    after = snapshot(incident, PEOPLE_FIELDS)
    if after == before:
        return incident
    incident.save(update_fields=list(people))
    incident.participants.add(*(p for p in people.values() if p is not None))
    audit_record(actor=actor, verb="incident.people", target=incident, before=before, after=after)
    names = {"lead": "Lead", "scribe": "Scribe", "comms_owner": "Comms owner"}
    changes = [
        f"{names[f]}: {before[f] or 'nobody'} → {after[f] or 'nobody'}"
        for f in PEOPLE_FIELDS
        if before[f] != after[f]
    ]
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.PEOPLE,
        actor=actor,
        text="; ".join(changes) + ".",
        data={f: after[f] for f in PEOPLE_FIELDS if before[f] != after[f]},
    )
    return incident


@transaction.atomic
def incident_join(*, actor, incident: Incident) -> None:
    require(actor, "incident.message", incident)
    if not incident.participants.filter(pk=actor.pk).exists():
        incident.participants.add(actor)
        timeline_record(
            incident=incident,
            kind=TimelineEntry.Kind.PEOPLE,
            actor=actor,
            text=f"{actor.get_username()} joined the response.",
        )


@transaction.atomic
def incident_message_post(*, actor, incident: Incident, text: str) -> TimelineEntry:
    """A message in the incident room: on the timeline, for everyone on the page."""
    require(actor, "incident.message", incident)
    text = text.strip()
    if not text:
        raise IncidentError("Write something first.", "text")
    if len(text) > MESSAGE_MAX_LENGTH:
        raise IncidentError(f"Keep a message under {MESSAGE_MAX_LENGTH} characters.", "text")
    incident.participants.add(actor)
    return timeline_record(
        incident=incident, kind=TimelineEntry.Kind.MESSAGE, actor=actor, text=text
    )


# --- Postmortems and action items ------------------------------------------------------------

ACTION_ITEM_FIELDS = ["title", "owner", "due", "category", "status"]


def postmortem_open(*, actor, incident: Incident, facts: dict, now=None) -> Postmortem:
    """Open the incident's postmortem with its facts and first drafts (once; on resolve)."""
    existing = Postmortem.objects.filter(incident=incident).first()
    if existing is not None:
        return existing
    drafts = postmortem.drafts_from(facts)
    found = Postmortem.objects.create(incident=incident, facts=facts, **drafts)
    audit_record(actor=actor, verb="postmortem.open", target=found, after={"facts": facts})
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.POSTMORTEM,
        actor=actor,
        at=now,
        text="Postmortem opened, its facts filled in from the incident.",
    )
    return found


@transaction.atomic
def postmortem_edit(*, actor, postmortem: Postmortem, **sections) -> Postmortem:
    require(actor, "postmortem.write", postmortem.incident)
    postmortem = Postmortem.objects.select_for_update().get(pk=postmortem.pk)
    unknown = set(sections) - set(Postmortem.SECTIONS)
    if unknown:
        raise IncidentError(f"Not a section: {', '.join(sorted(unknown))}.")
    if sections.get("cause", "") not in Postmortem.Cause.values:
        raise IncidentError("One of the surfaces, the input distribution, or other.", "cause")
    before = snapshot(postmortem, Postmortem.SECTIONS)
    for field, value in sections.items():
        setattr(postmortem, field, value.strip() if isinstance(value, str) else value)
    after = snapshot(postmortem, Postmortem.SECTIONS)
    if after == before:
        return postmortem
    postmortem.save()
    audit_record(actor=actor, verb="postmortem.edit", target=postmortem, before=before, after=after)
    return postmortem


@transaction.atomic
def action_item_add(
    *, actor, postmortem: Postmortem, title: str, owner, due, category: str
) -> ActionItem:
    require(actor, "postmortem.write", postmortem.incident)
    if not title.strip():
        raise IncidentError("Say what must change.", "title")
    if owner is None or not owner.is_active:
        raise IncidentError("Every action item has an owner.", "owner")
    if category not in ActionItem.Category.values:
        raise IncidentError(f"One of {', '.join(ActionItem.Category.values)}.", "category")
    if due is None:
        raise IncidentError("Every action item has a due date.", "due")
    user, _ = actor_of(actor)
    item = ActionItem.objects.create(
        postmortem=postmortem,
        title=title.strip(),
        owner=owner,
        due=due,
        category=category,
        created_by=user,
    )
    audit_record(
        actor=actor, verb="action_item.add", target=item, after=snapshot(item, ACTION_ITEM_FIELDS)
    )
    timeline_record(
        incident=postmortem.incident,
        kind=TimelineEntry.Kind.POSTMORTEM,
        actor=actor,
        text=f"Action item for {owner.get_username()}, due {due:%Y-%m-%d}: {item.title} "
        f"({item.get_category_display()}).",
    )
    return item


@transaction.atomic
def action_item_status(*, actor, item: ActionItem, status: str) -> ActionItem:
    """Done, or open again. Its owner or anyone who may write the postmortem."""
    item = (
        ActionItem.objects.select_for_update()
        .select_related("postmortem__incident")
        .get(pk=item.pk)
    )
    if actor != item.owner:
        require(actor, "postmortem.write", item.postmortem.incident)
    if status not in ActionItem.Status.values:
        raise IncidentError("open or done.", "status")
    if status == item.status:
        return item
    before = snapshot(item, ACTION_ITEM_FIELDS)
    item.status = status
    item.done_at = timezone.now() if status == ActionItem.Status.DONE else None
    item.save(update_fields=["status", "done_at"])
    audit_record(
        actor=actor,
        verb="action_item.status",
        target=item,
        before=before,
        after=snapshot(item, ACTION_ITEM_FIELDS),
    )
    timeline_record(
        incident=item.postmortem.incident,
        kind=TimelineEntry.Kind.POSTMORTEM,
        actor=actor,
        text=f"Action item {'done' if status == ActionItem.Status.DONE else 'reopened'}: "
        f"{item.title}.",
    )
    return item


def action_items_send_overdue(now=None) -> int:
    """Tell the room and the webhooks about action items past their due date, once each.

    Claimed with a conditional UPDATE on `overdue_sent_at`, so two sweeps notify once."""
    now = now or timezone.now()
    sent = 0
    due = ActionItem.objects.filter(
        status=ActionItem.Status.OPEN, due__lt=timezone.localdate(now), overdue_sent_at=None
    ).values_list("pk", flat=True)
    for pk in list(due):
        with transaction.atomic():
            if not ActionItem.objects.filter(pk=pk, overdue_sent_at=None).update(
                overdue_sent_at=now
            ):
                continue
            item = ActionItem.objects.select_related("postmortem__incident", "owner").get(pk=pk)
            incident = item.postmortem.incident
            timeline_record(
                incident=incident,
                kind=TimelineEntry.Kind.REMINDER,
                actor=None,
                at=now,
                text=f"Action item overdue since {item.due:%Y-%m-%d}: {item.title} "
                f"(owner {item.owner.get_username()}).",
            )
            _tell(incident, signals.ACTION_ITEM_OVERDUE, actor=None, at=now, item=item)
            sent += 1
    return sent
