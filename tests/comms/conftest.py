"""Fixtures for the external communication tests: incidents built from events."""

import pytest

from tests.comms.builders import catalog_for, incident_with_events
from tests.factories import Role, UserFactory


@pytest.fixture
def catalog(system):
    catalog_for(system)


@pytest.fixture
def make_incident(system, catalog, lead):
    """`make_incident("SEV2", reached=False, lead=someone)`."""

    def make(severity="SEV1", *, reached=True, lead=lead, title="Fraud holds tripled"):
        return incident_with_events(system, lead, severity, reached=reached, title=title)

    return make


@pytest.fixture
def sev1(make_incident):
    return make_incident("SEV1", reached=True)


@pytest.fixture
def responder_lead(db):
    """A responder by role who leads the incident: its owner, so the lead's decisions are
    theirs."""
    return UserFactory(username="rhea", role=Role.RESPONDER)
