"""Alerts from a team's own tools, read: an Alertmanager (or Grafana) webhook notification
and a PagerDuty Events API v2 event, each checked whole and turned into plain
`ExternalAlert`s. Pure: no database, no HTTP; every problem names its field
(`alerts[2].labels`), and one problem refuses the whole payload (docs/TELEMETRY.md)."""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.errors import ServiceError

# Alertmanager's webhook payload is version 4; Grafana's Alertmanager-compatible one is 1.
VERSIONS = ("4", "1")
MAX_ALERTS = 1000
MAX_LABELS = 100
MAX_LABEL_NAME = 200
MAX_LABEL_VALUE = 1000
MAX_ANNOTATION_VALUE = 10_000
MAX_FINGERPRINT = 255
SUMMARY_LENGTH = 300
# PagerDuty's own limit on payload.summary.
MAX_PAGERDUTY_SUMMARY = 1024
PAGERDUTY_SEVERITIES = ("critical", "error", "warning", "info")
PAGERDUTY_LABELS = ("severity", "source", "component", "group", "class")
# The problems a refusal lists; a payload wrong everywhere needs no more to be fixed.
SHOWN_PROBLEMS = 20


class Action:
    """What the sender says of an alert."""

    FIRE = "fire"
    RESOLVE = "resolve"
    ACKNOWLEDGE = "acknowledge"


PAGERDUTY_ACTIONS = {
    "trigger": Action.FIRE,
    "acknowledge": Action.ACKNOWLEDGE,
    "resolve": Action.RESOLVE,
}


class AlertPayloadRefused(ServiceError):
    """The payload is refused whole, nothing stored: `problems` are (field, message)."""

    def __init__(self, problems: list[tuple[str | None, str]]):
        first_field, first = problems[0]
        super().__init__(first, first_field)
        self.problems = problems[:SHOWN_PROBLEMS]


@dataclass(frozen=True)
class ExternalAlert:
    """One alert as its sender described it. `fingerprint` is its identity at the sender
    (Alertmanager's fingerprint, PagerDuty's dedup_key; "" for a PagerDuty trigger without
    one); `system` is the system it says it is about (a `system` label), "" if none."""

    action: str
    fingerprint: str
    summary: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, Any] = field(default_factory=dict)
    starts_at: datetime | None = None
    link: str = ""
    system: str = ""


@dataclass(frozen=True)
class PagerDutyEvent:
    routing_key: str
    alert: ExternalAlert


class _Problems:
    def __init__(self):
        self.found: list[tuple[str | None, str]] = []

    def add(self, where: str | None, predicate: str) -> None:
        """`predicate` completes a sentence about the field: "must be a string."."""
        self.found.append((where, f"{where} {predicate}" if where else predicate))

    def raise_any(self) -> None:
        if self.found:
            raise AlertPayloadRefused(self.found)


def body_read(body: bytes) -> Any:
    """The request body as JSON; NaN and Infinity are not JSON, and nothing stores them."""

    def refuse_constant(name):
        raise ValueError(f"{name} is not a JSON value")

    try:
        return json.loads(body, parse_constant=refuse_constant)
    except RecursionError:
        raise AlertPayloadRefused([(None, "Not JSON this deeply nested.")]) from None
    except ValueError as error:
        raise AlertPayloadRefused([(None, f"Not JSON: {error}.")]) from None


def _has_nul(value) -> bool:
    """A NUL character anywhere (keys too): the database cannot store one in JSON."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _text(data: dict, name: str, where: str, problems: _Problems, *, limit: int) -> str:
    value = data.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.add(where, "must be a string.")
        return ""
    if "\x00" in value:
        problems.add(where, "contains a NUL character.")
        return ""
    if len(value) > limit:
        problems.add(where, f"is longer than {limit} characters.")
        return ""
    return value


def _strings(value, where: str, problems: _Problems, *, value_limit: int) -> dict[str, str]:
    """Labels or annotations: an object of at most MAX_LABELS names, each a string."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(where, "must be an object of names to strings.")
        return {}
    if len(value) > MAX_LABELS:
        problems.add(where, f"has more than {MAX_LABELS} names.")
        return {}
    for name, text in value.items():
        if not name or len(name) > MAX_LABEL_NAME or "\x00" in name:
            problems.add(where, f"has a name empty, over {MAX_LABEL_NAME} characters or with NUL.")
            return {}
        if not isinstance(text, str):
            problems.add(f"{where}.{name}", "must be a string.")
            return {}
        if len(text) > value_limit or "\x00" in text:
            problems.add(f"{where}.{name}", f"is over {value_limit} characters or has a NUL.")
            return {}
    return dict(value)


def _time(value, where: str, problems: _Problems) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            at = None
        if at is not None and at.tzinfo is not None:
            return at
    problems.add(where, "must be an RFC 3339 time with its offset, e.g. 2025-05-01T12:00:00Z.")
    return None


def _link(data: dict, name: str, where: str, problems: _Problems) -> str:
    url = _text(data, name, where, problems, limit=2000)
    if url and not url.startswith(("https://", "http://")):
        problems.add(where, "must be an http(s) URL.")
        return ""
    return url


def _shorten(text: str) -> str:
    return text if len(text) <= SUMMARY_LENGTH else text[: SUMMARY_LENGTH - 1] + "…"


