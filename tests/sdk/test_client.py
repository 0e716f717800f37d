"""The client against a fake mode API: the stream, polling, acknowledgements, callbacks."""

import logging
import threading
import time

import pytest
from failsafe_client import Failsafe, client

from tests.sdk.fakes import StallingServer, wait_until

SLUG = "refunds"


class NoLock:
    """Stands in for a lock that the read path must never take."""

    def __enter__(self):
        raise AssertionError("mode() took a lock")

    def __exit__(self, *exc):
        return False


def test_the_first_mode_call_starts_watching(fake, make_client):
    fake.state["mode"] = "off"
    failsafe = make_client()

    assert failsafe.mode(SLUG) in {"ai", "off"}  # the default, until the server answers
    assert wait_until(lambda: failsafe.mode(SLUG) == "off")
    assert failsafe.revision(SLUG) == 1


def test_mode_is_a_dict_read_with_no_io_and_no_lock(fake, make_client):
    failsafe = make_client()
    failsafe.watch(SLUG, wait=True)
    sent = len(fake.requests)
    lock, failsafe._lock = failsafe._lock, NoLock()

    for _ in range(10_000):
        assert failsafe.mode(SLUG) == "ai"

    failsafe._lock = lock
    assert len(fake.requests) == sent
    assert failsafe._modes == {SLUG: "ai"}


def test_mode_never_raises(make_client):
    failsafe = make_client(default_mode="degraded")
    assert failsafe.mode(None) == "degraded"
    assert failsafe.mode(["not", "hashable"]) == "degraded"
    assert failsafe.mode("") == "degraded"
    assert failsafe.revision(["x"]) is None


def test_watch_with_wait_answers_the_servers_mode(fake, make_client):
    fake.state["mode"] = "human"
    assert make_client().watch(SLUG, wait=True) == "human"


def test_a_change_on_the_stream_is_applied_called_back_and_acknowledged(fake, make_client):
    failsafe = make_client()
    changes = []
    failsafe.on_change(lambda *change: changes.append(change))
    failsafe.watch(SLUG, wait=True)

    fake.change("off")

    assert wait_until(lambda: failsafe.mode(SLUG) == "off")
    assert failsafe.revision(SLUG) == 2
    assert fake.wait_for_ack(2) == [{"client": failsafe.client_id, "revision": 2}]
    assert wait_until(lambda: changes) == [(SLUG, "off", 2)]


def test_a_drill_is_acknowledged_without_a_callback(fake, make_client):
    failsafe = make_client()
    changes = []
    failsafe.on_change(lambda *change: changes.append(change))
    failsafe.watch(SLUG, wait=True)

    fake.change("ai", drill=True)

    assert fake.wait_for_ack(2)
    assert failsafe.revision(SLUG) == 2
    assert failsafe.mode(SLUG) == "ai"
    assert changes == []


def test_the_initial_answer_calls_back_only_if_it_changes_the_mode(fake, make_client):
    same = make_client()
    calls = []
    same.on_change(lambda *change: calls.append(change))
    same.watch(SLUG, wait=True)
    assert fake.wait_for_ack(1)
    assert calls == []

    fake.state["mode"] = "off"
    other = make_client()
    other.on_change(lambda *change: calls.append(change))
    other.watch(SLUG)
    assert wait_until(lambda: calls) == [(SLUG, "off", 1)]


def test_a_failing_callback_is_logged_and_the_next_change_still_applies(fake, make_client, caplog):
    failsafe = make_client()
    seen = []

    @failsafe.on_change
    def broken(slug, mode, revision):
        raise RuntimeError("callback bug")

    failsafe.on_change(lambda *change: seen.append(change))
    failsafe.watch(SLUG, wait=True)

    fake.change("degraded")
    fake.change("off")

    assert wait_until(lambda: len(seen) == 2)
    assert seen == [(SLUG, "degraded", 2), (SLUG, "off", 3)]
    assert "on_change callback" in caplog.text
    assert "callback bug" in caplog.text


def test_it_reconnects_when_the_stream_drops_and_says_what_it_acts_on(fake, make_client):
    failsafe = make_client(client_id="worker-1")
    failsafe.watch(SLUG, wait=True)

    fake.drop_streams()
    fake.state = {**fake.state, "mode": "human", "revision": 2}  # changed while it was away

    # It polls at once when the stream drops, and reconnects.
    assert wait_until(lambda: failsafe.mode(SLUG) == "human")
    streams = wait_until(
        lambda: fake.requests_to("/mode/stream")[1:] and fake.requests_to("/mode/stream")
    )
    assert streams[0].url.params.get("client") == "worker-1"
    assert "revision" not in streams[0].url.params
    assert streams[1].url.params["revision"] == "2"  # the poll got it first


