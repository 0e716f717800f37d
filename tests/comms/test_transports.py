"""Notification transports: Slack, Microsoft Teams and Standard Webhooks deliveries reach a
real HTTP receiver on this machine; Standard Webhooks signatures are checked with the
`standardwebhooks` package, as a receiver would; each channel's events and severities
filter what it is sent; a failing receiver's error is recorded on its channel.

Tests that make changes run with `transaction=True`: a delivery's first attempt is queued
with `on_commit`, and Celery runs it in-process (eager) at the commit.
"""

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from comms.models import Webhook, WebhookDelivery
from comms.services.communications import (
    communication_approve,
    communication_publish,
    communication_save,
)
from comms.services.status_updates import reminders_send_due
from comms.transports import slack, standard, teams
from comms.transports.envelope import Envelope
from comms.transports.message import message_for_test
from comms.webhook_delivery import webhooks_send_due
from comms.webhooks import webhook_create, webhook_rotate_secret, webhook_send_test
from incidents.models import Incident
from incidents.services.incident import incident_classify, incident_declare, incident_status_change
from monitoring.services.alerts import alert_raise
from monitoring.services.monitors import monitor_create
from systems.services import mode_change, mode_drill
from tests.comms.builders import PARTS
from tests.comms.webhook_receiver import free_port, receiving

BASE_URL = "https://failsafe.example.com"
E = Webhook.Event


@pytest.fixture
def receiver():
    with receiving() as listening:
        yield listening


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.FAILSAFE_BASE_URL = BASE_URL


@pytest.fixture
def channel(admin_user):
    def create(url, transport, events=(E.INCIDENT_OPENED,), severities=(), name="#incidents"):
        return webhook_create(
            actor=admin_user,
            name=name,
            url=url,
            transport=transport,
            events=list(events),
            severities=list(severities),
        )

    return create


@pytest.fixture
def declare(responder, system):
    def declare_one(title="Refunds approved in error", harm="harmful", irreversible=True):
        return incident_declare(
            actor=responder,
            title=title,
            systems=[system],
            harm=harm,
            irreversible_actions=irreversible,
        )

    return declare_one


def _verified(secret: str, request) -> dict:
    """What a Standard Webhooks receiver does: verify, then read the parsed body."""
    return StandardWebhook(secret).verify(request.body, request.header_dict())


# --- Slack ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_slack_gets_block_kit_with_the_severity_colour_the_system_and_a_link(
    receiver, channel, declare
):
    channel(receiver.url, "slack")
    incident = declare()

    request = receiver.requests[0]
    assert request.headers["Content-Type"] == "application/json"
    assert "webhook-signature" not in request.headers  # the URL is Slack's credential
    body = request.json()
    assert body["text"] == f"{incident.reference} opened: Refunds approved in error"
    attachment = body["attachments"][0]
    assert attachment["color"] == slack.COLOURS["sev1"] == "#d32f2f"
    blocks = attachment["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": f"{incident.reference} opened", "emoji": False},
    }
    url = f"{BASE_URL}/incidents/{incident.number}/"
    assert blocks[1]["text"]["text"] == f"*<{url}|Refunds approved in error>*"
    fields = [f["text"] for f in blocks[2]["fields"]]
    assert "*Severity*\nSEV1" in fields
    assert "*Systems*\nrefund-classifier" in fields
    assert blocks[3]["text"]["text"].startswith("*What changed*\nDeclared by ")
    assert blocks[4]["elements"][0]["url"] == url
    assert WebhookDelivery.objects.get().state == "delivered"


@pytest.mark.django_db(transaction=True)
def test_a_resolved_incident_is_green_in_slack_and_a_title_shows_as_written(
    receiver, channel, declare, lead
):
    channel(receiver.url, "slack", events=[E.RESOLVED])
    incident = declare(title="<!channel> refunds & holds")
    incident_status_change(actor=lead, incident=incident, status="contained")
    incident_status_change(actor=lead, incident=incident, status="resolved")

    attachment = receiver.requests[0].json()["attachments"][0]
    assert attachment["color"] == slack.COLOURS["resolved"]
    assert "&lt;!channel&gt; refunds &amp; holds" in attachment["blocks"][1]["text"]["text"]
    assert "Status contained → resolved" in attachment["blocks"][3]["text"]["text"]


# --- Microsoft Teams --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_teams_gets_an_adaptive_card_with_the_facts_and_a_link(receiver, channel, declare):
    channel(receiver.url, "teams")
    incident = declare(harm="wrong", irreversible=False)

    body = receiver.requests[0].json()
    assert body["type"] == "message"
    attachment = body["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    heading = card["body"][0]
    assert (heading["type"], heading["style"]) == ("Container", "warning")  # a SEV2
    assert heading["items"][0]["text"] == f"{incident.reference} opened"
    assert heading["items"][1]["text"] == "Refunds approved in error"
    facts = {fact["title"]: fact["value"] for fact in card["body"][1]["facts"]}
    assert facts["Severity"] == "SEV2"
    assert facts["Systems"] == "refund-classifier"
    assert card["body"][3]["text"].startswith("Declared by ")
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": f"Open {incident.reference}",
            "url": f"{BASE_URL}/incidents/{incident.number}/",
        }
    ]


