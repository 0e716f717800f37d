"""Demo data for `make run`: people for every role, AI systems, a few incidents.

Idempotent: what exists already is left as it is, so it runs on every start.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from comms.services.status_updates import status_update_post
from core.roles import Role
from gate.models import GateRule
from gate.services.rule_set import gate_rule_set
from groundtruth.services import review_plan_set
from incidents.models import ActionItem, Incident
from incidents.services.incident import (
    incident_declare,
    incident_people_change,
    incident_status_change,
)
from incidents.services.postmortems import action_item_add, postmortem_edit
from incidents.services.timeline import incident_message_post
from monitoring.models import Monitor
from monitoring.services.monitors import monitor_create
from response.demo_data import PEOPLE, SYSTEMS
from rollbacks.models import Version
from rollbacks.services import version_add, version_deploy
from systems.models import AISystem
from systems.services import action_type_add, runbook_revise, system_register

DEMO_PASSWORD = "failsafe-demo"  # noqa: S105 - printed on purpose: it is the demo
# How long before the seed the support drafter's prompt edit went out.
DRAFTER_PROMPT_AGO = timedelta(minutes=3)


class Command(BaseCommand):
    help = "Load demo data (idempotent): people for every role, AI systems, incidents."

    @transaction.atomic
    def handle(self, *args, **options):
        people = {username: self._person(username, *rest) for username, *rest in PEOPLE}
        systems = {spec["slug"]: self._system(spec, people) for spec in SYSTEMS}
        self._versions(systems, people)
        self._monitors(systems, people)
        self._gate(systems)
        self._incidents(systems, people)
        self._print_sign_in()

    def _person(self, username, first_name, last_name, role):
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first_name,
                "last_name": last_name,
                "email": f"{username}@example.com",
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.is_staff = user.is_superuser = role == Role.ADMIN
            user.save()
            user.groups.add(Group.objects.get(name=role.group_name))
        return user

    def _system(self, spec, people):
        existing = AISystem.objects.filter(slug=spec["slug"]).first()
        if existing:
            return existing
        owner = people[spec["owner"]]
        details = {
            k: spec[k]
            for k in ("description", "has_human_fallback", "human_fallback", "degraded_behaviour")
        }
        system = system_register(
            actor=people["admin"],
            slug=spec["slug"],
            name=spec["name"],
            owner=owner,
            kind=spec["kind"],
            **details,
        )
        for name, reversible, user_visible, description in spec["actions"]:
            action_type_add(
                actor=owner,
                system=system,
                name=name,
                reversible=reversible,
                user_visible=user_visible,
                description=description,
            )
        if spec["runbook"]:
            runbook_revise(actor=owner, system=system, body=spec["runbook"], reason="First version")
        return system

    def _versions(self, systems, people):
        """A history for every surface, with the changes behind the demo's incidents."""
        if Version.objects.exists():
            return
        now = timezone.now()
        owner = people["lead"]

        def ship(system, surface, content, reason, ago, note=""):
            version = version_add(
                actor=owner, system=system, surface=surface, content=content, note=note
            )
            version_deploy(actor=owner, version=version, reason=reason, at=now - ago)
            return version

        refunds, replies = systems["refund-classifier"], systems["support-reply"]
        long_ago = timedelta(days=30)
        for system in (refunds, replies):
            ship(
                system,
                "model",
                {
                    "provider": "openai",
                    "name": "gpt-4o-mini",
                    "version_id": "gpt-4o-mini-2024-07-18",
                },
                "Pinned model at launch",
                long_ago,
            )
            ship(
                system,
                "config",
                {"params": {"temperature": 0.0, "max_tokens": 64 if system is refunds else 185}},
                "Launch configuration",
                long_ago,
            )
        ship(
            refunds,
            "prompt",
            {
                "template": "Label this refund request approve, review or fraud.\n{request}",
                "variables": ["request"],
            },
            "Launch prompt",
            long_ago,
        )
        ship(
            refunds,
            "retrieval",
            {"source": "refund-policies", "snapshot_id": "2026-10-01"},
            "Policy snapshot at launch",
            long_ago,
        )
        # The change behind INC-2: deployed shortly before the fraud share tripled.
        ship(
            refunds,
            "prompt",
            {
                "template": "Label this refund request approve, review or fraud. When in "
                "doubt, say fraud: chargebacks cost more than reviews.\n{request}",
                "variables": ["request"],
            },
            "Cut chargebacks: lean towards fraud when unsure",
            timedelta(minutes=82),
        )
        ship(
            replies,
            "prompt",
            {
                "name": "support-reply",
                "template": "Answer the customer kindly and briefly, from the order history "
                "and the help centre articles below.\n{context}\n{ticket}",
                "variables": ["context", "ticket"],
            },
            "Launch prompt",
            long_ago,
        )
        # The change the drafter's faithfulness monitor catches: deployed as the demo
        # starts, it rolls out over twenty minutes (the simulator's faithfulness-drift).
        ship(
            replies,
            "prompt",
            {
                "name": "support-reply",
                "template": "Answer the customer kindly and briefly. Always give a concrete "
                "answer; do not hand the ticket to an agent.\n{context}\n{ticket}",
                "variables": ["context", "ticket"],
            },
            "Fewer escalations: answer directly",
            DRAFTER_PROMPT_AGO,
        )
        # The change behind INC-1: an index rebuild that mixed order histories.
        ship(
            replies,
            "retrieval",
            {"source": "orders-index", "snapshot_id": "rebuild-2026-11-21"},
            "Nightly index rebuild",
            timedelta(days=6, hours=3, minutes=20),
        )

    def _monitors(self, systems, people):
        """What watches the demo's systems. The fraud share's baseline is pinned to the
        hours before the prompt change behind INC-2, so that change cannot hide in it."""
        if Monitor.objects.exists():
            return
        now = timezone.now()
        refunds, replies = systems["refund-classifier"], systems["support-reply"]
        for system, name, kind, target, extra in (
            (
                refunds,
                "Fraud share",
                Monitor.Kind.CATEGORY_SHARE,
                "fraud",
                {
                    "baseline_start": now - timedelta(hours=6),
                    "baseline_end": now - timedelta(minutes=85),
                },
            ),
            (refunds, "Account holds", Monitor.Kind.ACTION_RATE, "account_hold", {}),
            (refunds, "Fraud score distribution", Monitor.Kind.NUMERIC, "score", {}),
            (refunds, "Refund amount", Monitor.Kind.INPUT_FEATURE, "amount", {"numeric": True}),
            (replies, "Refusal rate", Monitor.Kind.REFUSAL_RATE, "", {}),
            (replies, "Answer length", Monitor.Kind.NUMERIC, "length", {}),
            (
                replies,
                "Faithfulness below 0.5",
                Monitor.Kind.SCORE_SHARE,
                "faithfulness",
                {"threshold": 0.5, "below": True},
            ),
            (replies, "Output tokens", Monitor.Kind.NUMERIC, "usage.output_tokens", {}),
            (replies, "Replies cut off", Monitor.Kind.FINISH_REASON, "length", {}),
            (refunds, "Reviewed accuracy", Monitor.Kind.ACCURACY, "", {}),
        ):
            monitor_create(
                actor=system.owner, system=system, name=name, kind=kind, target=target, **extra
            )
        # Ground truth: fraud flags are rare and costly, so reviewers see ten times more.
        review_plan_set(actor=refunds.owner, system=refunds, per_day=200, oversample={"fraud": 10})
        review_plan_set(actor=replies.owner, system=replies, per_day=40)

    def _gate(self, systems):
        """The refund classifier asks the action gate before its irreversible actions:
        account holds trip a breaker at 5x their baseline (never below 20 a minute) and at
        most 200 go out a minute; refunds are only bounded by a wide breaker. Unreachable,
        both fail closed; an undecided account hold expires rejected after four hours."""
        refunds = systems["refund-classifier"]
        if GateRule.objects.filter(system=refunds).exists():
            return
        settings = {
            "account_hold": {"breaker_factor": 5.0, "breaker_floor": 20, "cap": 200},
            "refund_issue": {"breaker_factor": 10.0, "breaker_floor": 600},
        }
        for action_type in refunds.action_types.filter(reversible=False):
            gate_rule_set(
                actor=refunds.owner,
                action_type=action_type,
                reason="The demo's gate: bound what one wrong output can set off.",
                unreachable=GateRule.Unreachable.HOLD,
                hold_minutes=240,
                expire_to=GateRule.Outcome.REJECT,
                **settings.get(action_type.name, {}),
            )

    def _incidents(self, systems, people):
        if Incident.objects.exists():
            return
        now = timezone.now()
        old = incident_declare(
            actor=people["lead"],
            title="Support replies quoted another customer's order",
            systems=[systems["support-reply"]],
            harm=Incident.Harm.HARMFUL,
            irreversible_actions=False,
            summary=(
                "A retrieval index rebuild mixed order histories: replies quoted other "
                "customers' orders."
            ),
            lead=people["lead"],
            onset_at=now - timedelta(days=6, hours=3),
            detected_at=now - timedelta(days=6, hours=2, minutes=20),
            declared_at=now - timedelta(days=6, hours=2, minutes=15),
        )
        for status, ago in [
            (Incident.Status.CONTAINED, timedelta(days=6, hours=2, minutes=9)),
            (Incident.Status.RESOLVED, timedelta(days=5, hours=20)),
        ]:
            incident_status_change(actor=people["lead"], incident=old, status=status, at=now - ago)
        # Its postmortem (opened on resolve, facts filled in) says what changes.
        postmortem = Incident.objects.get(pk=old.pk).postmortem
        postmortem_edit(
            actor=people["lead"],
            postmortem=postmortem,
            cause="retrieval",
            root_cause="The nightly rebuild of the orders index merged order histories of "
            "customers with the same e-mail domain; replies quoted the wrong orders.",
        )
        for title, owner, days, category in (
            (
                "Evaluate every index rebuild on a fixed question set before it serves",
                "admin",
                7,
                ActionItem.Category.MISSING_ROLLBACK,
            ),
            (
                "Monitor the share of replies quoting an order number",
                "responder",
                -2,
                ActionItem.Category.DETECTION_GAP,
            ),
        ):
            action_item_add(
                actor=people["lead"],
                postmortem=postmortem,
                title=title,
                owner=people[owner],
                due=timezone.localdate() + timedelta(days=days),
                category=category,
            )
        burning = incident_declare(
            actor=people["responder"],
            title="Refund requests flagged as fraud: 2% → 9% in an hour",
            systems=[systems["refund-classifier"]],
            harm=Incident.Harm.WRONG,
            irreversible_actions=True,
            summary="The fraud share tripled after this morning's deploy: account holds fire.",
            onset_at=now - timedelta(minutes=75),
            detected_at=now - timedelta(minutes=41),
            declared_at=now - timedelta(minutes=38),
        )
        incident_people_change(actor=people["lead"], incident=burning, lead=people["lead"])
        incident_message_post(
            actor=people["responder"],
            incident=burning,
            text="Account holds are firing on ordinary refunds. Three customers have called.",
        )
        incident_message_post(
            actor=people["lead"],
            incident=burning,
            text="I lead. Contain first: kill switch on the refund classifier, then we diagnose.",
        )
        status_update_post(
            actor=people["lead"],
            incident=burning,
            known="Since about 75 minutes ago the refund classifier flags 9% of refunds as "
            "fraud (usually 2%), and each flag puts a hold on the customer's account.",
            doing="Turning the classifier off so refunds go to people; then finding what "
            "changed in this morning's deploy.",
        )
        incident_declare(
            actor=people["responder"],
            title="Reply length distribution shifted after prompt edit",
            systems=[systems["support-reply"]],
            harm=Incident.Harm.ANOMALOUS,
            irreversible_actions=False,
            summary="Median reply length fell from 96 to 61 words. No wrong reply confirmed yet.",
            onset_at=now - timedelta(hours=5),
            detected_at=now - timedelta(hours=4),
            declared_at=now - timedelta(hours=4),
        )

    def _print_sign_in(self):
        self.stdout.write(f"Demo people (password for each: {DEMO_PASSWORD})")
        for username, first_name, last_name, role in PEOPLE:
            self.stdout.write(f"  {username:<10} {role.label:<14} {first_name} {last_name}")
