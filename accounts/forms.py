from datetime import datetime, timedelta

from django import forms
from django.utils import timezone

from accounts.models import PersonalToken

# How long a new token may live, in days; none for a token that lasts until revoked.
EXPIRY_CHOICES = [
    ("", "Never (until revoked)"),
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
]


class PersonalTokenForm(forms.Form):
    name = forms.CharField(
        max_length=80, help_text="What will use it, so you know which one to revoke later."
    )
    scope = forms.ChoiceField(
        choices=PersonalToken.Scope.choices,
        initial=PersonalToken.Scope.READ,
        widget=forms.RadioSelect,
    )
    expires_in = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, label="Expires")

    def expires_at(self) -> datetime | None:
        days = self.cleaned_data["expires_in"]
        return timezone.now() + timedelta(days=int(days)) if days else None
