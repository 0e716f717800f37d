import datetime
import decimal
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction

from core.models import AuditEntry

# Actor label when no person or token acted: a periodic task, a management command.
PROCESS_ACTOR = "failsafe"


def _json_value(value):
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def snapshot(instance: models.Model, fields: list[str]) -> dict:
    """The named fields of an object as JSON, for an audit entry's before / after."""
    return {name: _json_value(getattr(instance, name)) for name in fields}


def actor_of(actor) -> tuple[Any, str]:
    """(the person or None, the label shown) for a person, a system token or a process."""
    user = actor if isinstance(actor, get_user_model()) else None
    if user is not None:
        # A person acting through a personal token: the token is named beside them.
        token = getattr(user, "acting_with_token", None)
        via = f" via {token.audit_label}" if token is not None else ""
        return user, f"{user.get_username()}{via}"[:150]
    if actor is not None:
        return None, actor.audit_label[:150]
    return None, PROCESS_ACTOR


def audit_record(
    *,
    actor,
    verb: str,
    target: models.Model,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
) -> AuditEntry:
    """Append one entry to the audit log. Call it inside the change's own transaction.

    `actor` is a person, a system token (anything with an `audit_label`), or None for
    Failsafe's own processes.
    """
    user, label = actor_of(actor)
    return AuditEntry.objects.create(
        actor=user,
        actor_label=label,
        verb=verb,
        target_type=ContentType.objects.get_for_model(target),
        target_id=str(target.pk),
        target_repr=str(target)[:200],
        before=_json_value(before) if before is not None else None,
        after=_json_value(after) if after is not None else None,
        reason=reason,
    )


T = TypeVar("T")


def numbered_create(create: Callable[[], T], *, attempts: int = 5) -> T:
    """Run `create` (which takes the next number of something) in its own transaction, and
    again when a concurrent writer took the same number first (the unique index refuses
    it), at most `attempts` times."""
    for _ in range(attempts - 1):
        try:
            with transaction.atomic():
                return create()
        except IntegrityError:
            continue
    with transaction.atomic():
        return create()
