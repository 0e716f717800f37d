"""Fixtures shared by the whole suite, and a check that the real services are there."""

import socket
import threading
import time
from urllib.parse import urlparse

import pytest
import uvicorn
from channels.routing import ProtocolTypeRouter
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from tests.factories import AISystemFactory, Role, UserFactory

START_HINTS = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
}


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def pytest_sessionstart(session):
    """Stop at once, saying how to start them, when PostgreSQL or Redis is not running."""
    db = settings.DATABASES["default"]
    redis = urlparse(settings.REDIS_URL)
    needed = {
        "PostgreSQL": (db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)),
        "Redis": (redis.hostname or "127.0.0.1", redis.port or 6379),
    }
    # Django's backend or django-prometheus' wrapper of it (config/settings.py).
    if not db["ENGINE"].endswith("db.backends.postgresql"):
        pytest.exit("The suite runs on PostgreSQL: set DATABASE_URL=postgres://…", returncode=2)
    down = [name for name, (host, port) in needed.items() if not _reachable(host, port)]
    if down:
        lines = [
            f"{name} is not reachable at {needed[name][0]}:{needed[name][1]}." for name in down
        ]
        lines += ["Start it with:"] + [f"  {START_HINTS[name]}" for name in down]
        lines += ["or point DATABASE_URL / REDIS_URL at running servers."]
        pytest.exit("\n".join(lines), returncode=2)


def pytest_collection_modifyitems(items):
    """Browser tests last: Playwright's sync API leaves an event loop in the main thread,
    which code run after it through async_to_sync (the room's tests) must not meet."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The day tables of raw events for the default retention, as the periodic work makes
    them: tests that create events through the ORM rather than ingestion need them there."""
    with django_db_blocker.unblock():
        from monitoring.services import retention

        retention.events_retention_apply()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache (the real Redis, in its test database)."""
    from django.core.cache import cache

    cache.clear()


def _person(username, role, doc=None):
    @pytest.fixture
    def person(db):
        return UserFactory(username=username, role=role)

    person.__doc__ = doc
    return person


viewer = _person("vera", Role.VIEWER)
reviewer = _person("rui", Role.REVIEWER)
responder = _person("rosa", Role.RESPONDER)
lead = _person("lena", Role.INCIDENT_LEAD)
admin_user = _person("ada", Role.ADMIN)
outsider = _person("otto", None, "Signed in, but given no role: must see nothing.")


@pytest.fixture
def owner(db):
    """Owns `system`; a viewer by role, so only ownership lets them edit it."""
    return UserFactory(username="olga", role=Role.VIEWER)


@pytest.fixture
def system(owner):
    return AISystemFactory(slug="refund-classifier", name="Refund classifier", owner=owner)


@pytest.fixture
def other_system(db):
    return AISystemFactory(slug="support-reply", name="Support reply drafter")


@pytest.fixture
def client_for(client):
    """`client_for(user)`: the test client signed in as that person."""

    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def _asgi_server():
    """Failsafe's ASGI application (pages and the room's WebSockets) under uvicorn, in a
    thread of the test process. The WSGI live server cannot speak WebSocket."""
    from config.asgi import application, django_asgi_app

    app = ProtocolTypeRouter(
        {
            "http": ASGIStaticFilesHandler(django_asgi_app),
            "websocket": application.application_mapping["websocket"],
        }
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)


@pytest.fixture
def asgi_server(_asgi_server, transactional_db):
    """The base URL of the real ASGI server, on committed data each test cleans up."""
    return _asgi_server
