"""The switch for password sign-in (`PASSWORD_LOGIN`), as an authentication backend.

Listed before the backends that check passwords, it refuses every password while the
switch is off: on the login page, in /admin/, anywhere `authenticate()` gets one. Single
sign-on and the break-glass link sign people in without a password, so they still work.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied

SWITCHED_OFF_MESSAGE = "Password sign-in is switched off here: sign in with your identity provider."


class PasswordSignInSwitch:
    """Not a BaseBackend: with no get_user it is never the backend a session is
    remembered by (Django picks the first backend that has one)."""

    def authenticate(self, request, password=None, **credentials):
        if password is not None and not settings.PASSWORD_LOGIN:
            raise PermissionDenied(SWITCHED_OFF_MESSAGE)
        return None
