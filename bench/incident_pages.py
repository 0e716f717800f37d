"""Server time of the incident list (10,000 incidents) and of an incident page (2,000
timeline entries), with the SQL queries each costs (docs/PERFORMANCE.md).

Fills the bench database once (bulk inserts; the two incidents whose pages are timed are
declared through `incidents.services.incident.incident_declare`), then times requests in-process
with Django's test client signed in as a viewer: no network, no browser, just the server
side. Each URL is timed N times after a warm-up, round-robin so drift hits all alike; a
trivial signed-in page (/roles/) is the same-run baseline. Small and large variants of the
same views (10 vs 10,000 incidents listed, 10 vs 2,000 entries) show the query count does
not grow with the data.

    .venv/bin/python bench/incident_pages.py [-n 200] [--sql] [--profile URL]
"""

import argparse
import cProfile
import datetime as dt
import pstats
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import check, percentile, person, setup_django

INCIDENTS = 10_000
LONG_TIMELINE = 2_000
SHORT_TIMELINE = 10
RARE_LEAD_INCIDENTS = 10
SQL_SAMPLES = 5  # requests whose queries are captured and timed, per URL
LONG_TITLE = "Bench: the incident with the long timeline"
SHORT_TITLE = "Bench: the incident with the short timeline"
BULK_TITLE = "Bench incident"
SYSTEMS = [
    ("bench-fraud-scorer", "Fraud scorer", "classifier"),
    ("bench-support-drafter", "Support reply drafter", "generator"),
    ("bench-search-ranker", "Search ranker", "ranker"),
    ("bench-refund-agent", "Refund agent", "agent"),
    ("bench-kyc-classifier", "KYC document classifier", "classifier"),
    ("bench-pricing-model", "Dynamic pricing model", "generator"),
]
RUNBOOK = """## First five minutes

1. Switch the system to **degraded** mode from its page (a mode change).
2. Check the fallback queue is draining: `queue depth < 500`.
3. Post a status update naming what is known and what is being done.

## Then

| check | where |
| --- | --- |
| error rate | the system's monitor |
| last deploy | the deployment log |

Roll back the last bundle if the shift started with it.
"""


