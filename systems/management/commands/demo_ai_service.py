"""The demo's AI system: a refund classifier that obeys its runtime mode through the SDK.

Flip the kill switch in the browser and watch this process change what it does on its
next refund. It uses the failsafe-client package exactly as a real service would.
"""

import logging
import random
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from failsafe_client import Failsafe

from systems.models import AISystem, SystemToken
from systems.services import token_issue

TOKEN_NAME = "demo AI service"  # noqa: S105 (a label, not a secret)


class Command(BaseCommand):
    help = "Run a simulated refund classifier that obeys its mode (the demo's AI system)."

    def add_arguments(self, parser):
        parser.add_argument("--system", default="refund-classifier")
        parser.add_argument("--url", default=None, help="Failsafe's address (default: ours)")
        parser.add_argument("--every", type=float, default=2.0, help="seconds between refunds")
        parser.add_argument("--count", type=int, default=0, help="stop after N (0: never)")

    def handle(self, *args, system, url, every, count, **options):
        url = url or settings.FAILSAFE_BASE_URL
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per refund is enough
        token = self._token(AISystem.objects.get(slug=system))
        state = Path(settings.VAR_DIR) / "demo-ai-service"
        with Failsafe(url, token, cache_dir=state, client_id="refunds-demo-1") as failsafe:
            failsafe.on_change(self._announce)
            failsafe.watch(system, wait=True)
            self.stdout.write(
                f"Refund classifier running against {url}: {system} is "
                f"{failsafe.mode(system).upper()}."
            )
            rng = random.Random(7)  # noqa: S311 (made-up refunds, not secrets)
            handled = 0
            while not count or handled < count:
                handled += 1
                self.stdout.write(self._decide(failsafe.mode(system), handled, rng))
                time.sleep(every)

    def _token(self, system) -> str:
        """This demo keeps its raw token in var/ (a real service keeps it in a secret)."""
        saved = Path(settings.VAR_DIR) / "demo-ai-service.token"
        if saved.exists():
            raw = saved.read_text().strip()
            if SystemToken.objects.filter(
                token_hash=SystemToken.hash(raw), revoked_at=None, system=system
            ).exists():
                return raw
        _, raw = token_issue(actor=None, system=system, name=TOKEN_NAME, scopes=["mode:read"])
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(raw)
        saved.chmod(0o600)
        return raw

    def _announce(self, slug, mode, revision):
        self.stdout.write(self.style.WARNING(f"*** {slug} is now {mode.upper()} (r{revision})"))

    @staticmethod
    def _decide(mode: str, n: int, rng: random.Random) -> str:
        amount = rng.choice([12.5, 37.2, 64.0, 129.9, 18.0, 245.0])
        fraud_score = rng.random()
        claim = f"refund #{1000 + n} of {amount:.2f} EUR"
        if mode == "ai":
            verdict = "fraud: account hold" if fraud_score > 0.8 else "approve"
            return f"{claim}: model says {verdict} (score {fraud_score:.2f})"
        if mode == "degraded":
            verdict = "approve" if amount < 50 else "manual review"
            return f"{claim}: rules say {verdict} (degraded: no account holds)"
        if mode == "human":
            return f"{claim}: queued for the support team (human mode)"
        return f"{claim}: AI off, standard refund flow, no fraud check, no hold"
