"""Fixtures for the failsafe-client tests: a fake mode API for the unit tests, the real
server for the integration tests."""

import socket

import httpx
import pytest
from failsafe_client import Failsafe, client

from systems.models import ModeClient
from systems.services import token_issue
from tests.factories import AISystemFactory
from tests.sdk.fakes import FakeModeServer, wait_until


@pytest.fixture(autouse=True)
def _quick_backoff(monkeypatch):
    """Reconnect within milliseconds, so tests of reconnection take no time."""
    monkeypatch.setattr(client, "BACKOFF_BASE", 0.01)


@pytest.fixture
def fake():
    server = FakeModeServer(slug="refunds", mode="ai", revision=1)
    yield server
    server.closed.set()


@pytest.fixture
def make_client(fake):
    """`make_client(**options)`: a Failsafe client on the fake server, closed after the test."""
    clients = []

    def make(**options):
        options.setdefault("poll_interval", 0.05)
        instance = Failsafe("http://failsafe.test", "fsk_test", transport=fake.transport, **options)
        clients.append(instance)
        return instance

    yield make
    for instance in clients:
        instance.close()


# The real server: the ASGI application under uvicorn (`asgi_server`, tests/conftest.py).


class CountingTransport(httpx.HTTPTransport):
    """The ordinary transport, noting each request, so a test can tell the stream from
    polling and see that evaluations make no HTTP call."""

    def __init__(self):
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request):
        self.requests.append(request)
        return super().handle_request(request)

    def count(self, suffix, method="GET"):
        return sum(1 for r in self.requests if r.method == method and r.url.path.endswith(suffix))


@pytest.fixture
def live_system(admin_user):
    return AISystemFactory(slug="refund-classifier")


@pytest.fixture
def live_token(live_system, admin_user):
    _, raw = token_issue(
        actor=admin_user, system=live_system, name="sdk tests", scopes=["mode:read", "bundle:read"]
    )
    return raw


@pytest.fixture
def live_client(asgi_server, live_system, live_token):
    """`live_client(**options)`: a client of the real server, with a CountingTransport as
    `.transport`. Closed after the test, and the server given time to see its streams go,
    before the database is emptied under them."""
    clients = []

    def make(url=asgi_server, token=live_token, **options):
        transport = CountingTransport()
        instance = Failsafe(url, token, transport=transport, **options)
        instance.transport = transport
        clients.append(instance)
        return instance

    yield make
    for instance in clients:
        instance.close()
    # The server notices a closed stream when its channel-layer receive returns (up to
    # channels_redis's 5 s BRPOP timeout), then records it: let it, before the flush.
    wait_until(
        lambda: not ModeClient.objects.filter(system=live_system, streams__gt=0).exists(),
        timeout=10,
    )


@pytest.fixture
def closed_port_url():
    """A URL where nothing listens: a server that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
