import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from gate import rules


class GateRule(models.Model):
    """What the gate does for one action type of a system's catalog, set by its owner, and
    the state of the action's circuit breaker. Without a row the defaults apply (the
    first request for the action makes the row)."""

    class Unreachable(models.TextChoices):
        HOLD = "hold", "fail closed: hold the action locally"
        ALLOW = "allow", "fail open: go ahead"

    class Outcome(models.TextChoices):
        APPROVE = "approve", "approved"
        REJECT = "reject", "rejected"

    class OverCap(models.TextChoices):
        HOLD = "hold", "hold for a person"
        DENY = "deny", "deny outright"

    action_type = models.OneToOneField(
        "systems.ActionType", on_delete=models.CASCADE, related_name="gate_rule"
    )
    system = models.ForeignKey("systems.AISystem", on_delete=models.CASCADE, related_name="+")
    always_allow = models.BooleanField(
        default=False,
        help_text="Reversible actions only: allow every request, whatever else holds.",
    )
    window_seconds = models.PositiveIntegerField(
        default=60, help_text="The short window the breaker and the cap count over (10 to 3600 s)."
    )
    breaker_factor = models.FloatField(
        null=True,
        blank=True,
        default=5.0,
        help_text="Hold new requests when a window's requests exceed this many times the "
        "action's baseline per window. Empty: no breaker.",
    )
    breaker_floor = models.PositiveIntegerField(
        default=20, help_text="The breaker never trips at or below this many requests a window."
    )
    cap = models.PositiveIntegerField(
        null=True, blank=True, help_text="At most this many allowed per window. Empty: no cap."
    )
    over_cap = models.CharField(max_length=8, choices=OverCap.choices, default=OverCap.HOLD)
    unreachable = models.CharField(
        max_length=8,
        choices=Unreachable.choices,
        default=Unreachable.HOLD,
        help_text="What the SDK answers when Failsafe cannot be reached.",
    )
    hold_minutes = models.PositiveIntegerField(
        default=60, help_text="A hold nobody decides expires after this many minutes…"
    )
    expire_to = models.CharField(
        max_length=8,
        choices=Outcome.choices,
        default=Outcome.REJECT,
        help_text="…to this outcome.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    # The action's baseline count per window (None: not enough history), refreshed by the
    # sweep, and frozen while the breaker is open so a spike does not raise its own limit.
    baseline = models.FloatField(null=True, blank=True)
    baseline_at = models.DateTimeField(null=True, blank=True)
    # The breaker: open since, what tripped it, and whether its alert has been raised
    # (due work: the sweep raises an owed alert and resolves one owed a resolution).
    tripped_at = models.DateTimeField(null=True, blank=True)
    trip_evidence = models.JSONField(default=dict, blank=True)
    alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["system_id", "action_type__name"]

    def __str__(self):
        return f"gate rule for {self.action_type}"

    @property
    def action(self) -> str:
        return self.action_type.name

    def as_rule(self) -> rules.Rule:
        return rules.Rule(
            reversible=self.action_type.reversible,
            always_allow=self.always_allow,
            window_seconds=self.window_seconds,
            breaker_factor=self.breaker_factor,
            breaker_floor=self.breaker_floor,
            cap=self.cap,
            over_cap=self.over_cap,
        )

    @property
    def limit(self) -> int | None:
        return rules.limit(self.as_rule(), self.baseline)


class GateCounter(models.Model):
    """Requests for one action type in one fixed window and what the gate answered.

    One statement counts a request and decides whether the window still has room for it
    (`INSERT … ON CONFLICT DO UPDATE … RETURNING`): the row is locked while it runs, so
    concurrent requests for the same action count one after another and the cap is exact.
    """

    action_type = models.ForeignKey(
        "systems.ActionType", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # The window's start, in epoch seconds (portable and cheap to compare).
    window_start = models.BigIntegerField()
    requests = models.PositiveIntegerField(default=0)
    allowed = models.PositiveIntegerField(default=0)
    denied = models.PositiveIntegerField(default=0)
    # Whether the last request counted was allowed: what the counting statement decided,
    # returned by it (the row is locked while it runs, so it is this request's answer).
    last_allowed = models.BooleanField(default=False)

    class Meta:
        constraints = [
            # Also the index of every lookup: WHERE action_type_id=? AND window_start=?
            models.UniqueConstraint(
                fields=["action_type", "window_start"], name="gate_counter_window"
            )
        ]

    def __str__(self):
        return f"{self.action_type_id}@{self.window_start}: {self.requests}"

    @property
    def held(self) -> int:
        return self.requests - self.allowed - self.denied


class Hold(models.Model):
    """An action the gate held: it waits for a person to approve or reject it, or expires
    to its rule's declared outcome. The AI system polls it by its `code`."""

    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    system = models.ForeignKey("systems.AISystem", on_delete=models.CASCADE, related_name="holds")
    action_type = models.ForeignKey(
        "systems.ActionType", on_delete=models.CASCADE, related_name="holds"
    )
    subject = models.CharField(max_length=200)
    event_id = models.CharField(max_length=100, blank=True)
    # What held it (mode, incident, breaker, cap) and the reason the system was given.
    cause = models.CharField(max_length=16)
    reason = models.CharField(max_length=300)
    # The system's open incident when it was held, if any.
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    expires_to = models.CharField(max_length=8, choices=GateRule.Outcome.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    expired = models.BooleanField(default=False)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The queue and the blast radius: WHERE system_id IN (…) AND created_at BETWEEN …
            models.Index(fields=["system", "created_at"], name="hold_system_created"),
            # The expiry sweep: WHERE status='pending' AND expires_at <= now ORDER BY expires_at.
            models.Index(
                fields=["expires_at"], condition=Q(status="pending"), name="hold_pending_expiry"
            ),
            # The queue of every system: WHERE status='pending' ORDER BY created_at DESC.
            models.Index(
                fields=["-created_at"], condition=Q(status="pending"), name="hold_pending_recent"
            ),
        ]

    def __str__(self):
        return f"hold {str(self.code)[:8]} of {self.action_type.name} on {self.subject}"

    @property
    def outcome(self) -> str | None:
        return {"approved": "approve", "rejected": "reject"}.get(self.status)
