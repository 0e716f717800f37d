"""The legacy signed webhook, for receivers built before Standard Webhooks: the message
as JSON, signed `X-Failsafe-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`.
It carries one signature, so a rotated secret takes over at once."""

import hashlib
import hmac

from comms.transports.envelope import Built, Envelope, json_body, json_headers

SIGNATURE_HEADER = "X-Failsafe-Signature"
TIMESTAMP_HEADER = "X-Failsafe-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def build(message: dict, envelope: Envelope) -> Built:
    body = json_body(message)
    timestamp = str(int(envelope.at.timestamp()))
    headers = json_headers() | {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(envelope.secrets[0], timestamp, body),
    }
    return body, headers
