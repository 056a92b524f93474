"""The rewritings that make the address and name patterns cheaper keep their matches: the house
number start, alternations grouped by first character, and the tighter gates (title, dash
signature, initial and surname, lower-case address) on texts written to sit on their edges."""

from __future__ import annotations

import random

import pytest
import regex as re

from corpusforge.pipeline.pii import addresses, people, secrets
from corpusforge.pipeline.pii.base import first_char_alternation
from corpusforge.pipeline.pii.gates import hyperscan


def test_house_number_start_equals_the_lookbehind():
    old = re.compile(r"(?=\d)(?<![\w.,-])\d")
    new = re.compile(addresses._HOUSE_NUMBER)
    for digit in ("5", "\u0665", "\uff15"):
        assert bool(old.match(digit)) == bool(new.match(digit))
        for code in [*range(0xD800), *range(0xE000, 0x10000), 0x1D7D3, 0x20000]:
            text = chr(code) + digit
            assert bool(old.match(text, 1)) == bool(new.match(text, 1)), hex(code)


@pytest.mark.parametrize(
    ("words", "group", "flags"),
    [
        (addresses._SUFFIXES, first_char_alternation, ""),
        (addresses._SUFFIXES, first_char_alternation, "(?i)"),
        (people._HEADER_CUES, first_char_alternation, "(?i)"),
        (people._BYLINE_CUE, first_char_alternation, "(?i)"),
        (people._GREETINGS, first_char_alternation, "(?i)"),
        (people._TITLES, first_char_alternation, "(?i)"),
        (people._SIGN_OFFS, first_char_alternation, "(?i)"),
        (tuple(people._NOT_A_NAME), first_char_alternation, "(?i)"),
    ],
)
def test_grouped_alternation_picks_the_same_alternative(words, group, flags):
    # What follows decides which alternative wins (or whether the engine backtracks into a
    # longer one): the grouped form must give the same span for every continuation.
    after = r"(?:\.|,|:|[ \t]+\w|\b)"
    flat = re.compile(flags + "(?:" + "|".join(words) + ")" + after)
    grouped = re.compile(flags + group(tuple(words)) + after)
    plain = [re.sub(r"\(\?:.*?\)|[?\\]", "", w) for w in words]  # the words, syntax removed
    for word in plain:
        for text in (
            word,
            word.upper(),
            word + ".",
            word + ":",
            word + " x",
            word + "s",
            word[:-1],
        ):
            for tail in ("", ",", " Jane", "-by:", "ſ"):
                probe = text + tail
                a, b = flat.match(probe), grouped.match(probe)
                assert (a and a.span()) == (b and b.span()), probe


def _edge_texts(seed: int = 5, n: int = 1500) -> list[str]:
    rng = random.Random(seed)
    before = ["", " ", "\n", "x", "5", "_", ".", ",", "-", "é", "\u00a0", "(", "İ", "’", "\t"]
    names = ["Jane Doe", "jane doe", "J. Doe", "Łukasz Żółć", "o'brien", "the team", "Al"]
    words = ["Maple", "maple", "O'Neil", "5th", "Élan", "MAIN", "Oak-Tree", "N."]
    tails = [
        "",
        ", springfield, il 62704",
        " London SW1A 1AA",
        ", london nw1 6xe",
        "\nLeeds LS1 4AP",
    ]
    blank = [" ", "  ", "\n", "\t", "\u00a0", "\u2009"]
    texts = []
    for _ in range(n):
        title = "".join(c.upper() if rng.random() < 0.3 else c for c in rng.choice(people._TITLES))
        texts.append(
            rng.choice(["", "see ", "word", "1 "])
            + rng.choice(before)
            + title
            + rng.choice(["", "."])
            + rng.choice([" ", "\t", "", "\u00a0"])
            + rng.choice(names)
        )
        texts.append(
            rng.choice(["", "text\n", "x "])
            + rng.choice(["", " ", ">"])
            + rng.choice(["--", "—", "-"])
            + rng.choice([" ", "\t", "", "\u00a0"])
            + rng.choice([*names, "Doe, J", "o’neil"])
            + rng.choice(["", " ", "\r", ".", " <a@b.co>"])
            + rng.choice(["", "\n", "\r\n", "\u2028"])
        )
        words_between = rng.choice(blank).join(rng.choice(words) for _ in range(rng.randint(0, 5)))
        address = (
            rng.choice(before)
            + rng.choice(["12", "221b", "10-12", "\u0663\u0664", "1234567"])
            + rng.choice(blank)
            + words_between
            + (rng.choice(blank) if words_between else "")
            + rng.choice(["Street", "St", "st.", "Ave", "Rd", "Way", "Sq", "row"])
            + rng.choice(["", ".", ","])
            + rng.choice(tails)
        )
        texts.append(address if rng.random() < 0.6 else address.lower())
        texts.append(rng.choice(["\n", " x\n", ""]).join(_initial_surname(rng) for _ in range(3)))
    return texts


