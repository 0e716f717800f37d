"""A simulated AI system in production: it reports its outputs to Failsafe as a real one
would, obeys its runtime mode and serves its active versions through the SDK.

`make run` keeps one going for the demo: the refund classifier, whose fraud share is 2%
except while a bad version is active (by default the seed's prompt v2, the change behind
INC-2). Roll that version back from the incident page and watch the share return.

It also keeps the support reply drafter going (`--system support-reply --scenario
faithfulness-drift`): given `--url` (the live demo), the drafter reports each reply as an
OpenTelemetry span through the OpenTelemetry SDK's OTLP exporter
(`monitoring/otel_drafter.py`), as a team's own instrumented service would, rather than
through the Failsafe SDK's `record()`; the refund classifier keeps the SDK.

Before each account hold (its irreversible action) it asks Failsafe's action gate through
the SDK's `gate()`; a hold the gate does not allow is not fired, so during the failure the
holds pile up in the held-actions queue (`/holds/`) instead of reaching customers.

A ramped scenario (`fraud-ramp`, `faithfulness-drift`) rolls out from the moment the bad
version was deployed: the shifted share of the traffic grows over the scenario's ramp.
"""

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from failsafe_client import Failsafe

from monitoring import scenarios, simulator
from monitoring.models import Event
from monitoring.otel_drafter import DrafterTelemetry
from monitoring.services.ingest import events_ingest
from rollbacks.bundle import bundle_entry_for
from rollbacks.models import ActiveVersion
from systems.models import AISystem, Mode, SystemToken
from systems.services import token_issue

TOKEN_NAME = "simulated AI system"  # noqa: S105 (a label, not a secret)
SCOPES = ["mode:read", "bundle:read", "events:write", "gate"]
BATCH = 5000
# The actions the simulated system asks the gate about before firing them.
GATED = ("account_hold",)


def gate_events(ask, events, gated=GATED) -> int:
    """Ask the gate before each gated action of `events` (`ask(action, subject, event_id)`
    answers a decision with `.decision`); an action not allowed is not fired: it leaves
    the event's actions, so it is not reported as fired either. Answers how many were
    stopped."""
    stopped = 0
    for event in events:
        kept = []
        for action in event.get("actions", []):
            if action["type"] in gated:
                answer = ask(action["type"], action.get("subject", ""), event["id"])
                if answer.decision != "allow":
                    stopped += 1
                    continue
            kept.append(action)
        event["actions"] = kept
    return stopped


def _active_refs(slug: str) -> dict[str, str]:
    """The version number of each surface the system serves now, as events report it."""
    entry = bundle_entry_for(slug)
    if entry is None:  # no such system: nothing served yet
        return {}
    bundle = json.loads(entry["body"])
    return {surface: str(v["version"]) for surface, v in bundle.get("surfaces", {}).items() if v}


