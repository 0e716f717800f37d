"""Notification channels (outgoing webhooks): incident events, each queued as one delivery
per interested channel, and the admins' page that manages the channels.

An event becomes one delivery row per channel that wants it (its events, its severities),
in the transaction of the change; `comms.webhook_delivery` sends it once that commits, in
the shape of the channel's transport (`comms.transports`), and retries it.
"""

import hashlib
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from comms.models import Webhook, WebhookDelivery, new_signing_secret
from comms.transports.message import TEST_EVENT, message_for, message_for_test
from comms.webhook_delivery import deliver_on_commit
from core.services import audit_record
from incidents.severity import Severity


def webhook_event_emit(
    event: str, incident, *, change: str = "", at=None, extra: dict | None = None
) -> int:
    """Queue `event` for every active channel that wants it at the incident's severity.
    Call inside the change's transaction; the deliveries start once it commits. Returns
    how many were queued. `change` says what happened in a line; `extra` adds the event's
    own facts to the message (e.g. the overdue action item)."""
    hooks = [
        hook for hook in Webhook.objects.filter(active=True) if hook.wants(event, incident.severity)
    ]
    if not hooks:
        return 0
    message = message_for(
        event, incident, change=change, at=at or timezone.now(), base_url=settings.FAILSAFE_BASE_URL
    ) | (extra or {})
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(webhook=hook, event=event, incident=incident, payload=message)
        for hook in hooks
    )
    deliver_on_commit(deliveries)
    return len(deliveries)


def communication_published_emit(communication, version, at) -> int:
    """An external communication went to the status page: the channels hear its headline
    and where the public reads it."""
    page = reverse("comms:status") + f"#update-{communication.code}"
    return webhook_event_emit(
        Webhook.Event.COMMUNICATION_PUBLISHED,
        communication.incident,
        change=f"Published to the status page: “{version.headline}”",
        at=at,
        extra={
            "communication": {
                "number": communication.number,
                "version": version.number,
                "headline": version.headline,
                "url": settings.FAILSAFE_BASE_URL.rstrip("/") + page,
            }
        },
    )


# --- Managing channels (the page at /webhooks/, admins only) ---------------------------

# What a change of a channel may touch; the audit log keeps them, but never a secret and
# the URL only in part (`_url_for_audit`): a Slack or Teams webhook URL is itself a
# credential, and every viewer may read the audit log.
WEBHOOK_FIELDS = ["name", "url", "transport", "events", "severities", "active"]
SECRET_FIELDS = ["secret", "previous_secret", "previous_secret_until"]
# After a rotation the secret before keeps signing this long beside the new one.
ROTATION_GRACE = timedelta(hours=24)
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
        "transport": webhook.transport,
        "events": list(webhook.events),
        "severities": list(webhook.severities),
        "active": webhook.active,
    }


def _chosen(values, allowed: list[str], field: str, what: str, errors: dict) -> list[str]:
    """The choices in the order of `allowed` (so equal choices compare equal in the audit
    log), or an error on `field` naming what is not one."""
    chosen = set(values or [])
    unknown = chosen - set(allowed)
    if unknown:
        errors[field] = f"Not {what}: {', '.join(sorted(map(str, unknown)))}."
    return [value for value in allowed if value in chosen]


def _clean_webhook(name, url, transport, events, severities) -> dict:
    """The input made canonical, or a ValidationError naming each field at fault."""
    errors: dict[str, str | list[str]] = {}
    name, url = (name or "").strip(), (url or "").strip()
    if not name:
        errors["name"] = "Give the channel a name, e.g. the chat channel it posts to."
    elif len(name) > NAME_MAX:
        errors["name"] = "Keep the name under 80 characters."
    if len(url) > URL_MAX:
        errors["url"] = "Keep the URL under 500 characters."
    else:
        try:
            validate_http_url(url)
        except ValidationError as error:
            errors["url"] = error.messages
    if transport not in Webhook.Transport.values:
        errors["transport"] = "Choose how the channel is sent: Slack, Teams or a webhook."
    events = _chosen(events, Webhook.Event.values, "events", "an event", errors)
    if not events and "events" not in errors:
        errors["events"] = "Choose at least one event to send."
    severities = _chosen(severities, Severity.values, "severities", "a severity", errors)
    if errors:
        raise ValidationError(errors)
    return {
        "name": name,
        "url": url,
        "transport": transport,
        "events": events,
        "severities": severities,
    }


