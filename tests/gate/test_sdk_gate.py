"""The SDK's `gate()`: the server's answer, the declared default when Failsafe cannot
answer, and hold polling (a fake transport, then the real server)."""

import json
import socket
import threading

import httpx
import pytest
from failsafe_client import Failsafe

from gate.models import Hold
from gate.services.holds import holds_decide
from systems.models import RuntimeMode
from tests.gate.conftest import set_rule

SLUG = "refund-classifier"


class FakeGate:
    """The gate's two URLs, answering as told; `down` makes every call fail to connect."""

    def __init__(self, defaults=None, answer=None, status=200):
        self.defaults = defaults or [{"action": "account_hold", "unreachable": "hold"}]
        self.answer = answer or {"decision": "allow", "reason": "ok"}
        self.status = status
        self.down = False
        self.calls = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.method, request.url.path))
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        if request.method == "GET" and request.url.path.endswith("/gate"):
            return httpx.Response(200, json={"system": SLUG, "actions": self.defaults})
        if request.method == "POST":
            self.body = json.loads(request.content)
            return httpx.Response(self.status, json=self.answer)
        return httpx.Response(200, json={"status": "approved"})


@pytest.fixture
def fake_gate():
    return FakeGate()


@pytest.fixture
def sdk(fake_gate):
    made = []

    def make(**options):
        client = Failsafe(
            "http://failsafe.test",
            "fsk_test",
            transport=httpx.MockTransport(fake_gate.handle),
            system=SLUG,
            **options,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_it_answers_what_the_server_decided(sdk, fake_gate):
    fake_gate.answer = {"decision": "hold", "reason": "breaker", "hold_id": "abc"}
    answer = sdk().gate("account_hold", "cus_1", event_id="ev-1")
    assert (answer.decision, answer.hold_id, answer.local, answer.allowed) == (
        "hold",
        "abc",
        False,
        False,
    )
    assert fake_gate.body == {"action": "account_hold", "subject": "cus_1", "event_id": "ev-1"}


def test_unreachable_it_answers_the_owners_declared_default(sdk, fake_gate):
    fake_gate.defaults = [
        {"action": "account_hold", "unreachable": "hold"},
        {"action": "claim_tag", "unreachable": "allow"},
    ]
    client = sdk()
    assert client.gate_defaults() == {"account_hold": "hold", "claim_tag": "allow"}
    fake_gate.down = True
    held = client.gate("account_hold", "cus_1")
    assert (held.decision, held.local, held.hold_id) == ("hold", True, None)
    assert "held locally" in held.reason
    allowed = client.gate("claim_tag", "cus_1")
    assert (allowed.decision, allowed.local) == ("allow", True)


def test_defaults_passed_in_win_and_never_reached_means_fail_closed(sdk, fake_gate):
    fake_gate.down = True
    client = sdk(gate_defaults={"claim_tag": "allow"})
    assert client.gate("claim_tag", "c").decision == "allow"
    assert client.gate("account_hold", "c").decision == "hold"  # gate_default: fail closed
    assert sdk(gate_default="allow").gate("account_hold", "c").decision == "allow"


def test_a_server_error_or_a_refusal_answers_the_default(sdk, fake_gate):
    client = sdk()
    fake_gate.status = 503
    assert client.gate("account_hold", "c").local
    fake_gate.status, fake_gate.answer = 400, {"errors": [{"field": "action", "message": "no"}]}
    refused = client.gate("account_hold", "c")
    assert refused.local and refused.decision == "hold" and "action no" in refused.reason


def test_it_polls_a_hold_until_decided(sdk, fake_gate):
    assert sdk().wait_for_hold("abc", timeout=1, interval=0.01) == "approve"


def test_a_default_must_be_hold_or_allow(sdk):
    with pytest.raises(ValueError):
        sdk(gate_defaults={"account_hold": "maybe"})


# The real server.


@pytest.fixture
def gate_token(asgi_server, system, owner, account_hold):
    from systems.services import token_issue

    _, raw = token_issue(actor=owner, system=system, name="sdk", scopes=["gate"])
    return raw


def test_against_the_server_a_hold_is_polled_to_its_outcome(
    asgi_server, gate_token, system, account_hold, responder
):
    RuntimeMode.objects.filter(system=system).update(mode="human")
    with Failsafe(asgi_server, gate_token, system=SLUG) as client:
        answer = client.gate("account_hold", "cus_7", event_id="ev-7")
        assert (answer.decision, answer.local) == ("hold", False)
        assert client.hold(answer.hold_id)["status"] == "pending"
        decided = threading.Timer(
            0.3,
            lambda: holds_decide(
                actor=responder,
                holds=Hold.objects.filter(code=answer.hold_id),
                outcome="reject",
                reason="Not fraud.",
            ),
        )
        decided.start()
        assert client.wait_for_hold(answer.hold_id, timeout=10, interval=0.1) == "reject"
        decided.join()


def test_against_the_server_the_declared_default_applies_once_it_is_gone(
    asgi_server, gate_token, system, account_hold, tag
):
    set_rule(account_hold, unreachable="hold")
    set_rule(tag, unreachable="allow")
    with Failsafe(asgi_server, gate_token, system=SLUG) as client:
        assert client.gate("account_hold", "c").decision == "allow"  # fetched the defaults
        with socket.socket() as probe:  # a port where nothing listens
            probe.bind(("127.0.0.1", 0))
            dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
        client._http.base_url = dead
        assert client.gate("account_hold", "c").decision == "hold"
        assert client.gate("claim_tag", "c").decision == "allow"
