"""The runtime mode: changing it, reading it, hearing about it, and proving it took effect."""

import itertools
import json
import threading
import time

import httpx
import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from redis import Redis

from core.models import AuditEntry
from incidents.services.incident import incident_declare, incident_status_change
from systems.models import ModeAck, ModeChange, RuntimeMode
from systems.selectors import mode_change_effect
from systems.services import (
    ModeRefused,
    mode_change,
    mode_client_report,
    mode_drill,
    token_issue,
    token_revoke,
)

pytestmark = pytest.mark.django_db

DEAD_REDIS = "redis://127.0.0.1:1/0"
REDIS_DOWN = {
    "CACHES": {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": DEAD_REDIS,
            "OPTIONS": {"socket_connect_timeout": 0.2},
        }
    },
    "CHANNEL_LAYERS": {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [DEAD_REDIS]},
        }
    },
}


@pytest.fixture
def token(system, owner):
    return token_issue(actor=owner, system=system, name="prod", scopes=["mode:read"])[1]


def _get(client, token, slug="refund-classifier", **headers):
    return client.get(
        f"/api/v1/systems/{slug}/mode", HTTP_AUTHORIZATION=f"Bearer {token}", **headers
    )


# --- Changing ---------------------------------------------------------------------------


def test_a_mode_change_is_audited_numbered_and_kept_in_the_history(system, responder):
    state = mode_change(actor=responder, system=system, mode="off", reason="Holds firing")
    assert (state.mode, state.revision, state.changed_by) == ("off", 1, "rosa")
    entry = AuditEntry.objects.get(verb="mode.change")
    assert (entry.before["mode"], entry.after["mode"], entry.reason) == (
        "ai",
        "off",
        "Holds firing",
    )
    assert ModeChange.objects.get().previous_mode == "ai"


def test_a_mode_change_appears_on_every_open_incident_of_the_system_and_contains_it(
    system, other_system, lead, responder
):
    def declare(title, systems):
        return incident_declare(actor=lead, title=title, systems=systems, harm="harmful")

    open_one, also_open = declare("A", [system]), declare("B", [system, other_system])
    elsewhere = declare("C", [other_system])
    closed = declare("D", [system])
    incident_status_change(actor=lead, incident=closed, status="contained")
    incident_status_change(actor=lead, incident=closed, status="resolved")

    mode_change(actor=responder, system=system, mode="off", reason="Contain first")

    for incident in (open_one, also_open):
        entry = incident.timeline.get(kind="mode")
        assert "ai → off" in entry.text and "Contain first" in entry.text
        incident.refresh_from_db()
        assert incident.contained_at is not None
    assert not elsewhere.timeline.filter(kind="mode").exists()
    assert not closed.timeline.filter(kind="mode").exists()


def test_a_mode_change_needs_a_reason(system, responder):
    with pytest.raises(ModeRefused) as refused:
        mode_change(actor=responder, system=system, mode="off", reason="  ")
    assert refused.value.field == "reason"
    assert RuntimeMode.objects.get(system=system).revision == 0


def test_human_is_refused_for_a_system_without_a_human_path(system, responder):
    system.has_human_fallback = False
    system.save()
    with pytest.raises(ModeRefused, match="no human path"):
        mode_change(actor=responder, system=system, mode="human", reason="Route to people")


def test_a_drill_keeps_the_mode_and_asks_every_client_to_acknowledge(system, responder):
    mode_change(actor=responder, system=system, mode="degraded", reason="Degrade")
    drill = mode_drill(actor=responder, system=system)
    assert (drill.mode, drill.revision, drill.drill) == ("degraded", 2, True)
    assert AuditEntry.objects.filter(verb="mode.drill").exists()
    mode_client_report(system=system, client_id="pod-1", revision=2)
    effect = mode_change_effect(system)
    assert (effect.acked, effect.clients, effect.complete) == (1, 1, True)


