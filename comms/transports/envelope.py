"""What every transport shares: the attempt it builds for, and how a JSON body is sent."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

USER_AGENT = "Failsafe-Webhook/1"


@dataclass(frozen=True)
class Envelope:
    """One attempt of one delivery: its stable id (the same on every retry), the time it
    is sent at, and the secrets that sign it, newest first (none for Slack and Teams)."""

    message_id: str
    at: datetime
    secrets: tuple[str, ...] = ()


# The body's bytes and the request's headers.
Built = tuple[bytes, dict[str, str]]
Transport = Callable[[dict, Envelope], Built]


def json_body(value) -> bytes:
    """Compact JSON: the bytes a signature covers are exactly the bytes sent."""
    return json.dumps(value, separators=(",", ":")).encode()


def json_headers() -> dict[str, str]:
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT}
