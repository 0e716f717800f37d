"""The gate's rules, as plain functions: no database, no HTTP.

Before an irreversible action the AI system asks the gate; the answer is `allow`, `hold`
(a person decides later) or `deny`. In order of precedence:

1. A reversible action its owner set to "always allow" is allowed, whatever else holds.
2. While the system's runtime mode is not `ai`, everything is held.
3. While an SEV1 or SEV2 incident of the system is open, everything is held.
4. The circuit breaker: when the requests for the action in the current window exceed
   `factor` x the action's baseline per window (never less than `floor`), new requests are
   held, and the breaker stays open (holding everything) until a whole window after the
   trip stays within that limit. Requests are counted whatever the answer, so a runaway
   keeps it open.
5. The absolute cap: at most `cap` allowed per window; beyond it, hold (or deny).

The baseline is the action's own history: the `action` rollups of the previous seven days,
leaving out the last hour (so a spike does not raise its own limit), per window of the
time the system has history for. With less than an hour of history there is no baseline
and the floor alone is the limit.
"""

import math
from dataclasses import dataclass

from systems.models import Mode

ALLOW, HOLD, DENY = "allow", "hold", "deny"

# Less history than this and a rate means nothing yet: the floor alone applies.
MIN_HISTORY_SECONDS = 3600

# What a hold turns into when nobody decides before it expires.
OUTCOME_STATUS = {"approve": "approved", "reject": "rejected"}


@dataclass(frozen=True)
class Rule:
    """What the owner set for one action type (defaults: a breaker at 5x baseline)."""

    reversible: bool
    always_allow: bool = False
    window_seconds: int = 60
    breaker_factor: float | None = 5.0
    breaker_floor: int = 20
    cap: int | None = None
    over_cap: str = HOLD


@dataclass(frozen=True)
class Situation:
    """What is true when a request arrives."""

    mode: str
    # The number of an open SEV1 or SEV2 incident of the system, if any.
    severe_incident: int | None
    # Requests for the action in the current window, this one included.
    requests: int
    # Requests allowed in the current window before this one.
    allowed: int
    # The action's baseline count per window, or None without enough history.
    baseline: float | None
    # The breaker is open (tripped in an earlier request and not reset since).
    tripped: bool


@dataclass(frozen=True)
class Decision:
    decision: str
    # What decided: always_allow, mode, incident, breaker, cap, ok.
    cause: str
    reason: str
    # This request tripped the breaker (it was closed until now).
    trips: bool = False


def window_start(epoch_seconds: float, window_seconds: int) -> int:
    """The start (epoch seconds) of the fixed window containing a moment."""
    return int(epoch_seconds // window_seconds) * window_seconds


def baseline_per_window(total: int, span_seconds: float, window_seconds: int) -> float | None:
    """`total` actions over `span_seconds` of history, per window; None with too little."""
    if span_seconds < MIN_HISTORY_SECONDS:
        return None
    return total * window_seconds / span_seconds


def limit(rule: Rule, baseline: float | None) -> int | None:
    """How many requests per window the breaker lets through; None: no breaker."""
    if rule.breaker_factor is None:
        return None
    return max(rule.breaker_floor, math.ceil(rule.breaker_factor * (baseline or 0.0)))


def breaker_resets(requests_in_window: int, rule: Rule, baseline: float | None) -> bool:
    """A whole window after the trip stayed within the limit: close the breaker."""
    most = limit(rule, baseline)
    return most is None or requests_in_window <= most


def _baseline_text(baseline: float | None) -> str:
    return "no baseline yet" if baseline is None else f"a baseline of {baseline:.1f}"


def room(rule: Rule, baseline: float | None) -> tuple[int | None, int | None]:
    """What the counter decides for a request the situation has not decided already:
    allowed while requests (this one included) ≤ the breaker's limit and allowed so far <
    the cap (None: no such bound). The counting statement applies exactly this, under the
    counter's row lock; `decide` then explains the answer."""
    return limit(rule, baseline), rule.cap


def decided_before_counting(rule: Rule, now: Situation) -> bool:
    """Whether the answer is known without the window's counts (always allowed; the mode,
    a severe incident or an open breaker hold everything)."""
    return (
        (rule.always_allow and rule.reversible)
        or now.mode != Mode.AI
        or now.severe_incident is not None
        or (now.tripped and rule.breaker_factor is not None)
    )


def decide(rule: Rule, now: Situation, action: str) -> Decision:
    """The answer to one request, from the rule and the situation."""
    if rule.always_allow and rule.reversible:
        return Decision(ALLOW, "always_allow", f"{action} is reversible and always allowed.")
    if now.mode != Mode.AI:
        return Decision(
            HOLD, "mode", f"The system is in {now.mode} mode: every {action} waits for a person."
        )
    if now.severe_incident is not None:
        return Decision(
            HOLD,
            "incident",
            f"INC-{now.severe_incident} (SEV1/SEV2) is open: every {action} waits for a person.",
        )
    most = limit(rule, now.baseline)
    if most is not None and (now.tripped or now.requests > most):
        return Decision(
            HOLD,
            "breaker",
            f"Circuit breaker open: {now.requests} {action} requests in {rule.window_seconds} s "
            f"against {_baseline_text(now.baseline)} (limit {most}).",
            trips=not now.tripped,
        )
    if rule.cap is not None and now.allowed >= rule.cap:
        return Decision(
            DENY if rule.over_cap == DENY else HOLD,
            "cap",
            f"The cap of {rule.cap} {action} per {rule.window_seconds} s is reached.",
        )
    return Decision(ALLOW, "ok", "Within the gate's rules.")
