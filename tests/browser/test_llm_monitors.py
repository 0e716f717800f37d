"""A responder adds a score-share monitor in real Chromium, and its card says what it counts
over the scored outputs of the last hour."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from monitoring.models import Monitor
from monitoring.services.ingest import events_ingest
from tests.browser.conftest import sign_in_on
from tests.factories import AISystemFactory

pytestmark = pytest.mark.browser


def test_a_responder_adds_a_score_share_and_its_card_reads_as_a_share_of_scored_outputs(
    page, responder
):
    system = AISystemFactory(slug="support-reply", name="Support reply drafter")
    start = datetime.now(UTC) - timedelta(minutes=20)
    events = [
        {
            "id": f"reply-{n}",
            "ts": (start + timedelta(seconds=n)).isoformat(),
            # 1 in 25 judged replies is unfaithful; every third reply is not judged at all.
            **({} if n % 3 == 0 else {"scores": {"faithfulness": 0.3 if n % 25 == 1 else 0.9}}),
        }
        for n in range(900)
    ]
    sign_in_on(page, responder)
    page.goto("/systems/support-reply/monitors/")
    page.get_by_label("Name").fill("Faithfulness below 0.5")
    page.get_by_label("Kind").select_option("score_share")
    page.get_by_label("Watch").fill("faithfulness")
    page.get_by_label("Threshold (score shares only)").fill("0.5")
    page.get_by_label("Count outputs whose score is").select_option(label="below the threshold")
    page.get_by_role("button", name="Add monitor").click()
    expect(page.get_by_text("added: it learns its baseline first")).to_be_visible()
    monitor = Monitor.objects.get(system=system)
    assert (monitor.kind, monitor.target, monitor.threshold, monitor.below) == (
        "score_share",
        "faithfulness",
        0.5,
        True,
    )

    events_ingest(system=system, payload={"events": events})
    page.reload()
    summary = page.get_by_test_id("monitor-summary")
    scored = [e for e in events if "scores" in e]
    low = sum(e["scores"]["faithfulness"] < 0.5 for e in scored)
    expect(summary).to_have_text(
        f"faithfulness below 0.5: {low / len(scored):.1%} of scored outputs"
    )
    expect(page.locator("svg polyline.signal")).to_have_count(1)
