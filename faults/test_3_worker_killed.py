"""Scenario 3: the Celery worker killed with SIGKILL in the middle of monitor evaluation
and in the middle of review sampling (caught in pg_stat_activity with its transaction
open). After a restart no rollup bucket has been fed to a detector twice, no output has
been sampled twice, and a reminder and a scheduled deployment that fell due while it was
dead still happen, once each."""

import math
import random
import threading
import time
from datetime import timedelta

import psycopg
from django.utils import timezone
from failsafe_client import Failsafe

from faults.figures import table
from faults.stack import WORKER, wait_for
from faults.world import person, query, system_with_token

RATE = 300.0  # events/s of live traffic while the worker dies
DENY = 0.3


def kill_worker_during(stack, patterns: list[str], timeout: float = 30.0) -> dict:
    """SIGKILL the worker the moment one of its connections is inside a transaction whose
    query matches a pattern; after `timeout` seconds, kill it anyway (and say so)."""
    sql = (
        "SELECT state, left(query, 70) FROM pg_stat_activity WHERE application_name = %s"
        " AND state IN ('active', 'idle in transaction') AND query ILIKE ANY(%s)"
    )
    started = time.monotonic()
    found = None
    with psycopg.connect(stack.postgres.url, autocommit=True) as connection:
        while found is None and time.monotonic() - started < timeout:
            found = connection.execute(sql, [WORKER, patterns]).fetchone()
            if found is None:
                time.sleep(0.002)
        stack.worker.kill()
    return {
        "caught": found is not None,
        "state": found[0] if found else None,
        "query": found[1] if found else None,
        "waited": time.monotonic() - started,
    }


def traffic(url: str, token: str, slug: str, stop: threading.Event) -> None:
    rng = random.Random(3)
    with Failsafe(url, token, system=slug) as client:
        started, i = time.monotonic(), 0
        while not stop.is_set():
            ahead = started + i / RATE - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            label = "deny" if rng.random() < DENY else "approve"
            client.record({"id": f"w-{i}", "output": {"label": label}})
            i += 1


def cursor(system_id: int) -> int:
    """The review plan's cursor: the last event id its sampling has gone through."""
    return query(
        "SELECT sampled_through FROM monitoring_reviewplan WHERE system_id = %s", [system_id]
    )[0][0]


def first_true(conditions: dict, since: float, timeout: float = 90.0) -> dict[str, float]:
    """Seconds from `since` until each condition first held (all of them, or a failure)."""
    held: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(held) < len(conditions):
        if time.monotonic() > deadline:
            missing = ", ".join(sorted(set(conditions) - set(held)))
            raise TimeoutError(f"not within {timeout:.0f} s: {missing}")
        for name, condition in conditions.items():
            if name not in held and condition():
                held[name] = time.monotonic() - since
        time.sleep(0.2)
    return held


def monitor_row(pk: int) -> dict:
    from monitoring.models import Monitor

    query("SELECT 1")  # a fresh connection
    return Monitor.objects.values("status", "evaluated_through", "state", "detector").get(pk=pk)


def replay(monitor, start: dict, end: dict) -> list[dict]:
    """Feed the detector every bucket between the two snapshots once, as the product does."""
    from django.db.models import Sum

    from monitoring.detectors.mixture import MixtureDetector, mixture_start, mixture_update
    from monitoring.models import Rollup

    detector = MixtureDetector.from_json(end["detector"])
    (signal, key), denominator = monitor.signal, monitor.denominator
    rows: dict = {}
    for bucket, sig, k, n in (
        Rollup.objects.filter(
            system_id=monitor.system_id,
            bucket__gte=start["evaluated_through"],
            bucket__lt=end["evaluated_through"],
            signal__in={signal, denominator[0]},
        )
        .values_list("bucket", "signal", "key")
        .annotate(total=Sum("n"))
        .values_list("bucket", "signal", "key", "total")
    ):
        rows.setdefault((sig, k), {})[bucket] = rows.get((sig, k), {}).get(bucket, 0) + n
    events, hits = rows.get(denominator, {}), rows.get((signal, key), {})
    state = start["state"]
    for bucket in sorted(events):
        state, shift = mixture_update(
            detector, state, hits.get(bucket, 0), events[bucket], bucket.timestamp()
        )
        if shift is not None:
            state = mixture_start(detector)
    return state


def same_state(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        math.isclose(x["r"], y["r"], rel_tol=1e-9, abs_tol=1e-9)
        and math.isclose(x["s"], y["s"], rel_tol=1e-9, abs_tol=1e-9)
        for x, y in zip(a, b, strict=True)
    )


