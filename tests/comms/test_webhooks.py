"""Outgoing webhooks (here the legacy signed one; the other transports are in
test_transports.py), delivered to a real HTTP server on this machine (no mocked urllib).

Tests that declare incidents or send tests run with `transaction=True`: a delivery's first
attempt is queued with `on_commit`, and Celery runs it in-process (eager) at the commit.
"""

import hashlib
import hmac
import json
import socket
import threading
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from comms.models import Webhook, WebhookDelivery
from comms.webhook_delivery import BACKOFF_SECONDS, webhook_attempt, webhooks_send_due
from comms.webhooks import webhook_create, webhook_update
from core.models import AuditEntry
from incidents.services.incident import incident_classify, incident_declare, incident_status_change
from tests.comms.webhook_receiver import Received, free_port, receiving
from tests.factories import IncidentFactory

OPENED = Webhook.Event.INCIDENT_OPENED
RESOLVED = Webhook.Event.RESOLVED


@pytest.fixture
def receiver():
    with receiving() as listening:
        yield listening


def verify(secret: str, request: Received) -> bool:
    """What a receiver does (docs/WEBHOOKS.md), written out rather than calling sign()."""
    timestamp = request.headers["X-Failsafe-Timestamp"]
    expected = hmac.new(
        secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest("sha256=" + expected, request.headers["X-Failsafe-Signature"])


@pytest.fixture
def hook_to(admin_user):
    def create(url, events=(OPENED,), name="#incidents", transport="legacy"):
        return webhook_create(
            actor=admin_user, name=name, url=url, events=list(events), transport=transport
        )

    return create


@pytest.fixture
def declare(responder, system):
    def declare_one(title="Refunds approved in error"):
        return incident_declare(
            actor=responder,
            title=title,
            systems=[system],
            harm="wrong",
            irreversible_actions=True,
        )

    return declare_one


# --- Delivery ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_declaring_an_incident_posts_a_legacy_signed_message_the_receiver_can_verify(
    receiver, hook_to, declare
):
    webhook = hook_to(receiver.url)
    before = int(time.time())
    incident = declare()

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert (request.method, request.path) == ("POST", "/failsafe")
    assert request.headers["Content-Type"] == "application/json"
    assert verify(webhook.secret, request)
    assert not verify("not-the-secret", request)
    assert before <= int(request.headers["X-Failsafe-Timestamp"]) <= int(time.time())
    body = request.json()
    assert body["text"] == f"{incident.reference} opened: Refunds approved in error"
    assert body["event"] == "incident.opened"
    assert body["incident"]["reference"] == incident.reference
    assert body["incident"]["severity"] == "SEV1"
    assert body["incident"]["systems"] == ["refund-classifier"]

    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert delivery.incident == incident
    assert delivery.delivered_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_500_is_retried_after_a_backoff_and_delivered_by_a_later_sweep(
    receiver, hook_to, declare
):
    webhook = hook_to(receiver.url)
    receiver.answers = [500]
    started = timezone.now()
    declare()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error.startswith("HTTP 500")
    backoff = timedelta(seconds=BACKOFF_SECONDS[0])
    assert started + backoff <= delivery.next_attempt_at <= timezone.now() + backoff

    assert webhooks_send_due(now=timezone.now()) == 0  # not due yet: nothing is sent
    assert len(receiver.requests) == 1

    assert webhooks_send_due(now=delivery.next_attempt_at + timedelta(seconds=1)) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
    assert delivery.last_error == ""
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body
    assert all(verify(webhook.secret, r) for r in receiver.requests)


@pytest.mark.django_db(transaction=True)
@override_settings(FAILSAFE_WEBHOOK_ATTEMPTS=3)
def test_a_delivery_is_given_up_after_the_configured_number_of_attempts(receiver, hook_to, declare):
    hook_to(receiver.url)
    receiver.answers = [500] * 10
    declare()
    later = timezone.now()
    for _ in range(4):
        later += timedelta(hours=1)
        webhooks_send_due(now=later)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("failed", 3)
    assert delivery.get_state_display() == "gave up"
    assert delivery.last_status_code == 500
    assert len(receiver.requests) == 3


