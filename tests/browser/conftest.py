"""Playwright driving Debian's Chromium against a live Failsafe server."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
# still plain synchronous calls, so Django's async-safety guard does not apply.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# Without these, Chromium phones home at start and the closed network refuses it.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"No Chromium at {CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def console_errors():
    """What the page logged as errors. A test that expects one takes it off this list."""
    return []


def _tab(browser, base_url, console_errors, contexts):
    context = browser.new_context(base_url=base_url, timezone_id="Europe/Berlin")
    contexts.append(context)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    tab.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: console_errors.append(str(e)))
    return tab


@pytest.fixture
def page(browser, live_server, console_errors):
    """A fresh browser tab on the live server. Any console error (a CSP violation, a
    failed request, a script error) left unexpected fails the test."""
    contexts = []
    yield _tab(browser, live_server.url, console_errors, contexts)
    contexts[0].close()
    assert console_errors == [], console_errors


@pytest.fixture
def asgi_tabs(browser, _asgi_server, transactional_db, console_errors):
    """Open tabs, each its own browser session, on the ASGI server: `asgi_tabs()`."""
    contexts = []
    yield lambda: _tab(browser, _asgi_server, console_errors, contexts)
    for context in contexts:
        context.close()
    assert console_errors == [], console_errors


def sign_in_on(tab, user, password="correct horse battery staple"):
    tab.goto("/login/")
    tab.get_by_label("Username").fill(user.username)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url("**/incidents/**")
    return tab


@pytest.fixture
def sign_in(page):
    return lambda user, password="correct horse battery staple": sign_in_on(page, user, password)
