from collections import defaultdict

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q

from core.models import AuditEntry


def audit_entries_for(*targets: models.Model, limit: int = 50) -> list[AuditEntry]:
    """The audit history of one or more objects, newest first."""
    ids_by_type = defaultdict(list)
    for target in targets:
        ids_by_type[ContentType.objects.get_for_model(target)].append(str(target.pk))
    query = Q()
    for content_type, ids in ids_by_type.items():
        query |= Q(target_type=content_type, target_id__in=ids)
    return list(AuditEntry.objects.filter(query)[:limit])


def audit_entries(*, verb_prefix: str = "", limit: int = 200) -> list[AuditEntry]:
    """The whole log, newest first, optionally only verbs starting with `verb_prefix`."""
    entries = AuditEntry.objects.all()
    if verb_prefix:
        entries = entries.filter(verb__startswith=verb_prefix)
    return list(entries[:limit])


def audit_entries_about(content_type: ContentType, object_id: str, limit: int = 500):
    """One object's history by its key, whether or not the object still exists."""
    entries = AuditEntry.objects.filter(target_type=content_type, target_id=object_id)
    return list(entries[:limit])
