"""Templates filled with an incident's facts: plain substitution, nothing else. Pure."""

from comms import wording


def test_known_placeholders_are_filled_and_unknown_ones_stay_for_the_check():
    text = "Our {system} held {customers} accounts. {mystery}"
    facts = {"system": "refund check", "customers": "3"}
    assert wording.fill(text, facts) == "Our refund check held 3 accounts. {mystery}"


def test_a_template_reaches_nothing_but_the_facts():
    """str.format would let a template read attributes: "{system.__class__}". Not here."""
    text = "{system.__class__} {0} {system!r} {system}"
    assert wording.fill(text, {"system": "x"}) == "{system.__class__} {0} {system!r} x"


def test_an_empty_fact_leaves_no_double_spaces():
    assert wording.fill("{containment} {rollback}", {"containment": "Off.", "rollback": ""}) == (
        "Off."
    )


def test_the_default_wording_fills_every_part():
    facts = {name: f"<{name}>" for name in wording.PLACEHOLDERS}
    parts = wording.fill_parts(wording.DEFAULT, facts)
    assert set(parts) == set(wording.PART_NAMES)
    assert not any(wording.unfilled(text) for text in parts.values())


def test_plain_text_puts_each_part_under_its_label():
    text = wording.plain_text(
        {"headline": "H", "happened": "A", "consequence": "B", "done": "C", "advice": "D"}
    )
    assert text == (
        "H\n\nWhat happened:\nA\n\nWhat this means for you:\nB\n\n"
        "What we have done:\nC\n\nWhat you should do:\nD\n"
    )


def test_counts_and_names_read_as_people_say_them():
    assert wording.counted([("account_hold", 3), ("refund_denied", 1)]) == (
        "account hold (3), refund denied (1)"
    )
    assert wording.joined(["A"]) == "A"
    assert wording.joined(["A", "B", "C"]) == "A, B and C"
