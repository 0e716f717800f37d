"""What incidents tell the layers above them (comms, response), sent inside the change's
transaction so a receiver's writes commit or roll back with it.

- `timeline_recorded(entry)`: a timeline entry was written (the room shows it on commit).
- `incident_changed(incident, change, actor, at, **details)`: `change` is one of CHANGES.
  "status_changed" carries `previous` (the status before); "action_item_overdue" `item`.
"""

from django.dispatch import Signal

timeline_recorded = Signal()
incident_changed = Signal()

DECLARED = "declared"
SEVERITY_CHANGED = "severity_changed"
STATUS_CHANGED = "status_changed"
ACTION_ITEM_OVERDUE = "action_item_overdue"
CHANGES = (DECLARED, SEVERITY_CHANGED, STATUS_CHANGED, ACTION_ITEM_OVERDUE)


def tell(incident, change: str, *, actor, at, **details) -> None:
    """Send `incident_changed` for one of CHANGES."""
    incident_changed.send(
        sender=type(incident), incident=incident, change=change, actor=actor, at=at, **details
    )
