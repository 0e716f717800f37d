from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse

from core.tokens import token_generate, token_hash

# An identifier as the AI system sends it in events: `account_hold`, `send-reply`.
identifier_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_.-]*$",
    "Use lower-case letters, digits, '_', '-' or '.', starting with a letter or digit.",
)


class AISystem(models.Model):
    """An AI system under watch: what it is, who owns it, what its outputs set off."""

    class Kind(models.TextChoices):
        CLASSIFIER = "classifier"
        GENERATOR = "generator"
        RANKER = "ranker"
        AGENT = "agent"

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_systems"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    description = models.TextField(blank=True)
    has_human_fallback = models.BooleanField(
        default=False, help_text="Can the work this system does be routed to people?"
    )
    human_fallback = models.TextField(
        blank=True, help_text="Where work goes when it is routed to people, and who handles it."
    )
    degraded_behaviour = models.TextField(
        blank=True, help_text="What the system does in degraded mode: a simpler, predictable path."
    )
    requires_deploy_approval = models.BooleanField(
        default=False,
        help_text="Deployments need a second person's approval (a rollback during an open "
        "incident may break the glass).",
    )
    # The false-alarm budget in plain terms; detection turns it into detector thresholds.
    false_pages_per_month = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.01), MaxValueValidator(1000)],
        help_text="At most this many false pages a month from this system's monitors.",
    )
    # How long raw events are kept; rollups (what monitors and charts read) outlive them.
    retention_days = models.PositiveSmallIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="Raw events older than this many days are deleted, a day at a time.",
    )
    # When someone last confirmed the runbook still holds without changing it (a new
    # revision is a review too). Readiness wants one or the other within 90 days.
    runbook_reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "AI system"

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("systems:detail", args=[self.slug])

    @property
    def runbook(self):
        """The current runbook version, or None before the first one is written.

        Reads through `.all()` so a prefetch of runbook_versions is used when present.
        """
        return next(iter(self.runbook_versions.all()), None)

    @property
    def has_irreversible_actions(self) -> bool:
        return any(not a.reversible for a in self.action_types.all())


class ActionType(models.Model):
    """One entry of a system's downstream action catalog: what its outputs can set off."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="action_types")
    name = models.CharField(max_length=64, validators=[identifier_validator])
    description = models.CharField(max_length=200, blank=True)
    reversible = models.BooleanField(help_text="Can the action be undone after it fired?")
    user_visible = models.BooleanField(help_text="Do end users see the action or its effect?")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["system", "name"], name="action_type_unique_name")
        ]

    def __str__(self):
        return f"{self.system.slug}:{self.name}"


class RunbookVersion(models.Model):
    """A system's runbook is versioned like everything else a responder relies on."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="runbook_versions")
    number = models.PositiveIntegerField()
    body = models.TextField(help_text="Markdown: the steps a stressed responder follows.")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["system", "number"], name="runbook_unique_number")
        ]

    def __str__(self):
        return f"{self.system.slug} runbook v{self.number}"


class SystemToken(models.Model):
    """A credential one AI system uses to call the API. Only its SHA-256 is stored.

    Tokens are 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    """

    PREFIX = "fsk_"

    class Scope(models.TextChoices):
        SYSTEM_READ = "system:read", "Read its own system definition and action catalog"
        MODE_READ = "mode:read", "Read its runtime mode"
        BUNDLE_READ = "bundle:read", "Read its active versions"
        EVENTS_WRITE = "events:write", "Report events"
        GATE = "gate", "Ask before an irreversible action"
        ALERTS_WRITE = "alerts:write", "Send alerts (Alertmanager, PagerDuty Events API)"

    is_system_token = True

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=80, help_text="Where it is used, e.g. 'production'.")
    # The first characters of the token, shown so people can tell their tokens apart.
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def hash(raw: str) -> str:
        return token_hash(raw)

    @classmethod
    def generate(cls) -> str:
        return token_generate(cls.PREFIX)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def audit_label(self) -> str:
        return f"token {self.prefix}… of {self.system.slug}"

    def allows(self, scope: str, system_slug: str | None) -> bool:
        """A token acts only on its own system, and only within its scopes."""
        return self.is_active and system_slug == self.system.slug and scope in self.scopes


class Mode(models.TextChoices):
    """What the AI system does right now: the kill switch is `off`."""

    AI = "ai", "AI"
    DEGRADED = "degraded", "Degraded"
    HUMAN = "human", "Human"
    OFF = "off", "Off"


class RuntimeMode(models.Model):
    """A system's current runtime mode. Only the mode services write it, row-locked, so
    concurrent mode changes serialize and every revision is used exactly once."""

    system = models.OneToOneField(
        AISystem, on_delete=models.CASCADE, primary_key=True, related_name="runtime_mode"
    )
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.AI)
    revision = models.PositiveIntegerField(default=0)
    changed_at = models.DateTimeField(null=True, blank=True)
    changed_by = models.CharField(max_length=150, blank=True)
    reason = models.TextField(blank=True)
    # A drill is a revision that keeps the mode: clients acknowledge it, nothing changes.
    drill = models.BooleanField(default=False)

    def __str__(self):
        return f"{self.system_id}: {self.mode} (revision {self.revision})"


class ModeChange(models.Model):
    """The history of a system's mode: every revision, who set it, why, when."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="mode_changes")
    revision = models.PositiveIntegerField()
    mode = models.CharField(max_length=8, choices=Mode.choices)
    previous_mode = models.CharField(max_length=8, choices=Mode.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    reason = models.TextField()
    at = models.DateTimeField()
    drill = models.BooleanField(default=False)

    class Meta:
        ordering = ["-revision"]
        constraints = [
            models.UniqueConstraint(fields=["system", "revision"], name="mode_change_revision")
        ]

    def __str__(self):
        return f"{self.system.slug} r{self.revision}: {self.previous_mode} → {self.mode}"


class ModeClient(models.Model):
    """One running copy of the AI system (an SDK client), as it last reported itself."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="mode_clients")
    client_id = models.CharField(max_length=64)
    revision = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    streams = models.PositiveSmallIntegerField(default=0, help_text="Open mode streams now.")

    class Meta:
        ordering = ["client_id"]
        constraints = [
            models.UniqueConstraint(fields=["system", "client_id"], name="mode_client_unique")
        ]

    def __str__(self):
        return f"{self.client_id} of {self.system_id} on r{self.revision}"


class ModeAck(models.Model):
    """A client's acknowledgement that it acts on a revision: how fast a mode change took effect."""

    system = models.ForeignKey(AISystem, on_delete=models.CASCADE, related_name="+")
    client_id = models.CharField(max_length=64)
    revision = models.PositiveIntegerField()
    at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["system", "revision", "client_id"], name="mode_ack_unique"
            )
        ]

    def __str__(self):
        return f"{self.client_id} acked r{self.revision}"
