from django.apps import AppConfig


class ResponseConfig(AppConfig):
    """The top layer: pages and facts that compose every other app (the incident page, the
    system page, the blast radius, postmortem facts, readiness, the demo's seed)."""

    name = "response"

    def ready(self):
        from response import receivers  # noqa: F401  (connects the incident signal receivers)
