from rest_framework import authentication, exceptions

from accounts.models import PersonalToken
from accounts.token_selectors import personal_token_for
from accounts.token_services import personal_token_touch


class PersonalTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer fsp_…`: a person's script, acting as that person.

    request.user is the person, so every role check applies to their role as it is now;
    request.auth is the PersonalToken. Any other bearer token (a system's `fsk_…`) is left
    to the next authentication class.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if len(header) != 2 or header[0] != self.keyword:
            return None
        if not header[1].startswith(PersonalToken.PREFIX):
            return None
        token = personal_token_for(header[1])
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown token.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This token has been revoked.")
        if token.is_expired:
            raise exceptions.AuthenticationFailed(
                f"This token expired at {token.expires_at:%Y-%m-%d %H:%M} UTC."
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The person this token acts for is inactive.")
        if not token.allows_method(request.method):
            raise exceptions.PermissionDenied(
                f"This token is read-only: it may only make GET requests, not {request.method}. "
                "Create a read and write token for actions."
            )
        personal_token_touch(token)
        user = token.user
        # Audit entries name the token beside the person (core.services.actor_of).
        user.acting_with_token = token
        return user, token

    def authenticate_header(self, request):
        return self.keyword
