from django import forms
from django.contrib.auth import get_user_model

from core.forms import LocalDateTimeField, ZoneAwareForm
from core.roles import Role
from incidents import severity
from incidents.models import ActionItem, Incident, Postmortem
from systems.models import AISystem

YES_NO = [("yes", "Yes"), ("no", "No")]


def responders():
    """People who may hold a role in an incident: responders and above."""
    names = [r.group_name for r in Role if r >= Role.RESPONDER]
    people = get_user_model().objects.filter(is_active=True)
    return (people.filter(groups__name__in=names) | people.filter(is_superuser=True)).distinct()


class IncidentFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), ("open", "Open"), *Incident.Status.choices],
    )
    severity = forms.ChoiceField(
        required=False,
        choices=[("", "Any severity"), *Incident.Severity.choices, ("none", "Unclassified")],
    )
    system = forms.ChoiceField(required=False, choices=[])
    lead = forms.ChoiceField(required=False, choices=[])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["system"].choices = [
            ("", "Any system"),
            *AISystem.objects.values_list("slug", "name"),
        ]
        self.fields["lead"].choices = [
            ("", "Any lead"),
            ("none", "No lead"),
            *((u, u) for u in responders().values_list("username", flat=True)),
        ]


class TriageFields(forms.Form):
    harm = forms.ChoiceField(
        label="How bad is what the outputs did?",
        choices=severity.Harm.choices,
        widget=forms.RadioSelect,
        help_text="Harmful: unsafe, data exposed, discriminatory, money moved in error, legal "
        "or safety exposure. Wrong: materially wrong but recoverable. Anomalous: a shift, "
        "no wrong output confirmed.",
    )
    irreversible_actions = forms.ChoiceField(
        label="Did the outputs set off actions that cannot be undone?",
        choices=YES_NO,
        widget=forms.RadioSelect,
        help_text="Prefilled from the blast radius, or from the action catalogs before "
        "any events arrive.",
    )
    severity = forms.ChoiceField(
        label="Override the severity",
        required=False,
        choices=[("", "No: use the scale"), *severity.Severity.choices],
        help_text="Only with a reason. Severity tracks consequence, not the size of the error.",
    )
    severity_override_reason = forms.CharField(
        label="Reason for the override", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, may_override: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not may_override:
            # Overriding the scale is the lead's decision: others do not see the choice.
            del self.fields["severity"], self.fields["severity_override_reason"]

    def triage(self) -> dict:
        data = self.cleaned_data
        return {
            "harm": data["harm"],
            "irreversible_actions": data["irreversible_actions"] == "yes",
            "severity": data.get("severity", ""),
            "severity_override_reason": data.get("severity_override_reason", ""),
        }


class DeclareForm(ZoneAwareForm, TriageFields):
    title = forms.CharField(max_length=200, help_text="What is going wrong, in one line.")
    systems = forms.ModelMultipleChoiceField(
        queryset=AISystem.objects.all(), widget=forms.CheckboxSelectMultiple
    )
    summary = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    onset_at = LocalDateTimeField(
        label="Onset", required=False, help_text="When the failure began, if known (your time)."
    )

    field_order = ["title", "systems", "summary", "harm", "irreversible_actions"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Answered at declaration when known; an alert can open an incident unclassified.
        self.fields["harm"].required = False
        self.fields["irreversible_actions"].required = False

    def clean_onset_at(self):
        return self.local(self.cleaned_data.get("onset_at"))

    def declaration(self) -> dict:
        data = self.cleaned_data
        triage = self.triage() if data.get("harm") else {}
        return {
            "title": data["title"],
            "systems": list(data["systems"]),
            "summary": data["summary"],
            "onset_at": data.get("onset_at"),
            **triage,
        }


class ClassifyForm(TriageFields):
    pass


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=Incident.Status.choices)
    reason = forms.CharField(required=False, max_length=1000)
    benign = forms.BooleanField(required=False)


class PeopleForm(forms.Form):
    role = forms.ChoiceField(
        choices=[("lead", "Lead"), ("scribe", "Scribe"), ("comms_owner", "Comms owner")]
    )
    person: forms.ModelChoiceField = forms.ModelChoiceField(
        queryset=None, required=False, to_field_name="username"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = responders()


class MessageForm(forms.Form):
    text = forms.CharField(
        label="Message", max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )


class StatusUpdateForm(ZoneAwareForm):
    known = forms.CharField(label="What we know", widget=forms.Textarea(attrs={"rows": 3}))
    doing = forms.CharField(label="What we are doing", widget=forms.Textarea(attrs={"rows": 3}))
    next_update_at = LocalDateTimeField(
        label="Next update at",
        required=False,
        help_text="Your time. Leave empty for the severity's cadence.",
    )

    def clean_next_update_at(self):
        return self.local(self.cleaned_data.get("next_update_at"))


class PostmortemForm(forms.ModelForm):
    class Meta:
        model = Postmortem
        fields = Postmortem.SECTIONS
        widgets = {
            name: forms.Textarea(attrs={"rows": 4})
            for name in Postmortem.SECTIONS
            if name != "cause"
        }
        labels = {"cause": "Where the cause was"}


class ActionItemForm(forms.ModelForm):
    class Meta:
        model = ActionItem
        fields = ["title", "owner", "due", "category"]
        widgets = {"due": forms.DateInput(attrs={"type": "date"})}
        labels = {"title": "What must change"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = get_user_model().objects.filter(is_active=True)