def seed() -> dict:
    """Create what is missing; return the people and incidents the timing needs."""
    from django.db import connection, transaction
    from django.utils import timezone

    from incidents.models import Incident, TimelineEntry
    from systems.models import ActionType, AISystem, RunbookVersion

    started = time.perf_counter()
    viewer = person("bench-viewer", "Viewer")
    leads = [person(f"bench-lead-{i}", "Responder") for i in range(1, 9)]
    leads += [person(f"bench-incident-lead-{i}", "Incident lead") for i in range(1, 3)]
    rare = person("bench-rare-lead", "Responder")

    systems = []
    for i, (slug, name, kind) in enumerate(SYSTEMS):
        system, created = AISystem.objects.get_or_create(
            slug=slug,
            defaults={
                "name": name,
                "kind": kind,
                "owner": leads[i % len(leads)],
                "degraded_behaviour": "Rules instead of the model; people review the rest.",
            },
        )
        if created:
            ActionType.objects.bulk_create(
                ActionType(
                    system=system,
                    name=f"action_{n}",
                    reversible=n != 0 or i % 2 == 0,
                    user_visible=n == 1,
                )
                for n in range(4)
            )
            RunbookVersion.objects.bulk_create(
                RunbookVersion(system=system, number=n, body=RUNBOOK, author=system.owner)
                for n in (1, 2)
            )
        systems.append(system)

    long = _declared(LONG_TITLE, leads[0], systems[:2], "harmful")
    short = _declared(SHORT_TITLE, leads[1], systems[2:3], "wrong")
    _fill_timeline(long, LONG_TIMELINE, leads)
    _fill_timeline(short, SHORT_TIMELINE, leads)

    missing = INCIDENTS - Incident.objects.count()
    if missing > 0:
        rng = random.Random(42)
        now = timezone.now()
        first = (Incident.objects.order_by("-number").values_list("number", flat=True).first()) + 1
        statuses = [
            ("triage", 2),
            ("investigating", 2),
            ("contained", 1),
            ("mitigated", 1),
            ("resolved", 9),
            ("closed", 85),
        ]
        severities = [("SEV1", 10), ("SEV2", 30), ("SEV3", 50), ("", 10)]
        harm_of = {"SEV1": "harmful", "SEV2": "wrong", "SEV3": "anomalous", "": ""}
        rare_left = RARE_LEAD_INCIDENTS - Incident.objects.filter(lead=rare).count()
        rows = []
        for k in range(missing):
            status = rng.choices(*zip(*statuses, strict=True))[0]
            sev = rng.choices(*zip(*severities, strict=True))[0]
            declared = now - dt.timedelta(minutes=10 + (missing - k) * 90 + rng.randint(0, 60))
            lead = None if status == "triage" and rng.random() < 0.5 else rng.choice(leads)
            if rare_left > 0 and k % 97 == 0:
                lead, rare_left = rare, rare_left - 1
            done = status in ("resolved", "closed")
            rows.append(
                Incident(
                    number=first + k,
                    title=f"{BULK_TITLE} {first + k}: output shift on "
                    f"{rng.choice(SYSTEMS)[1].lower()}",
                    summary="Share of flagged outputs moved; see the timeline.",
                    harm=harm_of[sev],
                    irreversible_actions=(rng.random() < 0.3) if sev else None,
                    severity=sev,
                    status=status,
                    lead=lead,
                    declared_by=lead,
                    declared_at=declared,
                    onset_at=declared - dt.timedelta(minutes=rng.randint(1, 120)),
                    detected_at=declared,
                    contained_at=declared + dt.timedelta(minutes=20) if done else None,
                    resolved_at=declared + dt.timedelta(hours=3) if done else None,
                    closed_at=declared + dt.timedelta(days=3) if status == "closed" else None,
                )
            )
        with transaction.atomic():
            created = Incident.objects.bulk_create(rows, batch_size=2000)
            through = Incident.systems.through
            links = []
            for incident in created:
                for system in rng.sample(systems, rng.choice((1, 1, 1, 2))):
                    links.append(through(incident_id=incident.pk, aisystem_id=system.pk))
            through.objects.bulk_create(links, batch_size=5000)
    # Fresh planner statistics, as autovacuum would have them on a live database.
    with connection.cursor() as cursor:
        for table in (
            "incidents_incident",
            "incidents_incident_systems",
            "incidents_timelineentry",
        ):
            cursor.execute(f"ANALYZE {table}")
    print(
        f"data: {Incident.objects.count():,} incidents "
        f"({Incident.objects.filter(status__in=Incident.Status.open_values()).count()} open, "
        f"{Incident.objects.filter(lead=rare).count()} led by {rare.username}); "
        f"INC-{long.number} has {TimelineEntry.objects.filter(incident=long).count():,} "
        f"timeline entries, INC-{short.number} "
        f"{TimelineEntry.objects.filter(incident=short).count()} "
        f"(ready in {time.perf_counter() - started:.1f} s)"
    )
    return {"viewer": viewer, "long": long, "short": short, "rare": rare}


def _declared(title, lead, systems, harm):
    from incidents.models import Incident
    from incidents.services.incident import incident_declare

    found = Incident.objects.filter(title=title).first()
    if found:
        return found
    return incident_declare(
        actor=lead,
        title=title,
        systems=systems,
        summary="Declared by bench/incident_pages.py.",
        harm=harm,
        irreversible_actions=harm == "harmful",
        lead=lead,
    )


def _fill_timeline(incident, size, people):
    """Top the incident's timeline up to `size` entries, mostly room messages."""
    from django.utils import timezone

    from incidents.models import TimelineEntry

    have = TimelineEntry.objects.filter(incident=incident).count()
    if have >= size:
        return
    rng = random.Random(incident.pk)
    kinds = ["message"] * 8 + ["status_update", "mode", "alert", "people"]
    start = timezone.now() - dt.timedelta(hours=6)
    entries = []
    for n in range(have, size):
        actor = rng.choice(people)
        kind = rng.choice(kinds)
        entries.append(
            TimelineEntry(
                incident=incident,
                kind=kind,
                actor=actor if kind != "alert" else None,
                actor_label=actor.username if kind != "alert" else "failsafe",
                text=f"Entry {n}: checked the fallback queue, depth {rng.randint(0, 900)}; "
                "error rate back under 2%.\nNext check in ten minutes.",
                at=start + dt.timedelta(seconds=10 * n),
            )
        )
    TimelineEntry.objects.bulk_create(entries, batch_size=1000)


class QueryTimer:
    """Every query of a request with its time in µs (Django's own log rounds to 1 ms)."""

    def __init__(self):
        self.queries = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append((time.perf_counter() - started, sql))


