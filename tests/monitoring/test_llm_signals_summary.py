"""The line a responder reads first, for the monitors of a generative-AI call: what moved,
of what it is a share, from what, to what."""

import pytest

from monitoring.models import Monitor
from monitoring.services.alerts import alert_summary


def _rate(current, baseline, direction="up"):
    return {"kind": "rate", "current": current, "baseline": baseline, "direction": direction}


def _shape(current, baseline, statistic):
    return {"kind": "shape", "current": current, "baseline": baseline, "test": "ks"} | {
        "statistic": statistic
    }


@pytest.mark.parametrize(
    ("monitor", "evidence", "summary"),
    [
        (
            Monitor(
                name="faithfulness below 0.5",
                kind="score_share",
                target="faithfulness",
                threshold=0.5,
                below=True,
            ),
            _rate(0.213, 0.051),
            "faithfulness below 0.5 rose to 21.3% of scored outputs against a baseline of 5.1%",
        ),
        (
            Monitor(
                name="Answer quality",
                kind="score_share",
                target="faithfulness",
                threshold=0.5,
                below=True,
            ),
            _rate(0.213, 0.051),
            "Answer quality (faithfulness below 0.5) rose to 21.3% of scored outputs against a "
            "baseline of 5.1%",
        ),
        (
            Monitor(
                name="Toxic replies",
                kind="score_share",
                target="toxicity",
                threshold=0.8,
                below=False,
            ),
            _rate(0.004, 0.021, "down"),
            "Toxic replies (toxicity above 0.8) fell to 0.4% of scored outputs against a "
            "baseline of 2.1%",
        ),
        (
            Monitor(name="Errors", kind="error_rate", target=""),
            _rate(0.08, 0.02),
            "Errors rose to 8.0% of outputs against a baseline of 2.0%",
        ),
        (
            Monitor(name="Provider trouble", kind="error_rate", target="timeout"),
            _rate(0.113, 0.01),
            "Provider trouble (timeout errors) rose to 11.3% of outputs against a baseline of 1.0%",
        ),
        (
            Monitor(name="Replies cut off", kind="finish_reason", target="length"),
            _rate(0.152, 0.031),
            "Replies cut off (finish reason length) rose to 15.2% of outputs against a baseline "
            "of 3.1%",
        ),
        (
            Monitor(name="Faithfulness", kind="numeric", target="scores.faithfulness"),
            _shape(0.52, 0.81, 0.314),
            "Faithfulness changed shape (ks 0.31): 0.52 against a baseline of 0.81",
        ),
        (
            Monitor(name="Output tokens", kind="numeric", target="usage.output_tokens"),
            _shape(412.4, 160.2, 0.4),
            "Output tokens changed shape (ks 0.40): 412 against a baseline of 160",
        ),
    ],
    ids=lambda value: value.name if isinstance(value, Monitor) else "",
)
def test_an_alert_says_what_moved_of_what_from_what_to_what(monitor, evidence, summary):
    assert alert_summary(monitor, evidence) == summary
