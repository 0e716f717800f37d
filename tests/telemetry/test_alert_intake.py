"""Reading Alertmanager, Grafana and PagerDuty payloads (telemetry.alert_intake): pure, no
database. The payloads in fixtures/ follow each tool's documented shape."""

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from telemetry.alert_intake import (
    Action,
    AlertPayloadRefused,
    alertmanager_read,
    body_read,
    labels_fingerprint,
    pagerduty_read,
)

FIXTURES = Path(__file__).parent / "fixtures"


def payload(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def refused_field(read, body) -> str | None:
    with pytest.raises(AlertPayloadRefused) as refused:
        read(body)
    return refused.value.field


def test_an_alertmanager_notification_reads_as_its_alerts_in_order():
    first, second = alertmanager_read(payload("alertmanager_firing"))

    assert first.action == second.action == Action.FIRE
    assert (first.fingerprint, second.fingerprint) == ("4a3c1f0e9b27d6a8", "b81e55a2c0d94f73")
    assert first.summary == "RefundModelErrors: 5xx share of model calls above 5% on refunds-0"
    assert first.labels["instance"] == "refunds-0.refunds.svc:8080"
    assert first.annotations["runbook_url"] == "https://runbooks.example.com/refunds/model-errors"
    assert first.starts_at == datetime(2025, 3, 4, 9, 12, 30, 482713, tzinfo=UTC)
    assert first.link.startswith("http://prometheus.example.com:9090/graph")
    assert first.system == "refund-classifier"


def test_a_resolved_notification_resolves_each_alert():
    alerts = alertmanager_read(payload("alertmanager_resolved"))

    assert [a.action for a in alerts] == [Action.RESOLVE, Action.RESOLVE]
    assert [a.fingerprint for a in alerts] == ["4a3c1f0e9b27d6a8", "b81e55a2c0d94f73"]


def test_grafanas_alertmanager_compatible_payload_is_read_too():
    (alert,) = alertmanager_read(payload("grafana_firing"))

    assert alert.summary == "Refund refusals high: Refusal share above 20%"
    assert alert.fingerprint == "6d3f2a9e1c07b5e4"
    assert alert.starts_at == datetime(2025, 3, 4, 9, 2, tzinfo=UTC)
    assert alert.system == ""  # no `system` label: the token's system is meant


def test_an_alert_without_a_fingerprint_is_known_by_its_labels():
    body = payload("alertmanager_firing")
    for alert in body["alerts"]:
        del alert["fingerprint"]
    first, second = alertmanager_read(body)
    again = alertmanager_read(copy.deepcopy(body))[0]

    assert first.fingerprint == again.fingerprint == labels_fingerprint(first.labels)
    assert first.fingerprint != second.fingerprint


def _with(changes):
    """The firing fixture with three alerts, changed by `changes(body)`."""
    body = payload("alertmanager_firing")
    body["alerts"].append(copy.deepcopy(body["alerts"][0]))
    changes(body)
    return body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["alerts"][2].update(labels=["alertname"]), "alerts[2].labels"),
        (lambda b: b["alerts"][2].update(labels={}), "alerts[2].labels"),
        (lambda b: b["alerts"][1].update(status="pending"), "alerts[1].status"),
        (lambda b: b["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
        (lambda b: b["alerts"][0].update(startsAt="2025-03-04T09:12:30"), "alerts[0].startsAt"),
        (lambda b: b["alerts"][0]["labels"].update(job=7), "alerts[0].labels.job"),
        (lambda b: b["alerts"][2]["labels"].update(job="a\x00b"), "alerts[2].labels.job"),
        (lambda b: b["alerts"][0].update(annotations="text"), "alerts[0].annotations"),
        (
            lambda b: b["alerts"][0]["annotations"].update(summary="x" * 10_001),
            "alerts[0].annotations.summary",
        ),
        (lambda b: b["alerts"][1].update(fingerprint=42), "alerts[1].fingerprint"),
        (
            lambda b: b["alerts"][1].update(generatorURL="javascript:alert(1)"),
            "alerts[1].generatorURL",
        ),
        (lambda b: b["alerts"].__setitem__(1, "an alert"), "alerts[1]"),
        (lambda b: b.update(version="3"), "version"),
        (lambda b: b.update(alerts=[]), "alerts"),
        (lambda b: b.update(alerts=b["alerts"] * 400), "alerts"),
    ],
)
def test_a_bad_alertmanager_payload_is_refused_naming_the_field(change, field):
    body = _with(change)
    with pytest.raises(AlertPayloadRefused) as refused:
        alertmanager_read(body)
    problem_field, message = refused.value.problems[0]
    assert problem_field == field
    assert message.startswith(f"{field} ")


