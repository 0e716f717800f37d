"""The check beside a draft: words a customer would not understand, words that make the
harm sound smaller than it was to the people it hit, and placeholders left unfilled.

Pure: text in, findings out. It flags and suggests; the person writing decides. A word
can be fine in context ("prompt reply"): the suggestion says what to check.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from comms.wording import PART_LABELS, unfilled

JARGON = "jargon"
MINIMIZING = "minimizing"
PLACEHOLDER = "placeholder"

_SAY_WHAT_IT_DOES = "Name what it does for the reader instead: “our automated refund check”."
_SAY_WHAT_PEOPLE_SAW = "Leave the internals out; say what people saw go wrong."
_SAY_THE_NUMBER = "Say the number: “312 customers”. Readers judge the size themselves."
_LEAVE_IT_OUT = "Leave it out: it makes the problem sound smaller to the people it hit."

# (pattern, suggestion). Patterns are matched as whole words, case-insensitively.
JARGON_TERMS: list[tuple[str, str]] = [
    (r"(?:AI |ML |language |machine[- ]learning )?models?", _SAY_WHAT_IT_DOES),
    (r"classifiers?", _SAY_WHAT_IT_DOES),
    (r"LLMs?|large language models?|GPT[-\w.]*", "Say “our automated assistant”."),
    (r"prompts?", "If you mean the instructions the system is given, say what changed."),
    (r"temperature", _SAY_WHAT_PEOPLE_SAW),
    (r"retrieval|RAG|vector (?:store|database|index)", "Say “the information it looks up”."),
    (r"embeddings?|vectors?", _SAY_WHAT_PEOPLE_SAW),
    (r"inference", "Say “each decision” or “each answer”."),
    (r"tokens?", "Say “words”, or leave it out."),
    (r"fine[- ]?tun(?:e|ed|es|ing)", "Say “we updated it”, and what changed for people."),
    (r"hallucinat\w*", "Say what it did: “it gave wrong information”."),
    (r"false (?:positive|negative)s?", "Say what happened to people: “wrongly flagged”."),
    (r"(?:model |data |concept )?drift", "Say “its answers changed”."),
    (r"training data|datasets?|ground truth", _SAY_WHAT_PEOPLE_SAW),
    (r"confidence scores?|thresholds?|precision|recall", _SAY_WHAT_PEOPLE_SAW),
    (r"roll(?:ed)?[- ]?backs?|rolled back", "Say “we went back to the previous version”."),
    (r"kill[- ]?switch", "Say “we switched it off”."),
    (r"deploy(?:ment|ments|ed|s)?", "Say “update” or “change”."),
    (r"guardrails?", "Say “safety checks”."),
    (r"pipelines?|upstream|downstream|latency", _SAY_WHAT_PEOPLE_SAW),
    (r"SEV ?[123]|severity [123]|blast radius", "Internal words: say how many people and how."),
    (r"neural (?:network|net)s?|machine learning|ML", _SAY_WHAT_IT_DOES),
]

MINIMIZING_TERMS: list[tuple[str, str]] = [
    (r"just|only|merely|simply", _LEAVE_IT_OUT),
    (r"minor|slight(?:ly)?|tiny|negligible|insignificant|mild(?:ly)?", _LEAVE_IT_OUT),
    (r"small (?:number|subset|percentage|fraction|group)(?: of)?", _SAY_THE_NUMBER),
    (r"a (?:few|handful|small number)(?: of)?|handful|some (?:users|customers)", _SAY_THE_NUMBER),
    (r"limited|isolated|rare(?:ly)?|edge cases?|low[- ]impact", _LEAVE_IT_OUT),
    (r"brief(?:ly)?|momentar(?:y|ily)|temporar(?:y|ily) (?:glitch|issue)", _LEAVE_IT_OUT),
    (r"glitch(?:es)?|hiccups?|blips?", "Call it what it was: “a problem”, “wrong decisions”."),
]


def _compile(terms):
    return [(re.compile(rf"(?<![\w-])(?:{p})(?![\w-])", re.IGNORECASE), s) for p, s in terms]


_JARGON = _compile(JARGON_TERMS)
_MINIMIZING = _compile(MINIMIZING_TERMS)


@dataclass(frozen=True)
class Finding:
    kind: str  # JARGON, MINIMIZING or PLACEHOLDER
    word: str  # as it appears in the text
    part: str  # which part of the draft
    suggestion: str
    count: int = 1

    @property
    def part_label(self) -> str:
        return PART_LABELS.get(self.part, self.part)


def check(parts: Mapping[str, str]) -> list[Finding]:
    """Every finding in the draft's parts, one per word and part (with how often it
    appears), in the order the parts are read."""
    findings: list[Finding] = []
    for part, text in parts.items():
        text = text or ""
        findings += _matches(part, text)
        for word in dict.fromkeys(unfilled(text)):
            findings.append(
                Finding(
                    PLACEHOLDER,
                    word,
                    part,
                    "A placeholder left unfilled: write the fact in, or remove it.",
                    unfilled(text).count(word),
                )
            )
    return findings


def _matches(part: str, text: str) -> list[Finding]:
    candidates = [
        (match.start(), -len(match.group(0)), match.group(0), kind, suggestion)
        for kind, rules in ((JARGON, _JARGON), (MINIMIZING, _MINIMIZING))
        for pattern, suggestion in rules
        for match in pattern.finditer(text)
    ]
    # Where terms overlap ("large language model", "language model", "model"), the
    # longest one starting first is the finding.
    found: dict[str, Finding] = {}
    end = 0
    for start, negative_length, word, kind, suggestion in sorted(candidates):
        if start < end:
            continue
        end = start - negative_length
        key = word.lower()
        if key in found:
            previous = found[key]
            found[key] = Finding(kind, previous.word, part, suggestion, previous.count + 1)
        else:
            found[key] = Finding(kind, word, part, suggestion)
    return list(found.values())
