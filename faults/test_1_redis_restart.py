"""Scenario 1: four SDK senders record 100,000 events while Redis is restarted twice.
Every event is stored exactly once and the rollups equal a recount of the raw events."""

import time

from faults.figures import seconds, table
from faults.senders import notes, row, send
from faults.stack import wait_for
from faults.world import celery_heartbeat_after, stored, stored_ids, system_with_token

EVENTS = 100_000
DOWN_SECONDS = 1.5


def test_every_event_is_stored_once_while_redis_restarts_twice(stack, figures):
    system, token = system_with_token("faults-redis", ["events:write"])
    outages: list[tuple[float, float]] = []
    heartbeat: list[float | None] = []

    def restart_redis_twice(run):
        for at in (5.0, 12.0):
            time.sleep(max(0.0, run.started + at - time.monotonic()))
            stack.redis_stop()
            down = time.monotonic()
            time.sleep(DOWN_SECONDS)
            stack.redis_start()
            outages.append((down, time.monotonic()))
        back = time.time()
        # Celery comes back too: beat queues through the new Redis, a worker runs it.
        try:
            heartbeat.append(wait_for("heartbeat", lambda: celery_heartbeat_after(back), 60, 0.5))
        except TimeoutError:
            heartbeat.append(None)

    run = send(stack.url, token, system.slug, tag="r", events=EVENTS, during=restart_redis_twice)
    counts = stored(system.id)
    lost = len(set(run.recorded) - stored_ids(system.id))
    figures(
        table(
            f"1. Redis restarted twice ({DOWN_SECONDS} s down each), 4 senders, {EVENTS:,} events",
            [row("redis restarted x2", run, counts, lost, outages)],
            [
                *notes(run, counts),
                f"Celery's heartbeat written again {seconds(heartbeat[0])} s after Redis came back",
            ],
        )
    )
    assert len(run.recorded) == EVENTS
    assert run.total("dropped") == 0 and run.total("rejected") == 0
    assert counts["rows"] == counts["distinct"] == EVENTS
    assert lost == 0
    assert counts["rollup_events"] == EVENTS
    assert counts["rollup_labels"] == counts["recount"] == run.labels
    assert heartbeat[0] is not None, "Celery did not come back after Redis did"
