"""Slack: an incoming webhook's message in Block Kit, inside an attachment whose colour
bar is the severity's. Unsigned: the webhook URL is the credential."""

from comms.transports.card import card_of
from comms.transports.envelope import Built, Envelope, json_body, json_headers

COLOURS = {
    "sev1": "#d32f2f",
    "sev2": "#f57c00",
    "sev3": "#fbc02d",
    "unclassified": "#9e9e9e",
    "resolved": "#2e7d32",
    "test": "#1976d2",
}
HEADER_MAX = 150  # Slack refuses a longer header block
TEXT_MAX = 2000


def _escaped(text: str, limit: int = TEXT_MAX) -> str:
    """Slack's mrkdwn reads &, < and > as markup; a title must show as written."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(text: str, limit: int) -> dict:
    return {"type": "plain_text", "text": text[:limit], "emoji": False}


def build(message: dict, envelope: Envelope) -> Built:
    card = card_of(message)
    blocks: list[dict] = [{"type": "header", "text": _plain(card.headline, HEADER_MAX)}]
    if card.title:
        title = _escaped(card.title)
        linked = f"*<{card.url}|{title}>*" if card.url else f"*{title}*"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": linked}})
    if card.facts:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{label}*\n{_escaped(value)}"}
                    for label, value in card.facts
                ],
            }
        )
    if card.change:
        change = f"*What changed*\n{_escaped(card.change)}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": change}})
    if card.url:
        button = {"type": "button", "text": _plain(card.link_text, 75), "url": card.url}
        blocks.append({"type": "actions", "elements": [button]})
    body = {
        # What a notification shows, where blocks are not displayed.
        "text": f"{card.headline}: {card.title}" if card.title else card.headline,
        "attachments": [{"color": COLOURS[card.tone], "blocks": blocks}],
    }
    return json_body(body), json_headers()
