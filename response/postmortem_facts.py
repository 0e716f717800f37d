"""The facts a postmortem starts from, gathered from the incident when it is resolved.

The postmortem's questions (docs/GLOSSARY.md) are the sections; this fills what the record
already knows (the clocks, what changed before the onset, the rollback and whether it was
confirmed, the blast radius, what reviewers found), so the people writing it spend their
time on why.
"""

from groundtruth.selectors import incident_reviews
from monitoring.selectors.incident import blast_radius, incident_alerts, rollback_verdicts
from rollbacks.selectors import changes_before


def _iso(value):
    return value.isoformat() if value else None


def _seconds(delta):
    return round(delta.total_seconds()) if delta is not None else None


def _rollback_text(deployment) -> str:
    was = f"v{deployment.from_version.number}" if deployment.from_version else "?"
    return f"{deployment.surface} {was} → v{deployment.to_version.number}"


def facts_of(incident, now=None) -> dict:
    """JSON facts of the incident, as they stand now."""
    radius = blast_radius(incident, now)
    verdicts = rollback_verdicts(incident, now)
    return {
        "onset": _iso(incident.onset_at),
        "detected": _iso(incident.detected_or_declared_at),
        "contained": _iso(incident.contained_at),
        "resolved": _iso(incident.resolved_at),
        "time_to_detect": _seconds(incident.time_to_detect),
        "time_to_contain": _seconds(incident.time_to_contain),
        "time_to_resolve": _seconds(incident.time_to_resolve),
        # An alert another tool sent says which tool: "Alertmanager: HighErrorRate: …".
        "detected_by": [
            a.summary if a.monitor_id else f"{a.get_source_display()}: {a.summary}"
            for a in incident_alerts(incident)
        ]
        or ["a person (no monitor alerted)"],
        "changes_before": [
            {
                "at": _iso(c["at"]),
                "system": c["system"].slug,
                "what": c["what"],
                "actor": c["actor"],
                "reason": c["reason"],
            }
            for c in changes_before(incident)
        ],
        "rollbacks": [
            {
                "at": _iso(v["rollback"].at),
                "what": _rollback_text(v["rollback"]),
                "verification": v["state"],
                "confirmed_at": _iso(v["at"]),
            }
            for v in verdicts
        ],
        "blast_radius": {
            "since": _iso(radius["since"]),
            "until": _iso(radius["until"]),
            "outputs": radius["outputs"],
            "subjects": radius["subjects"],
            "irreversible": radius["irreversible"],
            "user_visible": radius["user_visible"],
            "labels": radius["labels"],
            "actions": radius["actions"],
        },
        "reviews": [
            {
                "system": r["system"].slug,
                "reviewed": r["estimate"].reviewed,
                "wrong": r["estimate"].wrong,
                "wrong_share": r["wrong_share"],
                "baseline": r["baseline"].correct if r["baseline"].reviewed else None,
            }
            for r in incident_reviews(incident, now)
        ],
    }