@pytest.mark.django_db(transaction=True)
def test_concurrent_mode_changes_serialize_and_lose_no_revision(system, responder):
    # Drills always succeed; a mode change to the mode already set is refused, so count successes.
    work = ["off", "drill", "degraded", "drill", "ai", "drill", "off", "drill"]
    start = threading.Barrier(len(work))
    done = []

    def change(what):
        try:
            start.wait()
            if what == "drill":
                mode_drill(actor=responder, system=system)
            else:
                mode_change(actor=responder, system=system, mode=what, reason=f"to {what}")
            done.append(what)
        except ModeRefused:
            pass
        finally:
            connection.close()

    threads = [threading.Thread(target=change, args=(w,)) for w in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert done.count("drill") == 4
    revisions = sorted(ModeChange.objects.filter(system=system).values_list("revision", flat=True))
    assert revisions == list(range(1, len(done) + 1))
    assert RuntimeMode.objects.get(system=system).revision == len(done)
    # Each change starts where the one before it ended: none was computed from a stale read.
    changes = list(ModeChange.objects.filter(system=system).order_by("revision"))
    for before, after in itertools.pairwise(changes):
        assert after.previous_mode == before.mode


def test_a_mode_change_to_the_mode_already_set_is_refused(system, responder):
    mode_change(actor=responder, system=system, mode="off", reason="Stop")
    with pytest.raises(ModeRefused, match="already OFF"):
        mode_change(actor=responder, system=system, mode="off", reason="Stop again")
    assert RuntimeMode.objects.get(system=system).revision == 1


# --- Reading ----------------------------------------------------------------------------


def test_a_system_reads_its_mode_with_an_etag_and_gets_304_while_unchanged(
    client, system, token, responder, django_capture_on_commit_callbacks
):
    first = _get(client, token)
    assert first.status_code == 200
    assert first.json()["mode"] == "ai"
    etag = first["ETag"]
    assert _get(client, token, HTTP_IF_NONE_MATCH=etag).status_code == 304

    with django_capture_on_commit_callbacks(execute=True):
        mode_change(actor=responder, system=system, mode="off", reason="Stop")
    changed = _get(client, token, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed.json() | {"changed_at": None} == {
        "system": "refund-classifier",
        "mode": "off",
        "revision": 1,
        "changed_at": None,
        "changed_by": "rosa",
        "reason": "Stop",
        "drill": False,
    }
    assert changed["ETag"] != etag


def test_an_unchanged_mode_is_answered_without_a_database_query(
    client, system, token, django_assert_num_queries
):
    _get(client, token)  # warms the cache: the token's card and the encoded mode
    with django_assert_num_queries(0):
        response = _get(client, token)
    assert response.json()["mode"] == "ai"


def test_a_revoked_token_is_refused_at_once_even_with_a_warm_cache(
    client, system, owner, django_capture_on_commit_callbacks
):
    token, raw = token_issue(actor=owner, system=system, name="p", scopes=["mode:read"])
    assert _get(client, raw).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        token_revoke(actor=owner, token=token)
    assert _get(client, raw).status_code == 401


def test_a_token_reads_only_its_own_systems_mode(client, system, other_system, token):
    _get(client, token)  # a warm cache must not change the answer
    assert _get(client, token, slug="support-reply").status_code == 403


@override_settings(**REDIS_DOWN)
def test_with_redis_down_the_mode_is_read_and_changed_in_the_database(
    client_for, client, system, token, responder, django_capture_on_commit_callbacks
):
    assert _get(client, token).json()["mode"] == "ai"
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(responder).post(
            "/api/v1/systems/refund-classifier/mode",
            {"mode": "off", "reason": "Redis is down, the switch is not"},
            content_type="application/json",
        )
    assert response.status_code == 200
    after = _get(client, token)
    assert (after.json()["mode"], after.json()["revision"]) == ("off", 1)
    stored = RuntimeMode.objects.get(system=system)
    assert (stored.mode, stored.revision) == ("off", 1)
    assert ModeChange.objects.filter(system=system).count() == 1


# --- Who may ----------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [("responder", 200), ("viewer", 403)])
def test_only_responders_and_above_change_the_mode_through_the_api(
    client_for, system, request, who, status
):
    response = client_for(request.getfixturevalue(who)).post(
        "/api/v1/systems/refund-classifier/mode",
        {"mode": "off", "reason": "Stop"},
        content_type="application/json",
    )
    assert response.status_code == status
    assert RuntimeMode.objects.get(system=system).mode == ("off" if status == 200 else "ai")


def test_a_system_token_cannot_change_its_own_mode(client, system, token, responder):
    mode_change(actor=responder, system=system, mode="off", reason="Stop")
    response = client.post(
        "/api/v1/systems/refund-classifier/mode",
        {"mode": "ai", "reason": "I am fine"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 403
    stored = RuntimeMode.objects.get(system=system)
    assert (stored.mode, stored.revision) == ("off", 1)


def test_a_mode_change_without_a_reason_is_a_400_naming_the_field(client_for, system, responder):
    response = client_for(responder).post(
        "/api/v1/systems/refund-classifier/mode",
        {"mode": "off", "reason": " "},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "reason"
    assert RuntimeMode.objects.get(system=system).revision == 0


@pytest.mark.parametrize(
    ("who", "status"), [("responder", 200), ("viewer", 403), ("outsider", 403)]
)
def test_the_system_page_changes_the_mode_for_a_responder_only(
    client_for, system, request, who, status
):
    response = client_for(request.getfixturevalue(who)).post(
        "/systems/refund-classifier/mode/",
        {"mode": "off", "reason": "Stop", "part": "panel"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == status
    stored = RuntimeMode.objects.get(system=system)
    if status == 200:
        assert b'data-testid="mode">OFF' in response.content
        assert (stored.mode, stored.revision) == ("off", 1)
        assert AuditEntry.objects.filter(verb="mode.change").count() == 1
    else:
        assert (stored.mode, stored.revision) == ("ai", 0)
        assert not AuditEntry.objects.filter(verb="mode.change").exists()


def test_the_confirm_says_what_each_mode_does_for_this_system(client_for, system, responder):
    system.degraded_behaviour = "Fixed rules: refunds under 50 EUR pass, the rest wait."
    system.has_human_fallback = False
    system.save()
    content = client_for(responder).get("/systems/refund-classifier/").content.decode()
    assert "Degraded: Fixed rules: refunds under 50 EUR pass, the rest wait." in content
    assert "This system declares no human path." in content
    assert "Kill switch: Refund classifier&#x27;s AI feature stops." in content


def test_a_client_acknowledgement_shows_how_far_a_mode_change_reached(
    client, client_for, system, token, responder
):
    mode_change(actor=responder, system=system, mode="off", reason="Stop")
    for pod in ("pod-1", "pod-2"):
        client.post(
            "/api/v1/systems/refund-classifier/mode/ack",
            {"client": pod, "revision": 0},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
    ack = client.post(
        "/api/v1/systems/refund-classifier/mode/ack",
        {"client": "pod-1", "revision": 1},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert ack.status_code == 204
    page = client_for(responder).get("/systems/refund-classifier/mode/panel/?part=status")
    assert "1 of 2 clients on OFF after" in page.content.decode()
    assert ModeAck.objects.filter(revision=1).count() == 1


def test_an_ack_with_a_bad_client_id_is_a_400(client, system, token):
    response = client.post(
        "/api/v1/systems/refund-classifier/mode/ack",
        {"client": "no spaces allowed", "revision": 1},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "client"
    assert not ModeAck.objects.exists()
    assert not system.mode_clients.exists()


def test_an_ack_of_a_revision_too_large_to_store_is_a_400_naming_it(client, system, token):
    response = client.post(
        "/api/v1/systems/refund-classifier/mode/ack",
        {"client": "web-1", "revision": 2**31},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "revision"
    assert not system.mode_clients.exists()


# --- OFREP --------------------------------------------------------------------------------


def test_ofrep_evaluates_the_systems_mode_as_a_string_flag(client, system, token):
    response = client.post(
        "/ofrep/v1/evaluate/flags/refund-classifier",
        {"context": {"targetingKey": "user-1"}},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200
    assert response.json() | {"metadata": None} == {
        "key": "refund-classifier",
        "value": "ai",
        "variant": "ai",
        "reason": "STATIC",
        "metadata": None,
    }


def test_ofrep_says_flag_not_found_for_another_systems_key(client, system, other_system, token):
    response = client.post(
        "/ofrep/v1/evaluate/flags/support-reply",
        {},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 404
    assert response.json()["errorCode"] == "FLAG_NOT_FOUND"


def test_ofrep_bulk_evaluation_has_an_etag(client, system, token):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    first = client.post("/ofrep/v1/evaluate/flags", {}, content_type="application/json", **auth)
    assert [f["value"] for f in first.json()["flags"]] == ["ai"]
    again = client.post(
        "/ofrep/v1/evaluate/flags",
        {},
        content_type="application/json",
        HTTP_IF_NONE_MATCH=first["ETag"],
        **auth,
    )
    assert again.status_code == 304


def test_ofrep_without_a_token_is_a_401(client, system):
    assert client.post("/ofrep/v1/evaluate/flags/refund-classifier").status_code == 401


# --- The stream, over the real server -----------------------------------------------------


def _events(lines):
    """Yield (event, data) from an SSE line iterator."""
    event, data = None, []
    for line in lines:
        if line == "":
            if data:
                yield event, json.loads("\n".join(data))
            event, data = None, []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def test_the_stream_sends_the_mode_at_once_and_every_change_as_it_happens(
    asgi_server, system, token, responder
):
    url = f"{asgi_server}/api/v1/systems/refund-classifier/mode/stream?client=pod-7&revision=0"
    headers = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(timeout=10) as http,
        http.stream("GET", url, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response.iter_lines())
        assert next(events) == ("mode", json.loads(_get_body(system)))
        mode_change(actor=responder, system=system, mode="off", reason="Stop now")
        event, data = next(events)
    assert (event, data["mode"], data["revision"], data["reason"]) == ("mode", "off", 1, "Stop now")


def _get_body(system):
    from systems.selectors import mode_entry_for

    cache.delete(f"mode:{system.slug}")
    return mode_entry_for(system.slug)["body"]


def test_the_stream_refuses_a_missing_or_foreign_token(asgi_server, system, other_system, token):
    with httpx.Client(timeout=10) as http:
        base = f"{asgi_server}/api/v1/systems"
        assert http.get(f"{base}/refund-classifier/mode/stream").status_code == 401
        foreign = http.get(
            f"{base}/support-reply/mode/stream", headers={"Authorization": f"Bearer {token}"}
        )
        assert foreign.status_code == 403


@pytest.mark.django_db(transaction=True)
def test_a_new_clients_first_reports_arriving_together_make_one_client(system):
    start = threading.Barrier(6)
    failures = []

    def report():
        try:
            start.wait()
            mode_client_report(system=system, client_id="pod-9", revision=0, stream_delta=1)
        except Exception as error:  # noqa: BLE001 (collected and asserted below)
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=report) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert failures == []
    client = system.mode_clients.get()
    assert (client.client_id, client.streams) == ("pod-9", 6)


def test_a_stream_idle_for_longer_than_redis_read_timeouts_still_hears_a_mode_change_at_once(
    asgi_server, system, token, responder, settings
):
    """redis-py 8 times reads out after 5 s, channels_redis waits 5 s for a message: the
    channel layer is configured so an idle stream does not break (and fall back to slow
    database checks). No heartbeat during the test, so only the channel layer can deliver."""
    settings.FAILSAFE_MODE_STREAM_HEARTBEAT_SECONDS = 60
    url = f"{asgi_server}/api/v1/systems/refund-classifier/mode/stream"
    with (
        httpx.Client(timeout=15) as http,
        http.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        events = _events(response.iter_lines())
        assert next(events)[0] == "mode"
        time.sleep(6)
        changed = time.monotonic()
        mode_change(actor=responder, system=system, mode="off", reason="After a quiet spell")
        event, data = next(events)
        delay = time.monotonic() - changed
    assert (event, data["mode"]) == ("mode", "off")
    assert delay < 0.5


def _redis_restart(group: str) -> None:
    """What a Redis restart does to open streams, on this suite's own Redis database only:
    the group is forgotten and the connections blocked reading the channel layer are cut."""
    redis = Redis.from_url(django_settings.REDIS_URL)
    db = redis.connection_pool.connection_kwargs.get("db", 0)
    redis.delete(f"asgi:group:{group}")
    for client in redis.client_list():
        if int(client["db"]) == db and client["cmd"] == "bzpopmin":
            redis.client_kill_filter(_id=client["id"])


def test_a_stream_whose_redis_restarted_hears_the_next_mode_change_at_once_again(
    asgi_server, system, token, responder, settings
):
    """A restarted Redis has forgotten the stream's group: the stream joins it again, so
    the next change comes down at once, not at the next heartbeat (make faults found it)."""
    settings.FAILSAFE_MODE_STREAM_HEARTBEAT_SECONDS = 60
    url = f"{asgi_server}/api/v1/systems/refund-classifier/mode/stream"
    with (
        httpx.Client(timeout=15) as http,
        http.stream("GET", url, headers={"Authorization": f"Bearer {token}"}) as response,
    ):
        events = _events(response.iter_lines())
        assert next(events)[0] == "mode"
        time.sleep(0.5)
        _redis_restart("mode-refund-classifier")
        # The failed read, the stream's pause, then it is back in the group.
        redis = Redis.from_url(django_settings.REDIS_URL)
        deadline = time.monotonic() + 10
        while not redis.zcard("asgi:group:mode-refund-classifier"):
            assert time.monotonic() < deadline, "the stream did not join its group again"
            time.sleep(0.05)
        changed = time.monotonic()
        mode_change(actor=responder, system=system, mode="off", reason="After the restart")
        data = next(d for e, d in events if e == "mode")
        delay = time.monotonic() - changed
    assert data["mode"] == "off"
    assert delay < 0.5


def test_the_system_page_lists_connected_clients_and_who_is_behind(client_for, system, responder):
    mode_client_report(system=system, client_id="pod-1", revision=0)
    mode_change(actor=responder, system=system, mode="off", reason="Stop")
    mode_client_report(system=system, client_id="pod-2", revision=1)
    content = client_for(responder).get("/systems/refund-classifier/").content.decode()
    assert "Connected clients (2)" in content
    assert content.index("pod-1") < content.index("behind") < content.index("pod-2")


def test_reading_the_mode_reuses_redis_connections_across_requests(asgi_server, system, token):
    """Under ASGI each request gets its own cache object; the shared pool (core/cache.py)
    keeps them from opening a Redis connection each, which halved GET mode's throughput."""
    redis = Redis.from_url(django_settings.REDIS_URL)
    url = f"{asgi_server}/api/v1/systems/refund-classifier/mode"
    with httpx.Client(timeout=10, headers={"Authorization": f"Bearer {token}"}) as http:
        http.get(url)  # the first request may open the pool's connection
        before = redis.info("stats")["total_connections_received"]
        for _ in range(20):
            assert http.get(url).status_code == 200
        opened = redis.info("stats")["total_connections_received"] - before
    assert opened < 5


def test_an_acknowledgement_costs_two_statements_once_the_client_is_known(
    client, system, token, responder, django_assert_num_queries
):
    mode_change(actor=responder, system=system, mode="off", reason="Stop")

    def ack(revision):
        return client.post(
            "/api/v1/systems/refund-classifier/mode/ack",
            {"client": "pod-1", "revision": revision},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    ack(0)  # first report: the token's card is cached and the client's row made
    with django_assert_num_queries(2):  # one UPDATE of the client, one INSERT of the ack
        assert ack(1).status_code == 204
    assert ModeAck.objects.filter(client_id="pod-1", revision=1).count() == 1


def test_any_open_incident_of_the_system_offers_every_other_mode(
    client_for, system, lead, responder, viewer
):
    incident = incident_declare(actor=lead, title="Shift", systems=[system], harm="anomalous")
    mode_change(actor=responder, system=system, mode="degraded", reason="Rules for now")
    page = client_for(responder).get(incident.get_absolute_url()).content.decode()
    other = page[page.index("Set Refund classifier to another mode") :]
    assert "Back to AI" in other and "Kill switch: turn off" in other
    assert 'value="degraded"' not in other  # the mode already set is not offered again
    assert (
        "another mode" not in client_for(viewer).get(incident.get_absolute_url()).content.decode()
    )
