"""The severity scale (docs/SEVERITY.md): consequence, not the size of the error."""

from datetime import timedelta

import pytest
from django.test import override_settings

from incidents.severity import assess, response_for, update_cadence


@pytest.mark.parametrize(
    ("harm", "irreversible", "expected"),
    [
        ("harmful", True, "SEV1"),
        ("harmful", False, "SEV1"),
        ("wrong", True, "SEV1"),
        ("wrong", False, "SEV2"),
        ("anomalous", True, "SEV3"),
        ("anomalous", False, "SEV3"),
    ],
)
def test_each_cell_of_the_scale_gives_the_products_severity(harm, irreversible, expected):
    assert assess(harm, irreversible).severity == expected


def test_harmful_outputs_are_sev1_whatever_the_actions_and_the_reason_says_so():
    for irreversible in (True, False):
        why = assess("harmful", irreversible).why
        assert "Harmful" in why
        assert "whatever actions" in why


def test_wrong_outputs_name_the_reversibility_that_decided_them():
    assert "irreversible" in assess("wrong", True).why
    assert "SEV1" in assess("wrong", True).why
    assert "can be undone" in assess("wrong", False).why
    assert "SEV2" in assess("wrong", False).why


def test_an_anomaly_says_no_wrong_output_is_confirmed_and_what_the_actions_did():
    with_actions = assess("anomalous", True).why
    without = assess("anomalous", False).why
    assert "no confirmed wrong output" in with_actions
    assert "set off irreversible actions" in with_actions
    assert "set off no irreversible action" in without


def test_a_harm_outside_the_scale_is_refused():
    with pytest.raises(ValueError):
        assess("catastrophic", True)


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("SEV1", timedelta(minutes=30)), ("SEV2", timedelta(minutes=60)), ("SEV3", None)],
)
def test_the_update_cadence_is_30_minutes_for_sev1_60_for_sev2_and_none_for_sev3(
    severity, expected
):
    assert update_cadence(severity) == expected


def test_an_unclassified_incident_owes_no_update():
    assert update_cadence("") is None


@override_settings(FAILSAFE_UPDATE_CADENCE_MINUTES={"SEV1": 15, "SEV2": 45})
def test_the_cadence_follows_the_settings():
    assert update_cadence("SEV1") == timedelta(minutes=15)
    assert update_cadence("SEV2") == timedelta(minutes=45)
    assert update_cadence("SEV3") is None


def test_the_response_names_the_update_cadence():
    assert "every 30 minutes" in response_for("SEV1")
    assert "kill switch first" in response_for("SEV1")
    assert "every 60 minutes" in response_for("SEV2")
    assert "Degrade gracefully" in response_for("SEV2")
    sev3 = response_for("SEV3")
    assert "minutes" not in sev3
    assert "benign shift" in sev3


@override_settings(FAILSAFE_UPDATE_CADENCE_MINUTES={"SEV1": 15, "SEV2": 45})
def test_the_response_text_follows_the_configured_cadence():
    assert "every 15 minutes" in response_for("SEV1")
    assert "every 45 minutes" in response_for("SEV2")
