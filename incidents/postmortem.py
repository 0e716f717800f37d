"""First drafts of a postmortem's sections from its facts (gathered by the layer that can
see every app: `response.postmortem_facts`), in plain words, for people to correct."""


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