@pytest.mark.django_db(transaction=True)
def test_a_dead_endpoint_never_blocks_declaring_an_incident(hook_to, declare, settings):
    hook_to(f"http://127.0.0.1:{free_port()}/failsafe")
    started = time.monotonic()
    incident = declare()
    assert time.monotonic() - started < settings.FAILSAFE_WEBHOOK_TIMEOUT_SECONDS

    assert incident.pk is not None
    assert AuditEntry.objects.filter(verb="incident.declare").count() == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert "refused" in delivery.last_error.lower()
    assert delivery.next_attempt_at > timezone.now()


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_never_fails_declaring_and_the_sweep_delivers_later(
    receiver, hook_to, declare, monkeypatch
):
    from kombu.exceptions import OperationalError

    from comms.webhook_delivery import webhook_deliver

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    hook_to(receiver.url)
    monkeypatch.setattr(webhook_deliver, "delay", broker_down)
    incident = declare()

    assert incident.pk is not None
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("pending", 0)
    assert receiver.requests == []
    assert webhooks_send_due() == 1
    delivery.refresh_from_db()
    assert delivery.state == "delivered"


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_that_does_not_speak_http_is_logged_as_a_failed_attempt(hook_to, declare):
    listener = socket.create_server(("127.0.0.1", 0))

    def talk_nonsense():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HELLO THERE\r\n\r\n")

    thread = threading.Thread(target=talk_nonsense, daemon=True)
    thread.start()
    try:
        hook_to(f"http://127.0.0.1:{listener.getsockname()[1]}/")
        declare()
    finally:
        thread.join(timeout=5)
        listener.close()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
    assert delivery.last_error


@pytest.mark.django_db(transaction=True)
def test_a_redirect_is_logged_as_a_failure_not_followed_as_a_get(receiver, hook_to, declare):
    hook_to(receiver.url)
    receiver.answers = [302]
    declare()

    assert [r.method for r in receiver.requests] == ["POST"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.last_status_code) == ("pending", 302)


@pytest.mark.django_db(transaction=True)
def test_a_severity_change_and_the_resolution_each_reach_a_subscribed_receiver(
    receiver, hook_to, declare, lead
):
    hook_to(receiver.url, events=[Webhook.Event.SEVERITY_CHANGED, RESOLVED])
    incident = declare()
    incident_classify(actor=lead, incident=incident, harm="wrong", irreversible_actions=False)
    incident_status_change(actor=lead, incident=incident, status="contained")
    incident_status_change(actor=lead, incident=incident, status="resolved")

    events = [json.loads(r.body)["event"] for r in receiver.requests]
    assert events == ["incident.severity_changed", "incident.resolved"]
    assert json.loads(receiver.requests[1].body)["incident"]["status"] == "resolved"


@pytest.mark.django_db(transaction=True)
def test_a_webhook_not_subscribed_to_the_event_gets_nothing(receiver, hook_to, declare):
    hook_to(receiver.url, events=[RESOLVED])
    declare()
    assert receiver.requests == []
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_inactive_webhook_gets_nothing(receiver, hook_to, declare, admin_user):
    webhook = hook_to(receiver.url)
    webhook_update(
        actor=admin_user,
        webhook=webhook,
        name=webhook.name,
        url=webhook.url,
        events=webhook.events,
        active=False,
    )
    declare()
    assert receiver.requests == []
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_switching_a_webhook_off_stops_its_pending_retries(receiver, hook_to, declare, admin_user):
    webhook = hook_to(receiver.url)
    receiver.answers = [500]
    declare()
    webhook_update(
        actor=admin_user,
        webhook=webhook,
        name=webhook.name,
        url=webhook.url,
        events=webhook.events,
        active=False,
    )
    webhooks_send_due(now=timezone.now() + timedelta(hours=1))

    assert len(receiver.requests) == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("failed", 1)
    assert "inactive" in delivery.last_error


def _pending_delivery(webhook, system, due) -> WebhookDelivery:
    """A delivery queued without its first attempt, as a worker restart would leave it."""
    incident = IncidentFactory(systems=[system])
    return WebhookDelivery.objects.create(
        webhook=webhook, event=OPENED, incident=incident, payload={"text": "x"}, next_attempt_at=due
    )


def _in_a_thread(function, *args):
    """Run `function` on its own database connection; returns (thread, results list)."""
    from django.db import connection

    results = []

    def run():
        try:
            results.append(function(*args))
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, results