def test_a_test_message_is_a_card_without_an_incident_or_a_link():
    envelope = Envelope("msg_1", datetime.now(UTC))
    message = message_for_test("#ops", datetime.now(UTC))
    card = teams.build(message, envelope)[0]
    assert b'"Test message from Failsafe"' in card
    assert b"Action.OpenUrl" not in card
    assert b'"actions"' not in slack.build(message, envelope)[0]


# --- Standard Webhooks ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_standard_webhook_is_verified_by_the_standardwebhooks_package(receiver, channel, declare):
    hook = channel(receiver.url, "standard")
    assert hook.secret.startswith("whsec_")
    incident = declare()

    request = receiver.requests[0]
    body = _verified(hook.secret, request)
    assert body["type"] == "incident.opened"
    assert body["data"]["incident"]["reference"] == incident.reference
    assert body["data"]["headline"] == f"{incident.reference} opened"
    assert body["data"]["change"].startswith("Declared by ")
    assert datetime.fromisoformat(body["timestamp"]) <= timezone.now()
    delivery = WebhookDelivery.objects.get()
    assert request.headers["webhook-id"] == f"msg_{delivery.message_id.hex}"
    assert request.headers["webhook-signature"].startswith("v1,")
    other = webhook_create(actor=hook.created_by, name="x", url=receiver.url, events=[E.RESOLVED])
    with pytest.raises(WebhookVerificationError):
        _verified(other.secret, request)


@pytest.mark.django_db(transaction=True)
def test_a_retry_keeps_the_webhook_id_and_is_signed_afresh(receiver, channel, declare):
    hook = channel(receiver.url, "standard")
    receiver.answers = [500]
    declare()
    webhooks_send_due(now=timezone.now() + timedelta(minutes=1))

    first, retry = receiver.requests
    assert first.headers["webhook-id"] == retry.headers["webhook-id"]
    assert first.body == retry.body
    assert _verified(hook.secret, retry)


@pytest.mark.django_db(transaction=True)
def test_during_a_rotation_both_secrets_verify_and_after_it_only_the_new_one(
    receiver, channel, admin_user
):
    hook = channel(receiver.url, "standard")
    old = hook.secret
    hook = webhook_rotate_secret(actor=admin_user, webhook=hook)
    assert hook.secret != old and hook.secret.startswith("whsec_")
    webhook_send_test(actor=admin_user, webhook=hook)

    during = receiver.requests[0]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert _verified(old, during)["type"] == "test"
    assert _verified(hook.secret, during)["type"] == "test"

    # The grace period is over: the old secret signs no more.
    Webhook.objects.filter(pk=hook.pk).update(previous_secret_until=timezone.now())
    webhook_send_test(actor=admin_user, webhook=hook)
    after = receiver.requests[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert _verified(hook.secret, after)
    with pytest.raises(WebhookVerificationError):
        _verified(old, after)


@pytest.mark.django_db(transaction=True)
def test_a_legacy_channel_signs_with_the_new_secret_at_once_after_a_rotation(
    receiver, channel, admin_user
):
    from tests.comms.test_webhooks import verify

    hook = channel(receiver.url, "legacy")
    old = hook.secret
    hook = webhook_rotate_secret(actor=admin_user, webhook=hook)
    webhook_send_test(actor=admin_user, webhook=hook)
    assert verify(hook.secret, receiver.requests[0])
    assert not verify(old, receiver.requests[0])


def test_the_standard_transport_is_a_pure_function_of_message_and_envelope():
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    at = datetime.now(UTC)
    message = message_for_test("#ops", at)
    body, headers = standard.build(message, Envelope("msg_abc", at, (secret,)))
    assert standard.build(message, Envelope("msg_abc", at, (secret,))) == (body, headers)
    assert headers["webhook-timestamp"] == str(int(at.timestamp()))
    assert StandardWebhook(secret).verify(body, headers)["data"]["test"] is True


# --- Which events, which severities -----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_each_channel_gets_only_its_events_at_its_severities(
    receiver, channel, declare, lead, settings
):
    with receiving() as second:
        channel(receiver.url, "standard", events=[E.INCIDENT_OPENED], severities=["SEV1", "SEV2"])
        channel(
            second.url,
            "slack",
            events=[E.INCIDENT_OPENED, E.SEVERITY_CHANGED],
            severities=["SEV3"],
            name="#low",
        )
        incident = declare()  # a SEV1
        incident_classify(
            actor=lead, incident=incident, harm="anomalous", irreversible_actions=False
        )
        incident_status_change(actor=lead, incident=incident, status="contained")
        incident_status_change(actor=lead, incident=incident, status="resolved")

        assert [r.json()["type"] for r in receiver.requests] == ["incident.opened"]
        assert [r.json()["text"] for r in second.requests] == [
            f"{incident.reference} is now SEV3: Refunds approved in error"
        ]
    assert WebhookDelivery.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_mode_change_reaches_the_channels_of_each_open_incident_and_a_drill_does_not(
    receiver, channel, declare, system, owner
):
    hook = channel(receiver.url, "standard", events=[E.MODE_CHANGED])
    incident = declare()
    mode_change(actor=owner, system=system, mode="off", reason="Holds on good customers")
    mode_drill(actor=owner, system=system)

    assert len(receiver.requests) == 1
    data = _verified(hook.secret, receiver.requests[0])["data"]
    assert data["incident"]["reference"] == incident.reference
    assert data["mode"]["system"] == "refund-classifier"
    assert (data["mode"]["from"], data["mode"]["to"]) == ("ai", "off")
    assert "ai → off" in data["change"]


