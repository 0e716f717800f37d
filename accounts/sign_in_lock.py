"""Which lock refuses a sign-in, read from axes' own records of failed attempts."""

from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.utils import timezone

from accounts.throttle import SignInLock


def sign_in_lock_of(request, credentials: dict | None) -> SignInLock | None:
    """The account's lock, else the address's, that refuses this sign-in, read from the
    failures axes counts (those within the lock time). The lock ends when the attempt
    that brought the newest failures up to the limit is older than the lock time."""
    cool_off = get_cool_off(request)
    if cool_off is None:
        return None
    limit = get_failure_limit(request, credentials)
    since = timezone.now() - cool_off
    candidates = [
        (SignInLock.ACCOUNT, {"username": get_client_username(request, credentials)}),
        (SignInLock.ADDRESS, {"ip_address": getattr(request, "axes_ip_address", None)}),
    ]
    for locked, match in candidates:
        if None in match.values():
            continue
        attempts = AccessAttempt.objects.filter(attempt_time__gte=since, **match).order_by(
            "-attempt_time"
        )
        failures = 0
        for failures_since_start, attempt_time in attempts.values_list(
            "failures_since_start", "attempt_time"
        ):
            failures += failures_since_start
            if failures >= limit:
                return SignInLock(locked=locked, until=attempt_time + cool_off)
    return None
