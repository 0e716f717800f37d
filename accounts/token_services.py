"""Writes of personal tokens: create (the raw token returned once), revoke, and the
last-used stamp."""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import PersonalToken
from core.errors import ServiceError
from core.services import audit_record, snapshot
from core.tokens import token_generate, token_shown_prefix

TOKEN_FIELDS = ["name", "prefix", "scope", "expires_at", "revoked_at"]
# last_used_at is for people deciding which token to revoke: minute precision is plenty,
# and it spares most requests a write.
LAST_USED_PRECISION = timedelta(minutes=1)


class PersonalTokenError(ServiceError):
    pass


class NotYourToken(PersonalTokenError):
    status = 403


@transaction.atomic
def personal_token_create(
    *, user, name: str, scope: str, expires_at: datetime | None = None
) -> tuple[PersonalToken, str]:
    """A new token that acts as `user`. The raw token is returned once and never stored."""
    name = name.strip()
    if not name:
        raise PersonalTokenError("Name the token after what will use it.", "name")
    if scope not in PersonalToken.Scope.values:
        raise PersonalTokenError(
            f"Choose the scope {' or '.join(PersonalToken.Scope.values)}.", "scope"
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise PersonalTokenError("The expiry must be in the future.", "expires_at")
    raw = token_generate(PersonalToken.PREFIX)
    token = PersonalToken.objects.create(
        user=user,
        name=name,
        prefix=token_shown_prefix(raw, PersonalToken.PREFIX),
        token_hash=PersonalToken.hash(raw),
        scope=scope,
        expires_at=expires_at,
    )
    audit_record(
        actor=user,
        verb="personal_token.create",
        target=token,
        after=snapshot(token, TOKEN_FIELDS),
    )
    return token, raw


@transaction.atomic
def personal_token_revoke(*, actor, token: PersonalToken, reason: str = "") -> PersonalToken:
    """Revoke a token of the actor's own: it is refused from the next request on."""
    token = PersonalToken.objects.select_for_update().get(pk=token.pk)
    if token.user_id != getattr(actor, "pk", None):
        raise NotYourToken("Only the person a token belongs to can revoke it.")
    if token.revoked_at is not None:
        return token
    before = snapshot(token, TOKEN_FIELDS)
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        verb="personal_token.revoke",
        target=token,
        before=before,
        after=snapshot(token, TOKEN_FIELDS),
        reason=reason,
    )
    return token


def personal_token_touch(token: PersonalToken) -> None:
    """Stamp when the token was last used, at most once a minute."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        PersonalToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
