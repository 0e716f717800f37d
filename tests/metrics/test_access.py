"""Only a scraper holding the scrape token reads /metrics; without one configured, it is off."""

import pytest

from tests.metrics.conftest import TOKEN

pytestmark = pytest.mark.django_db


@pytest.fixture
def token_set(settings):
    settings.METRICS_TOKEN = TOKEN


def test_metrics_are_off_and_say_how_to_turn_them_on_without_a_token_configured(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything")
    assert response.status_code == 404
    assert "set METRICS_TOKEN" in response.content.decode()


def test_the_scrape_token_reads_the_metrics(client, token_set):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "failsafe_open_incidents" in response.content.decode()


@pytest.mark.parametrize(
    "authorization",
    ["", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", TOKEN, f"Basic {TOKEN}", "Bearer "],
)
def test_a_missing_or_wrong_token_is_refused(client, token_set, authorization):
    response = client.get("/metrics", HTTP_AUTHORIZATION=authorization)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "failsafe_" not in response.content.decode()


def test_a_signed_in_admin_without_the_token_is_refused_not_sent_to_sign_in(
    client_for, admin_user, token_set
):
    response = client_for(admin_user).get("/metrics")
    assert response.status_code == 401


def test_the_scrape_is_read_only(client, token_set):
    response = client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 405
