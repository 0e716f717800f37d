"""How incidents hear the layers below them (`systems.signals`, `rollbacks.signals`): each
change is written on the timeline of every open incident of its system, in the change's
own transaction. Connected in `IncidentsConfig.ready()`."""

from django.dispatch import receiver

from core.services import audit_record
from incidents.models import Incident, TimelineEntry
from incidents.services.timeline import timeline_record_on_open
from rollbacks.models import Deployment
from rollbacks.signals import deployment_made
from systems.models import Mode, RuntimeMode
from systems.signals import mode_changed


@receiver(mode_changed, sender=RuntimeMode)
def mode_on_incidents(*, system, state, previous: str, actor, **_):
    """Every open incident of the system records the mode change, and the first move away
    from AI is the incident's first containment (its time to contain stops)."""
    if state.drill:
        text = f"Kill-switch drill on {system.name} (revision {state.revision}): {state.reason}"
    else:
        text = (
            f"{system.name} mode {previous} → {state.mode} (revision {state.revision}): "
            f"{state.reason}"
        )
    incidents = timeline_record_on_open(
        systems=[system],
        kind=TimelineEntry.Kind.MODE,
        actor=actor,
        at=state.changed_at,
        text=text,
        data={
            "system": system.slug,
            "from": previous,
            "to": state.mode,
            "revision": state.revision,
            "drill": state.drill,
        },
    )
    if state.mode == Mode.AI or state.drill:
        return
    for incident in incidents:
        if incident.contained_at is None:
            incident.contained_at = state.changed_at
            incident.save(update_fields=["contained_at"])
            audit_record(
                actor=actor,
                verb="incident.contain",
                target=incident,
                before={"contained_at": None},
                after={"contained_at": state.changed_at},
                reason=f"{system.slug} set to {state.mode}",
            )


@receiver(deployment_made, sender=Deployment)
def deployment_on_incidents(*, deployment: Deployment, actor, **_):
    system, version, previous = deployment.system, deployment.to_version, deployment.from_version
    was = f"v{previous.number}" if previous else "nothing"
    timeline_record_on_open(
        systems=[system],
        kind=TimelineEntry.Kind.ROLLBACK
        if deployment.kind == Deployment.Kind.ROLLBACK
        else TimelineEntry.Kind.DEPLOYMENT,
        actor=actor,
        at=deployment.at,
        text=f"{system.name}: {version.surface} {was} → v{version.number} "
        f"({deployment.kind}): {deployment.reason}",
        data={"system": system.slug, "surface": version.surface, "to": version.number},
    )


def has_open_incident(system) -> bool:
    return Incident.objects.open_for(system).exists()
