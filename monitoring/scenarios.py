"""The simulator's named failure scenarios, and the two kinds of system they happen to.

A scenario starts at `shift_at`. Those caused by a change (a model update, a prompt edit, a
retrieval degradation) are served by a new version of one surface, so the shift is confined
to that version, as it is in production; a ramped one is a gradual rollout of that version.
An input drift changes no version: the world changed, not the system.
"""

from dataclasses import dataclass

REFUND = "refund-classifier"
SUPPORT = "support-reply"
KINDS = (REFUND, SUPPORT)

HOUR = 3600.0


@dataclass(frozen=True)
class Scenario:
    """A named failure. `surface` is the surface whose next version serves the shifted
    events (None when no change of Failsafe's is to blame); `ramp` the seconds over which
    the shifted part grows from none to all of the traffic (0: at once)."""

    name: str
    title: str
    description: str
    kind: str | None = None  # the kind of system it happens to; None: either
    surface: str | None = None
    ramp: float = 0.0
    fraud_share: float | None = None
    refusal_factor: float = 1.0
    length_factor: float = 1.0
    input_drift: bool = False
    # The share of answers an evaluator finds unfaithful (scored below 0.5) on the new
    # version; None: as in steady traffic (about 4%).
    unfaithful_share: float | None = None


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario("none", "Steady traffic", "Nothing goes wrong."),
        Scenario(
            "fraud-spike",
            "Model update over-flags fraud",
            "A new model version routes 9% of refund claims to fraud instead of 2%, from the "
            "moment it is deployed; each flag holds a customer's account.",
            kind=REFUND,
            surface="model",
            fraud_share=0.09,
        ),
        Scenario(
            "fraud-ramp",
            "Model rollout over-flags fraud, gradually",
            "The same over-flagging model, rolled out to all traffic over an hour: the "
            "fraud share climbs from 2% to 9%.",
            kind=REFUND,
            surface="model",
            ramp=HOUR,
            fraud_share=0.09,
        ),
        Scenario(
            "fraud-vanishes",
            "Model update stops flagging fraud",
            "A new model version never answers fraud: fraudulent refunds are issued.",
            kind=REFUND,
            surface="model",
            fraud_share=0.0,
        ),
        Scenario(
            "refusal-surge",
            "Prompt edit doubles refusals",
            "A prompt edit makes the support assistant refuse twice as often (6% instead of "
            "3%), answering customers with a flat refusal.",
            kind=SUPPORT,
            surface="prompt",
            refusal_factor=2.0,
        ),
        Scenario(
            "short-answers",
            "Retrieval degradation shortens answers",
            "A new retrieval index finds less context: answers lose more than half their "
            "length, and their substance.",
            kind=SUPPORT,
            surface="retrieval",
            length_factor=0.45,
        ),
        Scenario(
            "faithfulness-drift",
            "Prompt edit makes answers drift from the facts",
            "A prompt edit tells the support assistant to always answer directly: rolled out "
            "over twenty minutes, the share of answers an evaluator scores below 0.5 for "
            "faithfulness (not grounded in the retrieved context) climbs from 4% to 25%.",
            kind=SUPPORT,
            surface="prompt",
            ramp=20 * 60.0,
            unfaithful_share=0.25,
        ),
        Scenario(
            "input-drift",
            "Refund claims drift",
            "Over an hour, refund amounts double and claims arrive from a new mix of "
            "countries. No version changed.",
            kind=REFUND,
            ramp=HOUR,
            input_drift=True,
        ),
    )
}
