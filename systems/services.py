from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from core.errors import ServiceError
from core.services import actor_of, audit_record, snapshot
from systems import signals
from systems.authentication import forget_token
from systems.mode_feed import mode_publish
from systems.models import (
    ActionType,
    AISystem,
    Mode,
    ModeAck,
    ModeChange,
    ModeClient,
    RunbookVersion,
    RuntimeMode,
    SystemToken,
)

SYSTEM_FIELDS = [
    "slug",
    "name",
    "owner",
    "kind",
    "description",
    "has_human_fallback",
    "human_fallback",
    "degraded_behaviour",
    "requires_deploy_approval",
    "false_pages_per_month",
    "retention_days",
]
EDITABLE_SYSTEM_FIELDS = [f for f in SYSTEM_FIELDS if f != "slug"]
ACTION_TYPE_FIELDS = ["name", "description", "reversible", "user_visible"]
TOKEN_FIELDS = ["name", "prefix", "scopes", "revoked_at"]


@transaction.atomic
def system_register(*, actor, slug: str, name: str, owner, kind: str, **details) -> AISystem:
    system = AISystem.objects.create(slug=slug, name=name, owner=owner, kind=kind, **details)
    RuntimeMode.objects.create(system=system)
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


class NoRunbook(ServiceError):
    """There is nothing to mark reviewed before the first runbook is written."""


@transaction.atomic
def runbook_mark_reviewed(*, actor, system: AISystem, reason: str = "") -> AISystem:
    """Someone confirms the current runbook still holds, without changing it. Readiness
    counts this or a new revision, whichever is later."""
    system = AISystem.objects.select_for_update().get(pk=system.pk)
    current = system.runbook_versions.first()
    if current is None:
        raise NoRunbook("There is no runbook to review yet: write it first.")
    before = system.runbook_reviewed_at
    system.runbook_reviewed_at = timezone.now()
    system.save(update_fields=["runbook_reviewed_at", "updated_at"])
    audit_record(
        actor=actor,
        verb="system.runbook_review",
        target=system,
        before={"runbook_reviewed_at": before.isoformat() if before else None},
        after={
            "runbook_version": current.number,
            "runbook_reviewed_at": system.runbook_reviewed_at.isoformat(),
        },
        reason=reason,
    )
    return system


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
    transaction.on_commit(lambda: forget_token(token))
    audit_record(
        actor=actor,
        verb="token.revoke",
        target=token,
        before=before,
        after=snapshot(token, TOKEN_FIELDS),
        reason=reason,
    )
    return token


# --- Runtime mode -----------------------------------------------------------------------

MODE_FIELDS = ["mode", "revision", "reason", "drill"]


class ModeRefused(ServiceError):
    """A mode change the rules refuse; `field` names the input at fault."""

    def __init__(self, message: str, field: str = "mode"):
        super().__init__(message, field)


def mode_meaning(system: AISystem, mode: str) -> tuple[str, str]:
    """(what the mode does for this system in plain words, why it is unavailable or '')."""
    if mode == Mode.AI:
        return f"Normal operation: {system.name} decides with its model.", ""
    if mode == Mode.DEGRADED:
        if system.degraded_behaviour:
            return f"Degraded: {system.degraded_behaviour}", ""
        return (
            "Degraded: no degraded behaviour is declared, so the system decides what "
            "that means. Declare one in the system's settings.",
            "",
        )
    if mode == Mode.HUMAN:
        if not system.has_human_fallback:
            return "Route the work to people.", "This system declares no human path."
        return f"Route the work to people: {system.human_fallback}", ""
    return (
        f"Kill switch: {system.name}'s AI feature stops. No model output is used until "
        "someone turns it back on.",
        "",
    )


def _mode_apply(*, actor, system: AISystem, mode: str, reason: str, drill: bool) -> RuntimeMode:
    reason = reason.strip()
    if not reason:
        raise ModeRefused("Say why: the reason goes on every open incident.", "reason")
    if mode not in Mode.values:
        raise ModeRefused(f"“{mode}” is not a mode: {', '.join(Mode.values)}.")
    if mode_meaning(system, mode)[1]:
        raise ModeRefused(mode_meaning(system, mode)[1])
    state, _ = RuntimeMode.objects.get_or_create(system=system)
    state = RuntimeMode.objects.select_for_update().select_related("system").get(pk=state.pk)
    if state.mode == mode and not drill:
        raise ModeRefused(f"{system.name} is already {Mode(mode).label.upper()}.")
    user, label = actor_of(actor)
    now = timezone.now()
    previous = state.mode
    before = snapshot(state, MODE_FIELDS)
    state.revision += 1
    state.mode = mode
    state.changed_at = now
    state.changed_by = label
    state.reason = reason
    state.drill = drill
    state.save()
    ModeChange.objects.create(
        system=system,
        revision=state.revision,
        mode=mode,
        previous_mode=previous,
        actor=user,
        actor_label=label,
        reason=reason,
        at=now,
        drill=drill,
    )
    audit_record(
        actor=actor,
        verb="mode.drill" if drill else "mode.change",
        target=system,
        before=before,
        after=snapshot(state, MODE_FIELDS),
        reason=reason,
    )
    signals.mode_changed.send(
        sender=RuntimeMode, system=system, state=state, previous=previous, actor=actor
    )
    transaction.on_commit(lambda: mode_publish(state))
    return state


@transaction.atomic
def mode_change(*, actor, system: AISystem, mode: str, reason: str) -> RuntimeMode:
    """Change the system's runtime mode. Clients see it on their next request (the cache) and
    at once on their streams; every open incident of the system records it."""
    return _mode_apply(actor=actor, system=system, mode=mode, reason=reason, drill=False)


@transaction.atomic
def mode_drill(*, actor, system: AISystem, reason: str = "Kill-switch drill") -> RuntimeMode:
    """A drill: a revision that keeps the mode, which every client must acknowledge. How fast they
    do is the drill's result."""
    current = RuntimeMode.objects.filter(system=system).values_list("mode", flat=True).first()
    return _mode_apply(
        actor=actor, system=system, mode=current or Mode.AI, reason=reason, drill=True
    )


def mode_client_report(
    *, system: AISystem, client_id: str, revision: int, stream_delta: int = 0
) -> None:
    """A client says which revision it acts on (an ack, a heartbeat, a stream opening or
    closing). The first report of each revision is kept: it times the mode change."""
    now = timezone.now()
    # The common case is one UPDATE: with a hundred clients acknowledging each mode change at
    # once, every statement saved is time the next mode change does not wait for.
    known = ModeClient.objects.filter(system=system, client_id=client_id).update(
        last_seen_at=now,
        revision=Greatest("revision", Value(revision)),
        streams=Greatest(F("streams") + stream_delta, Value(0)),
    )
    if not known:
        with transaction.atomic():
            # get_or_create settles two first reports racing to create the row.
            client, created = ModeClient.objects.select_for_update().get_or_create(
                system=system,
                client_id=client_id,
                defaults={
                    "revision": revision,
                    "first_seen_at": now,
                    "last_seen_at": now,
                    "streams": max(0, stream_delta),
                },
            )
            if not created:
                client.last_seen_at = now
                client.revision = max(client.revision, revision)
                client.streams = max(0, client.streams + stream_delta)
                client.save(update_fields=["last_seen_at", "revision", "streams"])
    if revision:
        # The first report of a revision times the mode change; later ones change nothing.
        ModeAck.objects.bulk_create(
            [ModeAck(system=system, client_id=client_id, revision=revision, at=now)],
            ignore_conflicts=True,
        )
