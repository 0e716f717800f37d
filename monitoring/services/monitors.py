"""Configuring monitors, and what the evaluation keeps of them: the baseline each is
compared with, and the detector calibrated on it."""

import math
import re

from django.db import transaction

from core.errors import ServiceError
from core.permissions import require
from core.services import actor_of, audit_record, snapshot
from monitoring import contract
from monitoring.detectors.mixture import KIND, MixtureDetector, mixture_for, mixture_start
from monitoring.models import Monitor, Rollup
from monitoring.selectors.signals import rate_of

MONITOR_FIELDS = [
    "name",
    "kind",
    "target",
    "numeric",
    "baseline_days",
    "baseline_start",
    "baseline_end",
    "min_shift",
    "window_minutes",
    "enabled",
    "threshold",
    "below",
]
# What a score share's counts depend on: when one changes, they are counted afresh.
SCORE_SHARE_FIELDS = ("kind", "target", "threshold", "below")
NUMERIC_TARGETS = ("length", "score", "usage.input_tokens", "usage.output_tokens")


class MonitorError(ServiceError):
    """A monitor the rules refuse: what it would watch makes no sense for this system."""


def _monitor_check(system, fields: dict) -> None:
    kind = fields["kind"]
    target = (fields.get("target") or "").strip()
    fields["target"] = target
    if not fields.get("name", "").strip():
        raise MonitorError("Give the monitor a name people will recognise in an alert.", "name")
    if kind not in Monitor.Kind.values:
        raise MonitorError(f"One of {', '.join(Monitor.Kind.values)}.", "kind")
    if kind == Monitor.Kind.CATEGORY_SHARE and not target:
        raise MonitorError("Which output label's share to watch, e.g. fraud.", "target")
    if kind == Monitor.Kind.ACTION_RATE and not system.action_types.filter(name=target).exists():
        names = ", ".join(system.action_types.values_list("name", flat=True)) or "none yet"
        raise MonitorError(f"An action type of this system's catalog ({names}).", "target")
    if kind == Monitor.Kind.PATTERN:
        try:
            re.compile(target)
        except re.error as error:
            raise MonitorError(f"Not a regular expression: {error}.", "target") from None
        if not target:
            raise MonitorError("The pattern to count in output text.", "target")
    if kind == Monitor.Kind.NUMERIC and not (
        target in NUMERIC_TARGETS
        or (target.startswith("scores.") and contract.SCORE_NAME.fullmatch(target[7:]))
    ):
        raise MonitorError(
            "length (of the output text), score, usage.input_tokens, usage.output_tokens "
            "or scores.<name> (an evaluator's score).",
            "target",
        )
    if kind == Monitor.Kind.ERROR_RATE and not _event_text(target, 0, 100):
        raise MonitorError(
            "An error type as events send it (e.g. timeout, at most 100 characters), "
            "or empty for errors of any type.",
            "target",
        )
    if kind == Monitor.Kind.FINISH_REASON and not _event_text(target, 1, 40):
        raise MonitorError(
            "Which finish reason's share to watch, as events send it: e.g. length.", "target"
        )
    _score_share_check(kind, target, fields)
    if kind == Monitor.Kind.INPUT_FEATURE and not re.fullmatch(r"[\w.-]{1,74}", target):
        raise MonitorError(
            "The input feature's name, as events send it (at most 74 letters, digits or _ . -).",
            "target",
        )
    start, end = fields.get("baseline_start"), fields.get("baseline_end")
    if bool(start) != bool(end):
        raise MonitorError("A pinned baseline needs both its start and its end.", "baseline_end")
    if start and end and start >= end:
        raise MonitorError("The baseline must end after it starts.", "baseline_end")
    if fields.get("min_shift", 2.0) <= 1.0:
        raise MonitorError("A factor above 1: 2 means the rate doubles (or halves).", "min_shift")


def _event_text(target: str, shortest: int, longest: int) -> bool:
    """An error type or finish reason: what events may send (contract.events_check)."""
    return shortest <= len(target) <= longest and "\x00" not in target


