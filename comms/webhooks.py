"""Outgoing webhooks: incident events as Slack-compatible JSON, signed with HMAC-SHA256.

An event becomes one delivery row per interested webhook, in the transaction of the change.
Deliveries are due work: a Celery task tries each as soon as it commits, and a periodic
sweep retries the ones still due, with backoff, until they succeed or run out of attempts.
A dead endpoint costs a row in the delivery log, never a blocked request.
"""

import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.request
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from comms.models import Webhook, WebhookDelivery
from core.services import audit_record

SIGNATURE_HEADER = "X-Failsafe-Signature"
TIMESTAMP_HEADER = "X-Failsafe-Timestamp"
# A claimed delivery not finished by then is taken to have died with its worker.
CLAIM_SECONDS = 60
BACKOFF_SECONDS = (10, 30, 120, 600, 1800)

HEADLINES = {
    Webhook.Event.INCIDENT_OPENED: "{ref} opened",
    Webhook.Event.SEVERITY_CHANGED: "{ref} is now {severity}",
    Webhook.Event.UPDATE_OVERDUE: "{ref}: status update overdue",
    Webhook.Event.UNOWNED: "{ref} has no {missing}",
    Webhook.Event.RESOLVED: "{ref} resolved",
    Webhook.Event.ACTION_ITEM_OVERDUE: "{ref}: a postmortem action item is overdue",
}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """What a receiver recomputes: HMAC-SHA256 of "<timestamp>.<body>" with the secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def payload_for(event: str, incident, base_url: str = "") -> dict:
    missing = " or ".join(
        m
        for m, absent in (("lead", not incident.lead_id), ("severity", not incident.severity))
        if absent
    )
    headline = HEADLINES[event].format(
        ref=incident.reference, severity=incident.severity or "unclassified", missing=missing
    )
    url = base_url.rstrip("/") + incident.get_absolute_url()
    text = f"{headline}: {incident.title}"
    return {
        # Slack's incoming webhooks read `text` (mrkdwn link syntax) and ignore the rest.
        "text": f"<{url}|{text}>" if base_url else text,
        "event": event,
        "incident": {
            "number": incident.number,
            "reference": incident.reference,
            "title": incident.title,
            "severity": incident.severity,
            "status": incident.status,
            "lead": incident.lead.get_username() if incident.lead_id else None,
            "systems": [s.slug for s in incident.systems.all()],
            "url": url,
        },
    }


def webhook_event_emit(event: str, incident, extra: dict | None = None) -> int:
    """Queue `event` for every active webhook that wants it. Call inside the change's
    transaction; the deliveries start once it commits. Returns how many were queued.
    `extra` adds event-specific fields to the payload (e.g. the overdue action item)."""
    hooks = [hook for hook in Webhook.objects.filter(active=True) if hook.wants(event)]
    if not hooks:
        return 0
    payload = payload_for(event, incident, settings.FAILSAFE_BASE_URL) | (extra or {})
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(webhook=hook, event=event, incident=incident, payload=payload)
        for hook in hooks
    )
    _deliver_on_commit(deliveries)
    return len(deliveries)


def _deliver_on_commit(deliveries) -> None:
    """Queue the first attempt of each delivery once the transaction commits. `robust`: a
    broker that is down must not fail the change that emitted the event (the incident is
    already committed); the periodic sweep picks the delivery up instead."""
    from comms.tasks import webhook_deliver

    for delivery in deliveries:
        transaction.on_commit(lambda pk=delivery.pk: webhook_deliver.delay(pk), robust=True)


def _claim(pk: int, now) -> bool:
    return bool(
        WebhookDelivery.objects.filter(
            pk=pk, state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now
        ).update(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as what it is. urllib would follow a 301/302/303 as a GET
    without the body, and the lost event would be logged as delivered."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """(HTTP status or None, error) of one POST; never raises for the endpoint's faults."""
    url = delivery.webhook.url
    if not url.startswith(("http://", "https://")):
        return None, "Only http and https URLs are delivered."
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Failsafe-Webhook/1",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(delivery.webhook.secret, timestamp, body),
        },
    )
    try:
        with _opener.open(request, timeout=settings.FAILSAFE_WEBHOOK_TIMEOUT_SECONDS) as response:
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code} {error.reason}"[:300]
    # Refused, timed out, DNS, bad URL; or an answer that is not HTTP (BadStatusLine and
    # the rest of http.client's errors are not OSErrors).
    except (OSError, ValueError, http.client.HTTPException) as error:
        return None, (str(error) or type(error).__name__)[:300]


