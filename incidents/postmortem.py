"""The facts a postmortem starts from, gathered from the incident when it is resolved.

The playbook's questions are the sections; this fills what the record already knows (the
clocks, what changed before the onset, the rollback and whether it was confirmed, the blast
radius, what reviewers found), so the people writing it spend their time on why.
"""

from monitoring.selectors import blast_radius, incident_alerts, incident_reviews, rollback_verdicts
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
        "detected_by": [a.summary for a in incident_alerts(incident)]
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


def _duration(seconds) -> str:
    if seconds is None:
        return "an unknown time"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def drafts_from(facts: dict) -> dict:
    """First drafts of the sections, in plain words, for people to correct and complete."""
    radius = facts["blast_radius"]
    labels = ", ".join(f"{n} {label}" for label, n in radius["labels"].items()) or "none recorded"
    produced = f"{radius['outputs']} outputs between the onset and containment ({labels})."
    for review in facts["reviews"]:
        produced += (
            f" Reviewers found {review['wrong']} of {review['reviewed']} sampled outputs of "
            f"{review['system']} wrong."
        )
    last_change = facts["changes_before"][0] if facts["changes_before"] else None
    root_cause = (
        f"Last change before the onset: {last_change['what']} on {last_change['system']} "
        f"({last_change['reason']}). Confirm or rule it out."
        if last_change
        else "No deployment or mode change in the 48 hours before the onset: look at the "
        "input distribution and the providers."
    )
    detection = (
        f"It ran {_duration(facts['time_to_detect'])} before detection. Detected by: "
        + "; ".join(facts["detected_by"])
        + "."
    )
    containment = f"Contained {_duration(facts['time_to_contain'])} after detection."
    for rollback in facts["rollbacks"]:
        outcome = {
            "confirmed": f"confirmed at {rollback['confirmed_at']}",
            "not_confirmed": "not confirmed within 30 minutes",
            "verifying": "still being verified",
            "nothing": "no alert to verify it against",
        }[rollback["verification"]]
        containment += f" Rolled back {rollback['what']} ({outcome})."
    actions = "; ".join(
        f"{a['count']} {a['type']}{'' if a['reversible'] is not False else ' (irreversible)'}"
        for a in radius["actions"]
    )
    blast = (
        f"{radius['subjects']} distinct subjects reached; downstream actions: "
        f"{actions or 'none'}. {radius['irreversible']} could not be undone."
    )
    return {
        "produced": produced,
        "root_cause": root_cause,
        "detection": detection,
        "containment": containment,
        "blast_radius": blast,
    }
