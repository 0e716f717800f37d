"""In Chromium, on the ASGI server: a locked account's person is told until when."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _try(tab, username, password):
    tab.get_by_label("Username").fill(username)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()


def test_after_repeated_wrong_passwords_the_right_one_is_refused_until_the_lock_ends(
    asgi_tabs, responder, console_errors
):
    tab = asgi_tabs()
    tab.goto("/login/")
    for n in range(12):
        _try(tab, responder.username, f"guess {n}")
        expect(tab.get_by_role("alert")).to_be_visible()
    _try(tab, responder.username, "correct horse battery staple")

    alert = tab.get_by_role("alert")
    expect(alert).to_contain_text("Too many failed sign-ins for this account")
    expect(alert).to_contain_text(re.compile(r"locked until \d\d:\d\d UTC \(about 15 minutes\)"))
    expect(tab).to_have_url(re.compile(r"/login/$"))
    # The browser reports each 429 answer as a failed load; that is the lock working.
    console_errors[:] = [e for e in console_errors if "429" not in e]
