from django.apps import AppConfig


class CommsConfig(AppConfig):
    name = "comms"
    verbose_name = "Communication"

    def ready(self):
        from comms import receivers  # noqa: F401  (connects the incident signal receivers)
