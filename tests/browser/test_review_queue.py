"""The review queue in real Chromium, worked with the keyboard alone."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from groundtruth.models import ReviewItem
from groundtruth.services import review_plan_set
from monitoring.models import Event
from tests.browser.conftest import sign_in_on

pytestmark = pytest.mark.browser


def test_a_reviewer_works_five_items_by_keyboard_and_the_accuracy_follows(
    asgi_tabs, system, owner, reviewer
):
    review_plan_set(actor=owner, system=system, per_day=40)
    now = timezone.now()
    for n in range(6):
        event = Event.objects.create(
            system=system,
            client_id=f"refund-{n}",
            ts=now - timedelta(minutes=30 - n),
            label="fraud" if n % 2 else "approve",
            score=0.9 if n % 2 else 0.1,
            text=f"Refund claim {n}: <b>not bold</b>",
            actions=[{"type": "account_hold", "subject": f"cus_{n}"}] if n % 2 else [],
            subject=f"cus_{n}",
        )
        ReviewItem.objects.create(system=system, event=event, probability=0.5, stratum=event.label)

    tab = asgi_tabs()
    sign_in_on(tab, reviewer)
    tab.goto(f"/systems/{system.slug}/")
    expect(tab.get_by_test_id("accuracy-today")).to_have_text("—")

    tab.goto("/review/")
    item = tab.locator("#review-item")
    expect(item).to_contain_text("Output 1 of 6")
    expect(item).to_contain_text("Refund claim 0: <b>not bold</b>")  # shown as text
    keyboard = tab.keyboard
    keyboard.press("j")  # look at the next one, and come back
    expect(item).to_contain_text("Output 2 of 6")
    keyboard.press("k")
    expect(item).to_contain_text("refund-0")
    keyboard.press("c")  # refund-0: correct
    expect(item).to_contain_text("refund-1")
    keyboard.press("e")  # refund-1: wrong, the expected label typed, Enter
    keyboard.type("approve")
    keyboard.press("Enter")
    expect(item).to_contain_text("refund-2")
    keyboard.press("c")
    expect(item).to_contain_text("refund-3")
    keyboard.press("n")
    keyboard.type("a loyal customer")
    keyboard.press("Escape")
    keyboard.press("x")  # refund-3: wrong, with a note
    expect(item).to_contain_text("refund-4")
    keyboard.press("s")  # skip refund-4
    expect(item).to_contain_text("refund-5")
    keyboard.press("c")
    expect(item).to_contain_text("refund-4")  # the skipped one is still waiting
    expect(item).to_contain_text("Output 1 of 1")

    assert ReviewItem.objects.filter(status="done").count() == 5
    wrong = ReviewItem.objects.get(event__client_id="refund-1")
    assert (wrong.correct, wrong.verdicts.get().expected) == (False, "approve")
    assert ReviewItem.objects.get(event__client_id="refund-3").verdicts.get().note == (
        "a loyal customer"
    )
    tab.goto(f"/systems/{system.slug}/")
    expect(tab.get_by_test_id("accuracy-today")).to_have_text("60.0%")
    expect(tab.get_by_test_id("ground-truth")).to_contain_text("2 wrong of 5 reviewed")
