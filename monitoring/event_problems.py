"""Every problem of a refused batch, each named by its event's index and field.

`contract` accepts a batch by decoding it into the typed structs of `event_schema`, which
stops at the first problem; only a batch it refuses comes here, as plain values, to be told
everything that is wrong with it. The limits are the schema's constants, and
tests/monitoring/test_contract_agreement.py holds this listing and the structs to the same
verdict on every event.
"""

import math

import msgspec

from monitoring import event_schema as c


def problem(index, field: str, message: str) -> dict:
    return {"index": index, "field": field, "message": message}


def event_problems(index: int, event, latest) -> list[dict]:
    """What is wrong with one event given as plain values (an empty list: nothing)."""
    if not isinstance(event, dict):
        return [problem(index, "", "Each event is an object.")]
    found: list[dict] = []
    unknown = event.keys() - c.FIELDS
    if unknown:
        found.append(problem(index, sorted(unknown)[0], "Not a field of an event."))
    client_id = event.get("id")
    if not isinstance(client_id, str) or not client_id or len(client_id) > 100:
        found.append(problem(index, "id", c.ID_MESSAGE))
    ts = c.timestamp(event.get("ts"))
    if ts is None:
        found.append(problem(index, "ts", c.TS_MESSAGE))
    elif ts > latest:
        found.append(problem(index, "ts", c.FUTURE_MESSAGE))
    if not isinstance(event.get("input", {}), dict):
        found.append(problem(index, "input", "An object of input features."))
    _output(index, event.get("output", {}), found)
    if not isinstance(event.get("refused", False), bool):
        found.append(problem(index, "refused", "true or false."))
    _versions(index, event.get("versions", {}), found)
    _actions(index, event.get("actions", []), found)
    if not _text(_none_empty(event.get("subject")), 200):
        found.append(problem(index, "subject", "A string of at most 200 characters."))
    _scores(index, _object(event, "scores"), found)
    _usage(index, _object(event, "usage"), found)
    for field, limit in c.SHORT_TEXTS.items():
        value = event.get(field)
        if value is not None and not _text(value, limit):
            found.append(problem(index, field, c.short_text_message(limit)))
    return found


def _text(value, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit


def _none_empty(value):
    """A text field that may be null: null means empty."""
    return "" if value is None else value


def _finite(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # a JSON integer beyond any float: a 400, not a 500
        return False


def _object(event: dict, field: str):
    """An optional object field: absent or null means empty."""
    value = event.get(field)
    return {} if value is None else value


def _output(index: int, output, found: list) -> None:
    if not isinstance(output, dict):
        found.append(problem(index, "output", "An object with label, score and text."))
        return
    if output.keys() - c.OUTPUT_FIELDS:
        field = sorted(output.keys() - c.OUTPUT_FIELDS)[0]
        found.append(problem(index, f"output.{field}", "Not a field of an output."))
    if not _text(_none_empty(output.get("label")), 100):
        found.append(problem(index, "output.label", "A string of at most 100 characters."))
    score = output.get("score")
    if score is not None and not _finite(score):
        found.append(problem(index, "output.score", "A finite number."))
    if not _text(_none_empty(output.get("text")), c.MAX_TEXT):
        found.append(problem(index, "output.text", f"A string of at most {c.MAX_TEXT} characters."))


def _versions(index: int, versions, found: list) -> None:
    if not isinstance(versions, dict):
        found.append(problem(index, "versions", "An object naming the version of each surface."))
        return
    for surface, ref in versions.items():
        if surface not in c.SURFACES:
            found.append(
                problem(index, f"versions.{surface}", f"Not a surface: {', '.join(c.SURFACES)}.")
            )
        elif (
            isinstance(ref, bool)
            or not isinstance(ref, str | int)
            or len(str(ref)) > 100
            or not c.INT_MIN <= (ref if isinstance(ref, int) else 0) <= c.INT_MAX
        ):
            found.append(problem(index, f"versions.{surface}", c.VERSION_MESSAGE))


def _actions(index: int, actions, found: list) -> None:
    if not isinstance(actions, list) or len(actions) > c.MAX_ACTIONS:
        found.append(problem(index, "actions", f"A list of at most {c.MAX_ACTIONS} actions."))
        return
    for n, action in enumerate(actions):
        if not isinstance(action, dict) or not _text(action.get("type"), 64) or not action["type"]:
            found.append(problem(index, f"actions.{n}.type", "Each action has a type (a string)."))
        elif not _text(action.get("subject", ""), 200):
            found.append(
                problem(index, f"actions.{n}.subject", "A string of at most 200 characters.")
            )


def _scores(index: int, scores, found: list) -> None:
    """`{"faithfulness": 0.82}`: named finite numbers, at most MAX_SCORES of them."""
    if not isinstance(scores, dict) or len(scores) > c.MAX_SCORES:
        found.append(
            problem(index, "scores", f"An object of at most {c.MAX_SCORES} named numbers.")
        )
        return
    for name, value in scores.items():
        if not c.SCORE_NAME.fullmatch(name):
            found.append(
                problem(
                    index,
                    "scores",
                    f"{name[:70]!r} is not a score name: 1 to 64 letters, digits or _ . : -.",
                )
            )
        elif not _finite(value):
            found.append(problem(index, f"scores.{name}", "A finite number."))


def _usage(index: int, usage, found: list) -> None:
    """`{"input_tokens": 812, "output_tokens": 164}`: whole numbers of tokens."""
    if not isinstance(usage, dict):
        found.append(problem(index, "usage", "An object with input_tokens, output_tokens."))
        return
    for field in sorted(usage.keys() - set(c.USAGE_FIELDS)):
        found.append(problem(index, f"usage.{field}", "Not a field of usage."))
    for field in c.USAGE_FIELDS:
        value = usage.get(field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= c.MAX_TOKENS:
            found.append(
                problem(
                    index, f"usage.{field}", f"A whole number of tokens, 0 to {c.MAX_TOKENS:,}."
                )
            )


def listed(raw: list, latest) -> tuple[list, list[dict]]:
    """(the events without a problem, as checked structs; every problem of the others)."""
    checked: list = []
    problems: list[dict] = []
    for index, event in enumerate(raw):
        found = event_problems(index, event, latest)
        if not found:
            try:
                one = msgspec.convert(event, c.Checked)
            except msgspec.ValidationError as error:  # a rule only the structs state
                found = [problem(index, c.field_of(str(error)), str(error))]
            else:
                found = c.settle(index, one, latest, nul=True)
                if not found:
                    checked.append(one)
        problems += found
    return checked, problems
