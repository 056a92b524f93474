"""The contextual name recognizer's fast paths find what its plain scans find: bracketed
addresses found from their "@" (in `regex` and, on twin-ready text, by str.rstrip and stdlib
twins), on texts written to sit on the edges of the patterns."""

from __future__ import annotations

import random

import regex as re

from corpusforge.pipeline.pii import people
from corpusforge.pipeline.pii.twins import twin_ready

_PIECES = [
    *"<>()[]@@@.+-_ \t\n,;:",
    "a",
    "Jane",
    "doe",
    "x1",
    "é",
    "Ł",
    "\u0663",
    "\u00a0",
    "’",
    "©",
    "—",
    "example.org",
    "mail.co.uk",
    "jane.doe+tag",
    "Jane Doe ",
    "<jane@example.org>",
    "( jane@x.io )",
    "[\tj@x.y\t]",
    "<@x.com>",
    "<a@b>",
    "a@b.c",
]


def _bracket_texts(n: int = 6000, seed: int = 3) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 30))) for _ in range(n)]


def test_bracketed_emails_found_from_the_at_sign_equal_the_scan():
    found = twins = 0
    for text in _bracket_texts():
        want = [m.span() for m in people._BRACKETED_EMAIL.finditer(text)]
        assert [m.span() for m in people._regex_bracketed_emails(text)] == want, repr(text)
        if twin_ready(text):
            assert [m.span() for m in people._twin_bracketed_emails(text)] == want, repr(text)
            twins += len(want)
        found += len(want)
    assert found > 1000
    assert twins > 500


def test_bracketed_emails_after_runs_longer_than_the_window():
    """A local part or blanks reaching past str.rstrip's window go to the reverse pattern."""
    size = people._OPENING_WINDOW
    texts = [
        f"Jane <{'a' * n}@example.org> and <{'b.c' * 3}@x.io>" for n in (size - 2, size, size + 5)
    ] + [f"Jane <{' ' * n}x@example.org>" for n in (size - 1, size + 1)]
    texts += [f"{'x' * n}@example.org>" for n in (size, size + 3)]
    for text in texts:
        want = [m.span() for m in people._BRACKETED_EMAIL.finditer(text)]
        assert [m.span() for m in people._twin_bracketed_emails(text)] == want, text


def test_name_start_by_rstrip_equals_the_reverse_search():
    for text in _bracket_texts():
        if not twin_ready(text):
            continue
        for end in range(len(text) + 1):
            for line_start in {0, max(0, end - 5), end}:
                want = people._regex_name_start(text, line_start, end)
                assert people._twin_name_start(text, line_start, end) == want, repr(text)


def test_names_before_bracketed_emails_equal_the_plain_scan():
    fast, plain = people.ContextualNameRecognizer(), people.ContextualNameRecognizer()
    plain.use_prefilters = False
    found = 0
    for text in _bracket_texts(3000, seed=4):
        want = [(r.start, r.end, r.score) for r in plain.analyze(text, ["PERSON"])]
        assert [(r.start, r.end, r.score) for r in fast.analyze(text, ["PERSON"])] == want
        found += len(want)
    assert found > 300


def test_initial_capital_first_equals_the_lookbehind_first():
    old = re.compile(r"(?<![\w.])\p{Lu}")
    new = re.compile(people._INITIAL)
    capitals = ("J", "Ł", "Σ", "\U0001d400")
    for code in [*range(0xD800), *range(0xE000, 0x10000), 0x1D7D3, 0x20000]:
        for capital in capitals:
            text = chr(code) + capital
            for pos in (0, 1):
                assert bool(old.match(text, pos)) == bool(new.match(text, pos)), hex(code)
    for capital in (*capitals, "j", "5", "."):  # at the start of a text, and not a capital
        assert bool(old.match(capital)) == bool(new.match(capital))
