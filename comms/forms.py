from django import forms

from comms.models import Webhook
from comms.webhooks import validate_http_url


class WebhookForm(forms.Form):
    """Adding a webhook, or (with `editing=True`) changing one, which can also pause it.

    The service (`comms.webhooks`) checks again whatever calls it; the form uses the same
    rules so a person sees every problem at once.
    """

    name = forms.CharField(max_length=80, help_text="e.g. the channel it posts to: #incidents")
    url = forms.CharField(
        label="URL",
        max_length=500,
        widget=forms.URLInput,
        validators=[validate_http_url],
        help_text="Where the events are POSTed: a Slack or Teams incoming webhook, or your own.",
    )
    events = forms.MultipleChoiceField(
        # The code too: it is what a receiver reads in the body's `event`.
        choices=[(value, f"{label} ({value})") for value, label in Webhook.Event.choices],
        initial=Webhook.Event.values,
        widget=forms.CheckboxSelectMultiple,
    )
    active = forms.BooleanField(
        required=False, initial=True, help_text="An inactive webhook is sent nothing."
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not editing:
            del self.fields["active"]
