"""`record()` against a fake events API: batching, a caller that never waits, a bounded
buffer, retries that deliver each event exactly once, refusals counted."""

import logging
import threading
import time
from datetime import UTC, datetime

import pytest
from failsafe_client import Failsafe

from tests.sdk.fake_events import CONNECT_ERROR, HANG, LOSE_REPLY, TOKEN, FakeEventsServer
from tests.sdk.fakes import wait_until

SLUG = "refunds"


@pytest.fixture
def server():
    server = FakeEventsServer()
    yield server
    server.release()


@pytest.fixture
def make_client(server):
    """`make_client(**options)`: a Failsafe client recording to the fake server for the
    system "refunds", closed after the test."""
    clients = []

    def make(**options):
        options.setdefault("system", SLUG)
        options.setdefault("timeout", 1.0)
        instance = Failsafe(
            "http://failsafe.test",
            options.pop("token", TOKEN),
            transport=server.transport,
            **options,
        )
        clients.append(instance)
        return instance

    yield make
    server.release()
    for instance in clients:
        instance.close()


def event(n, label="approve"):
    return {"id": f"e{n}", "output": {"label": label, "score": 0.1}, "subject": f"cus_{n}"}


def record_many(failsafe, count, start=0, **kwargs):
    return [failsafe.record(event(n), **kwargs) for n in range(start, start + count)]


def test_it_sends_a_batch_as_soon_as_batch_size_events_wait(server, make_client):
    failsafe = make_client(batch_size=100, flush_interval=60)

    record_many(failsafe, 250)

    assert wait_until(lambda: len(server.stored) == 200)
    time.sleep(0.05)
    assert server.batches == [(SLUG, 100), (SLUG, 100)]  # the last 50 wait for the interval
    assert failsafe.record_stats()["buffered"] == 50
    assert failsafe.flush(timeout=1)
    assert server.batches[-1] == (SLUG, 50)
    assert failsafe.record_stats() == {
        "sent": 250,
        "duplicates": 0,
        "dropped": 0,
        "rejected": 0,
        "buffered": 0,
        "retries": 0,
    }


def test_it_sends_what_waits_every_flush_interval(server, make_client):
    failsafe = make_client(batch_size=500, flush_interval=0.2)

    record_many(failsafe, 10)
    time.sleep(0.05)
    assert server.batches == []

    assert wait_until(lambda: len(server.stored) == 10, timeout=1)
    assert server.batches == [(SLUG, 10)]
    record_many(failsafe, 5, start=10)
    assert wait_until(lambda: len(server.stored) == 15, timeout=1)
    assert server.batches == [(SLUG, 10), (SLUG, 5)]


def test_record_never_waits_for_a_hanging_server(server, make_client):
    server.script = [HANG] * 10
    failsafe = make_client(batch_size=100, flush_interval=0.01)
    record_many(failsafe, 100)
    assert wait_until(lambda: server.hanging == 1)

    durations = []
    for n in range(100, 5100):
        started = time.perf_counter()
        failsafe.record(event(n))
        durations.append(time.perf_counter() - started)

    # Waiting for the server would take its 1 s timeout: no call comes near it, however
    # loaded the machine (how fast record() is, bench/ measures).
    assert max(durations) < 0.5
    assert sum(durations) < 1.0
    assert not failsafe.flush(timeout=0.05)
    assert failsafe.record_stats()["buffered"] == 5100


def test_a_full_buffer_drops_new_events_and_counts_them(server, make_client, caplog):
    server.script = [HANG]
    failsafe = make_client(batch_size=10, flush_interval=0.01, max_buffer=100)

    ids = record_many(failsafe, 150)

    assert len(ids) == 150  # ids are answered for dropped events too
    stats = failsafe.record_stats()
    assert (stats["buffered"], stats["dropped"]) == (100, 50)
    assert caplog.text.count("buffer is full") == 1  # once per episode, not per event
    server.release()
    assert failsafe.flush(timeout=2)
    assert sorted(server.stored_ids(SLUG)) == sorted(f"e{n}" for n in range(100))
    # Room again: new events are taken.
    record_many(failsafe, 5, start=1000)
    assert failsafe.flush(timeout=2)
    assert failsafe.record_stats()["dropped"] == 50
    assert len(server.stored) == 105


