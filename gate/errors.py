"""The gate's refusals, raised by every module of `gate.services`."""

from core.errors import ServiceError


class GateError(ServiceError):
    """A request or change the gate refuses: an action outside the catalog, a rule out of
    bounds, a decision without a reason."""
