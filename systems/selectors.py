from django.db.models import Count, Prefetch, Q
from django.shortcuts import get_object_or_404

from incidents.models import Incident
from systems.models import AISystem, RunbookVersion, SystemToken


def system_list():
    """Every system with what its list row shows, in a constant number of queries."""
    return (
        AISystem.objects.select_related("owner")
        .prefetch_related("action_types")
        .annotate(
            open_incident_count=Count(
                "incidents",
                filter=Q(incidents__status__in=Incident.Status.open_values()),
                distinct=True,
            )
        )
    )


def system_list_for_readiness():
    """Systems with everything readiness_of() reads, without runbook bodies."""
    return AISystem.objects.select_related("owner").prefetch_related(
        "action_types",
        "tokens",
        Prefetch("runbook_versions", queryset=RunbookVersion.objects.only("system_id", "number")),
    )


def system_get(slug: str) -> AISystem:
    return get_object_or_404(
        AISystem.objects.select_related("owner").prefetch_related(
            "action_types",
            Prefetch("runbook_versions", queryset=RunbookVersion.objects.select_related("author")),
            Prefetch("tokens", queryset=SystemToken.objects.order_by("revoked_at", "-created_at")),
        ),
        slug=slug,
    )


def token_authenticate(raw: str) -> SystemToken | None:
    """The token a raw bearer string names, revoked or not; None when it names none."""
    if not raw.startswith(SystemToken.PREFIX):
        return None
    return (
        SystemToken.objects.select_related("system")
        .filter(token_hash=SystemToken.hash(raw))
        .first()
    )
