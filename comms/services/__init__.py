"""Comms' changes, one module per seam: `status_updates` (the updates an open incident
owes, and the reminders that chase them), `communications` (the external communication:
drafts, approval, publication, the obligation's decision, the notices), `templates` (a
system's communication templates)."""
