"""Versions and deployments: adding a version, making one active, rolling back."""

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from core.errors import ServiceError
from core.services import actor_of, audit_record, numbered_create
from rollbacks import signals
from rollbacks.bundle import bundle_publish
from rollbacks.models import (
    ActiveVersion,
    ChangeRequest,
    ConfigSchema,
    Deployment,
    Surface,
    Version,
)
from rollbacks.surfaces import InvalidVersion, check_schema, clean_content
from systems import hooks
from systems.models import AISystem

NUMBER_ATTEMPTS = 5


class DeploymentRefused(ServiceError):
    def __init__(self, message: str, field: str = "version"):
        super().__init__(message, field)


def version_add(*, actor, system, surface: str, content: dict, note: str = "") -> Version:
    """A new version of a surface (not yet active). Numbers race: retry."""
    if surface not in Surface.values:
        raise InvalidVersion(f"“{surface}” is not a surface.", "surface")
    schema = None
    if surface == Surface.CONFIG:
        schema = ConfigSchema.objects.filter(system=system).values_list("schema", flat=True).first()
    content = clean_content(surface, content, schema)
    user, label = actor_of(actor)

    def create():
        numbers = Version.objects.filter(system=system, surface=surface)
        last = numbers.aggregate(n=Max("number"))["n"]
        version = Version.objects.create(
            system=system,
            surface=surface,
            number=(last or 0) + 1,
            content=content,
            note=note,
            created_by=user,
            created_by_label=label,
        )
        audit_record(
            actor=actor,
            verb="version.add",
            target=system,
            after={"version": version.reference, "content": content, "note": note},
        )
        return version

    return numbered_create(create, attempts=NUMBER_ATTEMPTS)


@transaction.atomic
def version_deploy(
    *,
    actor,
    version: Version,
    reason: str,
    kind: str = Deployment.Kind.DEPLOY,
    at=None,
    break_glass: bool = False,
):
    """Make `version` the active one of its surface. Row-locked: concurrent deployments of
    a surface happen one after the other, and exactly one version is active after each."""
    reason = reason.strip()
    if not reason:
        raise DeploymentRefused("Say why: it goes on every open incident.", "reason")
    # The system's row is the lock: deployments of a system, the first of a surface
    # included, happen one after the other, so none is lost and never are two active.
    system = AISystem.objects.select_for_update().get(pk=version.system_id)
    active = (
        ActiveVersion.objects.select_for_update()
        .filter(system=system, surface=version.surface)
        .select_related("version")
        .first()
    )
    previous = active.version if active else None
    if previous is not None and previous.pk == version.pk:
        raise DeploymentRefused(f"{version.reference} is already active.")
    if kind == Deployment.Kind.ROLLBACK and (previous is None or version.number >= previous.number):
        raise DeploymentRefused("A rollback goes back to an earlier version.")
    user, label = actor_of(actor)
    deployment = Deployment.objects.create(
        system=system,
        surface=version.surface,
        from_version=previous,
        to_version=version,
        kind=kind,
        actor=user,
        actor_label=label,
        reason=reason,
        at=at or timezone.now(),
        break_glass=break_glass,
    )
    if active is None:
        ActiveVersion.objects.create(
            system=system, surface=version.surface, version=version, deployment=deployment
        )
    else:
        active.version, active.deployment = version, deployment
        active.save(update_fields=["version", "deployment"])
    audit_record(
        actor=actor,
        verb=f"version.{kind}" + (".break_glass" if break_glass else ""),
        target=system,
        before={"active": previous.reference if previous else None},
        after={"active": version.reference},
        reason=reason,
    )
    signals.deployment_made.send(sender=Deployment, deployment=deployment, actor=actor)
    transaction.on_commit(lambda: bundle_publish(system))
    return deployment


def version_rollback(*, actor, version: Version, reason: str) -> Deployment:
    """Go back to an earlier version of its surface: a deployment marked as a rollback."""
    return version_deploy(actor=actor, version=version, reason=reason, kind="rollback")


def _kind(version: Version) -> str:
    active = ActiveVersion.objects.filter(system=version.system, surface=version.surface).first()
    older = active is not None and version.number < active.version.number
    return Deployment.Kind.ROLLBACK if older else Deployment.Kind.DEPLOY


