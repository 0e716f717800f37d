"""Versions and deployments: adding a version, making one active, rolling back."""

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from core.services import actor_of, audit_record
from incidents.models import Incident, TimelineEntry
from incidents.services import timeline_record
from rollbacks.bundle import bundle_cache_put
from rollbacks.models import ActiveVersion, ConfigSchema, Deployment, Surface, Version
from rollbacks.surfaces import InvalidVersion, check_schema, clean_content
from systems.models import AISystem

NUMBER_ATTEMPTS = 5


class DeploymentRefused(ValueError):
    def __init__(self, message: str, field: str = "version"):
        super().__init__(message)
        self.field = field


def version_add(*, actor, system, surface: str, content: dict, note: str = "") -> Version:
    """A new version of a surface (not yet active). Numbers race: retry."""
    if surface not in Surface.values:
        raise InvalidVersion(f"“{surface}” is not a surface.", "surface")
    schema = None
    if surface == Surface.CONFIG:
        schema = ConfigSchema.objects.filter(system=system).values_list("schema", flat=True).first()
    content = clean_content(surface, content, schema)
    user, label = actor_of(actor)
    for attempt in range(1, NUMBER_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                last = Version.objects.filter(system=system, surface=surface).aggregate(
                    n=Max("number")
                )["n"]
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
        except IntegrityError:
            if attempt == NUMBER_ATTEMPTS:
                raise


@transaction.atomic
def version_deploy(
    *, actor, version: Version, reason: str, kind: str = Deployment.Kind.DEPLOY, at=None
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
        verb=f"version.{kind}",
        target=system,
        before={"active": previous.reference if previous else None},
        after={"active": version.reference},
        reason=reason,
    )
    was = f"v{previous.number}" if previous else "nothing"
    text = f"{system.name}: {version.surface} {was} → v{version.number} ({kind}): {reason}"
    for incident in Incident.objects.filter(
        systems=system, status__in=Incident.Status.open_values()
    ):
        timeline_record(
            incident=incident,
            kind=TimelineEntry.Kind.ROLLBACK
            if kind == Deployment.Kind.ROLLBACK
            else TimelineEntry.Kind.DEPLOYMENT,
            actor=actor,
            at=deployment.at,
            text=text,
            data={"system": system.slug, "surface": version.surface, "to": version.number},
        )
    transaction.on_commit(lambda: bundle_cache_put(system))
    return deployment


def version_rollback(*, actor, version: Version, reason: str) -> Deployment:
    """Go back to an earlier version of its surface: a deployment marked as a rollback."""
    return version_deploy(actor=actor, version=version, reason=reason, kind="rollback")


def version_activate(*, actor, version: Version, reason: str) -> Deployment:
    """Make `version` active: a rollback when it is older than the active one, else a
    deployment. What the versions page and the API call."""
    active = ActiveVersion.objects.filter(system=version.system, surface=version.surface).first()
    older = active is not None and version.number < active.version.number
    return version_deploy(
        actor=actor,
        version=version,
        reason=reason,
        kind=Deployment.Kind.ROLLBACK if older else Deployment.Kind.DEPLOY,
    )


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
