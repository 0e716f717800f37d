"""The OTLP intake's counts on a system's monitors page."""

import pytest

from tests.telemetry.otlp_bodies import TRACES, chat, post_json, span, traces_body

pytestmark = pytest.mark.django_db

PAGE = "/systems/refund-classifier/monitors/"


@pytest.fixture
def received(client, token):
    body = traces_body(chat(), chat(), span(http__method="GET"))
    assert post_json(client, TRACES, body, token).status_code == 200
    post_json(
        client, TRACES, {"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "x"}]}]}]}, token
    )
    client.logout()


def test_the_systems_owner_a_viewer_sees_the_intake_counts(client_for, owner, received):
    page = client_for(owner).get(PAGE)
    assert page.status_code == 200
    text = page.content.decode()
    assert "OpenTelemetry intake" in text
    assert "<dt>Spans stored as events</dt><dd>2</dd>" in text
    assert "<dt>Skipped (not generative-AI calls)</dt><dd>1</dd>" in text
    assert "<dt>Requests refused whole</dt><dd>1</dd>" in text
    assert "spans[0].spanId: not 16 hex characters." in text


def test_before_anything_is_received_the_panel_says_where_to_send(client_for, owner, system):
    text = client_for(owner).get(PAGE).content.decode()
    assert "Nothing received yet." in text


def test_a_colleague_sees_the_monitors_but_not_the_owners_panels(client_for, viewer, received):
    page = client_for(viewer).get(PAGE)
    assert page.status_code == 200
    assert "OpenTelemetry intake" not in page.content.decode()


def test_an_outsider_is_refused_the_page(client_for, outsider, received):
    assert client_for(outsider).get(PAGE).status_code == 403
