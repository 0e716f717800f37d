"""A prompt version with a name, as prompt registries call them, is known to events by
`<name>@v<number>` and `<name>:<number>` too (what `gen_ai.prompt.name` carries)."""

import pytest

from rollbacks.selectors import version_refs
from rollbacks.services import version_add
from rollbacks.surfaces import InvalidVersion

pytestmark = pytest.mark.django_db


def test_a_named_prompt_version_is_known_by_its_name_and_number(system, admin_user):
    version_add(actor=admin_user, system=system, surface="prompt", content={"template": "A"})
    version_add(
        actor=admin_user,
        system=system,
        surface="prompt",
        content={"template": "B {order}", "variables": ["order"], "name": "refund-triage"},
    )

    prompts = version_refs(system)["prompt"]

    assert prompts["refund-triage@v2"] == prompts["refund-triage:2"] == prompts["v2"] == 2
    assert "refund-triage@v1" not in prompts
    assert prompts["prompt@v1"] == 1


def test_a_prompt_name_must_be_text(system, admin_user):
    with pytest.raises(InvalidVersion) as refused:
        version_add(
            actor=admin_user, system=system, surface="prompt", content={"template": "A", "name": 7}
        )
    assert refused.value.field == "name"
