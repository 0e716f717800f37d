"""Failsafe's own settings, read from the environment: how often it evaluates and
samples, the incident defaults (docs/SEVERITY.md), webhook retries and the limits of what
the intake takes. config/settings.py imports them all."""

import environ

env = environ.Env()

# The mode stream's heartbeat: clients that hear nothing for three of these reconnect.
FAILSAFE_MODE_STREAM_HEARTBEAT_SECONDS = env.float(
    "FAILSAFE_MODE_STREAM_HEARTBEAT_SECONDS", default=15.0
)

# --- Incident response defaults (docs/SEVERITY.md) ---------------------------------
FAILSAFE_UPDATE_CADENCE_MINUTES = {
    "SEV1": env.int("FAILSAFE_SEV1_UPDATE_MINUTES", default=30),
    "SEV2": env.int("FAILSAFE_SEV2_UPDATE_MINUTES", default=60),
}
# An open incident with no lead or no severity this long after it was opened is chased.
FAILSAFE_TRIAGE_REMINDER_MINUTES = env.int("FAILSAFE_TRIAGE_REMINDER_MINUTES", default=10)
# Outgoing webhooks: attempts before a delivery is given up, and each attempt's timeout.
FAILSAFE_WEBHOOK_ATTEMPTS = env.int("FAILSAFE_WEBHOOK_ATTEMPTS", default=6)
FAILSAFE_WEBHOOK_TIMEOUT_SECONDS = env.float("FAILSAFE_WEBHOOK_TIMEOUT_SECONDS", default=5.0)
# Detection: events are counted in buckets this many seconds wide; monitors are evaluated
# every few seconds, a bucket once it is this many seconds old (late events still count
# in the rollups, but the detector has moved on).
FAILSAFE_ROLLUP_SECONDS = env.int("FAILSAFE_ROLLUP_SECONDS", default=2)
FAILSAFE_EVALUATE_SECONDS = env.float("FAILSAFE_EVALUATE_SECONDS", default=2.0)
FAILSAFE_EVALUATION_LAG_SECONDS = env.float("FAILSAFE_EVALUATION_LAG_SECONDS", default=3.0)
# Systems are spread over this many evaluation shards, one beat task each: more shards let
# more Celery workers evaluate at once (a system is evaluated by one worker at a time).
FAILSAFE_EVALUATION_SHARDS = env.int("FAILSAFE_EVALUATION_SHARDS", default=1)
# How often old rollup cells are compacted (1-minute cells after a day, 1-hour after a week).
FAILSAFE_ROLLUP_COMPACT_SECONDS = env.float("FAILSAFE_ROLLUP_COMPACT_SECONDS", default=300.0)
# How often new outputs are sampled for the review queue.
FAILSAFE_REVIEW_SAMPLE_SECONDS = env.float("FAILSAFE_REVIEW_SAMPLE_SECONDS", default=30.0)
# A request to the events endpoint may be this large (a batch is at most 5,000 events).
FAILSAFE_EVENTS_MAX_BYTES = env.int("FAILSAFE_EVENTS_MAX_BYTES", default=20 * 1024 * 1024)
# OpenTelemetry in (docs/TELEMETRY.md): a request's body (after gzip), one attribute value,
# and the requests in flight per process before the next is answered 429.
FAILSAFE_OTLP_MAX_BYTES = env.int("FAILSAFE_OTLP_MAX_BYTES", default=20 * 1024 * 1024)
FAILSAFE_OTLP_MAX_ATTRIBUTE_BYTES = env.int("FAILSAFE_OTLP_MAX_ATTRIBUTE_BYTES", default=256 * 1024)
FAILSAFE_OTLP_MAX_CONCURRENT = env.int("FAILSAFE_OTLP_MAX_CONCURRENT", default=8)
# How often raw events past their system's retention are dropped and day tables made ahead.
FAILSAFE_RETENTION_SECONDS = env.float("FAILSAFE_RETENTION_SECONDS", default=3600.0)
