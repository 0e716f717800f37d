"""The refusals of comms' services."""

from core.errors import ServiceError


class CommunicationRefused(ServiceError):
    """A communication change the rules refuse; `field` names the input at fault."""
