"""The accuracy monitor (Monitor kind "accuracy"), evaluated from the reviews.

Registered with monitoring's evaluation in `GroundTruthConfig.ready()`: monitoring runs
every monitor, but the verdicts it would need live here, above it."""

from datetime import timedelta

from groundtruth import accuracy
from groundtruth.selectors import accuracy_baseline, accuracy_estimate, first_wrong_since
from monitoring.models import Monitor
from monitoring.services.evaluation import evaluation_save

# Fewer reviews than this in the baseline cannot say what accuracy to expect.
MIN_BASELINE_REVIEWS = 20


def accuracy_evaluate(monitor: Monitor, through, now) -> str:
    """Reviewed accuracy of the last day against the baseline's: a significant drop fires
    (the same path as any monitor); it resolves once the last day's interval reaches the
    baseline again."""
    baseline = accuracy_baseline(monitor.system, now)
    current = accuracy_estimate(monitor.system, now - timedelta(days=1), now)
    monitor.baseline, monitor.baseline_at = (
        {
            "n": baseline.reviewed,
            "correct": baseline.correct,
            "low": baseline.low,
            "high": baseline.high,
        },
        now,
    )
    firing = monitor.status == Monitor.Status.FIRING
    if baseline.reviewed < MIN_BASELINE_REVIEWS:
        monitor.status = Monitor.Status.LEARNING
        return evaluation_save(monitor, monitor.evaluated_through, through, None)
    fired = None
    if not firing and accuracy.accuracy_dropped(baseline, current):
        first_wrong = first_wrong_since(monitor.system, now - timedelta(days=1))
        fired = {
            "kind": "accuracy",
            "baseline": baseline.correct,
            "current": current.correct,
            "current_events": current.reviewed,
            "current_low": current.low,
            "current_high": current.high,
            "test": "one-sided two-proportion z-test",
            "statistic": current.correct - baseline.correct,
            "threshold": 0.001,
            "onset": (first_wrong or now - timedelta(days=1)).isoformat(),
        }
        monitor.status = Monitor.Status.FIRING
    elif not firing:
        monitor.status = Monitor.Status.OK
    back = firing and current.reviewed > 0 and current.high >= baseline.correct
    return evaluation_save(monitor, monitor.evaluated_through, through, fired, now, back=back)
