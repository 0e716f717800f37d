"""Outgoing webhooks: incident events as Slack-compatible JSON, and the admins' page.

An event becomes one delivery row per interested webhook, in the transaction of the change;
`comms.webhook_delivery` sends it once that commits, and retries it.
"""

import hashlib
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from comms.models import Webhook, WebhookDelivery
from comms.webhook_delivery import deliver_on_commit
from core.services import audit_record

HEADLINES: dict[str, str] = {
    Webhook.Event.INCIDENT_OPENED: "{ref} opened",
    Webhook.Event.SEVERITY_CHANGED: "{ref} is now {severity}",
    Webhook.Event.UPDATE_OVERDUE: "{ref}: status update overdue",
    Webhook.Event.UNOWNED: "{ref} has no {missing}",
    Webhook.Event.RESOLVED: "{ref} resolved",
    Webhook.Event.ACTION_ITEM_OVERDUE: "{ref}: a postmortem action item is overdue",
}


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
    deliver_on_commit(deliveries)
    return len(deliveries)


# --- Managing webhooks (the page at /webhooks/, admins only) ---------------------------

# What the audit log keeps of a webhook. Never the secret; and the URL only in part
# (`_url_for_audit`): a Slack or Teams webhook URL is itself a credential, and every
# viewer may read the audit log.
WEBHOOK_AUDIT_FIELDS = ["name", "url", "events", "active"]
TEST_EVENT = "test"
NAME_MAX = Webhook._meta.get_field("name").max_length or 0
URL_MAX = Webhook._meta.get_field("url").max_length or 0
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
    errors: dict[str, str | list[str]] = {}
    name = (name or "").strip()
    url = (url or "").strip()
    if not name:
        errors["name"] = "Give the webhook a name, e.g. the channel it posts to."
    elif len(name) > NAME_MAX:
        errors["name"] = "Keep the name under 80 characters."
    if len(url) > URL_MAX:
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
    deliver_on_commit([delivery])
    return delivery


# --- Reads -------------------------------------------------------------------------------


def webhook_list():
    return Webhook.objects.all()


def webhook_deliveries(webhook: Webhook, limit: int = 100) -> list[WebhookDelivery]:
    """The delivery log, newest first."""
    return list(webhook.deliveries.select_related("incident")[:limit])
