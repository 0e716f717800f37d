"""Writes of signing in: a person's role as their identity provider's groups give it, and
the audit entry of a break-glass sign-in. (Personal tokens have their own module,
`accounts.token_services`.)"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from core.roles import Role
from core.services import audit_record

ROLE_GROUPS = [role.group_name for role in Role]


@transaction.atomic
def person_role_sync(*, person, role: Role | None, reason: str) -> bool:
    """Make `role` the person's one role group (no role group for None); groups that
    grant no role are left alone. Audited, and True, when it changes anything."""
    # One sign-in at a time per person, so a change is applied and audited once.
    get_user_model().objects.select_for_update().filter(pk=person.pk).first()
    before = sorted(person.groups.filter(name__in=ROLE_GROUPS).values_list("name", flat=True))
    after = [role.group_name] if role is not None else []
    if before == after:
        return False
    person.groups.remove(*Group.objects.filter(name__in=set(before) - set(after)))
    if role is not None:
        # get_or_create: the groups come from a migration, which a flushed database lacks.
        person.groups.add(Group.objects.get_or_create(name=role.group_name)[0])
    person.__dict__.pop("_failsafe_role", None)  # role_of's cache on this object
    audit_record(
        actor=None,
        verb="user.roles_change",
        target=person,
        before={"groups": before},
        after={"groups": after},
        reason=reason,
    )
    return True


@transaction.atomic
def break_glass_sign_in_record(*, person) -> None:
    """A superuser came in through a one-time link from `manage.py break_glass`."""
    audit_record(
        actor=person,
        verb="user.break_glass_sign_in",
        target=person,
        reason="one-time sign-in link from manage.py break_glass",
    )
