"""An event's message: the facts every transport shapes, written when the event happens
(so a retry sends the incident as it was then) and kept on the delivery."""

from comms.models import Webhook

HEADLINES: dict[str, str] = {
    Webhook.Event.INCIDENT_OPENED: "{ref} opened",
    Webhook.Event.SEVERITY_CHANGED: "{ref} is now {severity}",
    Webhook.Event.MODE_CHANGED: "{ref}: a system's mode changed",
    Webhook.Event.ALERT_RAISED: "{ref}: alert raised",
    Webhook.Event.UPDATE_OVERDUE: "{ref}: status update overdue",
    Webhook.Event.UNOWNED: "{ref} has no {missing}",
    Webhook.Event.RESOLVED: "{ref} resolved",
    Webhook.Event.COMMUNICATION_PUBLISHED: "{ref}: external update published",
    Webhook.Event.ACTION_ITEM_OVERDUE: "{ref}: a postmortem action item is overdue",
}
TEST_EVENT = "test"


def _missing(incident) -> str:
    return " or ".join(
        what
        for what, absent in (("lead", not incident.lead_id), ("severity", not incident.severity))
        if absent
    )


def incident_facts(incident, url: str) -> dict:
    return {
        "number": incident.number,
        "reference": incident.reference,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "lead": incident.lead.get_username() if incident.lead_id else None,
        "systems": [s.slug for s in incident.systems.all()],
        "url": url,
    }


def message_for(event: str, incident, *, change: str, at, base_url: str = "") -> dict:
    """`change` is what happened, in a line (e.g. the mode change as the timeline says it)."""
    headline = HEADLINES[event].format(
        ref=incident.reference,
        severity=incident.severity or "unclassified",
        missing=_missing(incident),
    )
    url = base_url.rstrip("/") + incident.get_absolute_url()
    line = f"{headline}: {incident.title}"
    return {
        "event": event,
        "occurred_at": at.isoformat(),
        "headline": headline,
        "change": change,
        # The legacy body's line, which Slack's old-style webhooks display (mrkdwn link).
        "text": f"<{url}|{line}>" if base_url else line,
        "incident": incident_facts(incident, url),
    }


def message_for_test(name: str, at) -> dict:
    """A test delivery: the shape of a real one, saying plainly it is a test."""
    return {
        "event": TEST_EVENT,
        "occurred_at": at.isoformat(),
        "headline": "Test message from Failsafe",
        "change": f"If you can read this, the channel “{name}” works. No incident.",
        "text": f"Test message from Failsafe for the webhook “{name}”. "
        "No incident: if you can read this, the webhook works.",
        "test": True,
        "incident": None,
    }