@pytest.mark.django_db(transaction=True)
def test_a_delivery_in_flight_is_not_claimed_again(receiver, hook_to, system):
    delivery = _pending_delivery(hook_to(receiver.url), system, due=timezone.now())
    now = timezone.now()
    receiver.hold()
    thread, results = _in_a_thread(webhook_attempt, delivery.pk, now)
    assert receiver.arrived.wait(timeout=5)

    assert webhook_attempt(delivery.pk, now) is None  # the claim is taken: no second POST

    receiver.release()
    thread.join(timeout=10)
    assert results == ["delivered"]
    assert len(receiver.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_the_same_moment_attempt_a_delivery_once(receiver, hook_to, system):
    delivery = _pending_delivery(hook_to(receiver.url), system, due=timezone.now())
    now = timezone.now()
    receiver.hold()
    start = threading.Barrier(2)

    def sweep():
        start.wait(timeout=5)
        return webhooks_send_due(now=now)

    sweeps = [_in_a_thread(sweep) for _ in range(2)]
    assert receiver.arrived.wait(timeout=5)
    time.sleep(0.3)  # time for a second POST to arrive, were the claim not exclusive
    receiver.release()
    for thread, _ in sweeps:
        thread.join(timeout=10)

    assert sorted(results[0] for _, results in sweeps) == [0, 1]
    assert len(receiver.requests) == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("delivered", 1)


# --- Validation in the service ----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "events", "changes", "fields"),
    [
        ("ftp://files.example.com/in", [OPENED], {}, {"url"}),
        ("javascript:alert(1)", [OPENED], {}, {"url"}),
        ("https://hooks.example.com/x", [], {}, {"events"}),
        ("https://hooks.example.com/x", ["incident.exploded"], {}, {"events"}),
        ("not a url", [], {}, {"url", "events"}),
        ("https://hooks.example.com/x", [OPENED], {"transport": "pager"}, {"transport"}),
        ("https://hooks.example.com/x", [OPENED], {"severities": ["SEV9"]}, {"severities"}),
    ],
)
def test_bad_input_is_refused_naming_each_field(db, admin_user, url, events, changes, fields):
    with pytest.raises(ValidationError) as refused:
        webhook_create(actor=admin_user, name="x", url=url, events=events, **changes)
    assert set(refused.value.message_dict) == fields
    assert not Webhook.objects.exists()
    assert not AuditEntry.objects.exists()


# --- The pages --------------------------------------------------------------------------

SLACK_URL = "https://hooks.slack.com/services/T0001/B0001/sekr1tT0kenInTheUrl"


@pytest.fixture
def webhook(hook_to):
    return hook_to(SLACK_URL, transport="slack")


def _audit_text(entry: AuditEntry) -> str:
    return json.dumps([entry.before, entry.after, entry.reason, entry.target_repr])


def test_an_admin_adds_a_webhook_and_the_audit_entry_keeps_no_secret(client_for, admin_user):
    response = client_for(admin_user).post(
        "/webhooks/",
        {
            "name": "#incidents",
            "transport": "slack",
            "url": SLACK_URL,
            "events": [OPENED, RESOLVED],
            "severities": ["SEV1", "SEV2"],
        },
    )
    webhook = Webhook.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/webhooks/{webhook.pk}/"
    assert (webhook.name, webhook.url, webhook.active) == ("#incidents", SLACK_URL, True)
    assert (webhook.transport, webhook.severities) == ("slack", ["SEV1", "SEV2"])
    assert webhook.events == ["incident.opened", "incident.resolved"]
    assert webhook.created_by == admin_user
    entry = AuditEntry.objects.get(verb="webhook.create")
    assert entry.actor == admin_user
    assert (entry.after["transport"], entry.after["severities"]) == ("slack", ["SEV1", "SEV2"])
    assert entry.after["url"].startswith("https://hooks.slack.com/… (")
    assert webhook.secret not in _audit_text(entry)
    assert "sekr1tT0kenInTheUrl" not in _audit_text(entry)


def test_the_list_shows_each_channel_to_an_admin_but_never_a_secret(
    client_for, admin_user, webhook
):
    response = client_for(admin_user).get("/webhooks/")
    assert response.status_code == 200
    assert webhook.secret.encode() not in response.content
    assert SLACK_URL.encode() in response.content
    assert b"incident.opened" in response.content
    assert b"Slack incoming webhook" in response.content
    assert b"every severity" in response.content
    assert response["Cache-Control"] == "no-store"


