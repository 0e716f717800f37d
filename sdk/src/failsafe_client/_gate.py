"""`Failsafe.gate()`: ask Failsafe before an irreversible action, with a declared answer for
when it cannot be reached.

The gate answers `allow`, `hold` (a person decides; poll the hold) or `deny`. When the
server cannot answer (no connection, a timeout, a 5xx), the client answers the action's
declared default instead: `hold` (fail closed: keep the action locally and ask again
later, or route it to people) or `allow` (fail open). The defaults are, in order: what the
caller passed as `gate_defaults={"account_hold": "hold"}`, what the system's owner chose
in Failsafe (fetched from `GET /api/v1/systems/{slug}/gate` at the first `gate()` and
every `DEFAULTS_TTL` seconds after, kept when a refresh fails), and `gate_default`
("hold" unless told).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import httpx

logger = logging.getLogger("failsafe_client")

Decision = Literal["allow", "hold", "deny"]
DECISIONS: tuple[Decision, ...] = ("allow", "hold", "deny")
Fallback = Literal["hold", "allow"]
DEFAULTS_TTL = 300.0
DECIDED = ("approved", "rejected")


@dataclass(frozen=True)
class GateDecision:
    """The gate's answer. `local` is True when Failsafe could not be asked and the action's
    declared default answered: then `hold_id` is None and the hold is yours to keep."""

    decision: Decision
    reason: str
    hold_id: str | None = None
    local: bool = False

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"


class Gate:
    """The gate's client side: the calls, and the unreachable defaults per system."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        defaults: dict[str, Fallback] | None,
        fallback: Fallback,
        timeout: float,
    ) -> None:
        for value in [fallback, *(defaults or {}).values()]:
            if value not in ("hold", "allow"):
                raise ValueError("a gate default is 'hold' (fail closed) or 'allow' (fail open)")
        self._http = http
        self._given = dict(defaults or {})
        self.fallback: Fallback = fallback
        self.timeout = timeout
        self._fetched: dict[str, dict[str, Fallback]] = {}
        self._fetched_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def defaults(self, system: str) -> dict[str, Fallback]:
        """The declared default of each action type of `system`, as known now."""
        return {**self._fetched.get(system, {}), **self._given}

    def default_for(self, system: str, action: str) -> Fallback:
        return self.defaults(system).get(action, self.fallback)

    def refresh(self, system: str, *, force: bool = False) -> bool:
        """Fetch the owner's declared defaults (token scope `gate`); True when fetched."""
        with self._lock:
            fresh = time.monotonic() - self._fetched_at.get(system, -DEFAULTS_TTL) < DEFAULTS_TTL
            if fresh and not force:
                return True
            # Whatever happens, do not ask again before the TTL: an unreachable server
            # must not cost every gate() call an extra timeout.
            self._fetched_at[system] = time.monotonic()
        try:
            response = self._http.get(_path(system), timeout=self.timeout)
            response.raise_for_status()
            actions = response.json()["actions"]
            found = {
                a["action"]: a["unreachable"]
                for a in actions
                if a.get("unreachable") in ("hold", "allow")
            }
        except (httpx.HTTPError, ValueError, LookupError, TypeError) as exc:
            logger.warning("%s: cannot read the gate's defaults: %r", system, exc)
            return False
        self._fetched[system] = found
        return True

    def ask(self, system: str, action: str, subject: str, event_id: str | None) -> GateDecision:
        self.refresh(system)
        body: dict[str, Any] = {"action": action, "subject": subject}
        if event_id is not None:
            body["event_id"] = event_id
        try:
            response = self._http.post(_path(system), json=body, timeout=self.timeout)
        except httpx.HTTPError as exc:
            return self._local(system, action, f"Failsafe unreachable ({exc.__class__.__name__})")
        if response.status_code >= 500 or response.status_code in (408, 429):
            return self._local(system, action, f"Failsafe answered {response.status_code}")
        if response.status_code != 200:
            # Refused (a token without `gate`, an action not in the catalog): a mistake
            # on this side, logged loudly; the declared default still protects the action.
            problem = _refusal(response)
            logger.error("%s: the gate refused %s: %s", system, action, problem)
            return self._local(system, action, f"the gate refused the request: {problem}")
        try:
            answer = response.json()
            decision = answer["decision"]
            if decision not in DECISIONS:
                raise ValueError(decision)
        except (ValueError, LookupError, TypeError):
            return self._local(system, action, "the gate's answer was not understood")
        return GateDecision(decision, str(answer.get("reason", "")), answer.get("hold_id"))

    def _local(self, system: str, action: str, why: str) -> GateDecision:
        default = self.default_for(system, action)
        if default == "allow":
            return GateDecision("allow", f"{why}: allowed (declared fail-open).", local=True)
        return GateDecision("hold", f"{why}: held locally (declared fail-closed).", local=True)

    def hold(self, system: str, hold_id: str) -> dict[str, Any] | None:
        """The hold as the server has it (`status`: pending, approved, rejected), or None
        when it cannot be read now."""
        path = f"/api/v1/systems/{quote(system, safe='')}/holds/{quote(str(hold_id), safe='')}"
        try:
            response = self._http.get(path, timeout=self.timeout)
        except httpx.HTTPError as exc:
            logger.warning("%s: cannot read hold %s: %r", system, hold_id, exc)
            return None
        if response.status_code != 200:
            logger.warning("%s: cannot read hold %s: %s", system, hold_id, _refusal(response))
            return None
        try:
            found = response.json()
        except ValueError:
            return None
        return found if isinstance(found, dict) else None

    def wait(
        self, system: str, hold_id: str, *, timeout: float, interval: float, stop: threading.Event
    ) -> str | None:
        """Poll the hold until a person (or its expiry) decides: "approve" or "reject";
        None when `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.hold(system, hold_id)
            if found is not None and found.get("status") in DECIDED:
                return "approve" if found["status"] == "approved" else "reject"
            left = deadline - time.monotonic()
            if left <= 0 or stop.wait(min(interval, left)):
                return None


def _path(system: str) -> str:
    return f"/api/v1/systems/{quote(system, safe='')}/gate"


def _refusal(response: httpx.Response) -> str:
    try:
        messages = [
            f"{e.get('field') or ''} {e['message']}".strip() for e in response.json()["errors"]
        ]
    except (ValueError, LookupError, TypeError, AttributeError):
        messages = []
    return " ".join([str(response.status_code), *messages])
