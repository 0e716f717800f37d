"""Status updates at the severity's cadence, and the reminders that chase them; the
external communication: its obligation, its drafts, approval and publication; templates."""

from datetime import timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from comms import obligation, webhooks, wording
from comms.models import (
    CommApproval,
    CommDecision,
    CommTemplate,
    Communication,
    CommVersion,
    Reminder,
    StatusUpdate,
    Webhook,
)
from comms.selectors import obligation_for
from core.permissions import require
from core.services import audit_record, snapshot
from incidents import severity
from incidents.models import Incident, TimelineEntry
from incidents.services import IncidentError, reminders_cancel, timeline_record

UPDATE_FIELD_MAX = 4000


@transaction.atomic
def status_update_post(
    *, actor, incident: Incident, known: str, doing: str, next_update_at=None
) -> StatusUpdate:
    """Post the structured update; the next one falls due at `next_update_at`, or one
    cadence from now."""
    require(actor, "incident.update", incident)
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if not incident.is_open:
        raise IncidentError("Updates are posted while the incident is open.")
    known, doing = known.strip(), doing.strip()
    for field, value in (("known", known), ("doing", doing)):
        if not value:
            raise IncidentError("Say something here: it is what people will read.", field)
        if len(value) > UPDATE_FIELD_MAX:
            raise IncidentError(f"Keep it under {UPDATE_FIELD_MAX} characters.", field)
    now = timezone.now()
    cadence = severity.update_cadence(incident.severity)
    if next_update_at is not None and next_update_at <= now:
        raise IncidentError("The next update must be in the future.", "next_update_at")
    if next_update_at is not None and cadence and next_update_at > now + cadence:
        minutes = int(cadence.total_seconds() // 60)
        raise IncidentError(
            f"A {incident.severity} owes an update at least every {minutes} minutes.",
            "next_update_at",
        )
    due = next_update_at or (now + cadence if cadence else None)
    update = StatusUpdate.objects.create(
        incident=incident,
        author=actor,
        posted_at=now,
        known=known,
        doing=doing,
        next_update_at=due,
    )
    incident.next_update_due_at = due
    incident.save(update_fields=["next_update_due_at"])
    reminders_cancel(incident, Reminder.Kind.UPDATE_OVERDUE, now)
    if due:
        Reminder.objects.create(incident=incident, kind=Reminder.Kind.UPDATE_OVERDUE, due_at=due)
    audit_record(
        actor=actor,
        verb="incident.status_update",
        target=incident,
        after={"known": known, "doing": doing, "next_update_at": due},
    )
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.STATUS_UPDATE,
        actor=actor,
        at=now,
        text=f"What we know: {known}\nWhat we are doing: {doing}",
        data={"next_update_at": due.isoformat() if due else None},
    )
    return update


def _still_needed(reminder: Reminder, incident: Incident) -> str:
    """What to say, or '' when the reminder no longer applies."""
    if not incident.is_open:
        return ""
    if reminder.kind == Reminder.Kind.UPDATE_OVERDUE:
        due = incident.next_update_due_at
        if due is None or due > reminder.due_at:
            return ""  # an update was posted since: nothing is overdue
        return (
            f"Status update overdue: a {incident.severity} owes one by "
            f"{due:%H:%M} UTC. Post what we know and what we are doing."
        )
    missing = [
        what
        for what, absent in (("lead", not incident.lead_id), ("severity", not incident.severity))
        if absent
    ]
    if not missing:
        return ""
    return f"This incident still has no {' and no '.join(missing)}. Take the lead, or classify it."