def _initial_surname(rng: random.Random) -> str:
    """An initial and a surname, or nearly, between characters that may or may not end it."""
    around = ["", " ", "\n", "x", "5", "_", ".", ",", "-", "é", "’", "(", "\t", "Ł"]
    initials = ["J.", "J. R.", "J.R.", "Ł.", "j.", "J", "U.S.", "A.B.C."]
    surnames = ["Doe", "O'Brien", "O’Brien", "Smith-Jones", "DOE", "Łukasz", "de", "Mc", "D"]
    return (
        rng.choice(["", "word ", "line\n"])
        + rng.choice(around)
        + rng.choice(initials)
        + rng.choice(["", " ", "\t", "  "])
        + rng.choice(surnames)
        + rng.choice(around)
        + rng.choice(["", " more", "\n"])
    )


@pytest.mark.skipif(hyperscan is None, reason="hyperscan has no wheel here")
@pytest.mark.parametrize(
    "recognizer", [addresses.StreetAddressRecognizer, people.ContextualNameRecognizer]
)
def test_prefilters_equal_the_plain_scan_on_edge_texts(recognizer):
    fast, plain = recognizer(), recognizer()
    plain.use_prefilters = False
    entities = fast.supported_entities
    found = 0
    for text in _edge_texts():
        want = sorted((r.start, r.end, r.score) for r in plain.analyze(text, entities))
        got = sorted((r.start, r.end, r.score) for r in fast.analyze(text, entities))
        assert got == want, text
        found += len(want)
    assert found > 200  # the texts do hold matches


def test_secret_checks_on_ascii_values_equal_the_regex_checks():
    rng = random.Random(9)
    pieces = [
        *"xX*.$%<{}()[]_-=:\n /\\",
        "${HOME}",
        "os.environ",
        "getenv(",
        "env[",
        "process.env",
        "self.",
        "your_",
        "Example",
        "placeholder",
        "PASSWORD",
        "secret",
        "None",
        "NULL",
        "required",
        "str",
        "String",
        "input(",
        "settings.",
        "config.",
        "args.",
        "get_password",
        "hunter2",
        "a1B2",
        "K",
    ]
    values = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))) for _ in range(20000)]
    placeholders = calls = 0
    for value in values:
        want = bool(secrets._PLACEHOLDER_VALUE.match(value))
        assert bool(secrets._ASCII_PLACEHOLDER_VALUE.match(value)) == want, repr(value)
        placeholders += want
        want = bool(secrets._CALL.fullmatch(value))
        assert bool(secrets._ASCII_CALL.match(value)) == want, repr(value)
        calls += want
    assert placeholders > 1000 and calls > 500


def test_name_validation_without_split_equals_the_split():
    recognizer = people.ContextualNameRecognizer()
    for value in ["", " ", "\u00a0", "\x1c", "\u2028", "\u200b", "Jane", " Jane ", "x" * 61]:
        want = False if not value.split() or len(value) > 60 else None
        assert recognizer.validate_result(value) is want, repr(value)
    for code in range(0x110000):
        want = False if not chr(code).split() else None
        assert recognizer.validate_result(chr(code)) is want, hex(code)
