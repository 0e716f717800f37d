from django.apps import AppConfig


class SystemsConfig(AppConfig):
    name = "systems"
    verbose_name = "AI systems"

    def ready(self):
        from systems import schema  # noqa: F401 - registers the token scheme with the schema