def reminder_send(pk: int, now=None) -> bool:
    """Claim one due reminder and send it. True only for the one caller that sent it."""
    now = now or timezone.now()
    incident_id = Reminder.objects.filter(pk=pk).values_list("incident_id", flat=True).first()
    if incident_id is None:
        return False
    with transaction.atomic():
        # Lock the incident first, as every incident change does, so no two lock orders meet.
        incident = Incident.objects.select_for_update().get(pk=incident_id)
        # The claim: of any number of workers, exactly one turns done_at from NULL.
        claimed = Reminder.objects.filter(pk=pk, done_at=None, due_at__lte=now).update(done_at=now)
        if not claimed:
            return False
        reminder = Reminder.objects.get(pk=pk)
        text = _still_needed(reminder, incident)
        if not text:
            return False
        Reminder.objects.filter(pk=pk).update(sent=True)
        timeline_record(
            incident=incident,
            kind=TimelineEntry.Kind.REMINDER,
            actor=None,
            at=now,
            text=text,
            data={"reminder": reminder.kind},
        )
        if reminder.kind == Reminder.Kind.UPDATE_OVERDUE:
            webhooks.webhook_event_emit(Webhook.Event.UPDATE_OVERDUE, incident)
            cadence = severity.update_cadence(incident.severity)
            if cadence:
                # Still overdue a cadence later: one more reminder then, not one per tick.
                Reminder.objects.create(
                    incident=incident,
                    kind=Reminder.Kind.UPDATE_OVERDUE,
                    due_at=max(reminder.due_at + cadence, now + timedelta(minutes=1)),
                )
        else:
            webhooks.webhook_event_emit(Webhook.Event.UNOWNED, incident)
        return True


def reminders_send_due(now=None, limit: int = 200) -> int:
    """The sweep run by beat: send every reminder that is due. Returns how many were sent."""
    now = now or timezone.now()
    due = Reminder.objects.filter(done_at=None, due_at__lte=now).values_list("pk", flat=True)
    return sum(reminder_send(pk, now) for pk in list(due[:limit]))


# --- External communication ------------------------------------------------------------


class CommunicationRefused(IncidentError):
    """A communication change the rules refuse; `field` names the input at fault."""


def _clean_parts(parts: dict) -> dict[str, str]:
    cleaned = {}
    for name, label in wording.PARTS:
        value = str(parts.get(name) or "").strip()
        limit = wording.HEADLINE_MAX if name == "headline" else wording.PART_MAX
        if not value:
            raise CommunicationRefused(f"Write “{label}”: readers need every part.", name)
        if len(value) > limit:
            raise CommunicationRefused(f"Keep “{label}” under {limit} characters.", name)
        cleaned[name] = value
    return cleaned


def _draft_locked(incident: Incident) -> Communication | None:
    return (
        Communication.objects.select_for_update()
        .filter(incident=incident, published_at=None)
        .first()
    )


@transaction.atomic
def communication_save(
    *, actor, incident: Incident, parts: dict, based_on: int | None = None, now=None
) -> CommVersion:
    """Save the draft's words as a new, immutable version; the first save starts the draft.

    `based_on` is the version the person was editing (None for a new draft): when someone
    saved a newer one meanwhile, the save is refused, never silently put on top of theirs.
    """
    require(actor, "comms.draft", incident)
    now = now or timezone.now()
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    cleaned = _clean_parts(parts)
    draft = _draft_locked(incident)
    latest = draft.versions.order_by("-number").first() if draft else None
    if (latest.number if latest else None) != based_on:
        if latest is None:
            raise CommunicationRefused(
                "The draft you were editing was published meanwhile. Your words are below: "
                "save them to start the next update.",
                "based_on",
            )
        raise CommunicationRefused(
            f"{latest.author.get_username()} saved version {latest.number} while you were "
            "editing. Your words are below: compare them with the history, then save again.",
            "based_on",
        )
    if latest is not None and latest.parts == cleaned:
        return latest  # nothing changed: no new version, no approval lost
    if draft is None:
        number = (
            Communication.objects.filter(incident=incident).aggregate(n=Max("number"))["n"] or 0
        ) + 1
        draft = Communication.objects.create(
            incident=incident, number=number, created_by=actor, created_at=now
        )
    version = CommVersion.objects.create(
        communication=draft,
        number=(latest.number if latest else 0) + 1,
        author=actor,
        created_at=now,
        **cleaned,
    )
    audit_record(
        actor=actor,
        verb="comms.draft",
        target=draft,
        before=latest.parts if latest else None,
        after={"version": version.number, **cleaned},
    )
    approved = latest is not None and latest.approvals.exists()
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.COMMUNICATION,
        actor=actor,
        at=now,
        text=(
            f"Drafted external update {draft.number}, version {version.number}: "
            f"“{version.headline}”."
            + (
                f" Version {latest.number} was approved: this one needs approval."
                if approved
                else ""
            )
        ),
        data={"communication": draft.number, "version": version.number, "action": "draft"},
    )
    return version