def test_every_problem_is_named_not_only_the_first():
    def changes(body):
        body["alerts"][0]["status"] = "maybe"
        body["alerts"][2]["labels"] = "none"

    with pytest.raises(AlertPayloadRefused) as refused:
        alertmanager_read(_with(changes))

    assert [f for f, _ in refused.value.problems] == ["alerts[0].status", "alerts[2].labels"]


@pytest.mark.parametrize(
    "body", [b"{", b'{"alerts": NaN}', b"[" * 100_000 + b"]" * 100_000, b"\xff"]
)
def test_a_body_that_is_not_json_is_refused(body):
    assert refused_field(body_read, body) is None


def test_a_body_that_is_not_an_object_is_refused():
    assert refused_field(alertmanager_read, ["alerts"]) is None
    assert refused_field(pagerduty_read, "trigger") is None


def test_a_pagerduty_trigger_reads_its_payload_as_labels_and_details():
    event = pagerduty_read(payload("pagerduty_trigger"))
    alert = event.alert

    assert event.routing_key == "set by the test: the system token"
    assert alert.action == Action.FIRE
    assert alert.fingerprint == "refunds/refusal-share"
    assert alert.summary == "Refund classifier: refusal share 31% (threshold 20%)"
    assert alert.labels == {
        "severity": "critical",
        "source": "refunds-0.refunds.svc",
        "component": "refund-classifier",
        "group": "refunds",
        "class": "refusals",
    }
    assert alert.annotations == {"refusal share": "31%", "window": "15m", "requests": 4211}
    assert alert.starts_at == datetime(2025, 3, 4, 10, 2, 0, 315000, tzinfo=UTC)
    assert alert.link == "https://monitoring.example.com/refunds"


def test_pagerduty_acknowledge_and_resolve_need_only_the_dedup_key():
    assert pagerduty_read(payload("pagerduty_acknowledge")).alert.action == Action.ACKNOWLEDGE
    resolve = pagerduty_read(payload("pagerduty_resolve")).alert
    assert (resolve.action, resolve.fingerprint) == (Action.RESOLVE, "refunds/refusal-share")


def test_a_pagerduty_trigger_without_a_dedup_key_is_read_without_one():
    body = payload("pagerduty_trigger")
    del body["dedup_key"]
    assert pagerduty_read(body).alert.fingerprint == ""


def test_custom_details_that_are_not_an_object_are_kept_under_details():
    body = payload("pagerduty_trigger")
    body["payload"]["custom_details"] = "disk at 99%"
    assert pagerduty_read(body).alert.annotations == {"details": "disk at 99%"}


def test_a_system_in_the_custom_details_is_the_system_the_event_names():
    body = payload("pagerduty_trigger")
    body["payload"]["custom_details"]["system"] = "support-reply"
    assert pagerduty_read(body).alert.system == "support-reply"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b.update(event_action="escalate"), "event_action"),
        (lambda b: b.update(event_action=["trigger"]), "event_action"),
        (lambda b: b.pop("payload"), "payload"),
        (lambda b: b["payload"].pop("summary"), "payload.summary"),
        (lambda b: b["payload"].update(summary="x" * 1025), "payload.summary"),
        (lambda b: b["payload"].pop("source"), "payload.source"),
        (lambda b: b["payload"].update(severity="page"), "payload.severity"),
        (lambda b: b["payload"].update(timestamp="soon"), "payload.timestamp"),
        (lambda b: b["payload"].update(component=["a"]), "payload.component"),
        (lambda b: b["payload"]["custom_details"].update(note="\x00"), "payload.custom_details"),
        (lambda b: b.update(dedup_key="k" * 256), "dedup_key"),
        (lambda b: b.update(routing_key=12), "routing_key"),
        (lambda b: b.update(event_action="resolve", dedup_key=""), "dedup_key"),
    ],
)
def test_a_bad_pagerduty_event_is_refused_naming_the_field(change, field):
    body = payload("pagerduty_trigger")
    change(body)
    assert refused_field(pagerduty_read, body) == field
