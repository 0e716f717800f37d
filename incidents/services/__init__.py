"""Every change to an incident: one call writes the change, its audit entry and its
timeline entry in one transaction, and tells the layers above (`incidents.signals`): the
room and the webhooks hear it from comms, reminders are scheduled there too.

`incident` (declare, classify, status, people, edits), `timeline` (the timeline and the
room's messages), `postmortems` (postmortems and their action items).
"""
