"""/metrics: the Prometheus exposition of Failsafe, for a scraper holding the scrape token."""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, REGISTRY, generate_latest

from metrics.collectors import FAILSAFE_REGISTRY
from metrics.scrape_token import bearer_matches


def _plain(status: int, message: str, **headers) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain", headers=headers)


# Prometheus authenticates with its bearer token, not a session: no sign-in redirect.
@login_not_required
@never_cache
@require_GET
def metrics(request):
    if not settings.METRICS_TOKEN:
        return _plain(404, "Metrics are off: set METRICS_TOKEN to serve them (docs/METRICS.md).")
    if not bearer_matches(request.headers.get("Authorization", ""), settings.METRICS_TOKEN):
        return _plain(
            401,
            "A scrape token is needed: Authorization: Bearer <METRICS_TOKEN>.",
            **{"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    # The failsafe_* metrics, from the database, read first so that the default registry
    # (django-prometheus' HTTP and database metrics, the process's own, the per-process
    # ingest rejects) already counts the scrape's own queries.
    try:
        failsafe = generate_latest(FAILSAFE_REGISTRY)
    except DatabaseError:
        return _plain(503, "The database did not answer: the failsafe_* metrics need it.")
    return HttpResponse(generate_latest(REGISTRY) + failsafe, content_type=CONTENT_TYPE_PLAIN_0_0_4)
