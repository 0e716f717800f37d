"""`record()` with a spill to disk, against the real events endpoint (uvicorn in a thread,
PostgreSQL): an outage longer than the memory buffer loses nothing and doubles nothing, a
restart sends what the last process spilled, the size limit drops the oldest first and
counts them, and a partly written last record is skipped."""

import shutil

import httpx
import pytest
from failsafe_client import Failsafe

from monitoring.models import Event
from systems.services import token_issue
from tests.sdk.fakes import wait_until

SLUG = "refund-classifier"


class Outage(httpx.HTTPTransport):
    """The ordinary transport until `down` is set; then every request fails the way a
    refused connection does, before it leaves the process."""

    down = False

    def handle_request(self, request):
        if self.down:
            raise httpx.ConnectError("Connection refused (the outage)", request=request)
        return super().handle_request(request)


@pytest.fixture
def events_token(live_system, admin_user):
    _, raw = token_issue(
        actor=admin_user, system=live_system, name="sdk spill tests", scopes=["events:write"]
    )
    return raw


@pytest.fixture
def spilling(asgi_server, events_token, tmp_path):
    """`spilling(**options)`: a client of the real server spilling to tmp_path/"spill",
    with its Outage transport as `.transport`; closed after the test."""
    clients = []

    def make(**options):
        transport = Outage()
        options = {
            "system": SLUG,
            "batch_size": 50,
            "flush_interval": 0.02,
            "max_buffer": 100,
            "spill_path": tmp_path / "spill",
            **options,
        }
        instance = Failsafe(asgi_server, events_token, transport=transport, **options)
        instance.transport = transport
        clients.append(instance)
        return instance

    yield make
    for instance in clients:
        instance.close()


def events(first, count):
    return [
        {
            "id": f"spill-{n}",
            "input": {"amount": 10.0 + n % 400, "country": "DE"},
            "output": {"label": "approve", "score": 0.05, "text": "Within policy."},
            "subject": f"cus_{n % 97:05d}",
        }
        for n in range(first, first + count)
    ]


def record_paced(failsafe, batch):
    """Record in steps of 50, each once the sender has moved the last off memory: the
    pace of a service, not of a loop that fills any buffer in a millisecond."""
    for start in range(0, len(batch), 50):
        for event in batch[start : start + 50]:
            failsafe.record(event)
        wait_until(lambda: failsafe.record_stats()["buffered"] == 0, timeout=10)


def stored(system):
    return list(Event.objects.filter(system=system).values_list("client_id", flat=True))


def test_an_outage_longer_than_the_memory_buffer_loses_nothing_and_stores_each_event_once(
    spilling, live_system, tmp_path
):
    failsafe = spilling()
    record_paced(failsafe, events(0, 10))
    assert failsafe.flush(timeout=30)

    failsafe.transport.down = True
    record_paced(failsafe, events(10, 1000))

    during = failsafe.record_stats()
    assert during["spilled"] == 1000  # ten times what memory holds
    assert during["dropped"] == 0
    assert len(stored(live_system)) == 10

    failsafe.transport.down = False
    assert failsafe.flush(timeout=60)

    ids = stored(live_system)
    assert sorted(ids) == sorted(e["id"] for e in events(0, 1010))
    after = failsafe.record_stats()
    assert (after["spilled"], after["dropped"], after["rejected"]) == (0, 0, 0)
    assert not list((tmp_path / "spill").glob("*.spill"))  # sent segments are deleted


def test_what_one_process_spilled_the_next_sends_and_a_second_send_is_stored_once(
    spilling, live_system, tmp_path
):
    before = spilling()
    before.transport.down = True
    record_paced(before, events(0, 300))
    before.close()  # the server still away: the rest goes to disk too
    assert before.record_stats()["dropped"] == 0
    copy = shutil.copytree(tmp_path / "spill", tmp_path / "copy")

    after = spilling()
    assert after.flush(timeout=60)
    assert len(stored(live_system)) == 300

    # As if the process had died after sending, before it could delete the segments.
    shutil.rmtree(tmp_path / "spill")
    shutil.copytree(copy, tmp_path / "spill")
    again = spilling()
    assert again.flush(timeout=60)

    assert sorted(stored(live_system)) == sorted(e["id"] for e in events(0, 300))
    assert again.record_stats()["duplicates"] == 300


def test_a_full_spill_drops_its_oldest_events_first_and_counts_them(
    spilling, live_system, tmp_path
):
    failsafe = spilling(spill_max_bytes=256 * 1024)
    failsafe.transport.down = True
    recorded = events(0, 3000)
    record_paced(failsafe, recorded)

    stats = failsafe.record_stats()
    assert 0 < stats["spilled"] < 3000
    assert stats["spill_dropped"] == stats["dropped"] == 3000 - stats["spilled"]
    on_disk = sum(path.stat().st_size for path in (tmp_path / "spill").glob("*.spill"))
    assert on_disk <= 256 * 1024

    failsafe.transport.down = False
    assert failsafe.flush(timeout=60)

    kept = stats["spilled"]
    assert sorted(stored(live_system)) == sorted(e["id"] for e in recorded[-kept:])


def test_a_partly_written_last_event_is_skipped_and_the_spill_still_takes_new_ones(
    spilling, live_system, tmp_path
):
    before = spilling()
    before.transport.down = True
    record_paced(before, events(0, 100))
    before.close()
    last = max((tmp_path / "spill").glob("*.spill"))
    # A crash in the middle of writing the last record: its end never reached the disk.
    with last.open("r+b") as segment:
        segment.truncate(last.stat().st_size - 7)

    after = spilling()
    after.transport.down = True
    record_paced(after, events(100, 20))
    after.transport.down = False
    assert after.flush(timeout=60)

    expected = {e["id"] for e in events(0, 120)} - {"spill-99"}
    assert sorted(stored(live_system)) == sorted(expected)
    assert after.record_stats()["dropped"] == 0
