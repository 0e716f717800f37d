"""What each surface's version holds, and the checks it must pass. Pure.

A model version must be pinned: an exact provider version id, never a moving alias such as
`latest` or `gpt-4o`, or a rollback could not bring back what actually ran. Unpinned model
versions are refused (see docs/ARCHITECTURE.md).
"""

import re

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from core.errors import ServiceError

MOVING_ALIASES = re.compile(r"(^|[-_.:])(latest|stable|preview|current|default)$", re.IGNORECASE)

FIELDS = {
    "model": {
        "provider": True,
        "name": True,
        "version_id": True,
        "checksum": False,
        "notes": False,
    },
    "prompt": {"template": True, "variables": False, "name": False},
    "retrieval": {"source": True, "snapshot_id": True, "manifest_hash": False},
    "config": {"params": True},
}


# What a configuration must satisfy until the system's owner writes its own schema.
DEFAULT_CONFIG_SCHEMA = {
    "type": "object",
    "properties": {
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "max_tokens": {"type": "integer", "minimum": 1},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
    },
}


class InvalidVersion(ServiceError):
    """The content is not a valid version of its surface; `field` names the culprit."""

    def __init__(self, message: str, field: str):
        super().__init__(message, field)


def check_schema(schema) -> None:
    """Raise InvalidVersion unless `schema` is a usable JSON Schema for configurations."""
    if not isinstance(schema, dict):
        raise InvalidVersion("A JSON Schema is an object.", "schema")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise InvalidVersion(f"Not a valid JSON Schema: {error.message}", "schema") from error


def clean_content(surface: str, content: dict, config_schema: dict | None = None) -> dict:
    """The content, checked and normalised for its surface. A configuration is checked
    against `config_schema` (the system's, or the default)."""
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
        name = cleaned.get("name", "")
        if not isinstance(name, str) or len(name) > 100:
            raise InvalidVersion(
                "The prompt's name in its registry, at most 100 characters.", "name"
            )
        variables = cleaned.get("variables", [])
        if not isinstance(variables, list) or not all(isinstance(v, str) for v in variables):
            raise InvalidVersion("A list of variable names.", "variables")
        missing = [v for v in variables if "{" + v + "}" not in cleaned["template"]]
        if missing:
            raise InvalidVersion(f"Not used in the template: {', '.join(missing)}.", "variables")
    if surface == "config":
        if not isinstance(cleaned["params"], dict):
            raise InvalidVersion("An object of parameters.", "params")
        validator = Draft202012Validator(config_schema or DEFAULT_CONFIG_SCHEMA)
        error = next(iter(sorted(validator.iter_errors(cleaned["params"]), key=str)), None)
        if error is not None:
            path = ".".join(str(p) for p in error.absolute_path)
            raise InvalidVersion(error.message, f"params.{path}" if path else "params")
    return cleaned
