# ruff: noqa: E501 - test vectors read better unwrapped
"""First names alone in personal context (issue 16): greetings, thanks, apologies and sign-offs
in running text, "this is Name from ...", quote headers, and a first name repeated alone after
its full name; with the hard negatives next to each (fast mode: no model). Every string here
was written for these tests."""

from __future__ import annotations

import pytest
from _pii_helpers import fast_scrubber, found
from presidio_analyzer import RecognizerResult

from corpusforge.pipeline.pii.detector import name_mentions
from corpusforge.pipeline.pii.scrub import Scrubber


@pytest.fixture(scope="module")
def fast() -> Scrubber:
    return fast_scrubber()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Thanks, Odalys! That fixed it.", "Odalys"),
        ("ok thanks Berit for the quick fix", "Berit"),
        ("Great work. Hey Tomasz, can you check the logs?", "Tomasz"),
        ("Sorry Ingrid, I missed your message.", "Ingrid"),
        ("Congrats Ravindra on the release!", "Ravindra"),
        ("Good luck, Maelle!", "Maelle"),
        ("Love, Orsolya", "Orsolya"),
        ("Quick update on the migration. Talk soon, Fenna", "Fenna"),
        ("Thank you Desmond.", "Desmond"),
        ("Many thanks, Ilse, for your patience.", "Ilse"),
        ("Welcome aboard, Anne-Sophie!", "Anne-Sophie"),
        ("Happy birthday Kwame!", "Kwame"),
        ("It works now. Cheers Liesel", "Liesel"),
        ("Take care, Bogdan.", "Bogdan"),
        ("Thanks to everyone who tested. Best, Yusra", "Yusra"),
        ("Hello Jun Takeda, your ticket was updated.", "Jun Takeda"),
        ("This is Maren from billing, following up on your refund.", "Maren"),
        ("On Tue, 4 Mar, Oskar Lindqvist wrote:\n> the build is broken", "Oskar Lindqvist"),
        ("Petra wrote:\n> any news?", "Petra"),
    ],
)
def test_first_name_in_personal_context(fast, text, value):
    assert ("PERSON", value) in found(fast, text), found(fast, text)


@pytest.mark.parametrize(
    "text",
    [
        "Thanks again,\nthe build is green now.",
        "Hello world!",
        "Hello World!",
        "Welcome Back!",
        "Welcome to the documentation.",
        "Thank God it works.",
        "Best practices. Use a virtualenv.",
        "Best Practices, part two",
        "Sorry about that.",
        "Good luck with the release!",
        "Cheers!",
        "thanks all.",
        "Thanks GitHub for hosting.",
        "Happy New Year!",
        "Love it. Thanks a lot!",
        "this is fine from my side.",
        "This is it. Thanks!",
        "Hey There, welcome.",
        "The team wrote:\n> nothing",
        "Thanks, it works on v2.1.0 now.",
    ],
)
def test_personal_context_hard_negatives(fast, text):
    assert [v for t, v in found(fast, text) if t == "PERSON"] == [], found(fast, text)


def _person(text: str, value: str) -> RecognizerResult:
    start = text.index(value)
    return RecognizerResult("PERSON", start, start + len(value), 0.85)


def test_first_name_alone_after_the_full_name():
    text = "Marit Halvorsen joined the lab in 2019.\n\nEarly life\nMarit grew up in Bergen."
    spans = name_mentions(text, [_person(text, "Marit Halvorsen")])
    assert [text[s:e] for s, e in spans].count("Marit") == 2  # in the full name and alone


@pytest.mark.parametrize(
    ("text", "name", "absent"),
    [
        # a first name that is a word: only its capitalised form is a mention
        ("Summer Okoye leads the team. In summer the office closes.", "Summer Okoye", "summer"),
        # a title or an initial is no first name
        ("Dr. Ansel Moreau signed. Dr. Watson did not.", "Dr. Ansel Moreau", "Dr"),
        ("J. Okafor signed it. J. is a letter.", "J. Okafor", "J"),
        # a first name inside another word or an address is no mention
        ("Nadia Rahm wrote it. Nadiana and nadia@example.org did not.", "Nadia Rahm", "Nadiana"),
    ],
)
def test_first_name_propagation_hard_negatives(name, text, absent):
    spans = name_mentions(text, [_person(text, name)])
    mentions = [text[s:e] for s, e in spans]
    assert absent not in mentions, mentions
    if absent == "Nadiana":
        assert mentions.count("Nadia") == 1  # the full name's, not the address's


# UnionPay's 81 range (16-19 digits) beside its 62: Luhn-valid numbers of our own.
@pytest.mark.parametrize(
    "text",
    [
        "card 8100461728395019 declined",
        "UnionPay 8100 4617 2839 5019, exp 09/29",
        "paid with 8177-3120-9944-1870-550 on the 3rd",
    ],
)
def test_unionpay_81_cards(fast, text):
    assert [t for t, _ in found(fast, text)] == ["CREDIT_CARD"], found(fast, text)


@pytest.mark.parametrize(
    "text",
    [
        "tracking 8200461728395018 shipped",  # 82: no network's range
        "serial 81004617283951 (14 digits)",  # 81 at a length UnionPay does not issue
        "card 8100461728395010 declined",  # Luhn fails
        "order 8100461728395019 shipped",  # a negative word before it
    ],
)
def test_unionpay_81_hard_negatives(fast, text):
    assert "CREDIT_CARD" not in [t for t, _ in found(fast, text)], found(fast, text)