def test_a_worker_killed_mid_task_counts_nothing_twice_and_due_work_happens_once(stack, figures):
    from comms.models import Reminder
    from groundtruth.services import review_plan_set
    from incidents.models import TimelineEntry
    from incidents.services.incident import incident_declare
    from monitoring.models import Monitor
    from monitoring.services.monitors import monitor_create
    from rollbacks.models import Deployment
    from rollbacks.services import version_activate, version_add, version_deploy

    system, token = system_with_token("faults-worker", ["events:write"])
    responder = person("faults-responder")
    now = timezone.now()
    # A pinned baseline of 3,000 events two hours ago, 30% deny, as the live traffic.
    rng = random.Random(2)
    with Failsafe(stack.url, token, system=system.slug) as client:
        for i in range(3000):
            at = now - timedelta(hours=3) + timedelta(seconds=i)
            label = "deny" if rng.random() < DENY else "approve"
            client.record({"id": f"b-{i}", "ts": at, "output": {"label": label}})
        assert client.flush(60)
    monitor = monitor_create(
        actor=responder,
        system=system,
        name="Deny share",
        kind=Monitor.Kind.CATEGORY_SHARE,
        target="deny",
        baseline_start=now - timedelta(hours=4),
        baseline_end=now - timedelta(hours=2),
    )
    review_plan_set(actor=responder, system=system, per_day=5_000_000)

    stop = threading.Event()
    sender = threading.Thread(target=traffic, args=(stack.url, token, system.slug, stop))
    sender.start()
    try:
        wait_for(
            "the monitor's first evaluation", lambda: monitor_row(monitor.pk)["state"], 60, 0.5
        )
        start = monitor_row(monitor.pk)

        evaluation = kill_worker_during(
            stack, ["%monitoring_monitor%", "%monitoring_rollup%", "%evaluationclaim%"]
        )
        at_kill = monitor_row(monitor.pk)["evaluated_through"]
        restarted = time.monotonic()
        stack.worker.start()
        evaluation["recover"] = wait_for(
            "evaluation after the kill",
            lambda: monitor_row(monitor.pk)["evaluated_through"] > at_kill,
            150,
            0.2,
        )

        sampling = kill_worker_during(stack, ["%monitoring_reviewplan%", "%monitoring_reviewitem%"])
        sampled_at_kill = cursor(system.id)
        # Due while no worker runs: the incident's unowned reminder, a scheduled deployment.
        incident = incident_declare(actor=responder, title="Faults: worker", systems=[system])
        reminder = Reminder.objects.filter(incident=incident, kind=Reminder.Kind.UNOWNED).get()
        Reminder.objects.filter(pk=reminder.pk).update(due_at=timezone.now())
        first = version_add(
            actor=responder, system=system, surface="prompt", content={"template": "v1"}
        )
        version_deploy(actor=responder, version=first, reason="Faults: first")
        second = version_add(
            actor=responder, system=system, surface="prompt", content={"template": "v2"}
        )
        version_activate(
            actor=responder,
            version=second,
            reason="Faults: scheduled",
            not_before=timezone.now() + timedelta(seconds=1),
        )
        time.sleep(2.0)
        restarted = time.monotonic()
        stack.worker.start()
        recovered = first_true(
            {
                "sampling": lambda: cursor(system.id) > sampled_at_kill,
                "reminder": lambda: Reminder.objects.filter(pk=reminder.pk, sent=True).exists(),
                "deployment": lambda: Deployment.objects.filter(to_version=second).exists(),
            },
            since=restarted,
        )
        sampling["recover"] = recovered["sampling"]
    finally:
        stop.set()
        sender.join()
    # Everything sent has been evaluated: the buckets up to now plus the evaluation's lag.
    until = timezone.now() + timedelta(seconds=1)
    wait_for(
        "the last buckets evaluated",
        lambda: monitor_row(monitor.pk)["evaluated_through"] >= until - timedelta(seconds=1),
        60,
        0.5,
    )
    time.sleep(6)  # two more sweeps: anything due twice would have happened by now
    end = monitor_row(monitor.pk)
    replayed = replay(Monitor.objects.get(pk=monitor.pk), start, end)
    items, distinct, beyond = query(
        "SELECT count(*), count(DISTINCT event_id),"
        " count(*) FILTER (WHERE event_id > p.sampled_through AND i.incident_id IS NULL)"
        " FROM monitoring_reviewitem i JOIN monitoring_reviewplan p ON p.system_id = i.system_id"
        " WHERE i.system_id = %s GROUP BY p.sampled_through",
        [system.id],
    )[0]
    reminders = TimelineEntry.objects.filter(
        incident=incident, kind=TimelineEntry.Kind.REMINDER
    ).count()
    deployments = Deployment.objects.filter(to_version=second).count()
    buckets = int((end["evaluated_through"] - start["evaluated_through"]).total_seconds() // 2)

    def caught(kill):
        return (
            f"{kill['state']}: {kill['query']}" if kill["caught"] else "not caught: killed anyway"
        )

    figures(
        table(
            "3. The worker killed with SIGKILL mid-task, restarted",
            [
                {
                    "scenario": "monitor evaluation",
                    "sent": buckets,
                    "stored": buckets,
                    "duplicates": 0 if same_state(replayed, end["state"]) else "state differs",
                    "recover s": f"{evaluation['recover']:.2f}",
                },
                {
                    "scenario": "review sampling",
                    "sent": items,
                    "stored": distinct,
                    "duplicates": items - distinct,
                    "lost": beyond,
                    "recover s": f"{sampling['recover']:.2f}",
                },
                {
                    "scenario": "due reminder",
                    "sent": 1,
                    "stored": reminders,
                    "duplicates": reminders - 1,
                    "recover s": f"{recovered['reminder']:.2f}",
                },
                {
                    "scenario": "scheduled deployment",
                    "sent": 1,
                    "stored": deployments,
                    "duplicates": deployments - 1,
                    "recover s": f"{recovered['deployment']:.2f}",
                },
            ],
            [
                f"evaluation kill: {caught(evaluation)} (after {evaluation['waited']:.2f} s)",
                f"sampling kill: {caught(sampling)} (after {sampling['waited']:.2f} s)",
                "monitor: sent = 2 s buckets between the snapshots; duplicates: each fed once to "
                "the detector from the first snapshot, compared with the stored state",
                "sampling: sent = review items, stored = distinct events; lost = items past "
                "the cursor (the incident's own window samples aside)",
                "recover s: from the worker's restart (due work: due 2 s before it) to the "
                "work done: evaluation moved on, the cursor moved on, reminder sent, deployed",
            ],
        )
    )
    assert end["detector"] == start["detector"], "recalibrated mid-run: the replay cannot tell"
    assert same_state(replayed, end["state"]), "a bucket was fed to the detector twice (or skipped)"
    assert items == distinct and beyond == 0
    assert reminders == 1 and deployments == 1
