import logging
from dataclasses import dataclass
from datetime import timedelta

from django.core.cache import cache
from django.db.models import (
    Prefetch,
    Q,
)
from django.shortcuts import get_object_or_404
from django.utils import timezone

from systems.mode_feed import SERVICE_ERRORS, mode_cache_put, mode_key
from systems.models import (
    AISystem,
    ModeAck,
    ModeChange,
    ModeClient,
    RunbookVersion,
    RuntimeMode,
    SystemToken,
)

logger = logging.getLogger(__name__)


def system_list():
    """Every system with what its list row shows, in a constant number of queries."""
    return AISystem.objects.select_related("owner").prefetch_related("action_types")


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


def mode_state(system: AISystem) -> RuntimeMode:
    """The system's current mode from the database (created at `ai` if it has none)."""
    state, _ = RuntimeMode.objects.select_related("system").get_or_create(system=system)
    return state


def mode_entry_for(slug: str) -> dict | None:
    """The encoded mode of a system: from the cache while it is unchanged (no query), else
    from the database, which also refills the cache. None for an unknown system."""
    try:
        entry = cache.get(mode_key(slug))
    except SERVICE_ERRORS:  # Redis down: the database still answers
        logger.warning("Mode cache unreachable; reading %s from the database", slug)
        entry = None
    if entry is not None:
        return entry
    system = AISystem.objects.filter(slug=slug).first()
    if system is None:
        return None
    return mode_cache_put(mode_state(system))


# A client that has not reported for this long is no longer counted as running.
CLIENT_SEEN_WITHIN = timedelta(seconds=90)


@dataclass(frozen=True)
class ModeChangeEffect:
    """How far the latest revision has reached: "3 of 3 clients on OFF after 0.21 s"."""

    revision: int
    mode: str
    drill: bool
    changed_at: object
    clients: int
    acked: int
    slowest_seconds: float | None

    @property
    def complete(self) -> bool:
        return self.clients > 0 and self.acked >= self.clients


def mode_clients(system: AISystem):
    fresh = timezone.now() - CLIENT_SEEN_WITHIN
    return ModeClient.objects.filter(system=system).filter(
        Q(last_seen_at__gte=fresh) | Q(streams__gt=0)
    )


def _effect(system: AISystem, *, revision: int, mode: str, drill: bool, at) -> ModeChangeEffect:
    clients = [c.client_id for c in mode_clients(system)]
    acks = list(
        ModeAck.objects.filter(system=system, revision=revision).values_list("client_id", "at")
    )
    delays = [(acked - at).total_seconds() for _, acked in acks if at]
    return ModeChangeEffect(
        revision=revision,
        mode=mode,
        drill=drill,
        changed_at=at,
        clients=len(set(clients) | {client for client, _ in acks}),
        acked=len(acks),
        slowest_seconds=max(delays) if delays else None,
    )


def mode_change_effect(system: AISystem, state: RuntimeMode | None = None) -> ModeChangeEffect:
    """How far the current revision has reached the system's running clients."""
    state = state or mode_state(system)
    return _effect(
        system, revision=state.revision, mode=state.mode, drill=state.drill, at=state.changed_at
    )


def drill_effect(system: AISystem, drill: ModeChange) -> ModeChangeEffect:
    return _effect(system, revision=drill.revision, mode=drill.mode, drill=True, at=drill.at)


def mode_history(system: AISystem, limit: int = 10):
    return ModeChange.objects.filter(system=system).order_by("-revision")[:limit]


def last_drill(system: AISystem):
    return ModeChange.objects.filter(system=system, drill=True).order_by("-revision").first()