def _latest_of_draft(incident: Incident, version_number: int, doing: str):
    draft = _draft_locked(incident)
    if draft is None:
        raise CommunicationRefused(f"There is no draft to {doing}: write one first.")
    latest = draft.versions.order_by("-number").first()
    if latest is None or latest.number != version_number:
        raise CommunicationRefused(
            f"Version {version_number} is not the latest: version {latest.number} is. "
            f"Read it, then {doing} that one.",
            "version",
        )
    return draft, latest


@transaction.atomic
def communication_approve(
    *, actor, incident: Incident, version_number: int, now=None
) -> CommApproval:
    """The lead approves one version: the latest. A later edit is a new version, which
    needs approving again."""
    require(actor, "comms.approve", incident)
    now = now or timezone.now()
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    draft, version = _latest_of_draft(incident, version_number, "approve")
    done = version.approvals.select_related("by").first()
    if done is not None:
        raise CommunicationRefused(
            f"Version {version.number} is already approved by {done.by.get_username()}."
        )
    approval = CommApproval.objects.create(version=version, by=actor, at=now)
    audit_record(
        actor=actor,
        verb="comms.approve",
        target=draft,
        after={"version": version.number, "headline": version.headline},
    )
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.COMMUNICATION,
        actor=actor,
        at=now,
        text=f"Approved external update {draft.number}, version {version.number}.",
        data={"communication": draft.number, "version": version.number, "action": "approve"},
    )
    return approval


@transaction.atomic
def communication_publish(
    *, actor, incident: Incident, version_number: int, now=None
) -> Communication:
    """Publish the approved latest version to the status page (and its feed). Once."""
    require(actor, "comms.publish", incident)
    now = now or timezone.now()
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    draft, version = _latest_of_draft(incident, version_number, "publish")
    if not version.approvals.exists():
        raise CommunicationRefused(
            f"Version {version.number} is not approved yet: the lead approves it first.",
            "version",
        )
    # The incident's lock already serializes this; the condition keeps it true for any
    # other path too: a communication is published once.
    claimed = Communication.objects.filter(pk=draft.pk, published_at=None).update(
        published_at=now, published_version=version, published_by=actor
    )
    if claimed != 1:
        raise CommunicationRefused("This communication is already published.")
    draft.refresh_from_db()
    audit_record(
        actor=actor,
        verb="comms.publish",
        target=draft,
        before={"published_at": None},
        after={"published_at": now, "version": version.number, "headline": version.headline},
    )
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.COMMUNICATION,
        actor=actor,
        at=now,
        text=(
            f"Published external update {draft.number} (version {version.number}) "
            f"to the status page: “{version.headline}”."
        ),
        data={"communication": draft.number, "version": version.number, "action": "publish"},
    )
    return draft


