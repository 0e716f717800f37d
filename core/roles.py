"""The role matrix: who may do what, checked server-side on every action.

Roles form a ladder; each role may do everything the roles below it may. A person's role
is the highest of their groups (a superuser is an admin). Some actions are also open to
the named owner of the object they act on, whatever their role.
"""

from enum import IntEnum


class Role(IntEnum):
    VIEWER = 1
    REVIEWER = 2
    RESPONDER = 3
    INCIDENT_LEAD = 4
    ADMIN = 5

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()

    @property
    def group_name(self) -> str:
        """The auth group that grants this role (created by a migration)."""
        return self.label


# action -> (the lowest role that may do it, whether the object's owner may do it too).
# docs/ROLES.md renders this table; keep the two in step.
ROLE_MATRIX: dict[str, tuple[Role, bool]] = {
    "incident.view": (Role.VIEWER, False),
    "system.view": (Role.VIEWER, False),
    "audit.view": (Role.VIEWER, False),
    "review.view": (Role.REVIEWER, False),
    "system.register": (Role.RESPONDER, False),
    "incident.declare": (Role.RESPONDER, False),
    "incident.triage": (Role.RESPONDER, False),
    "incident.status": (Role.RESPONDER, False),
    "incident.message": (Role.RESPONDER, False),
    "incident.update": (Role.RESPONDER, False),
    "mode.change": (Role.RESPONDER, False),
    "version.add": (Role.RESPONDER, True),
    "version.deploy": (Role.RESPONDER, False),
    "mode.drill": (Role.RESPONDER, True),
    "monitor.manage": (Role.RESPONDER, True),
    "postmortem.write": (Role.RESPONDER, True),
    "gate.manage": (Role.RESPONDER, True),
    "hold.decide": (Role.RESPONDER, False),
    "incident.override": (Role.INCIDENT_LEAD, True),
    "incident.lead": (Role.INCIDENT_LEAD, True),
    "incident.close": (Role.INCIDENT_LEAD, True),
    "comms.draft": (Role.RESPONDER, False),
    "comms.approve": (Role.INCIDENT_LEAD, True),
    "comms.publish": (Role.INCIDENT_LEAD, True),
    "comms.waive": (Role.INCIDENT_LEAD, True),
    "comms.template": (Role.INCIDENT_LEAD, True),
    "webhook.manage": (Role.ADMIN, False),
    "system.edit": (Role.ADMIN, True),
    "token.manage": (Role.ADMIN, True),
}

ACTION_DESCRIPTIONS = {
    "incident.view": "See incidents, their timelines and the incident list",
    "system.view": "See AI systems, their action catalogs and runbooks",
    "audit.view": "Read the audit log of any object",
    "review.view": "Work the ground-truth review queue",
    "system.register": "Register a new AI system (and become its owner)",
    "incident.declare": "Declare an incident",
    "incident.triage": "Classify an incident's severity by answering the two triage questions",
    "incident.status": "Move an incident through its lifecycle (up to resolved)",
    "incident.message": "Post in an incident's room and join it as a participant",
    "incident.update": "Post an incident's status update",
    "version.add": "Add a version of a system's model, prompt, retrieval source or configuration",
    "version.deploy": "Deploy a version, or roll a surface back to an earlier one",
    "mode.change": "Change a system's runtime mode: the kill switch, degraded, human, back to AI",
    "mode.drill": "Run a kill-switch drill on a system (or own it)",
    "monitor.manage": "Add, change and remove a system's monitors (or own it)",
    "postmortem.write": "Write an incident's postmortem and its action items (or lead it)",
    "gate.manage": "Set a system's gate rules and close its circuit breakers (or own it)",
    "hold.decide": "Approve or reject actions held at the gate, one by one or in bulk",
    "incident.override": "Override the severity the scale gives, with a reason (or be the lead)",
    "incident.lead": "Hand over the lead; name the scribe and the comms owner (or be the lead)",
    "incident.close": "Close an incident, or close a SEV3 as a benign shift (or be the lead)",
    "comms.draft": "Draft an incident's external communication: each save is a new version",
    "comms.approve": "Approve a version of an external communication (or be the incident's lead)",
    "comms.publish": (
        "Publish the approved external communication to the status page; export its "
        "per-subject notices (or be the lead)"
    ),
    "comms.waive": (
        "Waive a SEV1's external communication, or record a SEV2's decision, with a reason "
        "(or be the lead)"
    ),
    "comms.template": "Write a system's external communication templates (or own the system)",
    "webhook.manage": "Add, change and remove outgoing webhooks; read their delivery log",
    "system.edit": "Edit a system, its action catalog and its runbook",
    "token.manage": "Issue and revoke a system's API tokens",
}


def role_of(user) -> Role | None:
    """The person's role, or None for someone signed in without one (or signed out)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    cached: Role | bool | None = getattr(user, "_failsafe_role", False)
    if cached is not False:
        return cached if isinstance(cached, Role) else None
    role: Role | None
    if user.is_superuser:
        role = Role.ADMIN
    else:
        by_group = {r.group_name: r for r in Role}
        names = user.groups.values_list("name", flat=True)
        role = max((by_group[n] for n in names if n in by_group), default=None)
    user._failsafe_role = role
    return role


def can(user, action: str, obj=None) -> bool:
    minimum, owner_may = ROLE_MATRIX[action]
    role = role_of(user)
    if role is not None and role >= minimum:
        return True
    return bool(owner_may and role is not None and obj is not None and _owns(user, obj))


def _owns(user, obj) -> bool:
    return getattr(obj, "owner_id", None) == user.pk
