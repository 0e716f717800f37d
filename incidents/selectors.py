from django.db.models import Prefetch
from django.shortcuts import get_object_or_404

from incidents.models import Incident
from systems.models import AISystem

_systems = Prefetch("systems", queryset=AISystem.objects.only("slug", "name"))


def incident_list(*, status: str = "", severity: str = "", system: str = ""):
    """Incidents for the list, newest first. `status` is a status or 'open'."""
    incidents = Incident.objects.select_related("lead").prefetch_related(_systems)
    if status == "open":
        incidents = incidents.filter(status__in=Incident.Status.open_values())
    elif status:
        incidents = incidents.filter(status=status)
    if severity:
        incidents = incidents.filter(severity=severity)
    if system:
        incidents = incidents.filter(systems__slug=system)
    return incidents


def incident_get(number: int) -> Incident:
    return get_object_or_404(
        Incident.objects.select_related("lead", "declared_by").prefetch_related(_systems),
        number=number,
    )