@transaction.atomic
def webhook_create(
    *,
    actor,
    name: str,
    url: str,
    events: list[str],
    transport: str = Webhook.Transport.STANDARD,
    severities: list[str] | tuple = (),
) -> Webhook:
    """Add a channel. A signed one gets a fresh `whsec_` secret, for the page to show once."""
    fields = _clean_webhook(name, url, transport, events, severities)
    webhook = Webhook.objects.create(**fields, created_by=actor)
    audit_record(
        actor=actor, verb="webhook.create", target=webhook, after=_webhook_snapshot(webhook)
    )
    return webhook


def _needs_new_secret(webhook: Webhook, transport: str) -> bool:
    """A channel that starts signing has a secret nobody was shown; and Standard Webhooks
    needs a `whsec_` one (a legacy channel made before them has a hex secret)."""
    if transport not in Webhook.SIGNED:
        return False
    if not webhook.signs:
        return True
    return transport == Webhook.Transport.STANDARD and not webhook.secret.startswith("whsec_")


@transaction.atomic
def webhook_update(
    *,
    actor,
    webhook: Webhook,
    name: str,
    url: str,
    events: list[str],
    active: bool,
    transport: str | None = None,
    severities: list[str] | tuple | None = None,
) -> Webhook:
    """Change a channel (`transport` and `severities` unchanged when not given). A change
    of transport that needs a new secret issues one (compare `secret` to see it)."""
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    fields = _clean_webhook(
        name,
        url,
        transport or webhook.transport,
        events,
        webhook.severities if severities is None else severities,
    )
    fields["active"] = bool(active)
    before = _webhook_snapshot(webhook)
    if all(getattr(webhook, f) == value for f, value in fields.items()):
        return webhook
    issue = _needs_new_secret(webhook, fields["transport"])
    for field, value in fields.items():
        setattr(webhook, field, value)
    if issue:
        webhook.secret, webhook.previous_secret, webhook.previous_secret_until = (
            new_signing_secret(),
            "",
            None,
        )
    webhook.save(update_fields=WEBHOOK_FIELDS + (SECRET_FIELDS if issue else []))
    audit_record(
        actor=actor,
        verb="webhook.update",
        target=webhook,
        before=before,
        after=_webhook_snapshot(webhook),
        reason="A new signing secret was issued for the new transport." if issue else "",
    )
    return webhook


@transaction.atomic
def webhook_rotate_secret(*, actor, webhook: Webhook, now=None) -> Webhook:
    """Issue a new secret. Standard Webhooks channels keep signing with the one before as
    well for ROTATION_GRACE, so the receiver can switch; a second rotation meanwhile
    drops the oldest."""
    now = now or timezone.now()
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    if not webhook.signs:
        raise ValidationError(
            "Slack and Teams channels are not signed: their URL is the credential."
        )
    before = {"previous_secret_until": webhook.previous_secret_until}
    until = now + ROTATION_GRACE
    webhook.previous_secret, webhook.previous_secret_until = webhook.secret, until
    webhook.secret = new_signing_secret()
    webhook.save(update_fields=SECRET_FIELDS)
    grace = (
        f"The secret before keeps signing beside it until {until:%Y-%m-%d %H:%M} UTC."
        if webhook.transport == Webhook.Transport.STANDARD
        else "The legacy signature carries one secret: the new one signs from now on."
    )
    audit_record(
        actor=actor,
        verb="webhook.rotate_secret",
        target=webhook,
        before=before,
        after={"previous_secret_until": until},
        reason=grace,
    )
    return webhook


@transaction.atomic
def webhook_remove(*, actor, webhook: Webhook) -> None:
    """Remove the channel and its delivery log; the audit entry outlives both."""
    before = _webhook_snapshot(webhook)
    before["deliveries"] = webhook.deliveries.count()
    # Recorded first: the entry needs the webhook's key, which delete() clears.
    audit_record(actor=actor, verb="webhook.remove", target=webhook, before=before)
    webhook.delete()


@transaction.atomic
def webhook_send_test(*, actor, webhook: Webhook) -> WebhookDelivery:
    """Queue a test delivery; it goes through the same transport, attempts and log."""
    if not webhook.active:
        raise ValidationError("The webhook is inactive: activate it to send a test.")
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, event=TEST_EVENT, payload=message_for_test(webhook.name, timezone.now())
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
