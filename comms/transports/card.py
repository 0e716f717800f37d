"""What a chat card shows of a message, for Slack and Teams alike: a headline, the
incident's title and facts, what changed, a link, and a tone its colour comes from."""

from dataclasses import dataclass

RESOLVED_EVENT = "incident.resolved"


@dataclass(frozen=True)
class Card:
    headline: str
    title: str
    facts: list[tuple[str, str]]
    change: str
    url: str  # absolute, or "" when Failsafe's base URL is not set (no link then)
    link_text: str
    # sev1, sev2, sev3, unclassified, resolved or test: each transport colours it.
    tone: str


def card_of(message: dict) -> Card:
    incident = message.get("incident")
    if not incident:
        return Card(message["headline"], "", [], message["change"], "", "", "test")
    url = incident["url"] if incident["url"].startswith(("http://", "https://")) else ""
    tone = (incident["severity"] or "unclassified").lower()
    if message["event"] == RESOLVED_EVENT:
        tone = "resolved"
    return Card(
        headline=message["headline"],
        title=incident["title"],
        facts=[
            ("Severity", incident["severity"] or "unclassified"),
            ("Status", incident["status"]),
            ("Systems", ", ".join(incident["systems"]) or "none"),
            ("Lead", incident["lead"] or "nobody yet"),
        ],
        change=message["change"],
        url=url,
        link_text=f"Open {incident['reference']}",
        tone=tone,
    )
