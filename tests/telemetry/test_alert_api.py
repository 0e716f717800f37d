"""Alerts in over HTTP: Alertmanager's (and Grafana's) webhook and PagerDuty's Events API
open, join, deduplicate and resolve incidents; the token decides the system."""

import json
import threading
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from core.models import AuditEntry
from incidents.models import Incident, TimelineEntry
from monitoring.models import Alert
from systems.services import token_issue, token_revoke
from tests.factories import IncidentFactory

FIXTURES = Path(__file__).parent / "fixtures"
ALERTMANAGER = reverse("api-alerts-alertmanager")
ENQUEUE = reverse("api-alerts-enqueue")


def payload(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def alerts_token(system):
    """The raw token of `system` (refund-classifier), scope alerts:write."""
    return token_issue(actor=None, system=system, name="alerts", scopes=["alerts:write"])[1]


def send(client, url, body, token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


def pagerduty(name: str, token: str, **changes) -> dict:
    """A PagerDuty fixture with the system token as its routing_key."""
    return {**payload(name), "routing_key": token, **changes}


def nothing_stored():
    return (
        Alert.objects.count(),
        Incident.objects.count(),
        TimelineEntry.objects.count(),
        AuditEntry.objects.exclude(verb="token.issue").count(),
    ) == (0, 0, 0, 0)


def test_a_firing_notification_opens_one_sev3_with_each_alert_on_its_timeline(
    client, system, alerts_token
):
    answer = send(client, ALERTMANAGER, payload("alertmanager_firing"), alerts_token)

    assert answer.status_code == 200
    assert answer.json() == {"opened": 2, "deduplicated": 0, "resolved": 0, "unknown": 0}
    incident = Incident.objects.get()
    assert (incident.severity, incident.source) == ("SEV3", Incident.Source.ALERT)
    assert list(incident.systems.all()) == [system]
    alerts = list(Alert.objects.order_by("fingerprint"))
    assert [a.fingerprint for a in alerts] == ["4a3c1f0e9b27d6a8", "b81e55a2c0d94f73"]
    assert all(a.monitor is None and a.source == Alert.Source.ALERTMANAGER for a in alerts)
    assert all(a.incident == incident and a.status == Alert.Status.OPEN for a in alerts)
    entries = incident.timeline.filter(kind=TimelineEntry.Kind.ALERT).order_by("pk")
    assert [e.data["labels"]["instance"] for e in entries] == [
        "refunds-0.refunds.svc:8080",
        "refunds-1.refunds.svc:8080",
    ]
    assert "instance=refunds-0.refunds.svc:8080" in entries[0].text
    assert entries[0].text.startswith("Alert from Alertmanager: RefundModelErrors: 5xx share")
    raised = AuditEntry.objects.filter(verb="alert.raise")
    assert raised.count() == 2
    assert all(e.actor_label.endswith("of refund-classifier") for e in raised)
    assert AuditEntry.objects.filter(verb="incident.declare").count() == 1


def test_a_firing_alert_joins_the_systems_open_incident(client, system, alerts_token):
    open_incident = IncidentFactory(systems=[system])

    send(client, ALERTMANAGER, payload("grafana_firing"), alerts_token)

    alert = Alert.objects.get()
    assert Incident.objects.count() == 1
    assert alert.incident == open_incident
    assert alert.summary == "Refund refusals high: Refusal share above 20%"
    assert open_incident.timeline.filter(kind=TimelineEntry.Kind.ALERT).count() == 1


def test_a_repeat_while_open_is_deduplicated(client, system, alerts_token):
    send(client, ALERTMANAGER, payload("alertmanager_firing"), alerts_token)
    first_seen = {a.pk: a.last_seen_at for a in Alert.objects.all()}

    answer = send(client, ALERTMANAGER, payload("alertmanager_firing"), alerts_token)

    assert answer.json()["deduplicated"] == 2
    assert Alert.objects.count() == 2 and Incident.objects.count() == 1
    assert TimelineEntry.objects.filter(kind=TimelineEntry.Kind.ALERT).count() == 2
    assert AuditEntry.objects.filter(verb="alert.raise").count() == 2
    assert all(a.last_seen_at > first_seen[a.pk] for a in Alert.objects.all())


def test_a_resolved_notification_resolves_the_alerts_and_says_so(client, system, alerts_token):
    send(client, ALERTMANAGER, payload("alertmanager_firing"), alerts_token)

    answer = send(client, ALERTMANAGER, payload("alertmanager_resolved"), alerts_token)

    assert answer.json()["resolved"] == 2
    assert all(a.status == Alert.Status.RESOLVED and a.resolved_at for a in Alert.objects.all())
    resolved = TimelineEntry.objects.filter(text__startswith="Resolved: RefundModelErrors")
    assert resolved.count() == 2
    assert AuditEntry.objects.filter(verb="alert.resolve").count() == 2
    # The alerts resolve; the incident stays open for people to resolve.
    assert Incident.objects.get().is_open


def test_an_alert_firing_again_after_it_resolved_is_a_new_alert(client, system, alerts_token):
    send(client, ALERTMANAGER, payload("alertmanager_firing"), alerts_token)
    send(client, ALERTMANAGER, payload("alertmanager_resolved"), alerts_token)

    answer = send(client, ALERTMANAGER, payload("alertmanager_firing"), alerts_token)

    assert answer.json()["opened"] == 2
    assert Alert.objects.filter(status=Alert.Status.OPEN).count() == 2
    assert Alert.objects.count() == 4 and Incident.objects.count() == 1


def test_a_resolve_for_an_alert_never_seen_firing_changes_nothing(client, system, alerts_token):
    answer = send(client, ALERTMANAGER, payload("alertmanager_resolved"), alerts_token)

    assert answer.json() == {"opened": 0, "deduplicated": 0, "resolved": 0, "unknown": 2}
    assert nothing_stored()


def test_a_pagerduty_event_triggers_acknowledges_once_and_resolves(client, system, alerts_token):
    answer = send(client, ENQUEUE, pagerduty("pagerduty_trigger", alerts_token))

    assert answer.status_code == 202
    assert answer.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "refunds/refusal-share",
    }
    alert = Alert.objects.get()
    assert (alert.source, alert.monitor, alert.labels["severity"]) == (
        "pagerduty",
        None,
        "critical",
    )
    assert alert.annotations["window"] == "15m"
    assert Incident.objects.get().severity == "SEV3"

    send(client, ENQUEUE, pagerduty("pagerduty_acknowledge", alerts_token))
    send(client, ENQUEUE, pagerduty("pagerduty_acknowledge", alerts_token))
    acknowledged = TimelineEntry.objects.filter(text__startswith="Acknowledged at PagerDuty")
    assert acknowledged.count() == 1
    assert AuditEntry.objects.filter(verb="alert.acknowledge").count() == 1

    answer = send(client, ENQUEUE, pagerduty("pagerduty_resolve", alerts_token))

    assert answer.status_code == 202
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED
    assert TimelineEntry.objects.filter(text__startswith="Resolved: Refund classifier").exists()
    assert AuditEntry.objects.filter(verb="alert.resolve").count() == 1


def test_the_token_may_come_as_the_bearer_header_instead(client, system, alerts_token):
    body = pagerduty("pagerduty_trigger", "an old PagerDuty integration key")

    answer = send(client, ENQUEUE, body, alerts_token)

    assert answer.status_code == 202
    assert Alert.objects.get().system == system


def test_a_trigger_without_a_dedup_key_gets_one_to_resolve_it_by(client, system, alerts_token):
    body = pagerduty("pagerduty_trigger", alerts_token)
    del body["dedup_key"]

    dedup_key = send(client, ENQUEUE, body).json()["dedup_key"]
    send(client, ENQUEUE, pagerduty("pagerduty_resolve", alerts_token, dedup_key=dedup_key))

    alert = Alert.objects.get()
    assert (alert.fingerprint, alert.status) == (dedup_key, Alert.Status.RESOLVED)


def test_a_bad_notification_is_refused_naming_the_field_and_nothing_is_stored(
    client, system, alerts_token
):
    body = payload("alertmanager_firing")
    body["alerts"].append({**body["alerts"][0], "labels": ["alertname", "severity"]})

    answer = send(client, ALERTMANAGER, body, alerts_token)

    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "alerts[2].labels"
    assert nothing_stored()


def test_a_bad_pagerduty_event_is_refused_as_pagerduty_does(client, system, alerts_token):
    body = pagerduty("pagerduty_trigger", alerts_token)
    del body["payload"]["summary"]

    answer = send(client, ENQUEUE, body)

    assert answer.status_code == 400
    assert answer.json()["status"] == "invalid event"
    assert answer.json()["errors"] == [
        {"field": "payload.summary", "message": "payload.summary is required for a trigger."}
    ]
    assert nothing_stored()


def test_an_alert_naming_another_system_is_refused(client, system, other_system):
    token = token_issue(actor=None, system=other_system, name="a", scopes=["alerts:write"])[1]

    answer = send(client, ALERTMANAGER, payload("alertmanager_firing"), token)

    assert answer.status_code == 403
    assert answer.json()["errors"][0]["field"] == "alerts[0].labels.system"
    body = pagerduty("pagerduty_trigger", token)
    body["payload"]["custom_details"]["system"] = "refund-classifier"
    assert send(client, ENQUEUE, body).status_code == 403
    assert nothing_stored()


@pytest.mark.parametrize("url", [ALERTMANAGER, ENQUEUE])
def test_without_a_token_alerts_are_refused(client, system, url):
    body = payload("alertmanager_firing" if url == ALERTMANAGER else "pagerduty_trigger")

    assert send(client, url, body).status_code == 401
    assert send(client, url, body, "fsk_not-a-token").status_code == 401
    assert nothing_stored()


def test_a_revoked_token_is_refused(client, system):
    token, raw = token_issue(actor=None, system=system, name="old", scopes=["alerts:write"])
    token_revoke(actor=None, token=token)

    assert send(client, ALERTMANAGER, payload("alertmanager_firing"), raw).status_code == 401
    assert send(client, ENQUEUE, pagerduty("pagerduty_trigger", raw)).status_code == 401
    assert Alert.objects.count() == 0


def test_a_token_without_the_alerts_scope_is_refused(client, system):
    raw = token_issue(actor=None, system=system, name="events", scopes=["events:write"])[1]

    assert send(client, ALERTMANAGER, payload("alertmanager_firing"), raw).status_code == 403
    answer = send(client, ENQUEUE, pagerduty("pagerduty_trigger", raw))
    assert (answer.status_code, answer.json()["status"]) == (403, "forbidden")
    assert nothing_stored()


def test_a_person_signed_in_cannot_send_alerts(client_for, system, admin_user):
    answer = send(client_for(admin_user), ALERTMANAGER, payload("alertmanager_firing"))

    assert answer.status_code == 401
    assert Alert.objects.count() == 0


def test_the_incident_page_shows_an_external_alert_with_its_labels_escaped(
    client, client_for, system, alerts_token, viewer
):
    body = payload("alertmanager_firing")
    body["alerts"][0]["labels"]["note"] = "<script>alert(1)</script>"
    send(client, ALERTMANAGER, body, alerts_token)
    incident = Incident.objects.get()

    page = client_for(viewer).get(reverse("incidents:detail", args=[incident.number]))

    html = page.content.decode()
    assert page.status_code == 200
    assert "Sent by Alertmanager" in html
    assert "RefundModelErrors: 5xx share of model calls above 5% on refunds-0" in html
    assert "instance=refunds-1.refunds.svc:8080" in html
    assert "<script>alert(1)</script>" not in html
    assert "note=&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_alert_api_lists_an_external_alert_without_a_monitor(
    client, client_for, system, alerts_token, viewer
):
    send(client, ENQUEUE, pagerduty("pagerduty_trigger", alerts_token))

    answer = client_for(viewer).get(reverse("api-alerts", args=[system.slug]))

    (alert,) = answer.json()
    assert alert["monitor"] is None
    assert (alert["source"], alert["fingerprint"]) == ("pagerduty", "refunds/refusal-share")
    assert alert["labels"]["component"] == "refund-classifier"
    assert alert["incident"] == Incident.objects.get().number


@pytest.mark.django_db(transaction=True)
def test_two_identical_webhooks_at_once_open_one_alert(system, alerts_token):
    body = payload("grafana_firing")
    start = threading.Barrier(2)
    answers = []

    def deliver():
        try:
            start.wait()
            answers.append(send(Client(), ALERTMANAGER, body, alerts_token).json())
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(a["opened"] for a in answers) == [0, 1]
    assert Alert.objects.count() == 1 and Incident.objects.count() == 1
    assert TimelineEntry.objects.filter(kind=TimelineEntry.Kind.ALERT).count() == 1
