"""How accounts hears django-axes and Django's sign-in signals: a new sign-in lock is
audited, and repeated failures are answered ever more slowly. Connected by importing this
module in `AccountsConfig.ready()`; importing axes' signals first connects axes' own
receivers first, so the failure is counted before it is slowed down."""

import time

from axes.helpers import get_failure_limit
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver
from django.utils import timezone

from accounts.sign_in_lock import sign_in_lock_of
from accounts.throttle import slow_down_seconds
from core.services import audit_record


def _counted_now(request) -> bool:
    """Axes counted this very attempt; an attempt refused by a standing lock is not."""
    return request is not None and getattr(request, "axes_failures_since_start", None) is not None


@receiver(user_locked_out)
def sign_in_locked(sender, request, username, ip_address, **_):
    """The failure that locks an account or an address is audited, once per lock."""
    if not _counted_now(request):
        return
    credentials = getattr(request, "axes_credentials", None)
    lock = sign_in_lock_of(request, credentials)
    user = get_user_model().objects.filter(username=username).first() if username else None
    target = user or AccessAttempt.objects.filter(username=username, ip_address=ip_address).first()
    if target is None:
        return
    audit_record(
        actor=None,
        verb="sign_in.locked",
        target=target,
        after={
            "locked": lock.locked if lock else None,
            "username": username,
            "ip_address": ip_address,
            "failures": request.axes_failures_since_start,
            "until": lock.until if lock else None,
        },
        reason=lock.message(timezone.now()) if lock else "",
    )


@receiver(user_login_failed)
def sign_in_slow_down(sender, credentials, request=None, **_):
    """Wait before answering a repeated failure (docs/SIGN_IN.md); a lock answers at once."""
    if not _counted_now(request) or request.axes_locked_out:
        return
    delay = slow_down_seconds(
        request.axes_failures_since_start,
        limit=get_failure_limit(request, credentials),
        step=settings.SIGN_IN_SLOW_DOWN_SECONDS,
        cap=settings.SIGN_IN_SLOW_DOWN_MAX_SECONDS,
    )
    if delay:
        time.sleep(delay)
