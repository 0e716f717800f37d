from django import forms

from monitoring.models import Monitor
from monitoring.services.monitors import MONITOR_FIELDS


class MonitorForm(forms.ModelForm):
    class Meta:
        model = Monitor
        fields = MONITOR_FIELDS
        labels = {
            "target": "Watch",
            "numeric": "The input feature is a number",
            "baseline_days": "Baseline: the previous … days",
            "baseline_start": "or a pinned baseline from",
            "baseline_end": "to",
            "min_shift": "Smallest shift worth a page (a factor)",
            "window_minutes": "Window compared with the baseline (minutes, shapes only)",
        }
        help_texts = {
            "target": "Category share: the label (fraud). Pattern: a regular expression. "
            "Action rate: the action type. Numeric: length or score. Input: the feature.",
            "min_shift": "2 means the rate doubling or halving; the page shows how long "
            "such a shift takes to detect with this system's false-alarm budget.",
        }
        widgets = {
            "baseline_start": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "baseline_end": forms.DateTimeInput(attrs={"type": "datetime-local"}),
        }
