from django.db.models import Count, Prefetch, Q
from django.shortcuts import get_object_or_404

from incidents.models import Incident, TimelineEntry, open_first
from systems.models import ActionType, AISystem, RunbookVersion

_systems = Prefetch("systems", queryset=AISystem.objects.only("slug", "name"))
TIMELINE_PAGE = 100


def incident_list(*, status: str = "", severity: str = "", system: str = "", lead: str = ""):
    """Incidents for the list: open ones first, then newest first.

    `status` is a status or 'open'; `severity` a severity or 'none' (unclassified);
    `lead` a username or 'none'.
    """
    incidents = (
        Incident.objects.select_related("lead")
        .prefetch_related(_systems)
        .order_by(open_first(), "-declared_at", "-number")
    )
    if status == "open":
        incidents = incidents.filter(status__in=Incident.Status.open_values())
    elif status:
        incidents = incidents.filter(status=status)
    if severity:
        incidents = incidents.filter(severity="" if severity == "none" else severity)
    if system:
        incidents = incidents.filter(systems__slug=system)
    if lead == "none":
        incidents = incidents.filter(lead__isnull=True)
    elif lead:
        incidents = incidents.filter(lead__username=lead)
    return incidents


def open_counts_by_severity() -> dict[str, int]:
    """How many open incidents there are at each severity ('' for unclassified)."""
    counts = Incident.objects.filter(status__in=Incident.Status.open_values()).aggregate(
        **{
            (value or "none"): Count("pk", filter=Q(severity=value))
            for value in [*Incident.Severity.values, ""]
        }
    )
    return counts


def incident_get(number: int) -> Incident:
    """One incident with everything its page shows, in a fixed number of queries."""
    systems = Prefetch(
        "systems",
        queryset=AISystem.objects.prefetch_related(
            Prefetch("action_types", queryset=ActionType.objects.order_by("name")),
            Prefetch("runbook_versions", queryset=RunbookVersion.objects.order_by("-number")),
        ),
    )
    return get_object_or_404(
        Incident.objects.select_related(
            "lead", "declared_by", "scribe", "comms_owner"
        ).prefetch_related(systems, "participants"),
        number=number,
    )


def incident_for_change(number: int) -> Incident:
    """The incident alone, for an action: the services lock and reload it themselves."""
    return get_object_or_404(Incident, number=number)


def timeline_page(incident: Incident, *, before: int | None = None, limit: int = TIMELINE_PAGE):
    """The latest `limit` timeline entries (before entry id `before`), oldest first, and
    whether earlier ones exist."""
    entries = TimelineEntry.objects.filter(incident=incident)
    if before:
        entries = entries.filter(pk__lt=before)
    page = list(entries.order_by("-pk")[: limit + 1])
    more = len(page) > limit
    return list(reversed(page[:limit])), more