@transaction.atomic
def obligation_decide(
    *, actor, incident: Incident, outcome: str, reason: str, now=None
) -> CommDecision:
    """The lead's answer to the obligation, with a reason: a SEV1's waiver, or a SEV2's
    decision either way. Audited, and on the timeline."""
    require(actor, "comms.waive", incident)
    now = now or timezone.now()
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    reason = (reason or "").strip()
    if not reason:
        raise CommunicationRefused("Say why: the reason is kept with the decision.", "reason")
    if len(reason) > 2000:
        raise CommunicationRefused("Keep the reason under 2000 characters.", "reason")
    current = obligation_for(incident)
    if current.state == obligation.State.PUBLISHED:
        raise CommunicationRefused("A communication is already published: nothing to decide.")
    problem = obligation.may_decide(current.level, outcome)
    if problem:
        raise CommunicationRefused(problem, "outcome")
    decision = CommDecision.objects.create(
        incident=incident,
        outcome=outcome,
        level=current.level,
        severity=incident.severity,
        users_reached=current.users_reached,
        reason=reason,
        by=actor,
        at=now,
    )
    waiver = current.level == obligation.Level.REQUIRED
    audit_record(
        actor=actor,
        verb="comms.waive" if waiver else "comms.decide",
        target=incident,
        after={
            "outcome": outcome,
            "level": str(current.level),
            "severity": incident.severity,
            "users_reached": current.users_reached,
        },
        reason=reason,
    )
    reach = (
        f"{current.users_reached} user-visible action{'s' if current.users_reached != 1 else ''}"
    )
    if waiver:
        text = (
            f"Waived the external communication this {incident.severity} owes ({reach}): {reason}"
        )
    else:
        said = CommDecision.Outcome(outcome).label
        text = (
            f"Decided on external communication for this {incident.severity} ({reach}): "
            f"{said}. {reason}"
        )
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.COMMUNICATION,
        actor=actor,
        at=now,
        text=text,
        data={"action": "waive" if waiver else "decide", "outcome": outcome},
    )
    return decision


def notices_exported(*, actor, communication: Communication, subjects: int) -> None:
    """Who took the list of affected people, and when: audited, and on the timeline."""
    require(actor, "comms.publish", communication.incident)
    with transaction.atomic():
        audit_record(
            actor=actor,
            verb="comms.notices_export",
            target=communication,
            after={"subjects": subjects},
        )
        timeline_record(
            incident=communication.incident,
            kind=TimelineEntry.Kind.COMMUNICATION,
            actor=actor,
            text=(
                f"Exported per-subject notices of external update "
                f"{communication.number}: {subjects} affected subject"
                + ("s." if subjects != 1 else ".")
            ),
            data={"communication": communication.number, "action": "notices", "subjects": subjects},
        )


# --- A system's communication templates ------------------------------------------------

TEMPLATE_FIELDS = ["name", *wording.PART_NAMES]


@transaction.atomic
def comm_template_save(
    *, actor, system, template: CommTemplate | None = None, name: str, **parts
) -> CommTemplate:
    """Add a template to a system, or (with `template`) change one."""
    require(actor, "comms.template", system)
    name = (name or "").strip()
    if not name:
        raise CommunicationRefused("Give the template a name.", "name")
    cleaned = _clean_parts(parts)
    clash = CommTemplate.objects.filter(system=system, name__iexact=name)
    if template is not None:
        clash = clash.exclude(pk=template.pk)
    if clash.exists():
        raise CommunicationRefused(f"{system.name} already has a template named “{name}”.", "name")
    before = snapshot(template, TEMPLATE_FIELDS) if template else None
    if template is None:
        template = CommTemplate(system=system)
    template.name = name
    for field, value in cleaned.items():
        setattr(template, field, value)
    template.updated_by = actor
    template.updated_at = timezone.now()
    after = snapshot(template, TEMPLATE_FIELDS)
    if before == after:
        return template
    template.save()
    audit_record(
        actor=actor,
        verb="comms.template_update" if before else "comms.template_create",
        target=template,
        before=before,
        after=after,
    )
    return template


@transaction.atomic
def comm_template_remove(*, actor, template: CommTemplate) -> None:
    require(actor, "comms.template", template.system)
    audit_record(
        actor=actor,
        verb="comms.template_remove",
        target=template,
        before=snapshot(template, TEMPLATE_FIELDS),
    )
    template.delete()