def _rows_shown(content: bytes) -> str:
    """What the page shows: incident rows and pager total, or timeline entries."""
    text = content.decode()
    entries = text.count('class="entry entry-')
    if entries:
        return f"{entries} entries shown"
    if '<table class="incidents">' not in text:
        return "-"
    rows = text.count('<span class="status status-')
    total = re.search(r"· ([\d,]+) incidents", text)
    return f"{rows} rows of {total.group(1) if total else rows}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="timed requests per URL")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests per URL")
    parser.add_argument("--sql", action="store_true", help="print each URL's queries and times")
    parser.add_argument("--profile", metavar="URL", help="cProfile n requests of one URL")
    args = parser.parse_args()

    setup_django()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    data = seed()
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(data["viewer"])
    long, short = data["long"], data["short"]
    urls = [
        ("baseline: /roles/ (signed in)", "/roles/"),
        ("list: open (default filter)", "/incidents/"),
        ("list: any status", "/incidents/?status="),
        ("list: any status, page 50", "/incidents/?status=&page=50"),
        ("list: one lead's 10 (small)", f"/incidents/?status=&lead={data['rare'].username}"),
        (f"page: INC-{long.number}, 2,000 entries", f"/incidents/{long.number}/"),
        (f"page: INC-{short.number}, 10 entries (small)", f"/incidents/{short.number}/"),
    ]

    if args.profile:
        for _ in range(args.warmup):
            client.get(args.profile)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.n):
            client.get(args.profile)
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
        return

    shown, queries = {}, {}
    for _, url in urls:
        for _ in range(args.warmup):
            response = client.get(url)
            check(response.status_code == 200, (url, response.status_code))
        shown[url] = _rows_shown(response.content)
        runs = []
        for _ in range(SQL_SAMPLES):
            timer = QueryTimer()
            with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timer):
                client.get(url)
            check(len(captured.captured_queries) == len(timer.queries), "queries missed")
            runs.append(timer.queries)
        check(len({len(r) for r in runs}) == 1, f"{url}: the query count varies between requests")
        # The request whose SQL took the median total time.
        queries[url] = sorted(runs, key=lambda r: sum(s for s, _ in r))[SQL_SAMPLES // 2]

    times = {url: [] for _, url in urls}
    for _ in range(args.n):
        for _, url in urls:
            started = time.perf_counter()
            response = client.get(url)
            times[url].append((time.perf_counter() - started) * 1000)
            check(response.status_code == 200, (url, response.status_code))

    base_p95 = percentile(times["/roles/"], 95)
    print(f"\n{args.n} requests per URL after {args.warmup} warm-up, in-process, ms:")
    print(f"(SQL: queries per request; their total time, median of {SQL_SAMPLES} requests)")
    header = f"{'p50':>6} {'p95':>6} {'max':>6} {'p95/base':>8} {'SQL':>4} {'SQL ms':>6}"
    print(f"{'':44} {header}  shows")
    for label, url in urls:
        ms = times[url]
        sql_ms = sum(seconds for seconds, _ in queries[url]) * 1000
        print(
            f"{label:44} {percentile(ms, 50):6.1f} {percentile(ms, 95):6.1f} {max(ms):6.1f} "
            f"{percentile(ms, 95) / base_p95:7.1f}x {len(queries[url]):4d} {sql_ms:6.1f}"
            f"  {shown[url]}"
        )
    pairs = [("/incidents/?status=", f"/incidents/?status=&lead={data['rare'].username}")]
    pairs.append((f"/incidents/{long.number}/", f"/incidents/{short.number}/"))
    for big, small in pairs:
        same = len(queries[big]) == len(queries[small])
        print(
            f"queries {big} vs {small}: {len(queries[big])} vs {len(queries[small])}"
            f" -> {'constant' if same else 'GROWS WITH THE DATA'}"
        )
    worst = max(percentile(times[url], 95) for _, url in urls[1:])
    print(
        f"target p95 <= 100 ms: worst page p95 {worst:.1f} ms"
        f" -> {'met' if worst <= 100 else 'MISSED'}"
    )

    if args.sql:
        for label, url in urls:
            print(f"\n{label}  {url}")
            for seconds, sql in queries[url]:
                print(f"  {seconds * 1000:6.2f} ms  {sql[:150]}")


if __name__ == "__main__":
    main()
