"""The OpenFeature provider: a system's mode as a string flag, from the client's memory."""

import pytest
from failsafe_client.openfeature import FailsafeProvider
from openfeature import api
from openfeature.event import ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from tests.sdk.fakes import wait_until

SLUG = "refunds"


@pytest.fixture
def flags(fake, make_client):
    failsafe = make_client()
    failsafe.watch(SLUG, wait=True)
    api.set_provider(FailsafeProvider(failsafe), "failsafe-test")
    yield api.get_client("failsafe-test")
    api.clear_providers()


def test_the_flag_key_is_the_slug_and_the_value_its_mode(fake, flags):
    assert flags.get_string_value(SLUG, "ai") == "ai"

    fake.change("human")

    assert wait_until(lambda: flags.get_string_value(SLUG, "ai") == "human")
    details = flags.get_string_details(SLUG, "ai")
    assert details.reason == Reason.CACHED
    assert details.variant == "human"
    assert details.flag_metadata == {"revision": 2}


def test_an_evaluation_makes_no_http_call(fake, flags):
    sent = len(fake.requests_to("/mode")) + len(fake.requests_to("/mode/stream"))
    for _ in range(1000):
        flags.get_string_value(SLUG, "ai")
    assert len(fake.requests_to("/mode")) + len(fake.requests_to("/mode/stream")) == sent


def test_a_mode_never_known_answers_the_callers_default(flags):
    details = flags.get_string_details("never-heard-of", "degraded")
    assert details.value == "degraded"
    assert details.reason == Reason.DEFAULT


@pytest.mark.parametrize(
    ("method", "default"),
    [
        ("get_boolean_details", True),
        ("get_integer_details", 1),
        ("get_float_details", 1.0),
        ("get_object_details", {"mode": "ai"}),
    ],
)
def test_other_flag_types_answer_their_default_with_a_type_mismatch(flags, method, default):
    details = getattr(flags, method)(SLUG, default)
    assert details.value == default
    assert details.error_code == ErrorCode.TYPE_MISMATCH


def test_a_mode_change_is_announced_as_a_configuration_change(fake, flags):
    changed = []
    flags.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, changed.append)

    fake.change("ai", drill=True)  # a drill: no change to announce
    fake.change("degraded")

    assert wait_until(lambda: changed)
    assert [event.flags_changed for event in changed] == [[SLUG]]
