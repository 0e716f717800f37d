from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from rest_framework import authentication, exceptions

from systems.models import SystemToken
from systems.selectors import token_authenticate

# last_used_at is for people deciding which token to revoke; minute precision is plenty,
# and it spares the hot path a write on every request.
LAST_USED_PRECISION = timedelta(minutes=1)


class SystemTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer fsk_…`: the AI system itself. request.auth is its token."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0] != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        token = token_authenticate(header[1])
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown token.")
        if not token.is_active:
            raise exceptions.AuthenticationFailed("This token has been revoked.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
            SystemToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return AnonymousUser(), token

    def authenticate_header(self, request):
        return self.keyword
