"""Realistic traffic for two simulated AI systems, with named failure scenarios.

Pure Python, no Django: `manage.py simulate`, the demo and the benchmarks feed its events to
the events API (or straight to ingestion). A `Simulator` is seeded, so the same calls give
the same events.

- refund-classifier routes refund claims: about 90% "approve" (the refund is issued), 8%
  "review", 2% "fraud" (the account is held).
- support-reply drafts answers to customers: varied answers of a few sentences (200 to 900
  characters), about 3% refused, some escalated; an answer is emailed. As a generative-AI
  call it also reports its provider, token usage, why generation stopped (about 2% of
  answers are cut off at the output token limit: `length`), an occasional error (0.5%:
  a timeout or a rate limit, with no answer), and the faithfulness score an evaluator
  gives each answer (Beta-shaped around 0.85, about 4% below 0.5). Those come from a
  random stream of their own, so the rest of each event is what it was before they
  existed.

What goes wrong, and from when, is a scenario of monitoring/scenarios.py.
"""

from __future__ import annotations

import random
import re
from bisect import bisect
from collections.abc import Mapping
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

from monitoring.scenarios import KINDS, REFUND, SCENARIOS, SUPPORT

# What each system's downstream actions are, for its action catalog.
ACTION_CATALOG: dict[str, dict[str, dict[str, bool]]] = {
    REFUND: {
        "refund_issue": {"reversible": False, "user_visible": True},
        "account_hold": {"reversible": False, "user_visible": True},
    },
    SUPPORT: {"send_reply": {"reversible": False, "user_visible": True}},
}

SUBJECTS = 5000  # customers per system: distinct-subject counts mean something

# refund-classifier
FRAUD_SHARE = 0.02
REVIEW_SHARE = 0.08
COUNTRIES = {"US": 40, "GB": 15, "DE": 12, "FR": 10, "CA": 8, "NL": 5, "ES": 5, "IT": 5}
DRIFTED_COUNTRIES = {"US": 25, "GB": 10, "DE": 8, "FR": 7, "BR": 20, "IN": 15, "MX": 10, "CA": 5}
CHANNELS = {"web": 55, "app": 35, "phone": 10}
# Amounts are log-normal (median about 40); fraud claims run larger. A drift doubles them.
AMOUNT_MU = 3.7
AMOUNT_SIGMA = 0.9
FRAUD_AMOUNT_MU = 4.5
DRIFTED_AMOUNT_SHIFT = 0.7
REASONS = {
    "approve": (
        "Within the refund policy.",
        "Item returned and received.",
        "Low amount, long-standing customer.",
        "Delivery confirmed missing by the carrier.",
        "Duplicate charge.",
    ),
    "review": (
        "Amount above the automatic limit.",
        "Second refund this month.",
        "Item not yet returned.",
        "Payment method changed recently.",
    ),
    "fraud": (
        "Several refunds to new cards this week.",
        "Shipping address linked to chargebacks.",
        "Account created hours before the claim.",
        "Refund requested to a different card than the purchase.",
    ),
}

# support-reply
REFUSAL_SHARE = 0.03
ESCALATION_SHARE = 0.05
REFUSAL_TEXT = "I can't help with that."
TOPICS = {"billing": 30, "shipping": 25, "returns": 20, "account": 15, "technical": 10}
REPLY_CHANNELS = {"chat": 60, "email": 40}
# Answer lengths (characters) are triangular between these, before whole sentences.
ANSWER_LOW, ANSWER_MODE, ANSWER_HIGH = 180.0, 380.0, 780.0
# The generative-AI call behind each reply.
PROVIDER = "openai"
MAX_OUTPUT_TOKENS = 185  # the drafter's max_tokens: a longer answer is cut off
CHARS_PER_TOKEN = (3.6, 4.4)
INSTRUCTION_TOKENS = 220  # the prompt's own instructions, before the retrieved context
ERROR_SHARE = 0.005
ERRORS = {"timeout": 70, "rate_limit": 30}
# Faithfulness (is the answer grounded in the retrieved context?): most answers are drawn
# from Beta(10, 1.8) (mean 0.85, 0.4% below 0.5), the unfaithful share from 0.5 x Beta(2,
# 2.5) (all below 0.5): 4% below 0.5 in all.
FAITHFUL_ALPHA, FAITHFUL_BETA = 10.0, 1.8
UNFAITHFUL_SHARE = 0.036


