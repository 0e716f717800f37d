from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self):
        from incidents import receivers
        from systems import hooks

        hooks.has_open_incident.answer_with(receivers.has_open_incident)