def webhook_attempt(pk: int, now=None) -> str | None:
    """Make the next attempt of a due delivery, if this worker wins the claim. Returns the
    delivery's state afterwards, or None when it was not due (or another worker has it)."""
    now = now or timezone.now()
    if not _claim(pk, now):
        return None
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=pk).first()
    if delivery is None:  # its webhook was removed since the claim
        return None
    if not delivery.webhook.active:
        # Switched off since it was queued: retries stop with it, nothing is sent.
        delivery.state = WebhookDelivery.State.FAILED
        delivery.last_error = "Not sent: the webhook is inactive."
        delivery.save(update_fields=["state", "last_error"])
        return delivery.state
    code, error = _post(delivery)
    delivery.attempts += 1
    delivery.last_status_code = code
    delivery.last_error = error
    if code is not None and 200 <= code < 300:
        delivery.state = WebhookDelivery.State.DELIVERED
        delivery.delivered_at = timezone.now()
        delivery.last_error = ""
    elif delivery.attempts >= settings.FAILSAFE_WEBHOOK_ATTEMPTS:
        delivery.state = WebhookDelivery.State.FAILED
    else:
        wait = BACKOFF_SECONDS[min(delivery.attempts, len(BACKOFF_SECONDS)) - 1]
        # On the clock the attempt was claimed with (`now`), like the claim itself: a
        # caller that passes the time gets its backoff on that clock, not a mix of two.
        delivery.next_attempt_at = now + timedelta(seconds=wait)
    delivery.save(
        update_fields=[
            "attempts",
            "last_status_code",
            "last_error",
            "state",
            "delivered_at",
            "next_attempt_at",
        ]
    )
    return delivery.state


def webhooks_send_due(now=None, limit: int = 100) -> int:
    """The sweep: attempt every pending delivery that is due. Returns attempts made."""
    now = now or timezone.now()
    due = WebhookDelivery.objects.filter(
        state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now
    ).values_list("pk", flat=True)[:limit]
    return sum(webhook_attempt(pk, now) is not None for pk in list(due))


# --- Managing webhooks (the page at /webhooks/, admins only) ---------------------------

# What the audit log keeps of a webhook. Never the secret; and the URL only in part
# (`_url_for_audit`): a Slack or Teams webhook URL is itself a credential, and every
# viewer may read the audit log.
WEBHOOK_AUDIT_FIELDS = ["name", "url", "events", "active"]
TEST_EVENT = "test"
validate_http_url = URLValidator(
    schemes=["http", "https"], message="Enter a URL that starts with http:// or https://."
)


