from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from core.append_only import AppendOnlyModel
from incidents import lifecycle, severity


def open_first():
    """0 for an open incident, 1 otherwise: the list sorts on it, and an index is built on
    the very same expression so the sort is an index scan."""
    return models.Case(
        models.When(status__in=lifecycle.Status.open_values(), then=models.Value(0)),
        default=models.Value(1),
        output_field=models.IntegerField(),
    )


class IncidentQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=lifecycle.Status.open_values())

    def open_for(self, *systems):
        """The open incidents of any of these systems: the one spelling of that question.
        A subquery rather than DISTINCT, so callers may lock the rows (select_for_update)."""
        of_systems = self.model.objects.filter(systems__in=systems).values("pk")
        return self.open().filter(pk__in=of_systems).order_by("number")


class Incident(models.Model):
    """One AI incident: what went wrong, how bad it is, where the response stands."""

    Severity = severity.Severity
    Harm = severity.Harm
    Status = lifecycle.Status

    class Source(models.TextChoices):
        PERSON = "person", "declared by a person"
        ALERT = "alert", "opened by an alert"

    # The number people say out loud ("INC-42"); the primary key stays internal.
    number = models.PositiveIntegerField(unique=True)
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    systems = models.ManyToManyField("systems.AISystem", related_name="incidents")
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.PERSON)

    # Triage: the two answers, the severity they give, and an override with its reason.
    # An empty severity means nobody has classified the incident yet.
    harm = models.CharField(max_length=12, choices=Harm.choices, blank=True)
    irreversible_actions = models.BooleanField(null=True, blank=True)
    severity = models.CharField(max_length=4, choices=Severity.choices, blank=True)
    severity_override_reason = models.TextField(blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRIAGE)
    closed_as_benign = models.BooleanField(default=False)

    # People: one lead owns the decisions; a scribe keeps the record; a comms owner talks.
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="led_incidents",
    )
    scribe = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    comms_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    participants = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="incidents_joined"
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
    # When the next status update is owed (None: none is owed, e.g. SEV3 or resolved).
    next_update_due_at = models.DateTimeField(null=True, blank=True)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-declared_at", "-number"]
        indexes = [
            # The incident list: WHERE status IN (open…) ORDER BY declared_at DESC.
            models.Index(fields=["status", "-declared_at"], name="incident_status_declared"),
            models.Index(fields=["severity", "-declared_at"], name="incident_sev_declared"),
            models.Index(fields=["lead", "-declared_at"], name="incident_lead_declared"),
            # The list with no status filter: open ones first, then newest.
            models.Index(
                open_first(),
                models.F("declared_at").desc(),
                models.F("number").desc(),
                name="incident_open_first",
            ),
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

    @property
    def owner_id(self):
        """The lead owns an incident's decisions: the role matrix's owner rule uses this."""
        return self.lead_id

    @property
    def severity_assessed(self) -> str:
        """What the scale gives for the recorded answers ('' before triage)."""
        if not self.harm:
            return ""
        return severity.assess(self.harm, bool(self.irreversible_actions)).severity

    @property
    def is_overridden(self) -> bool:
        return bool(self.severity_override_reason) and self.severity != self.severity_assessed

    @property
    def update_overdue(self) -> bool:
        return bool(self.next_update_due_at and self.next_update_due_at <= timezone.now())

    # The response's clocks. Detection counts from the alert, or from the declaration
    # when a person noticed first.
    @property
    def detected_or_declared_at(self):
        return self.detected_at or self.declared_at

    @property
    def time_to_detect(self):
        if self.onset_at is None:
            return None
        return self.detected_or_declared_at - self.onset_at

    @property
    def time_to_contain(self):
        if self.contained_at is None:
            return None
        return self.contained_at - self.detected_or_declared_at

    @property
    def time_to_resolve(self):
        if self.resolved_at is None:
            return None
        return self.resolved_at - self.detected_or_declared_at


class TimelineEntry(AppendOnlyModel):
    """One line of an incident's record, append-only: what happened, when, and who did it.

    Written by the same service call as the change it records (and its audit entry).
    """

    class Kind(models.TextChoices):
        DECLARED = "declared"
        EDIT = "edit"
        ALERT = "alert"
        SEVERITY = "severity"
        STATUS = "status"
        PEOPLE = "people"
        MODE = "mode"
        DEPLOYMENT = "deployment"
        ROLLBACK = "rollback"
        REVIEW = "review"
        STATUS_UPDATE = "status_update", "status update"
        MESSAGE = "message"
        COMMUNICATION = "communication"
        REMINDER = "reminder"
        POSTMORTEM = "postmortem"
        GATE = "gate", "action gate"

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="timeline")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    text = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["incident", "id"], name="timeline_incident_id")]
        verbose_name_plural = "timeline entries"

    def __str__(self):
        return f"{self.incident.reference} {self.kind} {self.at:%Y-%m-%d %H:%M}"


class Postmortem(models.Model):
    """What happened and what changes, written once the incident is resolved. The
    postmortem's questions (docs/GLOSSARY.md) are its sections; the facts are prefilled."""

    class Cause(models.TextChoices):
        UNKNOWN = "", "not yet known"
        MODEL = "model", "the model"
        PROMPT = "prompt", "the prompt"
        RETRIEVAL = "retrieval", "the retrieval source"
        CONFIG = "config", "the configuration"
        INPUT = "input", "the input distribution"
        OTHER = "other", "something else"

    incident = models.OneToOneField(Incident, on_delete=models.PROTECT, related_name="postmortem")
    produced = models.TextField("What the model produced", blank=True)
    cause = models.CharField(max_length=10, choices=Cause.choices, blank=True)
    root_cause = models.TextField(
        "Root cause (model, prompt, retrieval, configuration, input distribution)", blank=True
    )
    detection = models.TextField("How long it ran before detection, and why", blank=True)
    containment = models.TextField("What contained it, and whether faster was possible", blank=True)
    blast_radius = models.TextField(
        "The blast radius, and which automated actions amplified it", blank=True
    )
    # The incident's facts when the postmortem was opened (times, changes, rollback and its
    # verification, blast-radius counts, review findings), kept as they were.
    facts = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    SECTIONS = ["produced", "cause", "root_cause", "detection", "containment", "blast_radius"]

    def __str__(self):
        return f"postmortem of {self.incident.reference}"


class ActionItem(models.Model):
    """What must change so the same failure cannot happen the same way again."""

    class Category(models.TextChoices):
        DETECTION_GAP = "detection", "detection gap: a new monitor"
        MISSING_ROLLBACK = "rollback", "missing rollback: a versioning requirement"
        BLAST_RADIUS = "blast_radius", "blast radius: a constraint on automatic actions"
        SLOW_CONTAINMENT = "containment", "slow containment: a kill-switch improvement"
        OTHER = "other", "other"

    class Status(models.TextChoices):
        OPEN = "open"
        DONE = "done"

    postmortem = models.ForeignKey(
        Postmortem, on_delete=models.PROTECT, related_name="action_items"
    )
    title = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    due = models.DateField()
    category = models.CharField(max_length=12, choices=Category.choices)
    status = models.CharField(max_length=4, choices=Status.choices, default=Status.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)
    # When the overdue notice went out (once per item, claimed with a conditional UPDATE).
    overdue_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due", "id"]
        indexes = [models.Index(fields=["status", "due"], name="action_item_due")]

    def __str__(self):
        return self.title

    @property
    def overdue(self) -> bool:
        return self.status == self.Status.OPEN and self.due < timezone.localdate()
