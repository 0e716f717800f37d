import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from core.roles import Role, role_of
from incidents.models import Incident
from systems.models import AISystem

pytestmark = pytest.mark.django_db


def _counts():
    return {
        "people": get_user_model().objects.count(),
        "systems": AISystem.objects.count(),
        "incidents": Incident.objects.count(),
    }


def test_it_loads_people_for_every_role_who_can_sign_in_with_the_printed_password(capsys):
    call_command("seed_demo")
    printed = capsys.readouterr().out
    assert "failsafe-demo" in printed
    for role in Role:
        username = {Role.INCIDENT_LEAD: "lead"}.get(role, role.name.lower())
        assert username in printed
        person = authenticate(username=username, password="failsafe-demo")
        assert role_of(person) == role


def test_it_loads_the_two_reference_systems_and_a_few_incidents():
    call_command("seed_demo")
    refund = AISystem.objects.get(slug="refund-classifier")
    assert refund.kind == "classifier"
    assert refund.action_types.get(name="account_hold").reversible is False
    assert AISystem.objects.get(slug="support-reply").kind == "generator"
    assert Incident.objects.filter(status__in=Incident.Status.open_values()).count() >= 2
    assert Incident.objects.filter(status="resolved").exists()


def test_running_it_twice_changes_nothing():
    call_command("seed_demo")
    first = _counts()
    call_command("seed_demo")
    assert _counts() == first