def next_ref(ref: str | None) -> str:
    """The version ref after `ref`: "3" -> "4", "v13" -> "v14",
    "model-2024-08-06" -> "model-2024-08-07"; anything else gets "-next"."""
    if not ref:
        return "1"
    match = re.fullmatch(r"(.*?)(\d+)", ref)
    if match is None:
        return f"{ref}-next"
    digits = match.group(2)
    return match.group(1) + str(int(digits) + 1).zfill(len(digits))


class _Weighted:
    """A fixed categorical distribution, sampled with one uniform draw."""

    def __init__(self, weights: Mapping[str, float]) -> None:
        self.values = list(weights)
        total = sum(weights.values())
        self.cumulative = [c / total for c in accumulate(weights.values())]

    def pick(self, u: float) -> str:
        return self.values[min(bisect(self.cumulative, u), len(self.values) - 1)]


def _sentences() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Greetings, body sentences and closings for support answers, from a small
    vocabulary (built once, from a fixed seed: the same in every process)."""
    things = (
        "order",
        "refund",
        "subscription",
        "invoice",
        "delivery",
        "account",
        "password reset",
        "exchange",
        "payment",
        "warranty claim",
    )
    templates = (
        "I've checked your {t} and everything on our side looks correct.",
        "Your {t} was updated {w}, so the change should be visible now.",
        "You can manage your {t} from the Account page, under Settings.",
        "If the {t} still shows as pending {w}, please reply to this message.",
        "I've added a note to your {t} so the team can see what happened.",
        "The {t} was processed {w} and you will receive a confirmation email.",
        "Some {t} changes take up to three business days to appear.",
        "I understand how frustrating a delayed {t} can be.",
        "To keep your {t} secure, we never ask for your full card number.",
        "Our records show one {t} linked to this email address.",
        "I've resent the details of your {t} to the address on file.",
        "Please keep the reference of your {t} handy if you contact us again.",
    )
    when = ("this morning", "yesterday", "earlier today", "on Monday", "last week")
    rng = random.Random(7)  # noqa: S311 - text, not secrets
    body = [template.format(t=t, w=rng.choice(when)) for template in templates for t in things]
    rng.shuffle(body)
    greetings = (
        "Thanks for getting in touch.",
        "Thank you for your message.",
        "Hi, and thanks for reaching out.",
        "Thanks for your patience while I looked into this.",
    )
    closings = (
        "Let me know if there is anything else I can do.",
        "Have a good day.",
        "I hope this helps.",
        "Kind regards, the support team.",
    )
    return greetings, tuple(body), closings


GREETINGS, BODY, CLOSINGS = _sentences()


class Simulator:
    """Events of one simulated system. `versions` are the refs served before the shift,
    e.g. {"model": "3", "prompt": "13", "retrieval": "7"}; after `shift_at` (epoch
    seconds) the scenario applies, served by `shifted_versions`. `shifted_version`
    overrides the next ref of the scenario's surface."""

    def __init__(
        self,
        kind: str,
        *,
        seed: int,
        versions: dict[str, str],
        scenario: str = "none",
        shift_at: float | None = None,
        shifted_version: str | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}: one of {', '.join(SCENARIOS)}")
        self.kind = kind
        self.seed = seed
        self.scenario = SCENARIOS[scenario]
        if self.scenario.kind not in (None, kind):
            raise ValueError(f"the scenario {scenario} happens to a {self.scenario.kind}")
        self.shift_at = shift_at
        self.versions = dict(versions)
        self.shifted_versions = dict(versions)
        surface = self.scenario.surface
        if surface is not None:
            self.shifted_versions[surface] = shifted_version or next_ref(versions.get(surface))
        self._rng = random.Random(f"{kind}/{seed}")  # noqa: S311 - simulation, not secrets
        self._n = 0
        prefix = "cus" if kind == REFUND else "usr"
        self._subjects = [f"{prefix}_{i:05d}" for i in range(SUBJECTS)]
        self._countries = _Weighted(COUNTRIES)
        self._drifted_countries = _Weighted(DRIFTED_COUNTRIES)
        self._channels = _Weighted(CHANNELS if kind == REFUND else REPLY_CHANNELS)
        self._topics = _Weighted(TOPICS)
        self._errors = _Weighted(ERRORS)
        # The generative-AI call's own draws (usage, finish, errors, scores).
        self._calls = random.Random(f"{kind}/{seed}/call")  # noqa: S311 - simulation

    def events(self, start: float, count: int, rate: float) -> list[dict[str, Any]]:
        """`count` events, `rate` per second from epoch second `start`, as the events API
        takes them. Ids run on across calls: f"{kind}-{seed}-{n}"."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        make = self._refund if self.kind == REFUND else self._reply
        random_ = self._rng.random
        shift_at = self.shift_at
        ramp = self.scenario.ramp
        out = []
        for i in range(count):
            t = start + i / rate
            shifted = False
            if shift_at is not None and t >= shift_at:
                progress = 1.0 if ramp <= 0 else (t - shift_at) / ramp
                shifted = progress >= 1.0 or random_() < progress
            event = make(shifted)
            event["id"] = f"{self.kind}-{self.seed}-{self._n}"
            event["ts"] = _rfc3339(t)
            self._n += 1
            out.append(event)
        return out

    def _refund(self, shifted: bool) -> dict[str, Any]:
        rng = self._rng
        u = rng.random()
        scenario = self.scenario
        fraud = FRAUD_SHARE
        if shifted and scenario.fraud_share is not None:
            fraud = scenario.fraud_share
        if u < fraud:
            label, score = "fraud", 0.75 + 0.24 * rng.random()
        elif u < fraud + REVIEW_SHARE:
            label, score = "review", 0.35 + 0.35 * rng.random()
        else:
            label, score = "approve", 0.01 + 0.3 * rng.random() ** 2
        drift = shifted and scenario.input_drift
        mu = FRAUD_AMOUNT_MU if label == "fraud" else AMOUNT_MU
        if drift:
            mu += DRIFTED_AMOUNT_SHIFT
        countries = self._drifted_countries if drift else self._countries
        subject = self._subjects[int(rng.random() * SUBJECTS)]
        reasons = REASONS[label]
        if label == "fraud":
            actions = [{"type": "account_hold", "subject": subject}]
        elif label == "approve":
            actions = [{"type": "refund_issue", "subject": subject}]
        else:
            actions = []
        return {
            "input": {
                "amount": round(rng.lognormvariate(mu, AMOUNT_SIGMA), 2),
                "country": countries.pick(rng.random()),
                "channel": self._channels.pick(rng.random()),
            },
            "output": {
                "label": label,
                "score": round(score, 4),
                "text": reasons[int(rng.random() * len(reasons))],
            },
            "refused": False,
            "versions": dict(self.shifted_versions if shifted else self.versions),
            "actions": actions,
            "subject": subject,
        }

    def _reply(self, shifted: bool) -> dict[str, Any]:
        rng = self._rng
        scenario = self.scenario
        refusal = REFUSAL_SHARE * (scenario.refusal_factor if shifted else 1.0)
        subject = self._subjects[int(rng.random() * SUBJECTS)]
        u = rng.random()
        actions: list[dict[str, str]] = []
        if u < refusal:
            label, score, text = "refused", 0.05 + 0.2 * rng.random(), REFUSAL_TEXT
        elif u < refusal + ESCALATION_SHARE:
            label, score = "escalated", 0.2 + 0.3 * rng.random()
            reference = f"SR-{rng.randrange(10**6):06d}"
            text = (
                "Thanks for your message. I've passed your question to a specialist, who "
                f"will reply within one business day. Your reference is {reference}."
            )
        else:
            label, score = "answered", 0.55 + 0.44 * rng.random()
            length = rng.triangular(ANSWER_LOW, ANSWER_HIGH, ANSWER_MODE)
            if shifted:
                length *= scenario.length_factor
            text = self._answer(length)
            actions = [{"type": "send_reply", "subject": subject}]
        event = {
            "input": {
                "topic": self._topics.pick(rng.random()),
                "channel": self._channels.pick(rng.random()),
                "message_chars": int(rng.lognormvariate(5.0, 0.6)),
            },
            "output": {"label": label, "score": round(score, 4), "text": text},
            "refused": label == "refused",
            "versions": dict(self.shifted_versions if shifted else self.versions),
            "actions": actions,
            "subject": subject,
        }
        self._call(event, shifted)
        return event

    def _call(self, event: dict[str, Any], shifted: bool) -> None:
        """What the generative-AI call adds to a reply: provider, usage, finish reason, an
        error now and then (no answer, nothing sent), the evaluator's faithfulness score
        of an answer."""
        rng = self._calls
        event["provider"] = PROVIDER
        context = INSTRUCTION_TOKENS + int(rng.lognormvariate(5.6, 0.35))
        input_tokens = context + event["input"]["message_chars"] // 4
        if rng.random() < ERROR_SHARE:
            event["error"] = self._errors.pick(rng.random())
            event["output"] = {"label": "", "text": ""}
            event["refused"], event["actions"] = False, []
            event["usage"] = {"input_tokens": input_tokens}
            return
        output = event["output"]
        per_token = rng.uniform(*CHARS_PER_TOKEN)
        tokens = max(1, round(len(output["text"]) / per_token))
        event["finish_reason"] = "stop"
        if tokens > MAX_OUTPUT_TOKENS:
            cut = output["text"][: int(MAX_OUTPUT_TOKENS * per_token)]
            output["text"] = cut.rsplit(" ", 1)[0]
            tokens, event["finish_reason"] = MAX_OUTPUT_TOKENS, "length"
        event["usage"] = {"input_tokens": input_tokens, "output_tokens": tokens}
        if output["label"] != "answered":
            return  # nothing grounded to score: a refusal, a hand-over
        unfaithful = UNFAITHFUL_SHARE
        if shifted and self.scenario.unfaithful_share is not None:
            unfaithful = self.scenario.unfaithful_share
        if rng.random() < unfaithful:
            faithfulness = 0.5 * rng.betavariate(2.0, 2.5)
        else:
            faithfulness = rng.betavariate(FAITHFUL_ALPHA, FAITHFUL_BETA)
        event["scores"] = {"faithfulness": round(faithfulness, 3)}

    def _answer(self, length: float) -> str:
        """Whole sentences until about `length` characters: a greeting, the body, and a
        closing when there is room for one."""
        random_ = self._rng.random
        parts = [GREETINGS[int(random_() * len(GREETINGS))]]
        size = len(parts[0])
        closing = CLOSINGS[int(random_() * len(CLOSINGS))]
        while size < length - len(closing):
            sentence = BODY[int(random_() * len(BODY))]
            parts.append(sentence)
            size += len(sentence) + 1
        if size < length:
            parts.append(closing)
        return " ".join(parts)


_second: tuple[int, str] = (-1, "")


def _rfc3339(t: float) -> str:
    """`t` (epoch seconds) as RFC 3339 in UTC with microseconds. The date part is cached
    per second: formatting a datetime for each of 100,000 events would be most of the cost."""
    global _second  # a one-entry cache; the tuple is read and replaced whole
    whole = int(t // 1)
    micros = round((t - whole) * 1_000_000)
    if micros == 1_000_000:
        whole, micros = whole + 1, 0
    second, text = _second
    if second != whole:
        text = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second = (whole, text)
    return f"{text}.{micros:06d}+00:00"
