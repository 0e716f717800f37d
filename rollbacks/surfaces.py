"""What each surface's version holds, and the checks it must pass. Pure.

A model version must be pinned: an exact provider version id, never a moving alias such as
`latest` or `gpt-4o`, or a rollback could not bring back what actually ran. Unpinned model
versions are refused (see docs/ARCHITECTURE.md).
"""

import re

MOVING_ALIASES = re.compile(r"(^|[-_.:])(latest|stable|preview|current|default)$", re.IGNORECASE)

FIELDS = {
    "model": {
        "provider": True,
        "name": True,
        "version_id": True,
        "checksum": False,
        "notes": False,
    },
    "prompt": {"template": True, "variables": False},
    "retrieval": {"source": True, "snapshot_id": True, "manifest_hash": False},
    "config": {"params": True},
}


class InvalidVersion(ValueError):
    """The content is not a valid version of its surface; `field` names the culprit."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def clean_content(surface: str, content: dict) -> dict:
    """The content, checked and normalised for its surface."""
    if not isinstance(content, dict):
        raise InvalidVersion("A version's content is an object.", "content")
    fields = FIELDS[surface]
    unknown = set(content) - set(fields)
    if unknown:
        raise InvalidVersion(f"Not a field of a {surface} version.", sorted(unknown)[0])
    for name, required in fields.items():
        if required and content.get(name) in (None, "", [], {}):
            raise InvalidVersion("Required.", name)
    cleaned = {k: v for k, v in content.items() if v not in (None, "")}
    if surface == "model":
        version_id = str(cleaned["version_id"]).strip()
        if MOVING_ALIASES.search(version_id) or version_id == cleaned["name"]:
            raise InvalidVersion(
                "Pin an exact version id (e.g. gpt-4o-2024-08-06), not a moving alias: "
                "a rollback must bring back what actually ran.",
                "version_id",
            )
    if surface == "prompt":
        variables = cleaned.get("variables", [])
        if not isinstance(variables, list) or not all(isinstance(v, str) for v in variables):
            raise InvalidVersion("A list of variable names.", "variables")
        missing = [v for v in variables if "{" + v + "}" not in cleaned["template"]]
        if missing:
            raise InvalidVersion(f"Not used in the template: {', '.join(missing)}.", "variables")
    if surface == "config" and not isinstance(cleaned["params"], dict):
        raise InvalidVersion("An object of parameters.", "params")
    return cleaned
