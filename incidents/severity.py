"""The severity scale (docs/SEVERITY.md): consequence, not the size of the model's error.

Two questions decide it: how bad is what the outputs did (harm), and did they set off
actions that cannot be undone. Everything here is pure, so the scale page, the triage form,
the API and the tests all read the same table.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import models


class Harm(models.TextChoices):
    HARMFUL = "harmful", "Harmful"
    WRONG = "wrong", "Wrong"
    ANOMALOUS = "anomalous", "Anomalous"


class Severity(models.TextChoices):
    SEV1 = "SEV1", "SEV1 · harmful"
    SEV2 = "SEV2", "SEV2 · wrong, contained"
    SEV3 = "SEV3", "SEV3 · anomalous"


HARM_MEANING = {
    Harm.HARMFUL: (
        "Unsafe instructions, data exposure, discriminatory decisions, financial actions "
        "taken in error, legal or safety exposure."
    ),
    Harm.WRONG: "Materially wrong outputs, recoverable, not safety-critical.",
    Harm.ANOMALOUS: "A shift in the outputs, with no confirmed wrong output yet.",
}

# (harm, irreversible actions fired?) -> severity. Every cell of the product's table.
SCALE: dict[tuple[str, bool], str] = {
    (Harm.HARMFUL, True): Severity.SEV1,
    (Harm.HARMFUL, False): Severity.SEV1,
    (Harm.WRONG, True): Severity.SEV1,
    (Harm.WRONG, False): Severity.SEV2,
    (Harm.ANOMALOUS, True): Severity.SEV3,
    (Harm.ANOMALOUS, False): Severity.SEV3,
}

# What each severity sets in motion by default.
RESPONSE = {
    Severity.SEV1: "Contain before diagnosing: kill switch first. Status update every "
    "{cadence}. External communication required once users were reached.",
    Severity.SEV2: "Degrade gracefully. Status update every {cadence}. If users were "
    "reached, decide on communication and record the decision.",
    Severity.SEV3: "An investigation with an owner: escalate when harm is confirmed, or "
    "close as a benign shift.",
}


@dataclass(frozen=True)
class Assessment:
    severity: str
    why: str


def assess(harm: str, irreversible: bool) -> Assessment:
    """The severity the scale gives, and the reason in words a responder can check."""
    harm = Harm(harm)
    severity = SCALE[(harm, bool(irreversible))]
    actions = "set off irreversible actions" if irreversible else "set off no irreversible action"
    if harm == Harm.HARMFUL:
        why = "Harmful outputs are SEV1 whatever actions followed."
    elif harm == Harm.ANOMALOUS:
        why = f"A shift with no confirmed wrong output is SEV3 (the outputs {actions})."
    elif irreversible:
        why = "Wrong outputs that set off irreversible actions are SEV1."
    else:
        why = "Wrong outputs whose actions can be undone are SEV2."
    return Assessment(severity=severity, why=why)


def update_cadence(severity: str) -> timedelta | None:
    """How often the incident owes a status update, or None when it owes none (SEV3)."""
    minutes = settings.FAILSAFE_UPDATE_CADENCE_MINUTES.get(severity)
    return timedelta(minutes=minutes) if minutes else None


def response_for(severity: str) -> str:
    cadence = update_cadence(severity)
    minutes = int(cadence.total_seconds() // 60) if cadence else 0
    return RESPONSE[Severity(severity)].format(cadence=f"{minutes} minutes")