def test_names_are_escaped_on_the_pages(client_for, admin_user, hook_to):
    webhook = hook_to("https://example.com/h", name="<script>alert(1)</script>")
    client = client_for(admin_user)
    for path in ("/webhooks/", f"/webhooks/{webhook.pk}/"):
        page = client.get(path).content
        assert b"<script>alert(1)</script>" not in page
        assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_admin_edits_a_webhook_and_the_change_is_audited(client_for, admin_user, webhook):
    response = client_for(admin_user).post(
        f"/webhooks/{webhook.pk}/",
        # `active` unticked
        {"name": "#sev1", "transport": "slack", "url": SLACK_URL, "events": [OPENED]},
    )
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert (webhook.name, webhook.active) == ("#sev1", False)
    entry = AuditEntry.objects.get(verb="webhook.update")
    assert entry.actor == admin_user
    assert ("active", True, False) in entry.changes()
    assert ("name", "#incidents", "#sev1") in entry.changes()


def test_saving_a_webhook_unchanged_records_nothing(client_for, admin_user, webhook):
    client_for(admin_user).post(
        f"/webhooks/{webhook.pk}/",
        {
            "name": "#incidents",
            "transport": "slack",
            "url": SLACK_URL,
            "events": [OPENED],
            "active": "on",
        },
    )
    assert not AuditEntry.objects.filter(verb="webhook.update").exists()


def test_an_admin_removes_a_webhook_and_its_log_but_the_audit_entry_stays(
    client_for, admin_user, webhook, system
):
    _pending_delivery(webhook, system, due=timezone.now())
    response = client_for(admin_user).post(f"/webhooks/{webhook.pk}/remove/")
    assert response.status_code == 302
    assert response["Location"] == "/webhooks/"
    assert not Webhook.objects.exists()
    assert not WebhookDelivery.objects.exists()
    entry = AuditEntry.objects.get(verb="webhook.remove")
    assert entry.actor == admin_user
    assert entry.target_id == str(webhook.pk)
    assert entry.before["name"] == "#incidents"
    assert entry.before["deliveries"] == 1


