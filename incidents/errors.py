from core.errors import ServiceError


class IncidentError(ServiceError):
    """A change to an incident the rules refuse."""
