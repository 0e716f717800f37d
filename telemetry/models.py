"""What telemetry keeps of its own: how much each system's OpenTelemetry exporters sent."""

from django.db import models


class OtlpIntake(models.Model):
    """One system's OTLP intake: spans stored as events, resent, skipped (not a
    generative-AI call) or rejected, late scores added, and the last rejection's reason.

    Counted with F() in the transaction that stores the events
    (`telemetry.services`), so the counts match what was stored."""

    system = models.OneToOneField(
        "systems.AISystem", on_delete=models.CASCADE, related_name="otlp_intake"
    )
    spans_accepted = models.BigIntegerField(default=0)
    spans_duplicate = models.BigIntegerField(default=0)
    spans_skipped = models.BigIntegerField(default=0)
    spans_rejected = models.BigIntegerField(default=0)
    scores_added = models.BigIntegerField(default=0)
    log_records_skipped = models.BigIntegerField(default=0)
    log_records_rejected = models.BigIntegerField(default=0)
    # Whole requests refused (400, 403, 413): nothing of them was stored.
    requests_refused = models.BigIntegerField(default=0)
    received_at = models.DateTimeField(null=True, blank=True)
    rejection = models.CharField(max_length=500, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"OTLP intake of {self.system}"
