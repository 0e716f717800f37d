"""The response layer hears incidents too: a resolved incident (other than a benign close)
gets its postmortem, with facts only this layer can gather. Connected in `ready()`."""

from django.dispatch import receiver

from incidents import signals
from incidents.models import Incident
from incidents.services.postmortems import postmortem_open
from response.postmortem_facts import facts_of


@receiver(signals.incident_changed, sender=Incident)
def postmortem_on_resolve(*, incident, change, actor, at, **_):
    if (
        change == signals.STATUS_CHANGED
        and incident.status == Incident.Status.RESOLVED
        and not incident.closed_as_benign
    ):
        postmortem_open(actor=actor, incident=incident, facts=facts_of(incident, at), now=at)
