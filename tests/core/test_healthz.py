import socket
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from core.models import Heartbeat
from core.tasks import heartbeat


def _dead_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.django_db
def test_it_reports_every_part_ok_once_celery_has_beaten(client):
    heartbeat.delay()
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "cache": True,
        "channel_layer": True,
        "celery": True,
    }
    assert body["checks"]["channel_layer"]["detail"] == "RedisChannelLayer"


@pytest.mark.django_db
def test_it_needs_no_login_and_is_never_cached(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_it_says_celery_is_down_when_the_heartbeat_is_stale(client):
    Heartbeat.objects.create(name="celery", beat_at=timezone.now() - timedelta(minutes=10))
    body = client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["checks"]["celery"]["ok"] is False
    assert "600 s ago" in body["checks"]["celery"]["detail"]


@pytest.mark.django_db
def test_it_stays_up_but_degraded_when_redis_is_unreachable(client):
    heartbeat.delay()
    dead = f"redis://127.0.0.1:{_dead_port()}/0"
    with override_settings(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": dead,
                "OPTIONS": {"socket_connect_timeout": 1},
            }
        },
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [dead]},
            }
        },
    ):
        response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["cache"]["ok"] is False
    assert body["checks"]["channel_layer"]["ok"] is False
    assert "ConnectionError" in body["checks"]["cache"]["detail"]


@pytest.mark.django_db(transaction=True)
def test_it_fails_with_503_when_the_database_is_down(client):
    original_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = str(_dead_port())
    try:
        response = client.get("/healthz")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = original_port
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["checks"]["database"]["ok"] is False
    assert "OperationalError" in body["checks"]["database"]["detail"]
    assert body["checks"]["celery"]["ok"] is False
