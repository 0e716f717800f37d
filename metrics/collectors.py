"""The failsafe_* metrics, computed from the database at each scrape (docs/METRICS.md).

They sit on a registry of their own, not prometheus_client's default one: their queries
run only when /metrics is scraped, never when something registers or exports the default
registry. `families` turns the facts into metric families without touching the database.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from comms.models import WebhookDelivery
from gate import rules
from incidents.selectors import open_counts_by_severity
from metrics import selectors
from systems.models import Mode

# Seconds: a streaming client acknowledges in well under one, a polling one within its
# 30-second heartbeat; beyond five minutes the change has not reached it in any useful time.
ACK_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# The histogram covers the mode changes of these last days.
ACK_DAYS = 30
GATE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Facts:
    """What one scrape reads from the database."""

    systems: list[dict]
    open_incidents: dict[str, int]
    ack_delays: list[tuple[str, float]]
    deliveries: dict[str, int]
    gate_decisions: dict[str, int]


def facts_at(now: datetime) -> Facts:
    return Facts(
        systems=selectors.systems_facts(now),
        open_incidents=open_counts_by_severity(),
        ack_delays=selectors.mode_ack_delays(now - timedelta(days=ACK_DAYS)),
        deliveries=selectors.webhook_deliveries_by_state(),
        gate_decisions=selectors.gate_decisions_since(now - GATE_WINDOW),
    )


def _per_system(family, systems: list[dict], field: str):
    for system in systems:
        family.add_metric([system["slug"]], system[field])
    return family


def _modes(systems: list[dict]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "failsafe_system_mode",
        "1 for each system's current runtime mode, 0 for the others (off is the kill switch).",
        labels=["system", "mode"],
    )
    for system in systems:
        for mode in Mode.values:
            family.add_metric([system["slug"], mode], 1 if system["current_mode"] == mode else 0)
    return family


def _ack_histogram(systems: list[dict], delays: list[tuple[str, float]]):
    family = HistogramMetricFamily(
        "failsafe_mode_change_acknowledged_seconds",
        f"Seconds from a mode change or drill to each running client's acknowledgement, "
        f"over the mode changes of the last {ACK_DAYS} days (a window: it can go down).",
        labels=["system"],
    )
    by_system: dict[str, list[float]] = defaultdict(list)
    for slug, delay in delays:
        by_system[slug].append(delay)
    for system in systems:
        seconds = by_system[system["slug"]]
        buckets = [(floatToGoString(edge), sum(s <= edge for s in seconds)) for edge in ACK_BUCKETS]
        family.add_metric(
            [system["slug"]], [*buckets, ("+Inf", len(seconds))], sum_value=sum(seconds)
        )
    return family


def _by_key(family, counts: dict[str, int], keys: Iterable[str]):
    for key in keys:
        family.add_metric([key], counts.get(key, 0))
    return family


def families(facts: Facts) -> list[Metric]:
    """The failsafe_* metric families of these facts; every label is a small closed set."""
    systems = facts.systems
    return [
        _per_system(
            CounterMetricFamily(
                "failsafe_events_ingested",
                "Events stored, by system (the rollups' event counts).",
                labels=["system"],
            ),
            systems,
            "events_ingested",
        ),
        _by_key(
            GaugeMetricFamily(
                "failsafe_open_incidents",
                "Open incidents by severity (none: not classified yet).",
                labels=["severity"],
            ),
            facts.open_incidents,
            facts.open_incidents.keys(),
        ),
        _per_system(
            GaugeMetricFamily(
                "failsafe_alerts_firing", "Open alerts, by system.", labels=["system"]
            ),
            systems,
            "alerts_firing",
        ),
        _modes(systems),
        _ack_histogram(systems, facts.ack_delays),
        _per_system(
            GaugeMetricFamily(
                "failsafe_review_backlog",
                "Review items awaiting a verdict or disputed, by system.",
                labels=["system"],
            ),
            systems,
            "review_backlog",
        ),
        _by_key(
            CounterMetricFamily(
                "failsafe_webhook_deliveries",
                "Webhook deliveries finished, by outcome (the delivery log's count).",
                labels=["outcome"],
            ),
            facts.deliveries,
            (WebhookDelivery.State.DELIVERED, WebhookDelivery.State.FAILED),
        ),
        GaugeMetricFamily(
            "failsafe_webhook_deliveries_pending",
            "Webhook deliveries still being attempted.",
            value=facts.deliveries.get(WebhookDelivery.State.PENDING, 0),
        ),
        _by_key(
            GaugeMetricFamily(
                "failsafe_gate_decisions_last_hour",
                "The action gate's answers in its counting windows begun in the last hour.",
                labels=["outcome"],
            ),
            facts.gate_decisions,
            (rules.ALLOW, rules.HOLD, rules.DENY),
        ),
    ]


class FailsafeCollector(Collector):
    def collect(self) -> Iterable[Metric]:
        with selectors.scrape_reads():
            facts = facts_at(timezone.now())
        return families(facts)


FAILSAFE_REGISTRY = CollectorRegistry(auto_describe=False)
FAILSAFE_REGISTRY.register(FailsafeCollector())
