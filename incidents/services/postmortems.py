"""Postmortems (opened on resolve with their facts) and their action items."""

from django.db import transaction
from django.utils import timezone

from core.permissions import require
from core.services import actor_of, audit_record, snapshot
from incidents import postmortem, signals
from incidents.errors import IncidentError
from incidents.models import ActionItem, Incident, Postmortem, TimelineEntry
from incidents.services.timeline import timeline_record

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
            signals.tell(incident, signals.ACTION_ITEM_OVERDUE, actor=None, at=now, item=item)
            sent += 1
    return sent