def test_it_polls_while_the_stream_is_refused(fake, make_client):
    fake.stream_status = 503
    fake.state["mode"] = "degraded"
    failsafe = make_client()

    assert failsafe.watch(SLUG, wait=True) == "degraded"
    fake.state = {**fake.state, "mode": "off", "revision": 2}
    assert wait_until(lambda: failsafe.mode(SLUG) == "off")
    assert fake.wait_for_ack(2)

    # Unchanged answers cost a 304: the client sends the ETag it was given.
    assert wait_until(lambda: len(fake.requests_to("/mode")) >= 4)
    assert fake.requests_to("/mode")[-1].headers["If-None-Match"] == '"2"'


def test_it_keeps_the_last_mode_while_the_server_refuses(fake, make_client, caplog):
    failsafe = make_client()
    failsafe.watch(SLUG, wait=True)
    fake.stream_status = fake.poll_status = 503
    fake.drop_streams()

    assert wait_until(lambda: len(fake.requests_to("/mode")) >= 3)
    assert failsafe.mode(SLUG) == "ai"
    assert "503 Unavailable." in caplog.text


def test_a_bad_token_leaves_the_default_and_says_why(fake, caplog):
    with Failsafe("http://failsafe.test", "fsk_wrong", transport=fake.transport) as failsafe:
        assert failsafe.watch(SLUG, wait=True) == "ai"
        assert failsafe.revision(SLUG) is None
    assert "401 Invalid token." in caplog.text


def test_it_ignores_a_mode_it_does_not_know(fake, make_client, caplog):
    failsafe = make_client()
    failsafe.watch(SLUG, wait=True)

    fake.change("maintenance")
    fake.change("off")

    assert wait_until(lambda: failsafe.mode(SLUG) == "off")
    assert failsafe.revision(SLUG) == 3
    assert "ignoring mode 'maintenance'" in caplog.text


def test_it_acknowledges_the_revision_in_force_as_a_heartbeat(fake, make_client, monkeypatch):
    monkeypatch.setattr(client, "ACK_HEARTBEAT", 0.05)
    failsafe = make_client()
    failsafe.watch(SLUG, wait=True)

    assert wait_until(lambda: len(fake.acks) >= 3)
    assert {ack["revision"] for ack in fake.acks} == {1}


def test_close_stops_its_threads_and_mode_still_answers(fake, make_client):
    failsafe = make_client()
    failsafe.watch(SLUG, wait=True)
    threads = [t for t in threading.enumerate() if t.name.startswith("failsafe-")]

    failsafe.close()

    assert not any(t.is_alive() for t in threads)
    assert failsafe.mode(SLUG) == "ai"
    assert failsafe.mode("another") == "ai"


def test_it_is_a_context_manager(fake):
    with Failsafe("http://failsafe.test", "fsk_test", transport=fake.transport) as failsafe:
        assert failsafe.watch(SLUG, wait=True) == "ai"
    assert failsafe._stop.is_set()


def test_it_refuses_an_unknown_default_mode():
    with pytest.raises(ValueError, match="default_mode"):
        Failsafe("http://failsafe.test", "fsk_test", default_mode="on")


@pytest.mark.parametrize("attempt", range(12))
def test_backoff_grows_with_jitter_up_to_the_cap(attempt, monkeypatch):
    monkeypatch.setattr(client, "BACKOFF_BASE", 0.5)
    ceiling = min(30.0, 0.5 * 2**attempt)
    delays = [Failsafe._backoff(attempt) for _ in range(50)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 1


def test_logs_go_to_the_failsafe_client_logger(fake, make_client, caplog):
    caplog.set_level(logging.INFO, logger="failsafe_client")
    failsafe = make_client()
    failsafe.watch(SLUG, wait=True)
    fake.change("off")
    assert wait_until(lambda: failsafe.mode(SLUG) == "off")
    assert wait_until(lambda: any(r.name == "failsafe_client" for r in caplog.records))


@pytest.fixture
def stalling():
    server = StallingServer()
    yield server
    server.close()


def test_a_silent_stream_is_taken_for_dead_and_reconnected(stalling, monkeypatch):
    monkeypatch.setattr(client, "STREAM_SILENCE", 0.2)  # 45 s in earnest: 3 heartbeats
    with Failsafe(stalling.url, "fsk_test", poll_interval=60) as failsafe:
        assert failsafe.watch(SLUG, wait=True) == "off"
        assert wait_until(lambda: stalling.streams >= 3)


def test_close_interrupts_a_stream_blocked_on_a_silent_socket(stalling):
    failsafe = Failsafe(stalling.url, "fsk_test")
    assert failsafe.watch(SLUG, wait=True) == "off"
    thread = failsafe._watches[SLUG].thread

    started = time.monotonic()
    failsafe.close()

    assert time.monotonic() - started < 1.0
    assert not thread.is_alive()
