import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


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


class Webhook(models.Model):
    """An outgoing webhook: incident events POSTed as Slack-compatible JSON, signed."""

    class Event(models.TextChoices):
        INCIDENT_OPENED = "incident.opened", "incident opened"
        SEVERITY_CHANGED = "incident.severity_changed", "severity changed"
        UPDATE_OVERDUE = "incident.update_overdue", "status update overdue"
        UNOWNED = "incident.unowned", "no lead or no severity"
        RESOLVED = "incident.resolved", "incident resolved"

    name = models.CharField(max_length=80)
    url = models.URLField(max_length=500)
    # Shared secret for the HMAC signature header; shown to admins so receivers can verify.
    secret = models.CharField(max_length=64, default=secrets.token_hex, editable=False)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def wants(self, event: str) -> bool:
        return self.active and event in self.events


class WebhookDelivery(models.Model):
    """One event for one webhook, with every attempt's outcome: the delivery log."""

    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed", "gave up"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40)
    incident = models.ForeignKey(
        "incidents.Incident", null=True, on_delete=models.SET_NULL, related_name="+"
    )
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
