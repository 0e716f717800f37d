"""Every failsafe_* sample of /metrics equals what the database holds at the scrape."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from comms.models import Webhook, WebhookDelivery
from gate.services.decide import gate_decide
from gate.services.rule_set import gate_rule_set
from groundtruth.models import ReviewItem
from incidents.models import Incident
from metrics.collectors import ACK_BUCKETS
from monitoring.models import Alert, Event, Rollup
from monitoring.services.ingest import events_ingest
from systems.models import Mode, ModeAck, ModeChange, RuntimeMode
from systems.services import mode_change, mode_client_report, token_issue
from tests.factories import ActionTypeFactory, AISystemFactory, IncidentFactory

pytestmark = pytest.mark.django_db


def _events(count: int, prefix: str) -> dict:
    now = timezone.now()
    return {
        "events": [
            {
                "id": f"{prefix}-{n}",
                "ts": (now - timedelta(seconds=n)).isoformat(),
                "output": {"label": "approve"},
                "versions": {"model": "v1"},
            }
            for n in range(count)
        ]
    }


@pytest.fixture
def third_system(db):
    return AISystemFactory(slug="claims-router", name="Claims router")


# Committed batches, as in production: ingestion's COPY table is emptied at each commit.
@pytest.mark.django_db(transaction=True)
def test_events_ingested_is_each_systems_event_count_in_the_rollups(
    scrape, system, other_system, third_system
):
    events_ingest(system=system, payload=_events(30, "a"))
    events_ingest(system=system, payload=_events(5, "b"))
    events_ingest(system=other_system, payload=_events(7, "c"))

    samples = scrape()

    for each, sent in [(system, 35), (other_system, 7), (third_system, 0)]:
        stored = sum(
            Rollup.objects.filter(system=each, signal="events").values_list("n", flat=True)
        )
        assert stored == sent == Event.objects.filter(system=each).count()
        assert samples["failsafe_events_ingested_total", (("system", each.slug),)] == sent


def test_open_incidents_are_counted_by_severity(scrape, system):
    for severity in ["SEV1", "SEV2", "SEV2", "SEV3", ""]:
        IncidentFactory(severity=severity, systems=[system])
    IncidentFactory(severity="SEV1", systems=[system], status=Incident.Status.RESOLVED)
    IncidentFactory(severity="SEV3", systems=[system], status=Incident.Status.CLOSED)

    samples = scrape()

    for severity, label in [("SEV1", "SEV1"), ("SEV2", "SEV2"), ("SEV3", "SEV3"), ("", "none")]:
        in_db = Incident.objects.open().filter(severity=severity).count()
        assert samples["failsafe_open_incidents", (("severity", label),)] == in_db
    assert [samples["failsafe_open_incidents", (("severity", s),)] for s in ["SEV1", "SEV2"]] == [
        1,
        2,
    ]


def _alert(system, fingerprint, status=Alert.Status.OPEN):
    return Alert.objects.create(
        system=system,
        source=Alert.Source.ALERTMANAGER,
        fingerprint=fingerprint,
        status=status,
        summary=f"{fingerprint} on {system.slug}",
    )


def test_alerts_firing_are_the_open_alerts_of_each_system(scrape, system, other_system):
    _alert(system, "latency")
    _alert(system, "refusals")
    _alert(system, "old", status=Alert.Status.RESOLVED)
    _alert(other_system, "errors", status=Alert.Status.RESOLVED)

    samples = scrape()

    for each in (system, other_system):
        firing = Alert.objects.filter(system=each, status=Alert.Status.OPEN).count()
        assert samples["failsafe_alerts_firing", (("system", each.slug),)] == firing
    assert samples["failsafe_alerts_firing", (("system", system.slug),)] == 2


def test_each_system_has_a_gauge_of_one_for_its_mode_and_zero_for_the_others(
    scrape, system, other_system, admin_user
):
    mode_change(actor=admin_user, system=system, mode=Mode.OFF, reason="Refunds going wrong")
    mode_change(actor=admin_user, system=other_system, mode=Mode.DEGRADED, reason="Slow model")

    samples = scrape()

    for each, current in [(system, Mode.OFF), (other_system, Mode.DEGRADED)]:
        assert RuntimeMode.objects.get(system=each).mode == current
        for mode in Mode.values:
            labels = (("mode", mode), ("system", each.slug))
            assert samples["failsafe_system_mode", labels] == (1 if mode == current else 0)


def test_the_mode_gauge_follows_a_mode_change(scrape, system, admin_user):
    def mode_shown():
        samples = scrape()
        return [
            m
            for m in Mode.values
            if samples["failsafe_system_mode", (("mode", m), ("system", system.slug))]
        ]

    assert mode_shown() == [Mode.AI]
    mode_change(actor=admin_user, system=system, mode=Mode.OFF, reason="Kill switch")
    assert mode_shown() == [Mode.OFF]
    mode_change(actor=admin_user, system=system, mode=Mode.AI, reason="Fixed")
    assert mode_shown() == [Mode.AI]


def test_the_acknowledgement_histogram_times_the_clients_running_at_the_change(
    scrape, system, admin_user
):
    for client in ("pod-a", "pod-b"):
        mode_client_report(system=system, client_id=client, revision=0)
    state = mode_change(actor=admin_user, system=system, mode=Mode.OFF, reason="Kill switch")
    for client in ("pod-a", "pod-b"):
        mode_client_report(system=system, client_id=client, revision=state.revision)
    # Started after the change: it finds the revision, which times nothing.
    mode_client_report(system=system, client_id="pod-late", revision=state.revision)

    samples = scrape()

    changed_at = ModeChange.objects.get(system=system, revision=state.revision).at
    delays = [
        (ack.at - changed_at).total_seconds()
        for ack in ModeAck.objects.filter(system=system, revision=state.revision)
        if ack.client_id != "pod-late"
    ]
    name, labels = "failsafe_mode_change_acknowledged_seconds", (("system", system.slug),)
    assert samples[f"{name}_count", labels] == 2 == len(delays)
    assert samples[f"{name}_sum", labels] == pytest.approx(sum(delays))
    for edge in ACK_BUCKETS:
        bucket = (("le", str(edge)), ("system", system.slug))
        assert samples[f"{name}_bucket", bucket] == sum(d <= edge for d in delays)
    assert samples[f"{name}_bucket", (("le", "+Inf"), ("system", system.slug))] == 2


def test_the_review_backlog_counts_items_awaiting_a_verdict_or_disputed(
    scrape, system, other_system
):
    events_ingest(system=system, payload=_events(4, "r"))
    statuses = ["open", "open", "disputed", "done"]
    for event, status in zip(Event.objects.filter(system=system), statuses, strict=True):
        ReviewItem.objects.create(system=system, event=event, probability=0.5, status=status)

    samples = scrape()

    waiting = ReviewItem.objects.filter(system=system).exclude(status=ReviewItem.Status.DONE)
    assert samples["failsafe_review_backlog", (("system", system.slug),)] == waiting.count() == 3
    assert samples["failsafe_review_backlog", (("system", other_system.slug),)] == 0


def test_webhook_deliveries_are_counted_by_outcome_and_pending_apart(scrape, admin_user):
    webhook = Webhook.objects.create(
        name="Pager", url="https://hooks.example.com/in", events=["incident.opened"]
    )
    states = ["delivered"] * 3 + ["failed"] + ["pending"] * 2
    for state in states:
        WebhookDelivery.objects.create(
            webhook=webhook, event="incident.opened", payload={"text": "x"}, state=state
        )

    samples = scrape()

    for outcome in ("delivered", "failed"):
        in_db = WebhookDelivery.objects.filter(state=outcome).count()
        assert samples["failsafe_webhook_deliveries_total", (("outcome", outcome),)] == in_db
    assert samples["failsafe_webhook_deliveries_pending", ()] == 2


def test_gate_decisions_of_the_last_hour_are_counted_by_outcome(scrape, system, admin_user):
    refund = ActionTypeFactory(system=system, name="refund", reversible=False)
    gate_rule_set(actor=admin_user, action_type=refund, cap=2, over_cap="deny", reason="Limit")
    answers = [
        gate_decide(system_id=system.pk, action="refund", subject=f"cus_{n}")[0].decision
        for n in range(5)
    ]
    held = ActionTypeFactory(system=system, name="account_hold", reversible=False)
    IncidentFactory(severity="SEV1", systems=[system])
    answers.append(gate_decide(system_id=system.pk, action=held.name, subject="cus_9")[0].decision)
    # Two hours ago: outside the hour.
    gate_decide(
        system_id=system.pk,
        action=held.name,
        subject="cus_0",
        now=timezone.now() - timedelta(hours=2),
    )

    samples = scrape()

    assert "hold" in answers and "deny" in answers and "allow" in answers
    for outcome in ("allow", "hold", "deny"):
        shown = samples["failsafe_gate_decisions_last_hour", (("outcome", outcome),)]
        assert shown == answers.count(outcome)


def test_refused_event_batches_are_counted_by_reason(scrape, client, system):
    raw = token_issue(actor=None, system=system, name="t", scopes=["events:write"])[1]
    url = f"/api/v1/systems/{system.slug}/events"
    before = scrape()

    def send(body: str) -> int:
        return client.post(
            url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
        ).status_code

    assert send("{not json") == 400
    assert send(json.dumps({"events": [{"id": "x"}]})) == 400
    assert send(json.dumps({"events": [{"id": str(n)} for n in range(5001)]})) == 413
    assert send(json.dumps(_events(2, "ok"))) == 202

    after = scrape()
    for reason in ("not_json", "invalid", "too_large"):
        key = ("failsafe_ingest_rejects_total", (("reason", reason),))
        assert after[key] - before[key] == 1
