from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class Incident(models.Model):
    """One AI incident: what went wrong, how bad it is, where the response stands."""

    class Severity(models.TextChoices):
        SEV1 = "SEV1", "SEV1 · harmful"
        SEV2 = "SEV2", "SEV2 · wrong, contained"
        SEV3 = "SEV3", "SEV3 · anomalous"

    class Status(models.TextChoices):
        TRIAGE = "triage"
        INVESTIGATING = "investigating"
        CONTAINED = "contained"
        MITIGATED = "mitigated"
        RESOLVED = "resolved"
        CLOSED = "closed"

        @classmethod
        def open_values(cls) -> list[str]:
            return [cls.TRIAGE, cls.INVESTIGATING, cls.CONTAINED, cls.MITIGATED]

    # The number people say out loud ("INC-42"); the primary key stays internal.
    number = models.PositiveIntegerField(unique=True)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    systems = models.ManyToManyField("systems.AISystem", related_name="incidents")
    severity = models.CharField(max_length=4, choices=Severity.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRIAGE)
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="led_incidents",
    )
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    declared_at = models.DateTimeField(default=timezone.now)
    onset_at = models.DateTimeField(null=True, blank=True, help_text="When the failure began.")
    detected_at = models.DateTimeField(null=True, blank=True)
    contained_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-declared_at", "-number"]
        indexes = [
            # The incident list: WHERE status IN (open…) ORDER BY declared_at DESC.
            models.Index(fields=["status", "-declared_at"], name="incident_status_declared"),
            models.Index(fields=["severity", "-declared_at"], name="incident_sev_declared"),
        ]

    def __str__(self):
        return f"{self.reference} {self.title}"

    def get_absolute_url(self):
        return reverse("incidents:detail", args=[self.number])

    @property
    def reference(self) -> str:
        return f"INC-{self.number}"

    @property
    def is_open(self) -> bool:
        return self.status in self.Status.open_values()
