"""From an identity provider's groups to a Failsafe role: the rule, without Django.

`OIDC_ROLE_MAP` maps group names, as the provider sends them in its groups claim, to
roles: {"failsafe-admins": "admin", "sre": "responder", "support": "viewer"}. A person
with several mapped groups gets the highest of their roles; a person with none of them
gets no role (signed in, sees nothing).
"""

import json
from collections.abc import Iterable, Mapping

from core.roles import Role


def role_named(name: str) -> Role:
    """ "responder", "Incident lead", "incident_lead" and "incident-lead" all name a role."""
    key = name.strip().upper().replace(" ", "_").replace("-", "_")
    try:
        return Role[key]
    except KeyError:
        known = ", ".join(role.name.lower() for role in Role)
        raise ValueError(f"{name!r} is not a role (one of {known})") from None


def role_map_parse(text: str) -> dict[str, Role]:
    """`OIDC_ROLE_MAP` as {group: role}; an empty text is an empty map."""
    if not text.strip():
        return {}
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"OIDC_ROLE_MAP is not valid JSON: {error}") from None
    if not isinstance(entries, dict):
        raise ValueError('OIDC_ROLE_MAP must be a JSON object: {"group": "role", ...}')
    role_map = {}
    for group, name in entries.items():
        if not isinstance(name, str):
            raise ValueError(f"OIDC_ROLE_MAP[{group!r}] must be a role name")
        try:
            role_map[group] = role_named(name)
        except ValueError as error:
            raise ValueError(f"OIDC_ROLE_MAP[{group!r}]: {error}") from None
    return role_map


def groups_in(claims: Iterable[Mapping], claim: str) -> list[str]:
    """The group names one claim holds, across the claim sets given (the userinfo answer,
    the ID token). `claim` may be a dotted path into nested claims (`realm_access.roles`);
    its value may be a list of names or a single name."""
    groups: list[str] = []
    for source in claims:
        value: object = source
        for step in claim.split("."):
            value = value.get(step) if isinstance(value, Mapping) else None
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list):
            continue
        groups += [name for name in names if isinstance(name, str) and name not in groups]
    return groups


def mapped_groups(groups: Iterable[str], role_map: Mapping[str, Role]) -> list[str]:
    """The person's groups that the map names, in the provider's order."""
    return [group for group in groups if group in role_map]


def role_for(groups: Iterable[str], role_map: Mapping[str, Role]) -> Role | None:
    """The highest role any of the groups maps to; None when none is mapped."""
    return max((role_map[group] for group in mapped_groups(groups, role_map)), default=None)
