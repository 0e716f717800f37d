import base64
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from comms import wording
from core.append_only import AppendOnlyModel


class StatusUpdate(models.Model):
    """The structured update an open incident owes at its severity's cadence."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, related_name="status_updates"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    posted_at = models.DateTimeField(default=timezone.now)
    known = models.TextField("What we know")
    doing = models.TextField("What we are doing")
    next_update_at = models.DateTimeField("Next update at", null=True, blank=True)

    class Meta:
        ordering = ["-posted_at", "-id"]

    def __str__(self):
        return f"{self.incident.reference} update at {self.posted_at:%H:%M}"


class Reminder(models.Model):
    """A chase that falls due at a time: kept here so a worker restart loses none, and
    claimed with a conditional UPDATE so two workers never send the same one twice."""

    class Kind(models.TextChoices):
        UPDATE_OVERDUE = "update_overdue", "status update overdue"
        UNOWNED = "unowned", "no lead or no severity"

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="reminders"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    due_at = models.DateTimeField()
    # Set once, by whoever claims it: sent, or found no longer needed.
    done_at = models.DateTimeField(null=True, blank=True)
    sent = models.BooleanField(default=False)

    class Meta:
        ordering = ["due_at"]
        indexes = [
            # The sweep: WHERE done_at IS NULL AND due_at <= now.
            models.Index(
                fields=["due_at"], name="reminder_pending", condition=models.Q(done_at=None)
            )
        ]

    def __str__(self):
        return f"{self.incident.reference} {self.kind} due {self.due_at:%H:%M}"


def new_signing_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Webhook(models.Model):
    """A notification channel: incident events POSTed to a URL in the shape its transport
    builds (`comms.transports`): Slack, Microsoft Teams, or a signed webhook of one's own."""

    class Event(models.TextChoices):
        INCIDENT_OPENED = "incident.opened", "incident declared"
        SEVERITY_CHANGED = "incident.severity_changed", "severity changed"
        MODE_CHANGED = "incident.mode_changed", "a system's mode changed"
        ALERT_RAISED = "incident.alert_raised", "alert raised"
        UPDATE_OVERDUE = "incident.update_overdue", "status update overdue"
        UNOWNED = "incident.unowned", "no lead or no severity"
        RESOLVED = "incident.resolved", "incident resolved"
        COMMUNICATION_PUBLISHED = (
            "incident.communication_published",
            "external communication published",
        )
        ACTION_ITEM_OVERDUE = "incident.action_item_overdue", "postmortem action item overdue"

    class Transport(models.TextChoices):
        SLACK = "slack", "Slack incoming webhook (Block Kit)"
        TEAMS = "teams", "Microsoft Teams Workflows webhook (Adaptive Card)"
        STANDARD = "standard", "Webhook, signed per Standard Webhooks"
        LEGACY = "legacy", "Webhook, legacy signature (X-Failsafe-Signature)"

    # The transports that sign with the channel's secret; Slack's and Teams' URL is the
    # credential.
    SIGNED = (Transport.STANDARD, Transport.LEGACY)

    name = models.CharField(max_length=80)
    url = models.URLField(max_length=500)
    transport = models.CharField(
        max_length=10, choices=Transport.choices, default=Transport.STANDARD
    )
    # The signing secret, shown once (when it is issued). After a rotation the one before
    # keeps signing beside it until `previous_secret_until`, so receivers can switch.
    secret = models.CharField(max_length=64, default=new_signing_secret, editable=False)
    previous_secret = models.CharField(max_length=64, blank=True, editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    events = models.JSONField(default=list)
    # Empty: every severity, unclassified too.
    severities = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # The channel's latest attempt, and the last error it met (kept after later successes).
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_ok = models.BooleanField(null=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def signs(self) -> bool:
        return self.transport in self.SIGNED

    def wants(self, event: str, severity: str) -> bool:
        return (
            self.active
            and event in self.events
            and (not self.severities or severity in self.severities)
        )

    def signing_secrets(self, now) -> tuple[str, ...]:
        """The secrets that sign a request sent at `now`, the newest first: two during a
        rotation's grace period, where the transport carries several (Standard Webhooks)."""
        if not self.signs:
            return ()
        grace = self.previous_secret_until
        if self.transport == self.Transport.STANDARD and grace and now < grace:
            return (self.secret, self.previous_secret)
        return (self.secret,)


class WebhookDelivery(models.Model):
    """One event for one webhook, with every attempt's outcome: the delivery log."""

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed", "gave up"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    # The same on every attempt, so a receiver can drop a repeat (`webhook-id`).
    message_id = models.UUIDField(default=uuid.uuid4, editable=False)
    event = models.CharField(max_length=40)
    incident = models.ForeignKey(
        "incidents.Incident", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The message as it was when the event happened (comms.transports.message); the
    # transport shapes it at each attempt.
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Due work: the next attempt is made at this time; a claim pushes it forward so a
    # worker that dies mid-attempt leaves the delivery to be retried, not lost.
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="delivery_pending",
                condition=models.Q(state="pending"),
            )
        ]

    def __str__(self):
        return f"{self.event} → {self.webhook}"


class RoomPresence(models.Model):
    """One open incident-room connection: who is on the page right now."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.CASCADE, related_name="presences"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel_name = models.CharField(max_length=200, unique=True)
    # Refreshed by the page's ping; a connection silent for long was lost without a goodbye.
    seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.user} in {self.incident.reference}"


# --- External communication ------------------------------------------------------------


class CommTemplate(models.Model):
    """A system's starting wording for an external communication, written before the
    incident: the four parts (and a headline) with placeholders such as {system},
    {onset}, {customers} and {actions}, filled from the incident when a draft starts."""

    system = models.ForeignKey(
        "systems.AISystem", on_delete=models.CASCADE, related_name="comm_templates"
    )
    name = models.CharField(max_length=80, help_text="e.g. wrong decisions, data exposure")
    headline = models.CharField(max_length=200)
    happened = models.TextField("What happened")
    consequence = models.TextField("What this means for you")
    done = models.TextField("What we have done")
    advice = models.TextField("What you should do")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["system", "name"], name="comm_template_unique_name")
        ]

    def __str__(self):
        return f"{self.system.slug}: {self.name}"

    @property
    def parts(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in wording.PART_NAMES}


class Communication(models.Model):
    """One external message about an incident: drafted in versions, approved by the lead,
    published once. A later message about the same incident is another Communication."""

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, related_name="communications"
    )
    # 1, 2, … per incident: "update 2". The public page and the feed use `code`.
    number = models.PositiveIntegerField()
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Set once, by the publish service, with a conditional UPDATE.
    published_version = models.ForeignKey(
        "CommVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["incident", "number"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "number"], name="communication_number"),
            # At most one draft per incident: everyone edits the same one.
            models.UniqueConstraint(
                fields=["incident"],
                condition=models.Q(published_at=None),
                name="communication_one_draft",
            ),
        ]
        indexes = [
            # The status page and the feed: WHERE published_at IS NOT NULL ORDER BY
            # published_at DESC.
            models.Index(
                fields=["-published_at"],
                name="communication_published",
                condition=models.Q(published_at__isnull=False),
            )
        ]

    def __str__(self):
        return f"{self.incident.reference} external update {self.number}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class CommVersion(AppendOnlyModel):
    """One saved wording of a communication. Immutable: each save is a new version."""

    communication = models.ForeignKey(
        Communication, on_delete=models.PROTECT, related_name="versions"
    )
    number = models.PositiveIntegerField()
    headline = models.CharField(max_length=200)
    happened = models.TextField("What happened")
    consequence = models.TextField("What this means for you")
    done = models.TextField("What we have done")
    advice = models.TextField("What you should do")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["communication", "number"]
        constraints = [
            models.UniqueConstraint(fields=["communication", "number"], name="comm_version_number")
        ]

    def __str__(self):
        return f"{self.communication} v{self.number}"

    @property
    def parts(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in wording.PART_NAMES}

    def as_text(self) -> str:
        """Plain text, as the per-subject notices and the feed carry it."""
        return wording.plain_text(self.parts)


class CommApproval(AppendOnlyModel):
    """The lead's approval of one version: editing afterwards makes a new, unapproved one."""

    version = models.ForeignKey(CommVersion, on_delete=models.PROTECT, related_name="approvals")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        constraints = [models.UniqueConstraint(fields=["version", "by"], name="comm_approval_once")]

    def __str__(self):
        return f"{self.version} approved by {self.by}"


class CommDecision(AppendOnlyModel):
    """What the lead decided about the communication obligation, with the reason: a SEV1's
    waiver, or a SEV2's decision either way. The latest one counts; all are kept.

    `level`, `severity` and `users_reached` are what the obligation was when the decision
    was made: a SEV2's "no communication" does not waive the SEV1 it later becomes."""

    class Outcome(models.TextChoices):
        COMMUNICATE = "communicate", "communicate"
        NO_COMMUNICATION = "no_communication", "no communication"

    incident = models.ForeignKey(
        "incidents.Incident", on_delete=models.PROTECT, related_name="comm_decisions"
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    level = models.CharField(max_length=8)
    severity = models.CharField(max_length=4)
    users_reached = models.PositiveIntegerField()
    reason = models.TextField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["incident", "-at"], name="comm_decision_latest")]

    def __str__(self):
        return f"{self.incident.reference}: {self.outcome}"
