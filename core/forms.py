"""Form pieces every app's pages share: times in the viewer's zone, service errors."""

import zoneinfo

from django import forms
from django.utils import timezone

from core.errors import ServiceError


class LocalDateTimeField(forms.DateTimeField):
    """A datetime-local input, read in the zone the browser reports in the form's `tz`."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class ZoneAwareForm(forms.Form):
    # Filled by static/js/failsafe.js with the browser's zone; UTC without script.
    tz = forms.CharField(required=False, widget=forms.HiddenInput(attrs={"data-browser-zone": ""}))

    def zone(self):
        try:
            return zoneinfo.ZoneInfo(self.data.get("tz") or "UTC")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo("UTC")

    def local(self, value):
        if value is None:
            return None
        if timezone.is_aware(value):
            value = value.replace(tzinfo=None)
        return value.replace(tzinfo=self.zone())


def add_service_error(form: forms.Form, error: ServiceError) -> None:
    """Show a refused change on the form: beside its field when the form has one."""
    form.add_error(error.field if error.field in form.fields else None, error.message)