def labels_fingerprint(labels: dict[str, str]) -> str:
    """An identity from the labels alone, as Alertmanager's own fingerprint is: the same
    labels are the same alert."""
    canonical = json.dumps(labels, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def alertmanager_summary(labels: dict[str, str], annotations: dict[str, str]) -> str:
    """ "HighErrorRate: Error rate above 5%": the alert's name and its summary annotation."""
    name = labels.get("alertname", "")
    said = annotations.get("summary") or annotations.get("description") or ""
    if name and said:
        return _shorten(f"{name}: {said}")
    return _shorten(name or said or "An alert without a name")


def _alertmanager_alert(index: int, data, problems: _Problems) -> ExternalAlert | None:
    at = f"alerts[{index}]"
    if not isinstance(data, dict):
        problems.add(at, "must be an object.")
        return None
    before = len(problems.found)
    status = data.get("status")
    if status not in ("firing", "resolved"):
        problems.add(f"{at}.status", "must be “firing” or “resolved”.")
    if not isinstance(data.get("labels"), dict) or not data["labels"]:
        problems.add(f"{at}.labels", "must be an object of label names to strings, not empty.")
        return None
    labels = _strings(data["labels"], f"{at}.labels", problems, value_limit=MAX_LABEL_VALUE)
    annotations = _strings(
        data.get("annotations"), f"{at}.annotations", problems, value_limit=MAX_ANNOTATION_VALUE
    )
    starts_at = _time(data.get("startsAt"), f"{at}.startsAt", problems)
    sent = _text(data, "fingerprint", f"{at}.fingerprint", problems, limit=MAX_FINGERPRINT)
    link = _link(data, "generatorURL", f"{at}.generatorURL", problems)
    if len(problems.found) > before:
        return None
    return ExternalAlert(
        action=Action.FIRE if status == "firing" else Action.RESOLVE,
        fingerprint=sent or labels_fingerprint(labels),
        summary=alertmanager_summary(labels, annotations),
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        link=link,
        system=labels.get("system", ""),
    )


def alertmanager_read(payload) -> list[ExternalAlert]:
    """An Alertmanager (version 4) or Grafana (version 1) webhook notification: each of
    its alerts, firing or resolved, in order. Refused whole on any problem."""
    problems = _Problems()
    if not isinstance(payload, dict):
        problems.add(None, "The body must be a JSON object: Alertmanager's webhook payload.")
        problems.raise_any()
    version = payload.get("version")
    if version is not None and version not in VERSIONS:
        problems.add("version", "must be 4 (Alertmanager's payload) or 1 (Grafana's).")
    if payload.get("status") not in (None, "firing", "resolved"):
        problems.add("status", "must be “firing” or “resolved”.")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        problems.add("alerts", "must be a list of alerts, not empty.")
        problems.raise_any()
    if len(alerts) > MAX_ALERTS:
        problems.add("alerts", f"may hold at most {MAX_ALERTS} alerts per notification.")
        problems.raise_any()
    read = [_alertmanager_alert(index, data, problems) for index, data in enumerate(alerts)]
    problems.raise_any()
    return [alert for alert in read if alert is not None]


def _pagerduty_payload(data, problems: _Problems) -> dict:
    """A trigger's payload: summary, source and severity, plus what else it sends."""
    if not isinstance(data, dict):
        problems.add("payload", "must be an object (summary, source, severity) for a trigger.")
        return {}
    for name in ("summary", "source"):
        if data.get(name) in (None, ""):
            problems.add(f"payload.{name}", "is required for a trigger.")
    read: dict[str, Any] = {
        "summary": _text(data, "summary", "payload.summary", problems, limit=MAX_PAGERDUTY_SUMMARY)
    }
    for name in ("source", "component", "group", "class"):
        read[name] = _text(data, name, f"payload.{name}", problems, limit=MAX_LABEL_VALUE)
    read["severity"] = data.get("severity")
    if read["severity"] not in PAGERDUTY_SEVERITIES:
        problems.add("payload.severity", f"must be one of {', '.join(PAGERDUTY_SEVERITIES)}.")
    read["timestamp"] = _time(data.get("timestamp"), "payload.timestamp", problems)
    details = data.get("custom_details")
    if _has_nul(details):
        problems.add("payload.custom_details", "contains a NUL character.")
    # Anything JSON is allowed there; what is not an object is kept under "details".
    read["details"] = (
        {"details": details} if details is not None and not isinstance(details, dict) else details
    )
    return read


def pagerduty_read(payload) -> PagerDutyEvent:
    """A PagerDuty Events API v2 event: trigger, acknowledge or resolve. Refused whole on
    any problem."""
    problems = _Problems()
    if not isinstance(payload, dict):
        problems.add(None, "The body must be a JSON object: a PagerDuty Events API v2 event.")
        problems.raise_any()
    routing_key = _text(payload, "routing_key", "routing_key", problems, limit=MAX_FINGERPRINT)
    sent_action = payload.get("event_action")
    action = PAGERDUTY_ACTIONS.get(sent_action) if isinstance(sent_action, str) else None
    if action is None:
        problems.add("event_action", "must be “trigger”, “acknowledge” or “resolve”.")
    dedup_key = _text(payload, "dedup_key", "dedup_key", problems, limit=MAX_FINGERPRINT)
    if action in (Action.ACKNOWLEDGE, Action.RESOLVE) and not dedup_key:
        problems.add("dedup_key", f"is required to {action} an alert.")
    link = _link(payload, "client_url", "client_url", problems)
    read = _pagerduty_payload(payload.get("payload"), problems) if action == Action.FIRE else {}
    problems.raise_any()
    labels = {name: read[name] for name in PAGERDUTY_LABELS if read.get(name)}
    details = read.get("details") or {}
    claimed = details.get("system", "")
    alert = ExternalAlert(
        action=action,  # type: ignore[arg-type]
        fingerprint=dedup_key,
        summary=_shorten(read.get("summary", "")),
        labels=labels,
        annotations=details,
        starts_at=read.get("timestamp"),
        link=link,
        system=claimed if isinstance(claimed, str) else "",
    )
    return PagerDutyEvent(routing_key=routing_key, alert=alert)
