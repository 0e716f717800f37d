"""What /healthz checks. Each check answers (ok, detail) and never raises."""

import asyncio
import time
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from core.models import Heartbeat


def _timed(check):
    started = time.perf_counter()
    try:
        detail = check()
        ok = True
    except Exception as exc:  # noqa: BLE001 - a health check reports every failure
        detail = f"{type(exc).__name__}: {exc}".strip()[:300]
        ok = False
    return {"ok": ok, "ms": round((time.perf_counter() - started) * 1000, 1), "detail": detail}


def check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def check_cache():
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("wrote a key and read back something else")
    cache.delete(key)
    return settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]


async def _channel_roundtrip(layer):
    channel = await layer.new_channel("healthz.")
    await layer.send(channel, {"type": "healthz.ping"})
    message = await layer.receive(channel)
    if message.get("type") != "healthz.ping":
        raise RuntimeError("sent a message and received another")


def check_channel_layer():
    layer = get_channel_layer()

    async def roundtrip():
        await asyncio.wait_for(_channel_roundtrip(layer), timeout=2)

    async_to_sync(roundtrip)()
    return type(layer).__name__


def check_celery():
    beat = Heartbeat.objects.filter(name="celery").first()
    if beat is None:
        raise RuntimeError("no heartbeat yet: are the Celery worker and beat running?")
    age = (timezone.now() - beat.beat_at).total_seconds()
    if age > 3 * settings.CELERY_HEARTBEAT_SECONDS:
        raise RuntimeError(f"last heartbeat {age:.0f} s ago: is the Celery worker or beat down?")
    return f"heartbeat {age:.0f} s ago"


def health_report() -> tuple[int, dict]:
    """The HTTP status and body of /healthz.

    Only a dead database makes the web process useless, so only it answers 503: with
    Redis or Celery down the kill switch still works from the database, and a load
    balancer must not take every instance out of service for that.
    """
    checks = {"database": _timed(check_database)}
    checks["cache"] = _timed(check_cache)
    checks["channel_layer"] = _timed(check_channel_layer)
    checks["celery"] = (
        _timed(check_celery)
        if checks["database"]["ok"]
        else {"ok": False, "ms": 0.0, "detail": "unknown: the database is down"}
    )
    if not checks["database"]["ok"]:
        return 503, {"status": "fail", "checks": checks}
    status = "ok" if all(c["ok"] for c in checks.values()) else "degraded"
    return 200, {"status": status, "checks": checks}
