"""monitoring's hook for the apps above it that refer to raw events."""

from django.dispatch import Signal

# A day table of raw events is about to be dropped (`services.retention`), inside the
# transaction that drops it; `table` names it. Rows elsewhere that point at its events
# (there is no foreign key into a partitioned table) go with it.
events_expiring = Signal()