def _url_for_audit(url: str) -> str:
    """Scheme and host, and a short fingerprint of the rest so a change still shows."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    rest = url.split(parts.netloc, 1)[-1]
    if rest in ("", "/"):
        return f"{parts.scheme}://{host}/"
    fingerprint = hashlib.sha256(url.encode()).hexdigest()[:8]
    return f"{parts.scheme}://{host}/… ({fingerprint})"


def _webhook_snapshot(webhook: Webhook) -> dict:
    return {
        "name": webhook.name,
        "url": _url_for_audit(webhook.url),
        "events": list(webhook.events),
        "active": webhook.active,
    }


def _clean_webhook(name: str, url: str, events) -> tuple[str, str, list[str]]:
    """The input made canonical, or a ValidationError naming each field at fault."""
    errors = {}
    name = (name or "").strip()
    url = (url or "").strip()
    if not name:
        errors["name"] = "Give the webhook a name, e.g. the channel it posts to."
    elif len(name) > Webhook._meta.get_field("name").max_length:
        errors["name"] = "Keep the name under 80 characters."
    if len(url) > Webhook._meta.get_field("url").max_length:
        errors["url"] = "Keep the URL under 500 characters."
    else:
        try:
            validate_http_url(url)
        except ValidationError as error:
            errors["url"] = error.messages
    chosen = set(events or [])
    unknown = chosen - set(Webhook.Event.values)
    if unknown:
        errors["events"] = f"Not an event: {', '.join(sorted(map(str, unknown)))}."
    elif not chosen:
        errors["events"] = "Choose at least one event to send."
    if errors:
        raise ValidationError(errors)
    # In the order of the list of events, so equal choices compare equal in the audit log.
    return name, url, [e for e in Webhook.Event.values if e in chosen]


@transaction.atomic
def webhook_create(*, actor, name: str, url: str, events: list[str]) -> Webhook:
    name, url, events = _clean_webhook(name, url, events)
    webhook = Webhook.objects.create(name=name, url=url, events=events, created_by=actor)
    audit_record(
        actor=actor, verb="webhook.create", target=webhook, after=_webhook_snapshot(webhook)
    )
    return webhook


@transaction.atomic
def webhook_update(
    *, actor, webhook: Webhook, name: str, url: str, events: list[str], active: bool
) -> Webhook:
    name, url, events = _clean_webhook(name, url, events)
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    before = _webhook_snapshot(webhook)
    changed = (webhook.name, webhook.url, webhook.events, webhook.active) != (
        name,
        url,
        events,
        bool(active),
    )
    if not changed:
        return webhook
    webhook.name, webhook.url, webhook.events, webhook.active = name, url, events, bool(active)
    webhook.save(update_fields=WEBHOOK_AUDIT_FIELDS)
    audit_record(
        actor=actor,
        verb="webhook.update",
        target=webhook,
        before=before,
        after=_webhook_snapshot(webhook),
    )
    return webhook


@transaction.atomic
def webhook_remove(*, actor, webhook: Webhook) -> None:
    """Remove the webhook and its delivery log; the audit entry outlives both."""
    before = _webhook_snapshot(webhook)
    before["deliveries"] = webhook.deliveries.count()
    # Recorded first: the entry needs the webhook's key, which delete() clears.
    audit_record(actor=actor, verb="webhook.remove", target=webhook, before=before)
    webhook.delete()


def payload_for_test(webhook: Webhook) -> dict:
    """The body of a test delivery: the shape of a real one, saying plainly it is a test."""
    return {
        "text": f"Test message from Failsafe for the webhook “{webhook.name}”. "
        "No incident: if you can read this, the webhook works.",
        "event": TEST_EVENT,
        "test": True,
        "incident": None,
    }


@transaction.atomic
def webhook_send_test(*, actor, webhook: Webhook) -> WebhookDelivery:
    """Queue a test delivery; it goes through the same attempts, retries and log."""
    if not webhook.active:
        raise ValidationError("The webhook is inactive: activate it to send a test.")
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, event=TEST_EVENT, payload=payload_for_test(webhook)
    )
    audit_record(
        actor=actor,
        verb="webhook.send_test",
        target=webhook,
        after={"delivery": delivery.pk},
    )
    _deliver_on_commit([delivery])
    return delivery


# --- Reads -------------------------------------------------------------------------------


def webhook_list():
    return Webhook.objects.all()


def webhook_deliveries(webhook: Webhook, limit: int = 100) -> list[WebhookDelivery]:
    """The delivery log, newest first."""
    return list(webhook.deliveries.select_related("incident")[:limit])
