"""Standard Webhooks: `{"type", "timestamp", "data"}` signed in `webhook-signature` with
every secret in force (two while a rotation is in its grace period), so a receiver checks
it with any Standard Webhooks library."""

from standardwebhooks.webhooks import Webhook as Signer

from comms.transports.envelope import Built, Envelope, json_body, json_headers

# Kept out of `data`: the envelope says them, and `text` is the legacy body's Slack line.
OUTSIDE_DATA = ("event", "occurred_at", "text")


def signature(secrets: tuple[str, ...], message_id: str, at, body: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` per secret, space-separated."""
    return " ".join(Signer(secret).sign(message_id, at, body) for secret in secrets)


def build(message: dict, envelope: Envelope) -> Built:
    payload = {
        "type": message["event"],
        "timestamp": message["occurred_at"],
        "data": {k: v for k, v in message.items() if k not in OUTSIDE_DATA},
    }
    body = json_body(payload)
    headers = json_headers() | {
        "webhook-id": envelope.message_id,
        "webhook-timestamp": str(int(envelope.at.timestamp())),
        "webhook-signature": signature(
            envelope.secrets, envelope.message_id, envelope.at, body.decode()
        ),
    }
    return body, headers
