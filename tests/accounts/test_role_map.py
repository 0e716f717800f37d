"""From the identity provider's groups to a role (pure)."""

import pytest

from accounts.role_map import groups_in, mapped_groups, role_for, role_map_parse, role_named
from core.roles import Role

ROLE_MAP = role_map_parse('{"failsafe-admins": "admin", "sre": "responder", "support": "viewer"}')


def test_the_role_map_names_roles_in_plain_words():
    assert ROLE_MAP == {
        "failsafe-admins": Role.ADMIN,
        "sre": Role.RESPONDER,
        "support": Role.VIEWER,
    }
    assert role_named("Incident lead") is role_named("incident-lead") is Role.INCIDENT_LEAD


def test_an_empty_role_map_maps_nothing():
    assert role_map_parse("") == {}
    assert role_for(["sre"], {}) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1]", "must be a JSON object"),
        ('{"sre": "superhero"}', r"OIDC_ROLE_MAP\['sre'\]: 'superhero' is not a role"),
        ('{"sre": 3}', "must be a role name"),
        ("{", "not valid JSON"),
    ],
)
def test_a_wrong_role_map_is_refused_naming_the_entry(text, message):
    with pytest.raises(ValueError, match=message):
        role_map_parse(text)


def test_the_highest_mapped_role_wins():
    assert role_for(["support", "failsafe-admins", "sre"], ROLE_MAP) is Role.ADMIN
    assert role_for(["support", "sre"], ROLE_MAP) is Role.RESPONDER


def test_groups_that_map_to_nothing_give_no_role():
    assert role_for(["marketing", "everyone"], ROLE_MAP) is None
    assert role_for([], ROLE_MAP) is None


def test_only_the_mapped_groups_are_named_in_the_reason():
    assert mapped_groups(["everyone", "sre", "support"], ROLE_MAP) == ["sre", "support"]


def test_the_groups_come_from_the_userinfo_answer_and_the_id_token_together():
    userinfo = {"sub": "1", "groups": ["sre"]}
    id_token = {"sub": "1", "groups": ["sre", "support"]}
    assert groups_in([userinfo, id_token], "groups") == ["sre", "support"]


def test_a_single_group_may_come_as_a_string():
    assert groups_in([{"groups": "sre"}], "groups") == ["sre"]


def test_the_claim_may_be_a_path_into_nested_claims():
    claims = {"realm_access": {"roles": ["failsafe-admins", "offline_access"]}}
    assert groups_in([claims], "realm_access.roles") == ["failsafe-admins", "offline_access"]


def test_a_missing_or_odd_claim_holds_no_groups():
    assert (
        groups_in([{"sub": "1"}, {"groups": {"sre": True}}, {"groups": [1, None]}], "groups") == []
    )
