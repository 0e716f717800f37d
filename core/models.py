from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from core.append_only import AppendOnlyError, AppendOnlyModel

__all__ = ["AppendOnlyError", "AuditEntry", "Heartbeat"]


class AuditEntry(AppendOnlyModel):
    """One state change anywhere in Failsafe: who, what, to which object, before and after.

    Written by the same service call (and transaction) as the change it records. The
    database refuses UPDATE and DELETE on this table too (see migration 0002).
    """

    created_at = models.DateTimeField(default=timezone.now)
    # PROTECT: a person who has acted is deactivated, never deleted, so history holds.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Who acted, as shown: a username, a system token, or the process that did it.
    actor_label = models.CharField(max_length=150)
    verb = models.CharField(max_length=64)
    target_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    target_id = models.CharField(max_length=64)
    target_repr = models.CharField(max_length=200)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            # The per-object history: WHERE target_type=? AND target_id=? ORDER BY created_at.
            models.Index(fields=["target_type", "target_id", "-created_at"], name="audit_target"),
            # The whole log, newest first, on the audit page.
            models.Index(fields=["-created_at"], name="audit_created"),
        ]

    def __str__(self):
        return (
            f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.verb} {self.target_repr}"
        )

    def changes(self) -> list[tuple[str, object, object]]:
        """(field, before, after) for each field that differs, for display."""
        before, after = self.before or {}, self.after or {}
        keys = list(dict.fromkeys([*before, *after]))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


class Heartbeat(models.Model):
    """Last time a background process proved it runs (Celery beat → worker → database)."""

    name = models.CharField(max_length=32, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} at {self.beat_at:%H:%M:%S}"