def test_removing_with_htmx_sends_the_browser_to_the_list(client_for, admin_user, webhook):
    response = client_for(admin_user).post(
        f"/webhooks/{webhook.pk}/remove/", HTTP_HX_REQUEST="true"
    )
    assert response["HX-Redirect"] == "/webhooks/"
    assert not Webhook.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_admin_sends_a_test_with_htmx_and_gets_the_delivery_log_back(
    client_for, admin_user, receiver, hook_to
):
    webhook = hook_to(receiver.url)
    response = client_for(admin_user).post(f"/webhooks/{webhook.pk}/test/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b'id="deliveries"' in response.content
    assert b"delivered" in response.content
    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert verify(webhook.secret, request)
    body = request.json()
    assert (body["event"], body["test"], body["incident"]) == ("test", True, None)
    assert "Test message" in body["text"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.event, delivery.state, delivery.incident) == ("test", "delivered", None)
    assert AuditEntry.objects.get(verb="webhook.send_test").actor == admin_user


def test_a_test_without_htmx_goes_back_to_the_page(client_for, admin_user, webhook):
    response = client_for(admin_user).post(f"/webhooks/{webhook.pk}/test/")
    assert response.status_code == 302
    assert response["Location"] == f"/webhooks/{webhook.pk}/"
    assert WebhookDelivery.objects.get().event == "test"


def test_an_inactive_webhook_is_not_sent_a_test(client_for, admin_user, webhook):
    webhook.active = False
    webhook.save()
    response = client_for(admin_user).post(f"/webhooks/{webhook.pk}/test/", HTTP_HX_REQUEST="true")
    assert response.status_code == 422
    assert b"inactive" in response.content
    assert not WebhookDelivery.objects.exists()
    assert not AuditEntry.objects.filter(verb="webhook.send_test").exists()


@pytest.mark.django_db(transaction=True)
def test_the_page_shows_the_delivery_log_with_a_link_to_the_incident(
    client_for, admin_user, receiver, hook_to, declare
):
    webhook = hook_to(receiver.url)
    receiver.answers = [503]
    incident = declare()
    page = client_for(admin_user).get(f"/webhooks/{webhook.pk}/").content.decode()
    assert f'href="/incidents/{incident.number}/"' in page
    assert incident.reference in page
    assert "incident.opened" in page
    assert "HTTP 503" in page
    assert "refreshing while deliveries are pending" in page
    assert f'hx-get="/webhooks/{webhook.pk}/deliveries/"' in page


def test_the_delivery_log_fragment_is_its_own_url(client_for, admin_user, webhook):
    response = client_for(admin_user).get(f"/webhooks/{webhook.pk}/deliveries/")
    assert response.status_code == 200
    assert b"Nothing sent yet" in response.content
    assert b"<html" not in response.content


@pytest.mark.parametrize(
    ("url", "events", "fields"),
    [
        ("ftp://files.example.com/in", [OPENED], {"url"}),
        ("https://hooks.example.com/x", [], {"events"}),
    ],
)
def test_adding_with_bad_input_names_the_field_and_writes_nothing(
    client_for, admin_user, url, events, fields
):
    response = client_for(admin_user).post(
        "/webhooks/", {"name": "#incidents", "transport": "slack", "url": url, "events": events}
    )
    assert response.status_code == 422
    assert set(response.context["form"].errors) == fields
    assert b'role="alert"' in response.content
    assert not Webhook.objects.exists()
    assert not AuditEntry.objects.exists()


def test_editing_with_bad_input_names_the_field_and_changes_nothing(
    client_for, admin_user, webhook
):
    response = client_for(admin_user).post(
        f"/webhooks/{webhook.pk}/", {"name": "#x", "url": "ftp://files.example.com/in"}
    )
    assert response.status_code == 422
    assert set(response.context["form"].errors) == {"url", "events", "transport"}
    webhook.refresh_from_db()
    assert (webhook.name, webhook.url) == ("#incidents", SLACK_URL)
    assert not AuditEntry.objects.filter(verb="webhook.update").exists()


# --- Secrets: shown once, rotated ------------------------------------------------------

HOOK_URL = "https://hooks.example.com/failsafe"


def _add(client, transport):
    return client.post(
        "/webhooks/",
        {"name": "#ops", "transport": transport, "url": HOOK_URL, "events": [OPENED]},
    )


def test_a_signed_channels_secret_is_shown_once_after_adding_it(client_for, admin_user):
    client = client_for(admin_user)
    page = client.get(_add(client, "standard")["Location"])
    webhook = Webhook.objects.get()
    assert webhook.secret.startswith("whsec_")
    assert webhook.secret.encode() in page.content
    assert b'data-testid="secret-once"' in page.content
    assert page["Cache-Control"] == "no-store"

    again = client.get(f"/webhooks/{webhook.pk}/")
    assert webhook.secret.encode() not in again.content
    assert b"shown once" in again.content
    assert webhook.secret not in _audit_text(AuditEntry.objects.get(verb="webhook.create"))


def test_a_slack_channel_has_no_secret_to_show(client_for, admin_user):
    client = client_for(admin_user)
    page = client.get(_add(client, "slack")["Location"])
    assert Webhook.objects.get().secret.encode() not in page.content
    assert b"the webhook URL is the credential" in page.content
    assert b"Rotate the secret" not in page.content


def test_rotating_shows_the_new_secret_once_and_says_the_old_one_still_signs(
    client_for, admin_user, hook_to
):
    webhook = hook_to(HOOK_URL, transport="standard")
    old = webhook.secret
    client = client_for(admin_user)
    response = client.post(f"/webhooks/{webhook.pk}/rotate/")
    assert response["Location"] == f"/webhooks/{webhook.pk}/"
    webhook.refresh_from_db()
    assert (webhook.previous_secret, webhook.secret != old) == (old, True)
    assert webhook.previous_secret_until > timezone.now() + timedelta(hours=23)

    page = client.get(response["Location"]).content
    assert webhook.secret.encode() in page
    assert old.encode() not in page
    assert b'data-testid="rotating"' in page
    entry = AuditEntry.objects.get(verb="webhook.rotate_secret")
    assert entry.actor == admin_user
    assert "keeps signing" in entry.reason
    assert old not in _audit_text(entry) and webhook.secret not in _audit_text(entry)


def test_rotating_with_htmx_sends_the_browser_back_to_the_page(client_for, admin_user, hook_to):
    webhook = hook_to(HOOK_URL, transport="standard")
    response = client_for(admin_user).post(
        f"/webhooks/{webhook.pk}/rotate/", HTTP_HX_REQUEST="true"
    )
    assert response["HX-Redirect"] == f"/webhooks/{webhook.pk}/"


def test_a_slack_channels_secret_is_not_rotated(client_for, admin_user, webhook):
    secret = webhook.secret
    client = client_for(admin_user)
    page = client.get(client.post(f"/webhooks/{webhook.pk}/rotate/")["Location"])
    assert b"not signed" in page.content
    webhook.refresh_from_db()
    assert webhook.secret == secret
    assert not AuditEntry.objects.filter(verb="webhook.rotate_secret").exists()


def test_switching_slack_to_a_signed_webhook_issues_a_secret_shown_once(
    client_for, admin_user, webhook
):
    secret = webhook.secret
    client = client_for(admin_user)
    response = client.post(
        f"/webhooks/{webhook.pk}/",
        {"name": "#incidents", "transport": "standard", "url": HOOK_URL, "events": [OPENED]},
    )
    webhook.refresh_from_db()
    assert webhook.transport == "standard"
    assert webhook.secret != secret
    assert webhook.secret.encode() in client.get(response["Location"]).content
    entry = AuditEntry.objects.get(verb="webhook.update")
    assert ("transport", "slack", "standard") in entry.changes()
    assert "new signing secret" in entry.reason


def test_switching_legacy_to_standard_replaces_a_hex_secret(admin_user, hook_to):
    webhook = hook_to(HOOK_URL)
    Webhook.objects.filter(pk=webhook.pk).update(secret="ab" * 32)  # made before transports
    webhook.refresh_from_db()
    changed = webhook_update(
        actor=admin_user,
        webhook=webhook,
        name=webhook.name,
        url=webhook.url,
        events=webhook.events,
        active=True,
        transport="standard",
    )
    assert changed.secret.startswith("whsec_")


# --- The channel's last error, on its pages ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_failing_receivers_last_error_shows_on_the_channel_pages(
    client_for, admin_user, receiver, hook_to, declare
):
    webhook = hook_to(receiver.url, transport="slack")
    receiver.answers = [500]
    declare()
    client = client_for(admin_user)
    page = client.get(f"/webhooks/{webhook.pk}/").content.decode()
    assert 'data-testid="last-error"' in page
    assert "HTTP 500 Internal Server Error" in page
    assert "failing" in page
    listing = client.get("/webhooks/").content.decode()
    assert "HTTP 500 Internal Server Error" in listing