@pytest.mark.django_db(transaction=True)
def test_an_alert_reaches_the_channels_with_what_moved(receiver, channel, declare, system, owner):
    hook = channel(receiver.url, "standard", events=[E.ALERT_RAISED])
    incident = declare()
    monitor = monitor_create(
        actor=owner, system=system, name="Fraud share", kind="category_share", target="fraud"
    )
    alert = alert_raise(
        monitor=monitor,
        evidence={
            "kind": "rate",
            "direction": "up",
            "current": 0.4,
            "baseline": 0.1,
            "onset": timezone.now().isoformat(),
        },
    )

    data = _verified(hook.secret, receiver.requests[0])["data"]
    assert data["incident"]["reference"] == incident.reference
    assert data["alert"] == {"id": alert.pk}
    assert data["change"].startswith("Alert: Fraud share rose to 40.0%")


@pytest.mark.django_db(transaction=True)
def test_publishing_an_external_communication_reaches_the_channels(receiver, channel, sev1, lead):
    channel(receiver.url, "slack", events=[E.COMMUNICATION_PUBLISHED])
    communication_save(actor=lead, incident=sev1, parts=PARTS)
    communication_approve(actor=lead, incident=sev1, version_number=1)
    assert receiver.requests == []
    published = communication_publish(actor=lead, incident=sev1, version_number=1)

    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "incident.communication_published"
    assert delivery.payload["communication"] == {
        "number": 1,
        "version": 1,
        "headline": PARTS["headline"],
        "url": f"{BASE_URL}/status/#update-{published.code}",
    }
    blocks = receiver.requests[0].json()["attachments"][0]["blocks"]
    assert PARTS["headline"] in blocks[3]["text"]["text"]


@pytest.mark.django_db(transaction=True)
def test_an_overdue_status_update_reaches_the_channels(receiver, channel, system, lead):
    hook = channel(receiver.url, "standard", events=[E.UPDATE_OVERDUE], severities=["SEV1"])
    declared = timezone.now() - timedelta(hours=1)
    incident_declare(
        actor=lead,
        title="Refunds approved in error",
        systems=[system],
        harm="harmful",
        irreversible_actions=True,
        lead=lead,
        declared_at=declared,
    )
    reminders_send_due(now=timezone.now())

    body = _verified(hook.secret, receiver.requests[0])
    assert body["type"] == "incident.update_overdue"
    assert body["data"]["change"].startswith("Status update overdue: a SEV1 owes one")


# --- A failing receiver -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_500_is_recorded_on_the_channel_and_kept_after_a_later_success(
    receiver, channel, declare
):
    hook = channel(receiver.url, "teams")
    receiver.answers = [500]
    declare()
    hook.refresh_from_db()
    assert (hook.last_attempt_ok, hook.last_status_code) == (False, 500)
    assert hook.last_error == "HTTP 500 Internal Server Error"
    failed_at = hook.last_error_at
    assert failed_at == hook.last_attempt_at

    webhooks_send_due(now=timezone.now() + timedelta(minutes=1))
    hook.refresh_from_db()
    assert (hook.last_attempt_ok, hook.last_status_code) == (True, 200)
    assert (hook.last_error, hook.last_error_at) == ("HTTP 500 Internal Server Error", failed_at)
    assert hook.last_attempt_at > failed_at


@pytest.mark.django_db(transaction=True)
def test_a_dead_receiver_never_blocks_the_change_and_its_error_is_recorded(
    channel, declare, settings
):
    hook = channel(f"http://127.0.0.1:{free_port()}/hook", "slack")
    started = time.monotonic()
    incident = declare()
    assert time.monotonic() - started < settings.FAILSAFE_WEBHOOK_TIMEOUT_SECONDS

    assert Incident.objects.filter(pk=incident.pk).exists()  # committed
    assert WebhookDelivery.objects.get().state == "pending"  # retried by the sweep
    hook.refresh_from_db()
    assert hook.last_attempt_ok is False
    assert hook.last_status_code is None
    assert "refused" in hook.last_error.lower()


@pytest.mark.django_db(transaction=True)
def test_the_change_is_committed_before_the_receiver_is_even_called(receiver, channel, declare):
    channel(receiver.url, "standard")
    seen_from_the_receiver = []

    def look(_request):
        # The receiver's own connection: it sees only what was committed.
        try:
            seen_from_the_receiver.append(Incident.objects.count())
        finally:
            connection.close()

    receiver.on_request = look
    declare()
    assert seen_from_the_receiver == [1]
