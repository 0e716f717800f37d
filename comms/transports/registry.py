"""Which transport builds a channel's requests, by `Webhook.transport`."""

from comms.models import Webhook
from comms.transports import legacy, slack, standard, teams
from comms.transports.envelope import Built, Envelope, Transport

TRANSPORTS: dict[str, Transport] = {
    Webhook.Transport.SLACK: slack.build,
    Webhook.Transport.TEAMS: teams.build,
    Webhook.Transport.STANDARD: standard.build,
    Webhook.Transport.LEGACY: legacy.build,
}


def request_for(transport: str, message: dict, envelope: Envelope) -> Built:
    return TRANSPORTS[transport](message, envelope)
