"""Microsoft Teams: a Workflows webhook's message carrying an Adaptive Card (1.4), its
headline in a container styled by severity. Unsigned: the webhook URL is the credential."""

from comms.transports.card import card_of
from comms.transports.envelope import Built, Envelope, json_body, json_headers

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
# Adaptive Card container styles: attention is red, warning amber, good green.
STYLES = {
    "sev1": "attention",
    "sev2": "warning",
    "sev3": "accent",
    "unclassified": "emphasis",
    "resolved": "good",
    "test": "accent",
}


def _text(text: str, **style) -> dict:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def build(message: dict, envelope: Envelope) -> Built:
    card = card_of(message)
    heading = [_text(card.headline, weight="Bolder", size="Medium")]
    if card.title:
        heading.append(_text(card.title, spacing="None"))
    body: list[dict] = [
        {"type": "Container", "style": STYLES[card.tone], "bleed": True, "items": heading}
    ]
    if card.facts:
        facts = [{"title": label, "value": value} for label, value in card.facts]
        body.append({"type": "FactSet", "facts": facts})
    if card.change:
        body.append(_text("What changed", weight="Bolder", spacing="Medium"))
        body.append(_text(card.change, spacing="None"))
    content: dict = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if card.url:
        content["actions"] = [{"type": "Action.OpenUrl", "title": card.link_text, "url": card.url}]
    attachment = {"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": content}
    return json_body({"type": "message", "attachments": [attachment]}), json_headers()
