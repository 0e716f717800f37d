"""The owner's rules: setting the gate's rule for one action type, audited."""

from django.db import transaction

from core.permissions import require
from core.services import audit_record, snapshot
from gate.errors import GateError
from gate.models import GateRule
from systems.models import ActionType

RULE_FIELDS = [
    "always_allow",
    "window_seconds",
    "breaker_factor",
    "breaker_floor",
    "cap",
    "over_cap",
    "unreachable",
    "hold_minutes",
    "expire_to",
]


def _rule_check(action_type: ActionType, fields: dict) -> None:
    if fields.get("always_allow") and not action_type.reversible:
        raise GateError(
            f"{action_type.name} cannot be undone: it cannot be always allowed.", "always_allow"
        )
    window = fields.get("window_seconds")
    if window is not None and not 10 <= window <= 3600:
        raise GateError("Between 10 and 3600 seconds.", "window_seconds")
    factor = fields.get("breaker_factor")
    if factor is not None and factor < 1:
        raise GateError("At least 1 (the baseline itself).", "breaker_factor")
    if fields.get("hold_minutes") is not None and not 1 <= fields["hold_minutes"] <= 7 * 24 * 60:
        raise GateError("Between 1 minute and 7 days.", "hold_minutes")


@transaction.atomic
def gate_rule_set(*, actor, action_type: ActionType, reason: str = "", **fields) -> GateRule:
    """The owner (or a responder) sets the gate's rule for one action type."""
    require(actor, "gate.manage", action_type.system)
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise GateError(f"Unknown field {sorted(unknown)[0]}.", sorted(unknown)[0])
    _rule_check(action_type, fields)
    rule = GateRule.objects.select_for_update().filter(action_type=action_type).first()
    if rule is None:
        rule = GateRule.objects.create(action_type=action_type, system_id=action_type.system_id)
    rule.action_type = action_type
    before = snapshot(rule, RULE_FIELDS)
    for name, value in fields.items():
        setattr(rule, name, value)
    window_changed = before["window_seconds"] != rule.window_seconds
    if window_changed:
        rule.baseline_at = None  # per window: recomputed at the next request
    rule.save()
    audit_record(
        actor=actor,
        verb="gate.rule_set",
        target=rule,
        before=before,
        after=snapshot(rule, RULE_FIELDS),
        reason=reason,
    )
    return rule
