"""Reading what telemetry keeps."""

from telemetry.models import OtlpIntake


def intake_of(system) -> OtlpIntake | None:
    """The system's OTLP intake counts; None before its first request."""
    return OtlpIntake.objects.filter(system=system).first()
