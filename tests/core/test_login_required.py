"""Every page needs a sign-in, except the public status page and the health check."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from core.models import AuditEntry

PUBLIC = {"/login/", "/logout/", "/healthz", "/status/", "/status/feed.atom"}
# Signing in: the identity provider's redirect and callback, the break-glass link.
PUBLIC |= {
    "/accounts/oidc/<str:provider_id>/login/",
    "/accounts/oidc/<str:provider_id>/login/callback/",
    "/login/break-glass/<str:uid>/<str:token>/",
}
SAMPLE_ARGS = {
    "slug": "refund-classifier",
    "number": "1",
    "pk": "1",
    "name": "x",
    "prefix": "fsk_x",
}


def _page_paths(resolver=None, prefix=""):
    """The path of every page (not API) route, with sample values for its parameters."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        # Machine endpoints answer 401 in their own protocol (OTLP: tests/telemetry;
        # Prometheus' scrape: tests/metrics).
        if route.startswith(("admin/", "api/v1/", "api/schema", "ofrep/", "otlp/", "metrics")):
            continue
        if isinstance(entry, URLResolver):
            yield from _page_paths(entry, route)
        elif isinstance(entry, URLPattern):
            path = "/" + route
            for name, value in {
                **SAMPLE_ARGS,
                "app_label": "systems",
                "model": "aisystem",
                "object_id": "1",
            }.items():
                for converter in ("slug", "int", "str"):
                    path = path.replace(f"<{converter}:{name}>", value)
            yield path


PAGES = sorted(set(_page_paths()))


def test_the_sweep_finds_the_pages_it_should():
    assert {"/incidents/", "/systems/", "/systems/new/", "/readiness/", "/review/"} <= set(PAGES)
    assert "/api/docs/" in PAGES


@pytest.mark.django_db
@pytest.mark.parametrize("path", [p for p in PAGES if p not in PUBLIC])
def test_a_signed_out_visitor_is_sent_to_sign_in(client, path):
    for method in (client.get, client.post):
        response = method(path)
        assert response.status_code == 302, (path, response.status_code)
        assert response["Location"].startswith("/login/?next=")
    assert not AuditEntry.objects.exists()  # a signed-out POST changes nothing


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/status/", "/status/feed.atom", "/healthz", "/login/"])
def test_public_pages_open_without_sign_in(client, path):
    assert client.get(path).status_code == 200


@pytest.mark.django_db
def test_the_api_answers_a_signed_out_program_401_in_json_not_a_redirect(client):
    response = client.get("/api/v1/incidents")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json() == {
        "errors": [{"field": None, "message": "Authentication credentials were not provided."}]
    }


@pytest.mark.django_db
def test_the_api_schema_needs_a_sign_in_or_a_token(client, client_for, viewer):
    assert client.get("/api/schema/").status_code == 401
    response = client_for(viewer).get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/systems/{slug}" in response.content
