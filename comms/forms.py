from django import forms

from comms import obligation, wording
from comms.models import Webhook
from comms.webhooks import validate_http_url
from incidents.severity import Severity


class WebhookForm(forms.Form):
    """Adding a notification channel, or (with `editing=True`) changing one, which can also
    pause it.

    The service (`comms.webhooks`) checks again whatever calls it; the form uses the same
    rules so a person sees every problem at once.
    """

    name = forms.CharField(max_length=80, help_text="e.g. the channel it posts to: #incidents")
    transport = forms.ChoiceField(
        label="Sent as",
        choices=Webhook.Transport.choices,
        initial=Webhook.Transport.STANDARD,
        widget=forms.RadioSelect,
        help_text="A webhook of your own: Standard Webhooks, or the legacy signature for "
        "receivers built before it.",
    )
    url = forms.CharField(
        label="URL",
        max_length=500,
        widget=forms.URLInput,
        validators=[validate_http_url],
        help_text="Where the events are POSTed: the Slack or Teams webhook URL, or your own.",
    )
    events = forms.MultipleChoiceField(
        # The code too: it is what a receiver reads as the event.
        choices=[(value, f"{label} ({value})") for value, label in Webhook.Event.choices],
        initial=Webhook.Event.values,
        widget=forms.CheckboxSelectMultiple,
    )
    severities = forms.MultipleChoiceField(
        label="Only at these severities",
        choices=Severity.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every severity, unclassified incidents too.",
    )
    active = forms.BooleanField(
        required=False, initial=True, help_text="An inactive channel is sent nothing."
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not editing:
            del self.fields["active"]


class FourParts(forms.Form):
    """The four parts of every external communication, in a reader's words."""

    happened = forms.CharField(
        label="What happened", max_length=wording.PART_MAX, widget=forms.Textarea(attrs={"rows": 3})
    )
    consequence = forms.CharField(
        label="What this means for you",
        max_length=wording.PART_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    done = forms.CharField(
        label="What we have done",
        max_length=wording.PART_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    advice = forms.CharField(
        label="What you should do",
        max_length=wording.PART_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class CommunicationForm(FourParts):
    """The draft's words: a headline and the four parts, plus the version they were edited
    from (so a save never silently replaces a colleague's newer one)."""

    headline = forms.CharField(
        max_length=wording.HEADLINE_MAX,
        help_text="What a reader sees first: plain words, no internal names.",
    )
    based_on = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    field_order = ["headline", *wording.PART_NAMES, "based_on"]

    def parts(self) -> dict[str, str]:
        """The words as they stand, valid or not: what the check and the preview read."""
        if self.is_bound:
            return {name: str(self.data.get(name, "")) for name in wording.PART_NAMES}
        return {name: str(self.initial.get(name, "")) for name in wording.PART_NAMES}


class DecisionForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=[
            (obligation.COMMUNICATE, "Communicate"),
            (obligation.NO_COMMUNICATION, "No communication"),
        ]
    )
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class CommTemplateForm(FourParts):
    name = forms.CharField(max_length=80, help_text="e.g. wrong decisions, data exposure")
    headline = forms.CharField(max_length=wording.HEADLINE_MAX)

    field_order = ["name", "headline", *wording.PART_NAMES]


def errors_text(form: forms.Form) -> str:
    """A form's errors on one line, each after its field's label: for a message or a card."""
    return "; ".join(
        f"{form.fields[f].label or f}: {' '.join(map(str, errors))}"
        if f in form.fields
        else " ".join(map(str, errors))
        for f, errors in form.errors.items()
    )