class Command(BaseCommand):
    help = "Run a simulated AI system that reports its events (the demo's live traffic)."

    def add_arguments(self, parser):
        parser.add_argument("--system", default="refund-classifier")
        parser.add_argument("--kind", default=None, help="refund-classifier or support-reply")
        parser.add_argument(
            "--scenario", default="fraud-spike", choices=sorted(scenarios.SCENARIOS)
        )
        parser.add_argument(
            "--bad",
            default="prompt:2",
            help="surface:version that serves the scenario's failure while it is active",
        )
        parser.add_argument("--rate", type=float, default=5.0, help="events per second")
        parser.add_argument("--backfill-hours", type=float, default=6.0)
        parser.add_argument("--backfill-rate", type=float, default=1.0, help="events per second")
        parser.add_argument(
            "--url",
            default=None,
            help="Failsafe's address (default: ours); given, the support drafter reports "
            "through OpenTelemetry (OTLP)",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--duration", type=float, default=0, help="seconds (0: forever)")
        parser.add_argument(
            "--gate",
            default=",".join(GATED),
            help="comma-separated actions to ask the action gate about ('' for none)",
        )

    def handle(self, *args, system, kind, scenario, bad, rate, url, seed, duration, **options):
        self.gated = tuple(a for a in options.get("gate", ",".join(GATED)).split(",") if a)
        self.stopped = 0
        try:
            target = AISystem.objects.get(slug=system)
        except AISystem.DoesNotExist:
            raise CommandError(f"No system {system}: run `manage.py seed_demo` first.") from None
        kind = kind or (system if system in scenarios.KINDS else scenarios.REFUND)
        bad_surface, _, bad_number = bad.partition(":")
        sim = simulator.Simulator(kind, seed=seed, versions={}, scenario=scenario, shift_at=0)
        self._backfill(
            target,
            sim,
            options["backfill_rate"],
            options["backfill_hours"],
            bad_surface,
            bad_number,
        )
        spans_wanted = kind == scenarios.SUPPORT and url is not None
        url = url or settings.FAILSAFE_BASE_URL
        logging.getLogger("httpx").setLevel(logging.WARNING)
        state = Path(settings.VAR_DIR) / f"simulate-{system}"
        token = self._token(target)
        self.spans = DrafterTelemetry(url, token, system) if spans_wanted else None
        how = "as OpenTelemetry spans (OTLP)" if self.spans else "through the SDK"
        try:
            with Failsafe(
                url, token, cache_dir=state, client_id=f"sim-{system}", system=system
            ) as failsafe:
                failsafe.on_change(self._announce)
                failsafe.watch(system, wait=True)
                self.stdout.write(
                    f"Simulated {kind} sending {rate:g} events/s to {url} {how}; “"
                    f"{sim.scenario.title}” happens while {bad_surface} v{bad_number} is active."
                )
                self._run(failsafe, system, sim, rate, duration, bad_surface, bad_number)
        finally:
            if self.spans:
                self.spans.close()  # sends what is still queued

    def _run(self, failsafe, system, sim, rate, duration, bad_surface, bad_number):
        started = last = time.time()
        owed = 0.0
        shifted_before = None
        while not duration or time.time() - started < duration:
            time.sleep(0.2)
            now = time.time()
            owed += (now - last) * rate
            last = now
            count, owed = int(owed), owed - int(owed)
            served = self._served(failsafe, system)
            refs = {s: str(v["version"]) for s, v in served.items()}
            shifted = refs.get(bad_surface) == bad_number
            if shifted != shifted_before:
                shifted_before = shifted
                self.stdout.write(
                    f"Serving {', '.join(f'{s} v{n}' for s, n in sorted(refs.items()))}: "
                    + (sim.scenario.title.lower() if shifted else "behaving normally")
                )
            if failsafe.mode(system) != Mode.AI or not count:
                continue  # the model is not answering: nothing of its to report
            since = datetime.fromisoformat(served[bad_surface]["deployed_at"]) if shifted else None
            events = self._events(sim, now - count / rate, count, rate, refs, since)
            self._gate(failsafe, events)
            if self.spans:
                self._report_spans(events, served)
                continue
            for event in events:
                failsafe.record(event)

    def _report_spans(self, events, served) -> None:
        """Spans name the model as its provider does (the pinned version id, which the
        registry knows) and the prompt by its version number (and name, if it has one)."""
        model = served.get("model")
        if model:
            reference = str(model["content"].get("version_id") or model["version"])
            for event in events:
                event["versions"]["model"] = reference
        prompt = served.get("prompt")
        name = str(prompt["content"].get("name", "")) if prompt else ""
        self.spans.report(events, prompt_name=name)

    def _gate(self, failsafe, events) -> None:
        if not self.gated:
            return
        before = self.stopped

        def ask(action, subject, event_id):
            return failsafe.gate(action, subject, event_id=event_id)

        self.stopped += gate_events(ask, events, self.gated)
        if self.stopped // 50 > before // 50:
            self.stdout.write(
                self.style.WARNING(f"{self.stopped} actions stopped at the gate so far")
            )

    @staticmethod
    def _served(failsafe, system) -> dict[str, dict]:
        """The bundle's active version of each surface served (number, content, since)."""
        bundle = failsafe.bundle(system) or {}
        return {s: v for s, v in bundle.get("surfaces", {}).items() if v}

    @staticmethod
    def _events(sim, start, count, rate, refs, since: datetime | None):
        """`since`: when the bad version went live (None: it is not served)."""
        sim.shift_at = None if since is None else since.timestamp()
        events = sim.events(start, count, rate)
        for event in events:
            event["versions"] = dict(refs)
        return events

    def _backfill(self, target, sim, rate, hours, bad_surface, bad_number):
        """Hours of history before now, so monitors have a baseline at once: steady, except
        since the bad version was deployed, if it is active."""
        if hours <= 0:
            return
        end = datetime.now(UTC)
        if Event.objects.filter(system=target, ts__gte=end - timedelta(hours=1)).exists():
            return
        refs = _active_refs(target.slug)
        start = end - timedelta(hours=hours)
        bad_since = end
        if refs.get(bad_surface) == bad_number:
            bad_since = max(
                ActiveVersion.objects.get(system=target, surface=bad_surface).deployment.at, start
            )
        steady = {**refs, bad_surface: str(max(int(bad_number) - 1, 1))}
        self.stdout.write(f"Backfilling {hours:g} hours of history for {target.slug}…")
        for since, until, versions, live in (
            (start, bad_since, steady, None),
            (bad_since, end, refs, bad_since),
        ):
            count = int((until - since).total_seconds() * rate)
            at = since.timestamp()
            while count > 0:
                n = min(BATCH, count)
                events = self._events(sim, at, n, rate, versions, live)
                events_ingest(system=target, payload={"events": events})
                at += n / rate
                count -= n

    def _token(self, target) -> str:
        """The simulator keeps its raw token in var/ (a real service keeps it in a secret)."""
        saved = Path(settings.VAR_DIR) / f"simulate-{target.slug}.token"
        if saved.exists():
            raw = saved.read_text().strip()
            token = SystemToken.objects.filter(
                token_hash=SystemToken.hash(raw), revoked_at=None, system=target
            ).first()
            if token is not None and set(SCOPES) <= set(token.scopes):
                return raw
        _, raw = token_issue(actor=None, system=target, name=TOKEN_NAME, scopes=SCOPES)
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(raw)
        saved.chmod(0o600)
        return raw

    def _announce(self, slug, mode, revision):
        what = {
            Mode.AI: "the model answers again",
            Mode.DEGRADED: "rules answer instead of the model: no account holds",
            Mode.HUMAN: "claims go to the support team",
            Mode.OFF: "kill switch: the model is off, nothing it produces reaches anyone",
        }[mode]
        self.stdout.write(
            self.style.WARNING(f"*** {slug} is now {mode.upper()} (r{revision}): {what}")
        )
