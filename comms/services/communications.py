"""An incident's external communication: its drafts (each save an immutable version),
the lead's approval, publication to the status page, the lead's decision on the
obligation, and the export of per-subject notices."""

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from comms import obligation, webhooks, wording
from comms.errors import CommunicationRefused
from comms.models import CommApproval, CommDecision, Communication, CommVersion
from comms.selectors import obligation_for
from core.permissions import require
from core.services import audit_record
from incidents.models import Incident, TimelineEntry
from incidents.services.timeline import timeline_record


def _version_on_timeline(incident, actor, at, version: CommVersion, action: str, text: str):
    """A draft's version drafted, approved or published: one line on the timeline."""
    timeline_record(
        incident=incident,
        kind=TimelineEntry.Kind.COMMUNICATION,
        actor=actor,
        at=at,
        text=text,
        data={
            "communication": version.communication.number,
            "version": version.number,
            "action": action,
        },
    )


def clean_parts(parts: dict) -> dict[str, str]:
    """The headline and the four parts, trimmed; refused when one is empty or too long."""
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
    cleaned = clean_parts(parts)
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
    lost_approval = (
        f" Version {latest.number} was approved: this one needs approval."
        if latest is not None and latest.approvals.exists()
        else ""
    )
    _version_on_timeline(
        incident,
        actor,
        now,
        version,
        "draft",
        f"Drafted external update {draft.number}, version {version.number}: "
        f"“{version.headline}”.{lost_approval}",
    )
    return version


def _latest_of_draft(incident: Incident, version_number: int, doing: str):
    draft = _draft_locked(incident)
    if draft is None:
        raise CommunicationRefused(f"There is no draft to {doing}: write one first.")
    latest = draft.versions.order_by("-number").first()
    if latest is None:
        raise CommunicationRefused(f"There is no draft to {doing}: write one first.")
    if latest.number != version_number:
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
    _version_on_timeline(
        incident,
        actor,
        now,
        version,
        "approve",
        f"Approved external update {draft.number}, version {version.number}.",
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
    _version_on_timeline(
        incident,
        actor,
        now,
        version,
        "publish",
        f"Published external update {draft.number} (version {version.number}) "
        f"to the status page: “{version.headline}”.",
    )
    webhooks.communication_published_emit(draft, version, now)
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
