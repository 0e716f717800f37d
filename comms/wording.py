"""The words of an external communication: its parts, the default wording, placeholders.

Pure: no queries. A template (a system's own, or the default below) is text with
placeholders such as {system} and {customers}; `fill` puts the incident's facts in.
Filling is a plain substitution of known names, never `str.format`, so a template can
reach nothing but the facts it is given.
"""

import re

# The headline and the four parts, in the order people read them, with the labels the
# public sees.
PARTS = [
    ("headline", "Headline"),
    ("happened", "What happened"),
    ("consequence", "What this means for you"),
    ("done", "What we have done"),
    ("advice", "What you should do"),
]
PART_NAMES = [name for name, _ in PARTS]
PART_LABELS = dict(PARTS)
HEADLINE_MAX = 200
PART_MAX = 4000

# What each placeholder becomes, for the template form's help.
PLACEHOLDERS = {
    "system": "the affected system's name (several joined with “and”)",
    "onset": "when the problem began, e.g. 12 May 2026 at 14:05 UTC",
    "until": "when it was stopped, or “now” while it goes on",
    "went_wrong": "what went wrong, in words: “made wrong decisions”",
    "customers": "how many people (distinct subjects) were affected",
    "outputs": "how many automated decisions were made in that time",
    "actions": "what the decisions did that people saw: “account hold (3)”",
    "containment": "a sentence on how it was stopped, e.g. the switch-off",
    "rollback": "a sentence on the previous version being restored, or nothing",
    "now": "the time the draft was started",
}

DEFAULT = {
    "headline": "Problem with our {system}",
    "happened": "Between {onset} and {until}, our automated {system} {went_wrong}.",
    "consequence": (
        "This affected {customers} people. What you may have seen as a result: {actions}."
    ),
    "done": "{containment} {rollback}",
    "advice": (
        "You do not need to do anything. If you think a decision about you was wrong, "
        "reply to this message or contact our support team, and a person will look at it "
        "again."
    ),
}

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill(text: str, facts: dict[str, str]) -> str:
    """`text` with each known {placeholder} replaced; unknown ones stay, so the check
    beside the draft can point at them."""
    filled = PLACEHOLDER.sub(lambda m: str(facts.get(m.group(1), m.group(0))), text)
    return re.sub(r"[ \t]{2,}", " ", filled).strip()


def fill_parts(template: dict[str, str], facts: dict[str, str]) -> dict[str, str]:
    filled = {name: fill(template.get(name, ""), facts) for name in PART_NAMES}
    filled["headline"] = filled["headline"][:HEADLINE_MAX]
    return filled


def unfilled(text: str) -> list[str]:
    """The placeholders still in `text`: {like_this}."""
    return [m.group(0) for m in PLACEHOLDER.finditer(text)]


def plain_text(parts: dict[str, str]) -> str:
    """The whole message as plain text: the headline, then each part under its label."""
    lines = [parts.get("headline", "").strip(), ""]
    for name, label in PARTS[1:]:
        lines += [f"{label}:", parts.get(name, "").strip(), ""]
    return "\n".join(lines).strip() + "\n"


def counted(items: list[tuple[str, int]]) -> str:
    """[("account_hold", 3)] → "account hold (3)", as a reader says it."""
    return ", ".join(f"{name.replace('_', ' ')} ({n})" for name, n in items)


def joined(names: list[str]) -> str:
    """["A"] → "A"; ["A", "B", "C"] → "A, B and C"."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
