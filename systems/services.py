from django.db import transaction
from django.utils import timezone

from core.services import audit_record, snapshot
from systems.models import ActionType, AISystem, RunbookVersion, SystemToken

SYSTEM_FIELDS = [
    "slug",
    "name",
    "owner",
    "kind",
    "description",
    "has_human_fallback",
    "human_fallback",
    "degraded_behaviour",
]
EDITABLE_SYSTEM_FIELDS = [f for f in SYSTEM_FIELDS if f != "slug"]
ACTION_TYPE_FIELDS = ["name", "description", "reversible", "user_visible"]
TOKEN_FIELDS = ["name", "prefix", "scopes", "revoked_at"]


@transaction.atomic
def system_register(*, actor, slug: str, name: str, owner, kind: str, **details) -> AISystem:
    system = AISystem.objects.create(slug=slug, name=name, owner=owner, kind=kind, **details)
    audit_record(
        actor=actor, verb="system.register", target=system, after=snapshot(system, SYSTEM_FIELDS)
    )
    return system


@transaction.atomic
def system_update(*, actor, system: AISystem, **changes) -> AISystem:
    unknown = set(changes) - set(EDITABLE_SYSTEM_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    before = snapshot(system, EDITABLE_SYSTEM_FIELDS)
    for field, value in changes.items():
        setattr(system, field, value)
    after = snapshot(system, EDITABLE_SYSTEM_FIELDS)
    if after != before:
        system.save()
        audit_record(actor=actor, verb="system.update", target=system, before=before, after=after)
    return system


@transaction.atomic
def action_type_add(
    *, actor, system: AISystem, name: str, reversible: bool, user_visible: bool, description=""
) -> ActionType:
    action_type = ActionType.objects.create(
        system=system,
        name=name,
        reversible=reversible,
        user_visible=user_visible,
        description=description,
    )
    # The catalog is part of the system: its changes belong to the system's history.
    audit_record(
        actor=actor,
        verb="system.action_type_add",
        target=system,
        after={"action_type": snapshot(action_type, ACTION_TYPE_FIELDS)},
    )
    return action_type


@transaction.atomic
def action_type_remove(*, actor, action_type: ActionType, reason: str = "") -> None:
    system = action_type.system
    before = {"action_type": snapshot(action_type, ACTION_TYPE_FIELDS)}
    action_type.delete()
    audit_record(
        actor=actor, verb="system.action_type_remove", target=system, before=before, reason=reason
    )


@transaction.atomic
def runbook_revise(*, actor, system: AISystem, body: str, reason: str = "") -> RunbookVersion:
    # Lock the system row so two simultaneous edits cannot take the same number.
    AISystem.objects.select_for_update().get(pk=system.pk)
    current = system.runbook_versions.first()
    version = RunbookVersion.objects.create(
        system=system, number=(current.number + 1) if current else 1, body=body, author=actor
    )
    audit_record(
        actor=actor,
        verb="system.runbook_revise",
        target=system,
        before={"runbook_version": current.number} if current else None,
        after={"runbook_version": version.number},
        reason=reason,
    )
    return version


@transaction.atomic
def token_issue(
    *, actor, system: AISystem, name: str, scopes: list[str]
) -> tuple[SystemToken, str]:
    """A new token for the system. The raw token is returned once and never stored."""
    unknown = set(scopes) - set(SystemToken.Scope.values)
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
    raw = SystemToken.generate()
    token = SystemToken.objects.create(
        system=system,
        name=name,
        prefix=raw[: len(SystemToken.PREFIX) + 8],
        token_hash=SystemToken.hash(raw),
        scopes=sorted(scopes),
        created_by=actor,
    )
    audit_record(actor=actor, verb="token.issue", target=token, after=snapshot(token, TOKEN_FIELDS))
    return token, raw


@transaction.atomic
def token_revoke(*, actor, token: SystemToken, reason: str = "") -> SystemToken:
    token = SystemToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    before = snapshot(token, TOKEN_FIELDS)
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        verb="token.revoke",
        target=token,
        before=before,
        after=snapshot(token, TOKEN_FIELDS),
        reason=reason,
    )
    return token
