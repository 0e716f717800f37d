"""Reads of personal tokens."""

from accounts.models import PersonalToken


def personal_tokens_of(user):
    """A person's own tokens, the active ones first, newest first."""
    return PersonalToken.objects.filter(user=user).order_by("revoked_at", "-created_at")


def personal_token_for(raw: str) -> PersonalToken | None:
    """The token a raw bearer string names, revoked or expired or not; None when it names
    none. Only the hash is compared: the raw token is never stored."""
    if not raw.startswith(PersonalToken.PREFIX):
        return None
    return (
        PersonalToken.objects.select_related("user")
        .filter(token_hash=PersonalToken.hash(raw))
        .first()
    )
