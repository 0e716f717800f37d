from django import forms
from django.contrib.auth import get_user_model

from systems.models import ActionType, AISystem, Mode, SystemToken
from systems.services import SYSTEM_FIELDS


class SystemForm(forms.ModelForm):
    class Meta:
        model = AISystem
        fields = SYSTEM_FIELDS
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "human_fallback": forms.Textarea(attrs={"rows": 2}),
            "degraded_behaviour": forms.Textarea(attrs={"rows": 2}),
        }
        help_texts = {"slug": "Used in URLs and by the AI system itself, e.g. refund-classifier."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = get_user_model().objects.filter(is_active=True)
        self.fields["owner"].label_from_instance = lambda u: u.get_full_name() or u.username
        # Most systems keep the default budget: one false page a month.
        self.fields["false_pages_per_month"].required = False
        self.fields["retention_days"].required = False
        if self.instance.pk:
            # The slug is the system's public name: SDKs and tokens depend on it.
            del self.fields["slug"]

    def clean_false_pages_per_month(self):
        value = self.cleaned_data.get("false_pages_per_month")
        return 1.0 if value is None else value

    def clean_retention_days(self):
        # Left blank, the retention stays what it was: a shorter one drops raw events.
        value = self.cleaned_data.get("retention_days")
        return self.instance.retention_days if value is None else value

    def clean(self):
        data = super().clean()
        if data.get("has_human_fallback") and not data.get("human_fallback", "").strip():
            self.add_error("human_fallback", "Say where the work goes when it is routed to people.")
        return data


class ActionTypeForm(forms.ModelForm):
    class Meta:
        model = ActionType
        fields = ["name", "description", "reversible", "user_visible"]

    def __init__(self, *args, system, **kwargs):
        super().__init__(*args, **kwargs)
        self.system = system

    def clean_name(self):
        name = self.cleaned_data["name"]
        if self.system.action_types.filter(name=name).exists():
            raise forms.ValidationError("This system already has an action of that name.")
        return name


class RunbookForm(forms.Form):
    body = forms.CharField(
        label="Runbook",
        widget=forms.Textarea(attrs={"rows": 18, "class": "mono"}),
        help_text="Markdown. Write it for a stressed responder at 3 a.m.: steps, not prose.",
    )
    reason = forms.CharField(max_length=200, required=False, label="What changed")


class TokenForm(forms.Form):
    name = forms.CharField(max_length=80, initial="production")
    scopes = forms.MultipleChoiceField(
        choices=SystemToken.Scope.choices,
        initial=SystemToken.Scope.values,
        widget=forms.CheckboxSelectMultiple,
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)


class ModeForm(forms.Form):
    mode = forms.ChoiceField(choices=Mode.choices)
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
