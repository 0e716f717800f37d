import pytest

from core.roles import ROLE_MATRIX, Role, can, role_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_persons_role_is_the_highest_of_their_groups():
    person = UserFactory(role=Role.VIEWER)
    person.groups.add(*UserFactory(role=Role.RESPONDER).groups.all())
    person = type(person).objects.get(pk=person.pk)
    assert role_of(person) == Role.RESPONDER


def test_a_superuser_is_an_admin_and_someone_without_a_group_has_no_role():
    assert role_of(UserFactory(is_superuser=True)) == Role.ADMIN
    assert role_of(UserFactory(role=None)) is None


def test_a_deactivated_person_has_no_role():
    assert role_of(UserFactory(role=Role.ADMIN, is_active=False)) is None


@pytest.mark.parametrize("action", sorted(ROLE_MATRIX))
def test_each_action_is_allowed_from_its_minimum_role_up_and_refused_below(action):
    minimum, _ = ROLE_MATRIX[action]
    for role in Role:
        assert can(UserFactory(role=role), action) == (role >= minimum), (action, role)
    assert not can(UserFactory(role=None), action)


def test_the_owner_of_a_system_may_edit_it_but_not_someone_elses(system, other_system, owner):
    assert role_of(owner) == Role.VIEWER
    assert can(owner, "system.edit", system)
    assert not can(owner, "system.edit", other_system)
    assert not can(owner, "system.register")
