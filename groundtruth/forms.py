from django import forms

from groundtruth.models import ReviewPlan
from groundtruth.services import PLAN_FIELDS


class ReviewPlanForm(forms.ModelForm):
    oversample = forms.JSONField(
        required=False,
        initial=dict,
        help_text='Labels reviewed more often, with their factor, e.g. {"fraud": 10}.',
    )

    class Meta:
        model = ReviewPlan
        fields = PLAN_FIELDS
        labels = {"active": "Sample outputs for review", "per_day": "Outputs to review a day"}

    def clean_oversample(self):
        return self.cleaned_data.get("oversample") or {}
