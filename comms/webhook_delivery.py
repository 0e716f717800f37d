"""Delivering webhooks: each delivery's attempts, built by the channel's transport
(`comms.transports`), until one succeeds or they run out; every outcome is recorded on
the delivery and on the channel (its latest attempt, its last error).

A delivery is due work. `deliver_on_commit` queues its first attempt (the `webhook_deliver`
task) once the change that made it commits; the periodic sweep (`webhooks_send_due`)
retries the ones still due, with backoff. A dead endpoint costs a row in the delivery log,
never a blocked request. The task lives here, beside the attempt it makes, so the emit in
`comms.webhooks` queues it without importing `comms.tasks` (whose reminder sweep emits).
"""

import http.client
import urllib.error
import urllib.request
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from comms.models import Webhook, WebhookDelivery
from comms.transports.envelope import Envelope
from comms.transports.registry import request_for

# A claimed delivery not finished by then is taken to have died with its worker.
CLAIM_SECONDS = 60
BACKOFF_SECONDS = (10, 30, 120, 600, 1800)


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


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """(HTTP status or None, error) of one POST; never raises for the endpoint's faults."""
    if not url.startswith(("http://", "https://")):
        return None, "Only http and https URLs are delivered."
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url, data=body, method="POST", headers=headers
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


def _send(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """Build the attempt with the channel's transport, signed afresh, and POST it."""
    webhook = delivery.webhook
    at = timezone.now()
    envelope = Envelope(
        message_id=f"msg_{delivery.message_id.hex}", at=at, secrets=webhook.signing_secrets(at)
    )
    body, headers = request_for(webhook.transport, delivery.payload, envelope)
    return _post(webhook.url, body, headers)


def _record_on_channel(webhook_id: int, code: int | None, error: str) -> None:
    """The channel's latest outcome (an error is set exactly when no 2xx came back); its
    last error stays until another replaces it."""
    now = timezone.now()
    ok = not error
    fields: dict = {"last_attempt_at": now, "last_attempt_ok": ok, "last_status_code": code}
    if not ok:
        fields |= {"last_error": error, "last_error_at": now}
    Webhook.objects.filter(pk=webhook_id).update(**fields)


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
    code, error = _send(delivery)
    _record_on_channel(delivery.webhook_id, code, error)
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


@shared_task(name="comms.webhook_delivery.webhook_deliver", ignore_result=True)
def webhook_deliver(delivery_id: int):
    webhook_attempt(delivery_id)


def deliver_on_commit(deliveries) -> None:
    """Queue the first attempt of each delivery once the transaction commits. `robust`: a
    broker that is down must not fail the change that emitted the event (the incident is
    already committed); the periodic sweep picks the delivery up instead."""
    for delivery in deliveries:
        _first_attempt_on_commit(delivery.pk)


def _first_attempt_on_commit(pk: int) -> None:
    transaction.on_commit(lambda: webhook_deliver.delay(pk), robust=True)
