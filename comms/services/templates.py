"""A system's communication templates: the wording its new drafts start from."""

from django.db import transaction
from django.utils import timezone

from comms import wording
from comms.errors import CommunicationRefused
from comms.models import CommTemplate
from comms.services.communications import clean_parts
from core.permissions import require
from core.services import audit_record, snapshot

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
    cleaned = clean_parts(parts)
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
