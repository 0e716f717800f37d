"""What to do first, by severity (docs/SEVERITY.md): the containment panel's steps.

SEV1 puts the kill switch first, SEV2 graceful degradation, SEV3 an investigation. Pure:
it reads the systems' declared fallbacks and catalogs, nothing else.
"""

from dataclasses import dataclass

from incidents.severity import Severity
from systems.models import Mode

# The runtime mode each kind of step sets; the kill switch is the OFF mode and only that.
STEP_MODE = {"kill_switch": Mode.OFF, Mode.HUMAN: Mode.HUMAN, Mode.DEGRADED: Mode.DEGRADED}


@dataclass(frozen=True)
class Step:
    kind: str  # kill_switch, human, degraded, hold_actions, investigate, escalate
    title: str
    detail: str
    system: object = None

    @property
    def mode(self) -> str | None:
        return STEP_MODE.get(self.kind)


def containment_steps(severity: str, systems) -> list[Step]:
    steps: list[Step] = []
    if severity == Severity.SEV1:
        for system in systems:
            steps.append(
                Step(
                    "kill_switch",
                    f"Kill switch: turn {system.name} off",
                    "Contain first, diagnose second. Stop the outputs now; work out why later.",
                    system,
                )
            )
        for system in systems:
            if system.has_human_fallback:
                steps.append(
                    Step(
                        Mode.HUMAN,
                        f"Route {system.name}'s work to people",
                        system.human_fallback or "The system declares a human path.",
                        system,
                    )
                )
        steps += _hold_actions(systems)
    elif severity == Severity.SEV2:
        for system in systems:
            steps.append(
                Step(
                    Mode.DEGRADED,
                    f"Degrade {system.name} gracefully",
                    system.degraded_behaviour
                    or "No degraded behaviour is declared: write one in the system's settings.",
                    system,
                )
            )
        steps += _hold_actions(systems)
    elif severity == Severity.SEV3:
        steps = [
            Step(
                "investigate",
                "Find what changed",
                "Model, prompt, retrieval source, configuration, or the inputs themselves.",
            ),
            Step(
                "investigate",
                "Look at real outputs",
                "Review a sample from the window of the shift: are they wrong, or only different?",
            ),
            Step(
                "escalate",
                "Escalate or close",
                "Confirmed harm: reclassify and the severity rises. Nothing wrong: close it as "
                "a benign shift, with the reason.",
            ),
        ]
    return steps


def _hold_actions(systems) -> list[Step]:
    steps = []
    for system in systems:
        irreversible = [a.name for a in system.action_types.all() if not a.reversible]
        if irreversible:
            steps.append(
                Step(
                    "hold_actions",
                    f"Hold {system.name}'s irreversible actions",
                    "Nothing more of these should fire until people confirm: "
                    + ", ".join(irreversible)
                    + ".",
                    system,
                )
            )
    return steps
