from django import forms

from incidents.models import Incident
from systems.models import AISystem


class IncidentFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), ("open", "Open"), *Incident.Status.choices],
    )
    severity = forms.ChoiceField(
        required=False, choices=[("", "Any severity"), *Incident.Severity.choices]
    )
    system = forms.ChoiceField(required=False, choices=[])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["system"].choices = [
            ("", "Any system"),
            *AISystem.objects.values_list("slug", "name"),
        ]