# --- Who may ----------------------------------------------------------------------------


def _every_request(pk):
    good = {
        "name": "#x",
        "transport": "standard",
        "url": "https://example.com/h",
        "events": [OPENED],
        "active": "on",
    }
    return [
        ("get", "/webhooks/", None),
        ("post", "/webhooks/", good),
        ("get", f"/webhooks/{pk}/", None),
        ("post", f"/webhooks/{pk}/", good),
        ("get", f"/webhooks/{pk}/deliveries/", None),
        ("post", f"/webhooks/{pk}/test/", None),
        ("post", f"/webhooks/{pk}/rotate/", None),
        ("post", f"/webhooks/{pk}/remove/", None),
    ]


@pytest.mark.parametrize("person", ["viewer", "responder", "lead", "outsider"])
def test_only_an_admin_may_see_or_change_webhooks(request, client_for, webhook, person):
    client = client_for(request.getfixturevalue(person))
    audited = AuditEntry.objects.count()
    for method, path, data in _every_request(webhook.pk):
        response = getattr(client, method)(path, data or {})
        assert response.status_code == 403, (method, path)
        assert webhook.secret.encode() not in response.content
    secret = webhook.secret
    webhook.refresh_from_db()
    assert (webhook.name, webhook.secret) == ("#incidents", secret)
    assert Webhook.objects.count() == 1
    assert not WebhookDelivery.objects.exists()
    assert AuditEntry.objects.count() == audited


def test_a_signed_out_person_is_sent_to_sign_in(client, webhook):
    for method, path, data in _every_request(webhook.pk):
        response = getattr(client, method)(path, data or {})
        assert response.status_code == 302, (method, path)
        assert response["Location"].startswith("/login/?next=")
    assert Webhook.objects.count() == 1
    assert not WebhookDelivery.objects.exists()
