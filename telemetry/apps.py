from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    """Telemetry in: OpenTelemetry spans and log records (OTLP/HTTP) become events, and
    alerts from a team's own tools open incidents.

    It sits above monitoring and adds its intake counts to a system's monitors page
    through monitoring's panel hook, set up here."""

    name = "telemetry"
    verbose_name = "Telemetry in"

    def ready(self):
        from monitoring.views import register_monitors_panel
        from telemetry.views import intake_panel

        register_monitors_panel("otlp_intake", intake_panel)
