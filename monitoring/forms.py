from django import forms

from monitoring.models import Monitor
from monitoring.services.monitors import MONITOR_FIELDS

# What "Watch" means for each kind, as the form's help says it.
TARGET_HELP = (
    "Category share: the label (fraud). Pattern: a regular expression. "
    "Action rate: the action type. Error share: the error type (timeout), or empty for "
    "errors of any type. Finish reason: the reason (length). Score share: the score's name "
    "(faithfulness). Distribution: length, score, usage.input_tokens, usage.output_tokens "
    "or scores.<name> (scores.faithfulness). Input: the feature."
)


class MonitorForm(forms.ModelForm):
    # A score share counts the scored outputs on one side of its threshold.
    below = forms.TypedChoiceField(
        label="Count outputs whose score is",
        choices=[(True, "below the threshold"), (False, "above the threshold")],
        coerce=lambda value: value in (True, "True"),
        initial=True,
        required=False,
        empty_value=True,  # type: ignore[arg-type]  # any value works; the stubs say str
        help_text="Score shares only.",
    )
    # What it watches first, then the baseline and the detector's settings.
    field_order = ["name", "kind", "target", "threshold", "below", "numeric"]

    class Meta:
        model = Monitor
        fields = MONITOR_FIELDS
        labels = {
            "target": "Watch",
            "threshold": "Threshold (score shares only)",
            "numeric": "The input feature is a number",
            "baseline_days": "Baseline: the previous … days",
            "baseline_start": "or a pinned baseline from",
            "baseline_end": "to",
            "min_shift": "Smallest shift worth a page (a factor)",
            "window_minutes": "Window compared with the baseline (minutes, shapes only)",
        }
        help_texts = {
            "target": TARGET_HELP,
            "threshold": "e.g. 0.5: the share of scored outputs whose score is below (or "
            "above) it is watched. Outputs without that score do not count.",
            "min_shift": "2 means the rate doubling or halving; the page shows how long "
            "such a shift takes to detect with this system's false-alarm budget.",
        }
        widgets = {
            "baseline_start": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "baseline_end": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "threshold": forms.NumberInput(attrs={"step": "any"}),
        }
