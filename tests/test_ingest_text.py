"""Text normalisation: the fast clean-text check must agree with the full rewrite."""

from __future__ import annotations

import random

import pytest

from pipeline.text import _rewrite, normalize_text

# Characters each rule is about, plus ordinary ones they sit between.
ALPHABET = [
    "a", "b", " ", " ", "\n", "\n", "\t", "\r", "\x00", "\x1f", "\x7f", "\x85", "\x9f",
    "\xa0", "\xa1", "\xa9", "\xe9", "e\u0301", "\u1e9b\u0323", "\u2000", "\u200a", "\u200b",
    "\u200c", "\u2019", "\u2028", "\u202f", "\u205f", "\u3000", "\u3001", "\ufffd", "\ufffe",
    "\uffff", "\ud800", "\U0001f600",
]  # fmt: skip


def test_fast_path_agrees_with_full_rewrite_on_random_text():
    rng = random.Random(7)
    for _ in range(30_000):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 14)))
        assert normalize_text(text) == _rewrite(text), repr(text)


@pytest.mark.parametrize(
    "text",
    [
        "Clean text.\n\nSecond paragraph, with caf\u00e9 and \u201cquotes\u201d \u2014 fine.",
        "Line one\nLine two",
        "x",
    ],
)
def test_clean_text_is_returned_as_is(text):
    assert normalize_text(text) is text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a  b", "a b"),
        ("a \nb", "a\nb"),
        ("a\n b", "a\nb"),
        ("a\n\n\nb", "a\n\nb"),
        (" a", "a"),
        ("a\n", "a"),
        ("a\tb", "a b"),
        ("a\rb", "a\nb"),
        ("a\x7fb", "ab"),
        ("a\x85b", "ab"),
        ("a\u00a0b", "a b"),
        ("a\u2009b", "a b"),
        ("a\u3000b", "a b"),
        ("a\ufffeb", "ab"),
        ("cafe\u0301", "caf\u00e9"),
        ("a\ud800b", "ab"),
    ],
)
def test_each_rule_still_applies(text, expected):
    assert normalize_text(text) == expected
