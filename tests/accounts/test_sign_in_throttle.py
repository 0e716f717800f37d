"""Sign-in throttling: repeated failed passwords for one account, or from one address, are
slowed and then locked for a while, with a message saying until when; the lock is audited."""

import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from accounts.throttle import SignInLock, slow_down_seconds
from core.models import AuditEntry

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def sign_in(username, password, address="127.0.0.1"):
    return Client(REMOTE_ADDR=address).post("/login/", {"username": username, "password": password})


def signed_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/incidents/"


def lock_time_passes():
    """Move every recorded failure back past the lock time, as if it had passed."""
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= timedelta(minutes=16)
        attempt.save()


def test_thirty_wrong_passwords_lock_the_account_and_the_right_one_waits_for_the_lock(
    responder,
):
    answers = [sign_in("rosa", f"guess {n}") for n in range(30)]
    assert [a.status_code for a in answers[:9]] == [200] * 9  # "enter a correct password"
    assert {a.status_code for a in answers[9:]} == {429}
    refused = sign_in("rosa", PASSWORD)
    assert refused.status_code == 429
    page = refused.content.decode()
    assert "Sign in to Failsafe" in page
    assert "Too many failed sign-ins for this account: it is locked until" in page
    assert "(about 15 minutes)" in page
    # Another address does not help: the account itself is locked.
    assert sign_in("rosa", PASSWORD, address="10.0.0.9").status_code == 429
    assert not refused.wsgi_request.user.is_authenticated
    lock_time_passes()
    assert signed_in(sign_in("rosa", PASSWORD))


def test_the_lock_is_audited_once_against_the_account(responder):
    for n in range(30):
        sign_in("rosa", f"guess {n}")
    entry = AuditEntry.objects.get(verb="sign_in.locked")
    assert entry.target_id == str(responder.pk)
    assert entry.actor is None
    assert (entry.after["locked"], entry.after["username"], entry.after["failures"]) == (
        "account",
        "rosa",
        10,
    )
    assert "locked until" in entry.reason


def test_one_address_trying_many_accounts_is_locked_too(responder):
    for n in range(10):
        sign_in(f"nobody{n}", "guess")
    refused = sign_in("rosa", PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed sign-ins from this address" in refused.content.decode()
    entry = AuditEntry.objects.get(verb="sign_in.locked")
    assert (entry.after["locked"], entry.after["ip_address"]) == ("address", "127.0.0.1")
    # The account itself is not locked: from elsewhere its person signs in.
    assert signed_in(sign_in("rosa", PASSWORD, address="10.0.0.9"))


def test_signing_in_as_oneself_does_not_wipe_the_count_against_another_account(responder, viewer):
    for n in range(9):
        sign_in("rosa", f"guess {n}")
    assert signed_in(sign_in("vera", PASSWORD))
    assert sign_in("rosa", "guess 9").status_code == 429
    assert sign_in("rosa", PASSWORD, address="10.0.0.9").status_code == 429


def test_failures_older_than_the_lock_time_no_longer_count(responder):
    for n in range(9):
        sign_in("rosa", f"guess {n}")
    lock_time_passes()
    assert sign_in("rosa", "guess 9").status_code == 200
    assert signed_in(sign_in("rosa", PASSWORD))
    assert not AuditEntry.objects.filter(verb="sign_in.locked").exists()


def test_failures_past_half_the_limit_are_answered_ever_more_slowly(responder, settings):
    settings.SIGN_IN_SLOW_DOWN_SECONDS = 0.1
    for n in range(8):
        sign_in("rosa", f"guess {n}")
    started = time.monotonic()
    assert sign_in("rosa", "guess 9").status_code == 200
    assert time.monotonic() - started >= 0.4  # the 9th failure: 4 steps past the 5th


def test_the_slow_down_grows_by_a_step_from_half_the_limit_and_is_capped():
    delays = [slow_down_seconds(n, limit=10, step=1.0, cap=3.0) for n in range(1, 11)]
    assert delays == [0, 0, 0, 0, 0, 1, 2, 3, 3, 3]
    assert slow_down_seconds(9, limit=10, step=0, cap=3.0) == 0


def test_the_lock_message_says_until_when_and_how_long():
    now = timezone.now().replace(hour=14, minute=20, second=0, microsecond=0)
    lock = SignInLock(locked=SignInLock.ACCOUNT, until=now + timedelta(minutes=14, seconds=30))
    assert lock.message(now).startswith(
        "Too many failed sign-ins for this account: it is locked until 14:34 UTC "
        "(about 15 minutes)."
    )
