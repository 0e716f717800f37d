from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from accounts.sign_in_views import SignInView, break_glass
from comms.api import StatusUpdateView
from gate.api import GateView, HoldView
from groundtruth.api import ReviewItemListView, VerdictCreateView
from incidents.api import IncidentViewSet
from monitoring.api import AlertListView, EventsView, MonitorListView
from response.views import readiness
from rollbacks.api import BundleView, DeploymentListView, VersionListView
from systems.api import AISystemViewSet
from systems.mode_api import ModeAckView, ModeView, mode_stream
from systems.ofrep import OfrepBulkView, OfrepFlagView
from telemetry import views as telemetry_views
from telemetry.alert_api import AlertmanagerView, EnqueueView

api = SimpleRouter(trailing_slash=False)
api.register("systems", AISystemViewSet, basename="system")
api.register("incidents", IncidentViewSet, basename="incident")

urlpatterns = [
    path("", include("core.urls")),
    # Prometheus scrapes it with its bearer token (docs/METRICS.md).
    path("metrics", include("metrics.urls")),
    path("login/", SignInView.as_view(), name="login"),
    path("login/break-glass/<str:uid>/<str:token>/", break_glass, name="break-glass"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", include("accounts.urls")),
    # Single sign-on: allauth's OpenID Connect redirect and callback, nothing else of it.
    path("accounts/", include("accounts.sso_urls")),
    path("incidents/", include("response.incident_urls")),
    path("incidents/<int:number>/communications/", include("comms.incident_urls")),
    path("systems/", include("response.system_urls")),
    path("systems/<slug:slug>/versions/", include("rollbacks.urls")),
    path("systems/<slug:slug>/communication-templates/", include("comms.template_urls")),
    path("readiness/", readiness, name="readiness"),
    path("", include("monitoring.urls")),
    path("", include("groundtruth.urls")),
    path("", include("response.urls")),
    path("status/", include("comms.urls")),
    path("webhooks/", include("comms.webhook_urls")),
    path("", include("gate.urls")),
    path("admin/", admin.site.urls),
    # The runtime mode: read on every request by AI systems, so ahead of the router.
    path("api/v1/systems/<slug:slug>/mode", ModeView.as_view(), name="api-mode"),
    path("api/v1/systems/<slug:slug>/mode/stream", mode_stream, name="api-mode-stream"),
    path("api/v1/systems/<slug:slug>/mode/ack", ModeAckView.as_view(), name="api-mode-ack"),
    path("api/v1/systems/<slug:slug>/bundle", BundleView.as_view(), name="api-bundle"),
    path("api/v1/systems/<slug:slug>/events", EventsView.as_view(), name="api-events"),
    path("api/v1/systems/<slug:slug>/gate", GateView.as_view(), name="api-gate"),
    path("api/v1/systems/<slug:slug>/holds/<uuid:code>", HoldView.as_view(), name="api-hold"),
    path("api/v1/systems/<slug:slug>/monitors", MonitorListView.as_view(), name="api-monitors"),
    path("api/v1/systems/<slug:slug>/alerts", AlertListView.as_view(), name="api-alerts"),
    path("api/v1/review-items", ReviewItemListView.as_view(), name="api-review-items"),
    path(
        "api/v1/review-items/<int:pk>/verdicts",
        VerdictCreateView.as_view(),
        name="api-review-verdicts",
    ),
    path("api/v1/systems/<slug:slug>/versions", VersionListView.as_view(), name="api-versions"),
    path(
        "api/v1/systems/<slug:slug>/deployments",
        DeploymentListView.as_view(),
        name="api-deployments",
    ),
    path(
        "api/v1/incidents/<int:number>/updates",
        StatusUpdateView.as_view(),
        name="api-incident-updates",
    ),
    # Alerts in: an Alertmanager or Grafana webhook, PagerDuty's Events API v2.
    path("api/v1/alerts/alertmanager", AlertmanagerView.as_view(), name="api-alerts-alertmanager"),
    path("api/v1/alerts/enqueue", EnqueueView.as_view(), name="api-alerts-enqueue"),
    path("api/v1/", include(api.urls)),
    # OpenFeature Remote Evaluation Protocol: each system's mode as a string flag.
    path("ofrep/v1/evaluate/flags", OfrepBulkView.as_view(), name="ofrep-bulk"),
    path("ofrep/v1/evaluate/flags/<str:key>", OfrepFlagView.as_view(), name="ofrep-flag"),
    # OpenTelemetry in (OTLP/HTTP): spans of generative-AI calls become events.
    path("otlp/v1/traces", telemetry_views.traces, name="otlp-traces"),
    path("otlp/v1/logs", telemetry_views.logs, name="otlp-logs"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # A person's page: the sign-in redirect applies, as to every other page. Swagger UI
    # sets style attributes; styles cannot run code, scripts stay 'self' only.
    path(
        "api/docs/",
        csp_update({"style-src": ["'unsafe-inline'"]})(
            login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema"))
        ),
        name="api-docs",
    ),
]

# A 404 under /api/, /ofrep/ or /otlp/ answers the error shape (docs/INTERFACE.md).
handler404 = "core.views.not_found"
