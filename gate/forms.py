from django import forms

from gate.models import GateRule


class GateRuleForm(forms.ModelForm):
    reason = forms.CharField(
        required=False, max_length=2000, help_text="Why (kept in the audit log)."
    )

    class Meta:
        model = GateRule
        fields = [
            "breaker_factor",
            "breaker_floor",
            "window_seconds",
            "cap",
            "over_cap",
            "always_allow",
            "unreachable",
            "hold_minutes",
            "expire_to",
        ]
        labels = {
            "breaker_factor": "Breaker: times the baseline",
            "breaker_floor": "Breaker: never below",
            "window_seconds": "Window (seconds)",
            "cap": "Cap per window",
            "over_cap": "Over the cap",
            "always_allow": "Always allow (reversible only)",
            "unreachable": "When Failsafe is unreachable",
            "hold_minutes": "Holds expire after (minutes)",
            "expire_to": "Expired holds are",
        }


class HoldDecisionForm(forms.Form):
    SCOPES = [("selected", "the selected holds"), ("matching", "every pending hold matching")]

    outcome = forms.ChoiceField(choices=[("reject", "Reject"), ("approve", "Approve")])
    scope = forms.ChoiceField(choices=SCOPES, initial="selected")
    reason = forms.CharField(max_length=2000)
    holds = forms.CharField(required=False)  # codes, from the checkboxes (getlist)
    system = forms.CharField(required=False)
    action = forms.CharField(required=False)
    incident = forms.IntegerField(required=False)
