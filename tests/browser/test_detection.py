"""Detection in real Chromium: the simulator shifts a system and the incident opens itself."""

import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection
from playwright.sync_api import expect

from incidents.models import Incident
from monitoring.models import Event
from monitoring.services.evaluation import monitors_evaluate
from monitoring.services.monitors import monitor_create
from rollbacks.services import version_add, version_deploy
from tests.browser.conftest import sign_in_on

pytestmark = pytest.mark.browser

MODEL = {"provider": "acme", "name": "refunds", "version_id": "refunds-2026-10-01"}
NEW_MODEL = {"provider": "acme", "name": "refunds", "version_id": "refunds-2026-11-27"}


def _until(condition, timeout: float, every: float = 0.5, then=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if then is not None:
            then()
        if condition():
            return True
        time.sleep(every)
    return False


def _simulate(**options):
    try:
        call_command("simulate", **options)
    finally:
        connection.close()  # its thread's own connection, or the test database stays busy


def test_a_shift_opens_an_incident_nobody_declared_with_its_chart_and_version_split(
    asgi_tabs, _asgi_server, system, owner, viewer, settings, tmp_path
):
    settings.VAR_DIR = tmp_path
    version_deploy(
        actor=owner,
        version=version_add(actor=owner, system=system, surface="model", content=MODEL),
        reason="Launch",
    )
    monitor_create(
        actor=owner, system=system, name="Fraud share", kind="category_share", target="fraud"
    )
    tab = asgi_tabs()
    sign_in_on(tab, viewer)
    tab.goto("/incidents/")
    expect(tab.get_by_text("No incidents match.")).to_be_visible()

    # The model update that over-flags fraud goes out; the simulated system serves it.
    version_deploy(
        actor=owner,
        version=version_add(actor=owner, system=system, surface="model", content=NEW_MODEL),
        reason="Routine model upgrade",
    )
    simulated = threading.Thread(
        target=_simulate,
        kwargs={
            "system": system.slug,
            "url": _asgi_server,
            "rate": 40,
            "bad": "model:2",
            "backfill_hours": 2,
            "backfill_rate": 2,
            "duration": 25,
        },
        daemon=True,
    )
    simulated.start()
    assert _until(lambda: Event.objects.filter(system=system).count() >= 14_000, 60)
    opened = _until(
        lambda: Incident.objects.filter(source=Incident.Source.ALERT).exists(),
        35,
        then=monitors_evaluate,  # what beat runs every two seconds
    )
    assert opened, "no incident opened within 35 s of the shift"

    tab.goto("/incidents/")
    row = tab.locator("tbody tr", has_text="Fraud share shifted on")
    expect(row).to_contain_text("SEV3")
    row.get_by_role("link").first.click()
    detection = tab.get_by_test_id("detection")
    expect(detection).to_contain_text("Fraud share rose to")
    expect(detection.locator("svg polyline.signal").first).to_be_visible()
    expect(detection.locator("svg polygon.band").first).to_be_attached()
    split = detection.locator("table.split")
    expect(split).to_contain_text("v1")
    expect(split).to_contain_text("v2")
    simulated.join(timeout=30)
    assert not simulated.is_alive()
