import contextlib
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeGuard

from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.utils import timezone
from rest_framework import authentication, exceptions

from systems.mode_feed import SERVICE_ERRORS
from systems.models import SystemToken
from systems.selectors import token_authenticate

# last_used_at is for people deciding which token to revoke; minute precision is plenty,
# and it spares the hot path a write on every request.
LAST_USED_PRECISION = timedelta(minutes=1)
# How long the hot path trusts a cached token card (revoking deletes it at once). On a
# cache hit last_used_at is not written, so it is as precise as this.
TOKEN_CACHE_SECONDS = 300


def token_key(token_hash: str) -> str:
    return f"token:{token_hash}"


def bearer(request) -> str | None:
    """The raw token of an `Authorization: Bearer …` header, or None."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, raw = header.partition(" ")
    if scheme != "Bearer":
        return None
    return raw.strip() or None


def token_card(token: SystemToken) -> dict:
    """What the hot path needs to know of a token, small enough to cache."""
    return {
        "system": token.system.slug,
        "system_id": token.system_id,
        "prefix": token.prefix,
        "scopes": token.scopes,
        "active": token.is_active,
    }


def token_card_for(raw: str) -> dict | None:
    """A token's card from the cache (no query) or, on a miss, the database. Revoking a
    token deletes its card, so a revoked token is refused at once."""
    if not raw.startswith(SystemToken.PREFIX):
        return None
    key = token_key(SystemToken.hash(raw))
    try:
        card = cache.get(key)
    except SERVICE_ERRORS:  # Redis down: the database answers
        card = None
    if card is not None:
        return card
    token = token_authenticate(raw)
    if token is None:
        return None
    card = token_card(token)
    touch(token)
    with contextlib.suppress(*SERVICE_ERRORS):  # the cache only saves work
        cache.set(key, card, TOKEN_CACHE_SECONDS)
    return card


def card_allows(card: dict | None, *, slug: str, scope: str) -> TypeGuard[dict]:
    """The hot paths' question: may this card act on `slug` with `scope`?"""
    return card_refusal(card, slug=slug, scope=scope) is None


def card_refusal(card: dict | None, *, slug: str, scope: str) -> int | None:
    """The one check of a token card: None when it may act on `slug` with `scope`, else
    the status to refuse with (401 unknown or revoked, 403 another system or scope)."""
    if card is None or not card["active"]:
        return 401
    if card["system"] != slug or scope not in card["scopes"]:
        return 403
    return None


def touch(token: SystemToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
        SystemToken.objects.filter(pk=token.pk).update(last_used_at=now)


def forget_token(token: SystemToken) -> None:
    # With Redis down there is no card to forget: the database answers until it is back.
    with contextlib.suppress(*SERVICE_ERRORS):
        cache.delete(token_key(token.token_hash))


@dataclass(frozen=True)
class TokenCard:
    """A system token as its cached card describes it: enough to authorize a request on
    the hot path (an acknowledgement, a mode read) without loading the token row."""

    system_slug: str
    system_id: int
    prefix: str
    scopes: tuple[str, ...]
    is_active: bool

    is_system_token = True

    @property
    def audit_label(self) -> str:
        return f"token {self.prefix}… of {self.system_slug}"

    def allows(self, scope: str, system_slug: str | None) -> bool:
        return self.is_active and system_slug == self.system_slug and scope in self.scopes


class SystemTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer fsk_…`: the AI system itself. request.auth is its TokenCard,
    from the cache while warm, so every running client's calls cost no token query."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0] != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        card = token_card_for(header[1])
        if card is None:
            raise exceptions.AuthenticationFailed("Unknown token.")
        if not card["active"]:
            raise exceptions.AuthenticationFailed("This token has been revoked.")
        return AnonymousUser(), TokenCard(
            system_slug=card["system"],
            system_id=card["system_id"],
            prefix=card["prefix"],
            scopes=tuple(card["scopes"]),
            is_active=card["active"],
        )

    def authenticate_header(self, request):
        return self.keyword
