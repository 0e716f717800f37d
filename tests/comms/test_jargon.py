"""The check beside a draft: jargon, minimizing words and unfilled placeholders, each
with a suggestion. Pure: no database."""

import pytest

from comms import jargon


def _words(findings, kind=None):
    return [f.word for f in findings if kind is None or f.kind == kind]


@pytest.mark.parametrize(
    "word",
    [
        "model",
        "prompt",
        "temperature",
        "embeddings",
        "inference",
        "tokens",
        "LLM",
        "retrieval",
        "fine-tuned",
        "hallucinated",
        "classifier",
        "rollback",
        "kill switch",
        "SEV1",
    ],
)
def test_it_flags_words_a_customer_would_not_understand(word):
    findings = jargon.check({"happened": f"The {word} went wrong."})
    assert _words(findings, jargon.JARGON) == [word]
    assert findings[0].suggestion


@pytest.mark.parametrize(
    "word", ["just", "only", "minor", "small number of", "slight", "slightly", "a few", "glitch"]
)
def test_it_flags_words_that_make_the_harm_sound_smaller(word):
    findings = jargon.check({"consequence": f"This was {word} customers' problem."})
    assert _words(findings, jargon.MINIMIZING) == [word]


def test_it_suggests_saying_the_number_instead_of_a_vague_amount():
    (finding,) = jargon.check({"consequence": "A small number of customers saw holds."})
    assert finding.word == "A small number of"
    assert "Say the number" in finding.suggestion


def test_plain_words_pass():
    plain = {
        "headline": "Some refund requests were wrongly put on hold",
        "happened": "Between 14:05 and 14:35 UTC our automated refund check made wrong decisions.",
        "consequence": "This affected 312 people, whose accounts were put on hold.",
        "done": "At 14:35 UTC we switched it off and our staff lifted every hold.",
        "advice": "You do not need to do anything.",
    }
    assert jargon.check(plain) == []


def test_it_matches_whole_words_in_any_case():
    assert jargon.check({"done": "We remodeled the tokenizer-free modelling team."}) == []
    assert _words(jargon.check({"done": "The MODEL and the Model."})) == ["MODEL"]
    (finding,) = jargon.check({"done": "The MODEL and the Model."})
    assert finding.count == 2


def test_a_longer_term_is_flagged_once_not_word_by_word():
    findings = jargon.check({"happened": "The large language model drifted."})
    assert _words(findings) == ["large language model"]


def test_each_finding_names_the_part_it_is_in():
    findings = jargon.check({"happened": "The prompt changed.", "advice": "Just wait."})
    assert [(f.part_label, f.word) for f in findings] == [
        ("What happened", "prompt"),
        ("What you should do", "Just"),
    ]


def test_a_placeholder_left_unfilled_is_flagged():
    findings = jargon.check({"consequence": "This affected {customers} people. {customers}!"})
    (finding,) = findings
    assert (finding.kind, finding.word, finding.count) == (jargon.PLACEHOLDER, "{customers}", 2)
