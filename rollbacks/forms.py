import json

from django import forms

from core.forms import LocalDateTimeField, ZoneAwareForm
from rollbacks.models import Surface


class VersionForm(forms.Form):
    """One form for every surface: the fields that surface uses are read, the rest ignored."""

    surface = forms.ChoiceField(choices=Surface.choices, widget=forms.HiddenInput)
    note = forms.CharField(max_length=300, required=False, label="What changed")
    provider = forms.CharField(max_length=80, required=False)
    name = forms.CharField(max_length=120, required=False, label="Model name")
    version_id = forms.CharField(
        max_length=160,
        required=False,
        label="Pinned version id",
        help_text="e.g. gpt-4o-2024-08-06",
    )
    template = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 6}))
    variables = forms.CharField(
        required=False, help_text="Comma-separated names used as {name} in the template."
    )
    source = forms.CharField(max_length=160, required=False, label="Source or index")
    snapshot_id = forms.CharField(max_length=160, required=False, label="Snapshot id")
    params = forms.CharField(
        required=False,
        label="Parameters (JSON)",
        widget=forms.Textarea(attrs={"rows": 5, "class": "mono"}),
    )

    FIELDS = {
        "model": ["provider", "name", "version_id"],
        "prompt": ["template", "variables"],
        "retrieval": ["source", "snapshot_id"],
        "config": ["params"],
    }

    def content(self) -> dict:
        data = self.cleaned_data
        content = {f: data[f] for f in self.FIELDS[data["surface"]]}
        if "variables" in content:
            content["variables"] = [v.strip() for v in content["variables"].split(",") if v.strip()]
        if "params" in content:
            try:
                content["params"] = json.loads(content["params"] or "{}")
            except json.JSONDecodeError as error:
                raise forms.ValidationError({"params": f"Not JSON: {error.msg}."}) from error
        return content


class ActivateForm(ZoneAwareForm):
    reason = forms.CharField(max_length=2000)
    not_before = LocalDateTimeField(required=False, label="Not before (your time)")
    break_glass = forms.BooleanField(required=False)

    def clean_not_before(self):
        return self.local(self.cleaned_data.get("not_before"))
