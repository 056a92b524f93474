"""Text normalisation: the fast clean-text check must agree with the full rewrite."""

from __future__ import annotations

import random

import pytest

from corpusforge.pipeline.text import _rewrite, normalize_text, normalize_texts

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


def test_batch_normalisation_agrees_with_one_text_at_a_time():
    """Documents are checked together in one buffer: a neighbour (or the separator between
    two documents) must never change a document's result."""
    rng = random.Random(11)
    for _ in range(4_000):
        batch = [
            "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 14)))
            for _ in range(rng.randint(1, 9))
        ]
        texts, raws = normalize_texts(batch)
        expected = [normalize_text(t) for t in batch]
        assert texts == expected, repr(batch)
        assert raws == [t.encode("utf-8") for t in expected]


def test_batch_normalisation_keeps_clean_texts_and_handles_edges():
    clean = ["First doc.", "Second\n\nparagraph", "caf\u00e9 \u201cok\u201d"]
    texts, _ = normalize_texts(clean)
    assert all(a is b for a, b in zip(texts, clean, strict=True))
    assert normalize_texts([]) == ([], [])
    # a clean document between dirty neighbours stays clean; the dirty ones are fixed
    texts, raws = normalize_texts(["a ", "b", " c", "", "d\ud800"])
    assert texts == ["a", "b", "c", "", "d"]
    assert raws == [b"a", b"b", b"c", b"", b"d"]


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