def test_a_batch_refused_with_503_is_sent_again_and_stored_once(server, make_client):
    server.script = [503, 503]
    failsafe = make_client(batch_size=100, flush_interval=60)

    record_many(failsafe, 300)

    assert failsafe.flush(timeout=2)
    assert len(server.stored) == 300
    stats = failsafe.record_stats()
    assert (stats["sent"], stats["retries"], stats["rejected"], stats["dropped"]) == (300, 2, 0, 0)


def test_a_connection_error_is_retried(server, make_client):
    server.script = [CONNECT_ERROR, CONNECT_ERROR, CONNECT_ERROR]
    failsafe = make_client(batch_size=100, flush_interval=60)

    record_many(failsafe, 200)

    assert failsafe.flush(timeout=2)
    assert sorted(server.stored_ids(SLUG)) == sorted(f"e{n}" for n in range(200))
    assert failsafe.record_stats()["retries"] == 3


def test_a_batch_resent_after_a_lost_reply_is_not_doubled(server, make_client):
    server.script = [LOSE_REPLY]
    failsafe = make_client(batch_size=100, flush_interval=60)

    record_many(failsafe, 300)

    assert failsafe.flush(timeout=2)
    assert server.received == 400  # the first batch went twice, with the same ids
    assert len(server.stored) == 300
    stats = failsafe.record_stats()
    assert (stats["sent"], stats["duplicates"], stats["retries"]) == (300, 100, 1)


def test_the_server_answering_too_many_requests_is_waited_for(server, make_client):
    server.script = [429]
    failsafe = make_client(batch_size=10, flush_interval=60)
    record_many(failsafe, 10)
    assert failsafe.flush(timeout=2)
    assert len(server.stored) == 10


def test_invalid_events_are_rejected_and_the_rest_of_the_batch_is_sent(server, make_client, caplog):
    failsafe = make_client(batch_size=10, flush_interval=60)

    for n in range(10):
        failsafe.record(event(n, label=7 if n in (3, 8) else "approve"))

    assert failsafe.flush(timeout=2)
    assert server.batches == [(SLUG, 10), (SLUG, 8)]
    assert sorted(server.stored_ids(SLUG)) == sorted(f"e{n}" for n in range(10) if n not in (3, 8))
    stats = failsafe.record_stats()
    assert (stats["sent"], stats["rejected"]) == (8, 2)
    assert "rejected event e3: output.label: Must be a string." in caplog.text


def test_a_400_that_names_no_event_rejects_the_batch(server, make_client, caplog):
    server.script = [400]
    failsafe = make_client(batch_size=10, flush_interval=60)

    record_many(failsafe, 10)

    assert failsafe.flush(timeout=2)
    assert server.stored == {}
    stats = failsafe.record_stats()
    assert (stats["sent"], stats["rejected"], stats["retries"]) == (0, 10, 0)
    assert "rejected the batch" in caplog.text
    assert "Scripted." in caplog.text


def test_a_batch_too_large_is_split_in_halves(server, make_client):
    server.max_events = 100
    failsafe = make_client(batch_size=400, flush_interval=60)

    record_many(failsafe, 400)

    assert failsafe.flush(timeout=2)
    assert [size for _, size in server.batches] == [400, 200, 100, 100, 200, 100, 100]
    assert len(server.stored) == 400
    stats = failsafe.record_stats()
    assert (stats["sent"], stats["rejected"], stats["duplicates"]) == (400, 0, 0)


