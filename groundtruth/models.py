"""Ground truth: which outputs people review, and what they found.

These models moved here from monitoring and keep the tables they had there
(`Meta.db_table`): the move changed no table, so existing data stays where it is.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ReviewPlan(models.Model):
    """How a system's outputs are sampled for human review (ground truth)."""

    system = models.OneToOneField(
        "systems.AISystem", on_delete=models.CASCADE, related_name="review_plan"
    )
    active = models.BooleanField(default=True)
    per_day = models.PositiveIntegerField(
        default=40, help_text="Outputs to review a day: the queue's daily target."
    )
    # Rare or high-risk labels are reviewed more: {"fraud": 10} samples fraud flags ten
    # times as often; accuracy is re-weighted so this does not bias it.
    oversample = models.JSONField(default=dict, blank=True)
    double_share = models.FloatField(
        default=0.05, help_text="Share of sampled outputs that two reviewers judge, blind."
    )
    baseline_days = models.PositiveSmallIntegerField(
        default=28, help_text="The accuracy baseline: reviews of the previous … days."
    )
    # The last event considered for sampling (events are numbered in arrival order).
    sampled_through = models.BigIntegerField(default=0)
    sampled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "monitoring_reviewplan"

    def __str__(self):
        return f"review plan of {self.system.slug}"


class ReviewItem(models.Model):
    """A sampled output awaiting (or having) a human verdict."""

    class Status(models.TextChoices):
        OPEN = "open", "awaiting review"
        DISPUTED = "disputed", "reviewers disagree: needs a third look"
        DONE = "done", "reviewed"

    system = models.ForeignKey("systems.AISystem", on_delete=models.CASCADE, related_name="+")
    # Never the same output twice. No database constraint: a partitioned table's keys
    # include the time; the item goes when its event's day is dropped
    # (`services.review_items_expire`).
    event = models.OneToOneField(
        "monitoring.Event",
        on_delete=models.CASCADE,
        related_name="review_item",
        db_constraint=False,
    )
    # Set for the extra sample of an open incident's window ("review the blast radius").
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    probability = models.FloatField(help_text="The chance with which it was sampled.")
    stratum = models.CharField(max_length=100, blank=True)
    reviews_needed = models.PositiveSmallIntegerField(default=1)
    sampled_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    correct = models.BooleanField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "monitoring_reviewitem"
        ordering = ["sampled_at", "id"]
        indexes = [models.Index(fields=["status", "system", "sampled_at"], name="review_queue")]

    def __str__(self):
        return f"review of {self.event.client_id}"


class Verdict(models.Model):
    """One reviewer's judgement of one item. Reviewers of a doubled item never see each
    other's verdict before giving their own."""

    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="verdicts")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    correct = models.BooleanField()
    expected = models.CharField(max_length=500, blank=True, help_text="The right label or output.")
    note = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "monitoring_verdict"
        ordering = ["at"]
        constraints = [
            models.UniqueConstraint(fields=["item", "reviewer"], name="verdict_one_per_reviewer")
        ]

    def __str__(self):
        return f"{'correct' if self.correct else 'incorrect'} by {self.reviewer_id}"
