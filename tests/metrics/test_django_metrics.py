"""django-prometheus' HTTP and database metrics, through the real ASGI server, and its
database backend keeping what Failsafe relies on: psycopg's pool and COPY."""

import contextlib
import urllib.error
import urllib.request

import pytest
from django.db import connections
from django.db.utils import load_backend
from prometheus_client import REGISTRY

from tests.metrics.conftest import TOKEN, samples_of


def _get(url: str, **headers) -> str:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as answer:
        return answer.read().decode()


def test_http_and_database_metrics_are_served_beside_failsafes(asgi_server, settings):
    settings.METRICS_TOKEN = TOKEN
    # Unhealthy (a 503) is an answer too: it is counted all the same.
    with contextlib.suppress(urllib.error.HTTPError):
        _get(f"{asgi_server}/healthz")

    samples = samples_of(_get(f"{asgi_server}/metrics", Authorization=f"Bearer {TOKEN}"))

    def total(name: str, **labels) -> float:
        wanted = set(labels.items())
        return sum(v for (n, found), v in samples.items() if n == name and wanted <= set(found))

    assert total("django_http_requests_total_by_method_total", method="GET") >= 1
    assert total("django_http_requests_latency_seconds_by_view_method_count", view="healthz") >= 1
    assert total("django_db_execute_total", alias="default", vendor="postgresql") >= 1
    assert total("failsafe_open_incidents", severity="SEV1") == 0


@pytest.mark.django_db
def test_the_instrumented_backend_keeps_the_pool_and_copy_working():
    # The settings' DB_POOL_MAX_SIZE, on a connection of its own (the suite's has no pool).
    default = connections["default"].settings_dict
    options = {**default["OPTIONS"], "pool": {"min_size": 1, "max_size": 2, "timeout": 10}}
    backend = load_backend(default["ENGINE"])
    assert backend.__name__ == "core.db.backends.postgresql.base"
    pooled = backend.DatabaseWrapper({**default, "OPTIONS": options, "CONN_MAX_AGE": 0}, "pooled")
    labels = {"alias": "pooled", "vendor": "postgresql"}

    def executed() -> float:
        return REGISTRY.get_sample_value("django_db_execute_total", labels) or 0

    try:
        with pooled.cursor() as wrapper:
            # The pool sets up its connections (their own statements) in the background.
            pooled.pool.wait(timeout=10)
            before = executed()
            wrapper.execute("CREATE TEMPORARY TABLE probe (n integer)")
            # What ingestion does: psycopg's COPY on the cursor under Django's wrapper.
            with wrapper.cursor.copy("COPY probe (n) FROM STDIN") as copy:
                for n in (1, 2, 3):
                    copy.write_row((n,))
            wrapper.execute("SELECT sum(n) FROM probe")
            assert wrapper.fetchone() == (6,)
        assert pooled.pool is not None
        assert executed() - before == 2
        assert REGISTRY.get_sample_value("django_db_new_connections_total", labels) == 1
    finally:
        pooled.close()
        pooled.close_pool()
