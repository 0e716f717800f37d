"""While PostgreSQL cannot be reached, the API says so with a 503 and Retry-After (which the
SDK honours) in the one error shape, never a 500."""

import json
from datetime import UTC, datetime

import pytest
from django.db import connection

from systems.services import token_issue

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(system):
    return token_issue(actor=None, system=system, name="t", scopes=["events:write"])[1]


@pytest.fixture
def database_unreachable(token):
    """The test's own connection pointed at a port nobody listens on, then restored."""
    port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = "1"
    yield
    connection.close()
    connection.settings_dict["PORT"] = port
    connection.ensure_connection()


def test_events_sent_while_the_database_is_unreachable_are_refused_with_a_503_to_retry(
    client, system, token, database_unreachable
):
    event = {"id": "e-1", "ts": datetime.now(UTC).isoformat(), "output": {"label": "approve"}}
    response = client.post(
        f"/api/v1/systems/{system.slug}/events",
        json.dumps({"events": [event]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["errors"][0]["field"] is None
    assert "database is unavailable" in response.json()["errors"][0]["message"]