@transaction.atomic
def version_activate(
    *, actor, version: Version, reason: str, not_before=None, break_glass: bool = False
):
    """Make `version` active (a rollback when it is older than the active one), now or at
    `not_before`. A system that requires approval gets a change request for a second
    person instead, unless a rollback during an open incident breaks the glass. Returns
    the Deployment, or the ChangeRequest when the deployment has to wait."""
    reason = reason.strip()
    if not reason:
        raise DeploymentRefused("Say why: it goes on every open incident.", "reason")
    kind = _kind(version)
    system = version.system
    if break_glass:
        if kind != Deployment.Kind.ROLLBACK:
            raise DeploymentRefused("Only a rollback can break the glass.", "break_glass")
        if not hooks.has_open_incident(system):
            raise DeploymentRefused(
                "Breaking the glass is for a rollback during an open incident.", "break_glass"
            )
        return version_deploy(
            actor=actor, version=version, reason=reason, kind=kind, break_glass=True
        )
    now = timezone.now()
    if not_before is not None and not_before <= now:
        raise DeploymentRefused("Schedule it for a time to come.", "not_before")
    if not system.requires_deploy_approval and not_before is None:
        return version_deploy(actor=actor, version=version, reason=reason, kind=kind)
    state = (
        ChangeRequest.State.PENDING
        if system.requires_deploy_approval
        else ChangeRequest.State.APPROVED
    )
    request = ChangeRequest.objects.create(
        system=system,
        version=version,
        requested_by=actor,
        reason=reason,
        not_before=not_before,
        state=state,
    )
    audit_record(
        actor=actor,
        verb="version.request",
        target=system,
        after={"version": version.reference, "state": state, "not_before": not_before},
        reason=reason,
    )
    return request


@transaction.atomic
def change_decide(*, actor, request: ChangeRequest, approve: bool, reason: str = ""):
    """The second person's decision. The author cannot approve their own change."""
    request = ChangeRequest.objects.select_for_update().get(pk=request.pk)
    if request.state != ChangeRequest.State.PENDING:
        raise DeploymentRefused(f"This request is already {request.get_state_display()}.")
    if approve and request.requested_by_id == actor.pk:
        raise DeploymentRefused("A second person approves: not the author.", "approve")
    now = timezone.now()
    request.decided_by, request.decided_at = actor, now
    request.state = ChangeRequest.State.APPROVED if approve else ChangeRequest.State.REJECTED
    request.outcome = reason
    request.save(update_fields=["decided_by", "decided_at", "state", "outcome"])
    audit_record(
        actor=actor,
        verb="version.approve" if approve else "version.reject",
        target=request.system,
        after={"version": request.version.reference, "state": request.state},
        reason=reason,
    )
    if approve and (request.not_before is None or request.not_before <= now):
        change_deploy(request.pk, now)
    return request


def change_deploy(pk: int, now=None) -> bool:
    """Deploy an approved, due change request, exactly once: the conditional UPDATE that
    moves it out of `approved` is the claim. True for the one caller that deployed it."""
    now = now or timezone.now()
    with transaction.atomic():
        due = Q(not_before__isnull=True) | Q(not_before__lte=now)
        claimed = ChangeRequest.objects.filter(
            due, pk=pk, state=ChangeRequest.State.APPROVED
        ).update(state=ChangeRequest.State.DEPLOYED)
        if not claimed:
            return False
        request = ChangeRequest.objects.select_related("version", "requested_by").get(pk=pk)
        try:
            with transaction.atomic():
                deployment = version_deploy(
                    actor=request.requested_by,
                    version=request.version,
                    reason=request.reason,
                    kind=_kind(request.version),
                )
        except DeploymentRefused as refused:
            request.state, request.outcome = ChangeRequest.State.FAILED, str(refused)
            request.save(update_fields=["state", "outcome"])
            return False
        request.deployment = deployment
        request.save(update_fields=["deployment"])
        return True


def deployments_send_due(now=None) -> int:
    """The sweep run by beat: deploy every approved change whose time has come."""
    now = now or timezone.now()
    due = ChangeRequest.objects.filter(
        state=ChangeRequest.State.APPROVED, not_before__lte=now
    ).values_list("pk", flat=True)
    return sum(change_deploy(pk, now) for pk in list(due[:100]))


@transaction.atomic
def config_schema_set(*, actor, system, schema: dict) -> ConfigSchema:
    """The JSON Schema later configuration versions must satisfy (earlier ones stay)."""
    check_schema(schema)
    before = ConfigSchema.objects.filter(system=system).values_list("schema", flat=True).first()
    config, _ = ConfigSchema.objects.update_or_create(system=system, defaults={"schema": schema})
    audit_record(
        actor=actor,
        verb="version.config_schema",
        target=system,
        before={"schema": before},
        after={"schema": schema},
    )
    return config