def test_a_refused_token_rejects_the_events_and_is_logged_once(server, make_client, caplog):
    failsafe = make_client(token="fsk_revoked", batch_size=10, flush_interval=60)

    record_many(failsafe, 30)

    assert failsafe.flush(timeout=2)
    assert server.stored == {}
    stats = failsafe.record_stats()
    assert (stats["rejected"], stats["retries"]) == (30, 0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "401 Invalid token." in warnings[0].getMessage()


def test_close_sends_what_waits(server, make_client):
    failsafe = make_client(batch_size=500, flush_interval=60)
    record_many(failsafe, 50)

    failsafe.close()

    assert len(server.stored) == 50
    assert failsafe.record_stats()["buffered"] == 0


def test_close_gives_up_after_its_timeout_and_counts_the_rest_dropped(server, make_client):
    server.script = [503] * 1000
    failsafe = make_client(batch_size=20, flush_interval=60, timeout=0.2)
    record_many(failsafe, 50)

    started = time.monotonic()
    failsafe.close()

    assert time.monotonic() - started < 1.5
    stats = failsafe.record_stats()
    assert (stats["sent"], stats["dropped"], stats["buffered"]) == (0, 50, 0)
    failsafe.record(event(99))  # after close: dropped, not raised
    assert failsafe.record_stats()["dropped"] == 51


def test_many_threads_record_at_once(server, make_client):
    failsafe = make_client(batch_size=250, flush_interval=0.05)

    def worker(w):
        for n in range(1000):
            failsafe.record(event(w * 1000 + n))

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failsafe.flush(timeout=5)
    assert len(server.stored) == 8000
    assert failsafe.record_stats()["sent"] == 8000


def test_flush_waits_for_every_system(server, make_client):
    failsafe = make_client(system=None, batch_size=100, flush_interval=60)

    record_many(failsafe, 30, system="refunds")
    record_many(failsafe, 20, system="support-reply")

    assert failsafe.flush(timeout=2)
    assert len(server.stored_ids("refunds")) == 30
    assert len(server.stored_ids("support-reply")) == 20
    assert sorted(server.batches) == [("refunds", 30), ("support-reply", 20)]


def test_flush_with_nothing_recorded_answers_at_once(make_client):
    assert make_client().flush(timeout=0)


def test_it_fills_in_the_id_and_the_time(server, make_client):
    failsafe = make_client()
    mine = {"output": {"label": "approve"}}
    before = datetime.now(UTC)

    event_id = failsafe.record(mine)
    kept = failsafe.record({"id": "abc", "ts": "2025-01-02T03:04:05+01:00"})
    aware = failsafe.record({"ts": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)})

    assert failsafe.flush(timeout=2)
    assert mine == {"output": {"label": "approve"}}  # the caller's dict is left alone
    assert len(event_id) == 32 and int(event_id, 16) >= 0
    sent = server.stored[(SLUG, event_id)]
    ts = datetime.fromisoformat(sent["ts"])
    assert ts.utcoffset().total_seconds() == 0
    assert before <= ts <= datetime.now(UTC)
    assert kept == "abc"
    assert server.stored[(SLUG, "abc")]["ts"] == "2025-01-02T03:04:05+01:00"
    assert server.stored[(SLUG, aware)]["ts"] == "2025-01-02T03:04:05+00:00"


def test_it_needs_a_system_and_a_dict(make_client):
    failsafe = make_client(system=None)
    with pytest.raises(ValueError, match="needs a system"):
        failsafe.record({"output": {}})
    with pytest.raises(ValueError, match="is a dict"):
        failsafe.record([("output", {})], system=SLUG)
    assert failsafe.record({"output": {}}, system=SLUG)


def test_an_event_that_is_not_json_is_rejected_alone(server, make_client, caplog):
    failsafe = make_client(batch_size=3, flush_interval=60)

    failsafe.record(event(1))
    failsafe.record({"id": "odd", "input": {"when": object()}})
    failsafe.record(event(2))

    assert failsafe.flush(timeout=2)
    assert sorted(server.stored_ids(SLUG)) == ["e1", "e2"]
    assert failsafe.record_stats()["rejected"] == 1
    assert "event odd is not JSON" in caplog.text


@pytest.mark.parametrize(
    "options",
    [{"batch_size": 0}, {"batch_size": 5001}, {"flush_interval": 0}, {"max_buffer": 0}],
)
def test_it_refuses_options_that_cannot_work(options):
    with pytest.raises(ValueError):
        Failsafe("http://failsafe.test", TOKEN, **options)


def test_with_a_spill_a_buffer_full_behind_a_hanging_server_goes_to_disk_not_dropped(
    server, make_client, tmp_path
):
    server.script = [HANG]
    failsafe = make_client(
        batch_size=10, flush_interval=0.01, max_buffer=100, spill_path=tmp_path / "spill"
    )

    record_many(failsafe, 150)

    stats = failsafe.record_stats()
    assert stats["dropped"] == 0
    assert stats["spilled"] > 0  # the overflow went to disk while the sender was stuck
    server.release()
    assert wait_until(lambda: len(set(server.stored_ids(SLUG))) == 150, timeout=10)
    assert sorted(set(server.stored_ids(SLUG))) == sorted(f"e{n}" for n in range(150))
    assert len(server.stored) == 150
