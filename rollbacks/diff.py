"""A readable diff between two versions of a surface. Pure."""

import difflib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    kind: str  # "same", "added", "removed"
    text: str


def _lines(surface: str, content: dict) -> list[str]:
    if surface == "prompt":
        lines = content.get("template", "").splitlines()
        variables = content.get("variables") or []
        return [*lines, "", f"variables: {', '.join(variables) or '—'}"]
    # Model, retrieval and config: one line per field, JSON for nested parameters.
    return json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def version_diff(surface: str, old: dict, new: dict) -> list[Line]:
    """Every line of both versions, marked as kept, removed (only in `old`) or added."""
    before, after = _lines(surface, old), _lines(surface, new)
    result = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after).get_opcodes():
        if tag == "equal":
            result += [Line("same", t) for t in before[i1:i2]]
            continue
        result += [Line("removed", t) for t in before[i1:i2]]
        result += [Line("added", t) for t in after[j1:j2]]
    return result
