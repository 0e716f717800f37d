"""Break-glass sign-in: a one-time link for a superuser, made by `manage.py break_glass`.

For when the identity provider is down and password sign-in is switched off: whoever can
run manage.py on the server can let a superuser in. The link works once (signing in
changes the person's last sign-in time, which the link is made from) and for
LINK_MINUTES; it stops working if the person stops being an active superuser.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.urls import reverse
from django.utils.encoding import force_bytes, force_str
from django.utils.http import base36_to_int, urlsafe_base64_decode, urlsafe_base64_encode

LINK_MINUTES = 15


class BreakGlassLinks(PasswordResetTokenGenerator):
    key_salt = "accounts.break_glass.BreakGlassLinks"

    def _make_hash_value(self, user, timestamp):
        state = f"{user.is_superuser}{user.is_active}"
        return super()._make_hash_value(user, timestamp) + state

    def check_token(self, user, token):
        if not super().check_token(user, token):
            return False
        made_at = base36_to_int(token.split("-")[0])
        return self._num_seconds(self._now()) - made_at <= LINK_MINUTES * 60


links = BreakGlassLinks()


def break_glass_path(person) -> str:
    """The path of a fresh one-time sign-in link for this superuser."""
    uid = urlsafe_base64_encode(force_bytes(person.pk))
    return reverse("break-glass", kwargs={"uid": uid, "token": links.make_token(person)})


def break_glass_person(uid: str, token: str):
    """The superuser the link lets in, or None when it is wrong, used or expired."""
    try:
        pk = force_str(urlsafe_base64_decode(uid))
        person = get_user_model().objects.get(pk=pk, is_superuser=True, is_active=True)
    except (ValueError, OverflowError, get_user_model().DoesNotExist):
        return None
    return person if links.check_token(person, token) else None
