from datetime import timedelta
from itertools import chain

from rollbacks.models import ActiveVersion, Deployment, Surface, Version
from systems.models import ModeChange

# The first question of attribution: what changed shortly before the failure began?
LOOK_BACK = timedelta(hours=48)


def changes_before(incident, look_back: timedelta = LOOK_BACK) -> list[dict]:
    """Every deployment and mode change of the incident's systems in the `look_back`
    before its onset (or its declaration, when the onset is unknown), newest first."""
    end = incident.onset_at or incident.declared_at
    return system_changes(list(incident.systems.all()), since=end - look_back, until=end)


def system_changes(systems, *, since=None, until=None, limit: int = 200) -> list[dict]:
    """The change timeline: every deployment of every surface and every mode change of
    `systems`, newest first."""
    window = {"system__in": systems}
    if since is not None:
        window["at__gte"] = since
    if until is not None:
        window["at__lte"] = until
    deployments = Deployment.objects.filter(**window).select_related(
        "system", "from_version", "to_version"
    )[:limit]
    modes = ModeChange.objects.filter(**window, drill=False).select_related("system")[:limit]
    in_force = set(
        ActiveVersion.objects.filter(system__in=systems).values_list("deployment_id", flat=True)
    )
    changes = chain(
        (
            {
                "at": d.at,
                "system": d.system,
                "what": f"{d.get_surface_display()} "
                f"{'v' + str(d.from_version.number) if d.from_version else 'first'} → "
                f"v{d.to_version.number}",
                "kind": d.kind,
                "actor": d.actor_label,
                "reason": d.reason,
                # Offered while this change is still the one in force.
                "rollback_to": d.from_version if d.pk in in_force else None,
            }
            for d in deployments
        ),
        (
            {
                "at": m.at,
                "system": m.system,
                "what": f"Mode {m.previous_mode} → {m.mode}",
                "kind": "mode",
                "actor": m.actor_label,
                "reason": m.reason,
            }
            for m in modes
        ),
    )
    return sorted(changes, key=lambda c: c["at"], reverse=True)[:limit]


def version_refs(system) -> dict[str, dict[str, int]]:
    """How events may name each version of the system's surfaces, mapped to its number:
    `13`, `v13`, `prompt@v13`, for a model its pinned provider version id, and for a prompt
    with a name (as prompt registries call them) `<name>@v13` and `<name>:13`."""
    refs: dict[str, dict[str, int]] = {surface: {} for surface in Surface.values}
    for surface, number, content in Version.objects.filter(system=system).values_list(
        "surface", "number", "content"
    ):
        names = refs[surface]
        names[str(number)] = names[f"v{number}"] = names[f"{surface}@v{number}"] = number
        if surface == Surface.MODEL and content.get("version_id"):
            names[str(content["version_id"])] = number
        if surface == Surface.PROMPT and isinstance(content.get("name"), str) and content["name"]:
            names[f"{content['name']}@v{number}"] = names[f"{content['name']}:{number}"] = number
    return refs
