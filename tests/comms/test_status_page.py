"""The public status page and its Atom feed: no sign-in, published words only, newest
first, and nothing of an incident that was not communicated."""

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.utils import timezone

from comms.models import Communication
from comms.services.communications import (
    communication_approve,
    communication_publish,
    communication_save,
)
from incidents.services.incident import incident_status_change
from tests.comms.builders import PARTS

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"


def _atom(body):
    return ET.fromstring(body)  # noqa: S314 - our own server's feed, not untrusted input


def _publish(incident, lead, at=None, **changes):
    version = communication_save(actor=lead, incident=incident, parts={**PARTS, **changes})
    communication_approve(actor=lead, incident=incident, version_number=version.number)
    return communication_publish(
        actor=lead, incident=incident, version_number=version.number, now=at
    )


@pytest.fixture
def communicated(make_incident, lead):
    """A SEV1 with two published updates, an unpublished draft, and a secret neighbour."""
    incident = make_incident("SEV1", title="INTERNAL: prompt v13 over-flags fraud")
    earlier = timezone.now() - timedelta(minutes=20)
    _publish(incident, lead, at=earlier, headline="Refund requests wrongly held")
    _publish(incident, lead, headline="Refund holds lifted", done="Every hold was lifted.")
    communication_save(
        actor=lead, incident=incident, parts={**PARTS, "headline": "DRAFT not approved yet"}
    )
    make_incident("SEV1", title="SECRET: uncommunicated data exposure")
    return incident


def test_a_signed_out_visitor_reads_the_status_page_and_the_feed(client):
    page = client.get("/status/")
    assert page.status_code == 200
    assert b"No incidents to report" in page.content
    feed = client.get("/status/feed.atom")
    assert feed.status_code == 200
    assert feed["Content-Type"].startswith("application/atom+xml")


def test_the_status_page_shows_published_updates_newest_first(client, communicated):
    html = client.get("/status/").content.decode()
    assert "Current incidents" in html
    assert html.index("Refund holds lifted") < html.index("Refund requests wrongly held")
    assert "Every hold was lifted." in html
    for code in Communication.objects.filter(published_at__isnull=False).values_list(
        "code", flat=True
    ):
        assert f'id="update-{code}"' in html


def test_nothing_unpublished_reaches_the_status_page_or_the_feed(client, communicated):
    for url in ("/status/", "/status/feed.atom"):
        body = client.get(url).content.decode()
        assert "INTERNAL" not in body  # an incident's title is internal
        assert "SECRET" not in body  # an incident never communicated
        assert "DRAFT not approved yet" not in body
        assert f"INC-{communicated.number}" not in body
        assert "/incidents/" not in body


def test_the_feed_has_an_entry_per_published_update_newest_first(client, communicated):
    root = _atom(client.get("/status/feed.atom").content)
    entries = root.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}title").text for e in entries] == [
        "Refund holds lifted",
        "Refund requests wrongly held",
    ]
    first = entries[0]
    assert first.find(f"{ATOM}id").text.startswith("urn:uuid:")
    assert first.find(f"{ATOM}link").get("href").startswith("http://testserver/status/#update-")
    assert "What we have done:<br>Every hold was lifted." in first.find(f"{ATOM}summary").text


def test_a_resolved_incident_moves_to_recent_and_old_ones_leave(client, communicated, lead):
    for status in ("contained", "resolved"):
        incident_status_change(actor=lead, incident=communicated, status=status)
    html = client.get("/status/").content.decode()
    assert "Recent incidents" in html and "Current incidents" not in html
    assert "resolved</span>" in html
    long_ago = timezone.now() - timedelta(days=200)
    Communication.objects.filter(incident=communicated).update(published_at=long_ago)
    assert b"Refund holds lifted" not in client.get("/status/").content


def test_hostile_published_text_is_escaped_on_the_page_and_in_the_feed(client, sev1, lead):
    hostile = '<script>alert("x")</script>'
    _publish(sev1, lead, headline=hostile, happened="<img src=x onerror=alert(1)>")
    page = client.get("/status/").content.decode()
    assert "<script>alert(" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page
    feed = client.get("/status/feed.atom").content.decode()
    assert "<script>" not in feed and "<img" not in feed
    entry = _atom(feed).find(f"{ATOM}entry")
    assert entry.find(f"{ATOM}title").text == hostile  # text, as the reader shows it
    # The summary is HTML for the reader: escaped, so the tag is shown, never run.
    assert "&lt;img src=x onerror=alert(1)&gt;" in entry.find(f"{ATOM}summary").text
