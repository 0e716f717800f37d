import pytest

from systems.services import token_issue


@pytest.fixture
def token(system):
    """The raw token of `system` (refund-classifier), scope events:write."""
    return token_issue(actor=None, system=system, name="otel", scopes=["events:write"])[1]