def _score_share_check(kind: str, target: str, fields: dict) -> None:
    """A score share names the score and its threshold; other kinds have neither."""
    if kind != Monitor.Kind.SCORE_SHARE:
        fields["threshold"], fields["below"] = None, True
        return
    if not contract.SCORE_NAME.fullmatch(target):
        raise MonitorError(
            "The score's name as events send it in scores, e.g. faithfulness "
            "(1 to 64 letters, digits or _ . : -).",
            "target",
        )
    try:
        threshold = float(fields.get("threshold"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        threshold = math.nan
    if not math.isfinite(threshold):
        raise MonitorError(
            "The score below (or above) which an output counts, e.g. 0.5.", "threshold"
        )
    fields["threshold"], fields["below"] = threshold, bool(fields.get("below", True))


@transaction.atomic
def monitor_create(*, actor, system, **fields) -> Monitor:
    require(actor, "monitor.manage", system)
    fields = {k: v for k, v in fields.items() if k in MONITOR_FIELDS}
    _monitor_check(system, fields)
    monitor = Monitor.objects.create(system=system, created_by=actor_of(actor)[0], **fields)
    audit_record(
        actor=actor,
        verb="monitor.create",
        target=monitor,
        after=snapshot(monitor, MONITOR_FIELDS),
    )
    return monitor


@transaction.atomic
def monitor_update(*, actor, monitor: Monitor, **changes) -> Monitor:
    """Change what a monitor watches; its baseline and detector are computed afresh."""
    monitor = Monitor.objects.select_for_update().get(pk=monitor.pk)
    require(actor, "monitor.manage", monitor.system)
    before = snapshot(monitor, MONITOR_FIELDS)
    fields = {f: getattr(monitor, f) for f in MONITOR_FIELDS}
    fields |= {k: v for k, v in changes.items() if k in MONITOR_FIELDS}
    _monitor_check(monitor.system, fields)
    if monitor.kind == Monitor.Kind.SCORE_SHARE and any(
        fields[f] != getattr(monitor, f) for f in SCORE_SHARE_FIELDS
    ):
        # What a score share counted under its old definition means something else now.
        Rollup.objects.filter(
            system=monitor.system, signal__in=[f"scored:{monitor.pk}", f"score_share:{monitor.pk}"]
        ).delete()
    for field, value in fields.items():
        setattr(monitor, field, value)
    monitor.baseline, monitor.baseline_at, monitor.detector, monitor.state = {}, None, {}, []
    monitor.status = Monitor.Status.LEARNING
    monitor.save()
    audit_record(
        actor=actor,
        verb="monitor.update",
        target=monitor,
        before=before,
        after=snapshot(monitor, MONITOR_FIELDS),
    )
    return monitor


# A baseline with fewer events than this cannot be trusted to set a threshold.
MIN_BASELINE_EVENTS = 500
# A rate's baseline needs this many of what it counts (a relative error near 10%), or, for
# a class so rare it never gets there, this many events.
MIN_BASELINE_HITS = 100
RARE_BASELINE_EVENTS = 20_000


def baseline_enough(monitor: Monitor) -> bool:
    """Enough baseline to set a threshold on. For a rate, enough of what it counts too: a
    share estimated from a handful of fraud flags is off by a third, and the detector would
    page on the estimate's error (a rare class gets there by volume instead)."""
    n = monitor.baseline.get("n", 0)
    if n < MIN_BASELINE_EVENTS:
        return False
    if not monitor.is_rate:
        return True
    hits = monitor.baseline["counts"].get("x", 0)
    return hits >= MIN_BASELINE_HITS or n >= RARE_BASELINE_EVENTS


def detector_calibrate(monitor: Monitor, budget: float) -> MixtureDetector:
    """The rate monitor's detector for its baseline rate and the system's false-alarm budget
    per event, set afresh (and its statistics restarted) when either moved, or when it is
    still the CUSUM bank of earlier versions."""
    detector = monitor.detector
    if (
        not detector
        or detector.get("kind") != KIND
        or detector.get("false_alarms_per_event") != budget
    ):
        monitor.detector = mixture_for(rate_of(monitor), budget).to_json()
        monitor.state = []
    mixture = MixtureDetector.from_json(monitor.detector)
    if not monitor.state:
        monitor.state = mixture_start(mixture)
    return mixture
