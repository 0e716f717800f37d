"""Events as the AI systems report them, their rollups, the monitors that watch them, alerts."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Event(models.Model):
    """One production inference. Written only by `services.ingest`: stored once, and
    changed only to add a score that came later (`scores_add`)."""

    id = models.BigAutoField(primary_key=True)
    system = models.ForeignKey(
        "systems.AISystem", on_delete=models.CASCADE, related_name="events", db_index=False
    )
    # The sender's own id: a resent batch is recognised by it and stored once.
    client_id = models.CharField(max_length=100)
    ts = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    input = models.JSONField(default=dict)
    label = models.CharField(max_length=100, blank=True)
    score = models.FloatField(null=True)
    text = models.TextField(blank=True)
    refused = models.BooleanField(default=False)
    # What the sender said served it, and what Failsafe's registry resolved that to:
    # {"prompt": 13} (a version number) or {"prompt": null} when no version matches.
    versions = models.JSONField(default=dict)
    served = models.JSONField(default=dict)
    actions = models.JSONField(default=list)
    subject = models.CharField(max_length=200, blank=True)
    # What a generative-AI call adds: scores from the team's own evaluators, the error type
    # ("" when none), why generation stopped, tokens used, who served the model.
    scores = models.JSONField(default=dict)
    error = models.CharField(max_length=100, blank=True)
    finish_reason = models.CharField(max_length=40, blank=True)
    input_tokens = models.IntegerField(null=True)
    output_tokens = models.IntegerField(null=True)
    provider = models.CharField(max_length=64, blank=True)
    # The system's retention when the event was stored: on PostgreSQL it picks the table
    # the event lives in, dropped whole once past it (monitoring.partitions).
    retention_days = models.PositiveSmallIntegerField(default=30)

    class Meta:
        # A partitioned table's keys include its partition keys: a resent event has the same
        # id and time, so it is still recognised and stored once.
        constraints = [
            models.UniqueConstraint(
                fields=["system", "client_id", "retention_days", "ts"],
                name="event_unique_client_id",
            )
        ]
        indexes = [models.Index(fields=["system", "ts"], name="event_system_ts")]

    def __str__(self):
        return f"{self.client_id} at {self.ts:%Y-%m-%d %H:%M:%S}"


class Rollup(models.Model):
    """How many events of one system, in one short time bucket, showed one thing.

    `signal` names what was counted (`events`, `label`, `refused`, `length`, `score`,
    `action`, `pattern:<monitor>`, `input:<feature>`, `error`, `finish`,
    `usage.input_tokens`, `usage.output_tokens`, `scores.<name>`, `scored:<monitor>`,
    `score_share:<monitor>`), `key` which value (a label, a histogram bin, an action type,
    an error type, a finish reason), `served` the versions that served them
    (`model:4|prompt:13|…`). Ingestion adds to these in the same transaction that stores
    the events, so monitors read counts and never scan raw events.
    """

    system = models.ForeignKey(
        "systems.AISystem", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    bucket = models.DateTimeField()
    signal = models.CharField(max_length=80)
    key = models.CharField(max_length=100, blank=True)
    served = models.CharField(max_length=200, blank=True)
    n = models.BigIntegerField(default=0)
    # Seconds the cell spans from `bucket`: 0 as ingestion writes it (one
    # FAILSAFE_ROLLUP_SECONDS bucket), 60 or 3600 once compacted (`services.compaction`).
    # Ingestion never names it: the database's default is what a new cell gets.
    width = models.IntegerField(db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["system", "signal", "bucket", "key", "served"], name="rollup_unique_cell"
            )
        ]

    def __str__(self):
        return f"{self.signal}={self.key}: {self.n} at {self.bucket:%H:%M:%S}"


class RollupHour(models.Model):
    """One system's rollup cells of one hour, summed per signal and key (the served
    versions left out): what a read of a week at once (a baseline counted from scratch)
    reads instead of the hour's thousands of cells. Summed once the hour is old
    (`services.hour_sums`, with compaction), and kept exact after: a late event or score
    counted into a summed hour is added to its sum too, in the same transaction."""

    system = models.ForeignKey(
        "systems.AISystem", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    hour = models.DateTimeField()
    signal = models.CharField(max_length=80)
    key = models.CharField(max_length=100, blank=True)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["system", "signal", "hour", "key"], name="rollup_hour_unique"
            )
        ]

    def __str__(self):
        return f"{self.signal}={self.key}: {self.n} in the hour from {self.hour:%Y-%m-%d %H:00}"


class RollupHourMark(models.Model):
    """How far the hour sums reach: every hour before `through` is summed (one row). Moved
    with a conditional UPDATE in the transaction that sums the range."""

    through = models.DateTimeField()

    def __str__(self):
        return f"hours summed through {self.through:%Y-%m-%d %H:00}"


class RollupCompaction(models.Model):
    """How far the cells of one compacted width reach: everything before `through` has
    been compacted to `width` seconds. Moved with a conditional UPDATE in the transaction
    that compacts the range, so two workers never compact the same range."""

    width = models.IntegerField(primary_key=True)
    through = models.DateTimeField()

    def __str__(self):
        return f"{self.width} s cells through {self.through:%Y-%m-%d %H:%M}"


class EvaluationClaim(models.Model):
    """One system's place in the evaluation: which worker holds it (until its lease ends)
    and when it was last evaluated. Claimed with a conditional UPDATE, so two workers never
    evaluate a system at once, and a worker that dies frees it when the lease ends."""

    system = models.OneToOneField(
        "systems.AISystem", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    claimed_until = models.DateTimeField(null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"evaluation of system {self.system_id}"


class Monitor(models.Model):
    """A signal of one system compared with its baseline, and the detector that watches it."""

    class Kind(models.TextChoices):
        CATEGORY_SHARE = "category_share", "Output category share"
        REFUSAL_RATE = "refusal_rate", "Refusal rate"
        PATTERN = "pattern", "Pattern frequency in output text"
        ACTION_RATE = "action_rate", "Downstream action rate"
        NUMERIC = "numeric", "Numeric output distribution"
        INPUT_FEATURE = "input_feature", "Input feature distribution"
        ACCURACY = "accuracy", "Ground-truth accuracy (from reviews)"
        ERROR_RATE = "error_rate", "Error share"
        FINISH_REASON = "finish_reason", "Finish reason share"
        SCORE_SHARE = "score_share", "Evaluation score below (or above) a threshold"

    class Status(models.TextChoices):
        LEARNING = "learning", "learning its baseline"
        OK = "ok", "within baseline"
        FIRING = "firing", "firing"

    # Kinds watched by the sequential detector (a share per event); the others are shapes.
    RATE_KINDS = {
        Kind.CATEGORY_SHARE,
        Kind.REFUSAL_RATE,
        Kind.PATTERN,
        Kind.ACTION_RATE,
        Kind.ERROR_RATE,
        Kind.FINISH_REASON,
        Kind.SCORE_SHARE,
    }
    # Kinds not counted in the rollups: the app that holds their data evaluates them
    # (ground truth registers the accuracy evaluator; monitoring.services.evaluation).
    EXTERNAL_KINDS = {Kind.ACCURACY}

    system = models.ForeignKey(
        "systems.AISystem", on_delete=models.CASCADE, related_name="monitors"
    )
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # What is watched, by kind: a label, a regex, an action type, a number ("length",
    # "score", "usage.output_tokens", "scores.<name>"), a feature, an error type, a finish
    # reason, a score's name.
    target = models.CharField(max_length=300, blank=True)
    # Score shares only: the share of scored events below (or above) this value.
    threshold = models.FloatField(null=True, blank=True)
    below = models.BooleanField(default=True)
    # Input features only: is it a category or a number?
    numeric = models.BooleanField(default=False)
    # The baseline: the previous `baseline_days`, or a pinned period when both ends are set.
    baseline_days = models.PositiveSmallIntegerField(default=7)
    baseline_start = models.DateTimeField(null=True, blank=True)
    baseline_end = models.DateTimeField(null=True, blank=True)
    # The smallest shift worth a page, as a factor of the baseline rate (2.0: it doubles).
    min_shift = models.FloatField(default=2.0)
    # Shapes: the window compared with the baseline.
    window_minutes = models.PositiveSmallIntegerField(default=10)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    # Kept by the evaluation: the baseline counts, the calibrated detector, its statistics,
    # and the last bucket it has seen (claimed with a conditional UPDATE).
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.LEARNING)
    baseline = models.JSONField(default=dict)
    baseline_at = models.DateTimeField(null=True, blank=True)
    detector = models.JSONField(default=dict)
    state = models.JSONField(default=list)
    evaluated_through = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["system_id", "name"]

    def __str__(self):
        return f"{self.system.slug}: {self.name}"

    @property
    def audit_label(self) -> str:
        """Who acted when the monitor opens an incident."""
        return f"monitor “{self.name}”"

    @property
    def is_rate(self) -> bool:
        return self.kind in self.RATE_KINDS

    @property
    def signal(self) -> tuple[str, str]:
        """(rollup signal, key) counted as a success for rate monitors; the histogram's
        signal for shape monitors (key empty: every key)."""
        return {
            self.Kind.CATEGORY_SHARE: ("label", self.target),
            self.Kind.REFUSAL_RATE: ("refused", ""),
            self.Kind.PATTERN: (f"pattern:{self.pk}", ""),
            self.Kind.ACTION_RATE: ("action", self.target),
            self.Kind.NUMERIC: (self.target, ""),
            self.Kind.INPUT_FEATURE: (f"input:{self.target}", ""),
            self.Kind.ACCURACY: ("reviews", ""),
            self.Kind.ERROR_RATE: ("error", self.target),
            self.Kind.FINISH_REASON: ("finish", self.target),
            self.Kind.SCORE_SHARE: (f"score_share:{self.pk}", ""),
        }[self.Kind(self.kind)]

    @property
    def denominator(self) -> tuple[str, str]:
        """(rollup signal, key) a rate is a share of: every event, or for a score share
        the events that carry its score, counted while it watched (`rollups.scores_count`)."""
        if self.kind == self.Kind.SCORE_SHARE:
            return f"scored:{self.pk}", ""
        return "events", ""


class Alert(models.Model):
    """A monitor firing, or an alert sent by the tools a team already runs (Alertmanager,
    Grafana, anything speaking PagerDuty's Events API). One open alert per monitor, and per
    fingerprint of an external source; it resolves when the signal returns or the sender
    says so."""

    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    class Source(models.TextChoices):
        MONITOR = "monitor", "Failsafe monitor"
        ALERTMANAGER = "alertmanager", "Alertmanager"
        PAGERDUTY = "pagerduty", "PagerDuty Events API"

    monitor = models.ForeignKey(
        Monitor, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MONITOR)
    # External alerts: the sender's identity of the alert (Alertmanager's fingerprint,
    # PagerDuty's dedup_key), its labels and annotations (or payload details) as sent.
    fingerprint = models.CharField(max_length=255, blank=True)
    labels = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    system = models.ForeignKey("systems.AISystem", on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(
        "incidents.Incident",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alerts",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField(default=timezone.now)
    onset_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Baseline vs current, the test and its threshold, the false-alarm rate it was set for.
    evidence = models.JSONField(default=dict)
    summary = models.CharField(max_length=300)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["monitor"], condition=Q(status="open"), name="alert_one_open_per_monitor"
            ),
            models.UniqueConstraint(
                fields=["system", "source", "fingerprint"],
                condition=Q(status="open") & ~Q(fingerprint=""),
                name="alert_one_open_per_fingerprint",
            ),
        ]

    def __str__(self):
        return self.summary
