from django.conf import settings
from django.db import models
from django.utils import timezone

from core.append_only import AppendOnlyModel


class Surface(models.TextChoices):
    """Everything that changes an AI system's behaviour, each versioned on its own."""

    MODEL = "model", "Model"
    PROMPT = "prompt", "Prompt"
    RETRIEVAL = "retrieval", "Retrieval source"
    CONFIG = "config", "Configuration"


class Version(AppendOnlyModel):
    """One immutable version of one surface of a system, numbered per surface.

    What `content` holds depends on the surface (see rollbacks/surfaces.py). The database
    refuses to change or remove a version, like the audit log.
    """

    system = models.ForeignKey(
        "systems.AISystem", on_delete=models.PROTECT, related_name="versions"
    )
    surface = models.CharField(max_length=10, choices=Surface.choices)
    number = models.PositiveIntegerField()
    content = models.JSONField()
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by_label = models.CharField(max_length=150)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["surface", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "surface", "number"], name="version_unique_number"
            )
        ]

    def __str__(self):
        return f"{self.system_id}:{self.surface} v{self.number}"

    @property
    def reference(self) -> str:
        """How events and people name it: `prompt@v7`."""
        return f"{self.surface}@v{self.number}"


class Deployment(AppendOnlyModel):
    """Making a version the active one: who, why, when, from which, to which."""

    class Kind(models.TextChoices):
        DEPLOY = "deploy"
        ROLLBACK = "rollback"

    system = models.ForeignKey(
        "systems.AISystem", on_delete=models.PROTECT, related_name="deployments"
    )
    surface = models.CharField(max_length=10, choices=Surface.choices)
    from_version = models.ForeignKey(
        Version, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    reason = models.TextField()
    at = models.DateTimeField(default=timezone.now)
    # A rollback during an open incident that skipped the required approval: listed for
    # review after the incident.
    break_glass = models.BooleanField(default=False)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["system", "-at"], name="deployment_system_at")]

    def __str__(self):
        return f"{self.kind} {self.to_version}"


class ActiveVersion(models.Model):
    """Which version of a surface is in force: one row per system and surface, row-locked
    by every deployment, so exactly one is active and no deployment is lost."""

    system = models.ForeignKey(
        "systems.AISystem", on_delete=models.CASCADE, related_name="active_versions"
    )
    surface = models.CharField(max_length=10, choices=Surface.choices)
    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="+")
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["system", "surface"], name="one_active_per_surface")
        ]

    def __str__(self):
        return f"{self.system_id}:{self.surface} → v{self.version.number}"


class ConfigSchema(models.Model):
    """The JSON Schema a system's configuration versions must satisfy (temperature within
    0 to 2, max tokens positive, routing rules...). Without one, rollbacks/surfaces.py's default
    applies."""

    system = models.OneToOneField(
        "systems.AISystem", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    schema = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"config schema of {self.system_id}"


class ChangeRequest(models.Model):
    """A deployment waiting for a second person's approval, or for its time."""

    class State(models.TextChoices):
        PENDING = "pending", "waiting for approval"
        APPROVED = "approved", "approved, scheduled"
        REJECTED = "rejected"
        DEPLOYED = "deployed"
        FAILED = "failed", "could not deploy"

    system = models.ForeignKey(
        "systems.AISystem", on_delete=models.CASCADE, related_name="change_requests"
    )
    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField()
    requested_at = models.DateTimeField(default=timezone.now)
    # Due work: not deployed before this time (None: as soon as approved).
    not_before = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    outcome = models.TextField(blank=True)
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(
                fields=["not_before"], name="change_due", condition=models.Q(state="approved")
            )
        ]

    def __str__(self):
        return f"{self.version} ({self.state})"
