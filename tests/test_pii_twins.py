"""Stdlib twins find what their `regex` patterns find, on every pattern of the pattern
recognizers, on texts where `twin_ready` holds (ASCII, or with caseless symbols only)."""

from __future__ import annotations

import random
import re as stdre
import string

import pytest
import regex

from corpusforge.pipeline.pii.base import CuePatternRecognizer
from corpusforge.pipeline.pii.detector import pattern_recognizers
from corpusforge.pipeline.pii.twins import AsciiTwin, ascii_letters, leading_assertions, twin_ready

# Pieces that the benchmark's documents lack: the rarer recognizers' cues and formats, and
# non-ASCII characters, safe (symbols) and unsafe (letters, spaces, digits) for twins.
_EXTRA = [
    "SSN: 219099999",
    "social security no. 219-09-9999",
    "ss# 123456789",
    "sk_live_" + "a1B2" * 6,
    "AIza" + "B" * 35,
    "https://hooks.slack.com/services/T0000/B0000/XXXXXXXX",
    "aws secret key = " + "A1b/" * 10,
    "P.O. Box 123",
    "po box 42, Springfield",
    "Hauptstrasse 5, 10115 Berlin",
    "Kirchweg 12 80331 Munich",
    "Hauptstraße 5, 10115 Berlin",
    "12 rue de la Paix, 75002 Paris",
    "10 Via Roma, 00184 Roma",
    "3 calle Mayor, 28013 Madrid",
    "Dr. J. R. Smith",
    "MS. o'neil",
    "-- J. Doe",
    "— Jane Doe",
    "Best,\nANA LIMA",
    "Reviewed-by: li wei <li@x.io>",
    "the parcel belongs to Amara Okafor; ask for tomas berg",
    '"Back so soon, Idris?" she asked.',
    '"TOMAS BERG!" came the shout',
    "audit for lena vogt, ssn=219099999; Ivo Petrov (born 1970)",
    "references from Ivo Petrov (415 555 0132)",
    "lena vogt | lena@example.org | Graz",
    "Idris -\n\nthe minutes are attached",
    "thanks Idris for the fix. Sorry Lena, talk soon, Tomas",
    "This is Amara from billing; this is tomas here",
    "On Tue, 4 Mar, Ivo Petrov wrote:\n> Lena writes:",
    "chemin des Vignes, 69003 Lyon",
    "12 Wattle Copse, Springvale 3171",
    "Suite 4 12 Mill Road, Halden",
    "Springfield, IL 62704",
    "10115 Berlin\n1011 AB Amsterdam",
    "©",
    "—",
    "’",
    "“",
    "€",
    "…",
    "•",
    "é",
    "Ö",
    "\u00a0",
    "\u2028",
    "٣",
    "ſ",
    "\u212a",
]
_PUNCT = [*"()+-./:#_%,;<>@\"'", "--", " -- ", "\n-- ", ": ", "\t", "\n"]


def _mixed(texts: list[str], n: int, seed: int) -> list[str]:
    """Lines and words of real-looking documents recombined, in three letter cases."""
    rng = random.Random(seed)
    lines = [line for t in texts for line in t.split("\n")] + _EXTRA
    words = [w for line in lines for w in line.split(" ")]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 6)):
            pick = rng.random()
            if pick < 0.4:
                piece = rng.choice(lines)
            elif pick < 0.8:
                piece = " ".join(rng.choice(words) for _ in range(rng.randint(1, 6)))
            elif pick < 0.9:
                piece = rng.choice(_EXTRA)
            else:
                piece = rng.choice(_PUNCT)
            case = rng.random()
            parts.append(piece.upper() if case < 0.15 else piece.lower() if case < 0.3 else piece)
        out.append(rng.choice(["\n", " ", "\n\n", "\t", ""]).join(parts))
    return out


@pytest.fixture(scope="module")
def texts(pii_benchmark_texts) -> list[str]:
    real = pii_benchmark_texts(300, 3)
    return real + _mixed(real, 1500, seed=7)


def _all_patterns():
    for rec in pattern_recognizers():
        if isinstance(rec, CuePatternRecognizer):
            for pattern, compiled, has_value, *_ in rec._scans:
                yield pytest.param(
                    rec, pattern, compiled, has_value, id=f"{rec.name}-{pattern.name}"
                )


def _spans(matches, has_value: bool) -> list:
    return [(m.span(), m.span("value") if has_value else None) for m in matches]


@pytest.mark.parametrize(("rec", "pattern", "compiled", "has_value"), list(_all_patterns()))
def test_twin_finds_what_the_regex_pattern_finds(rec, pattern, compiled, has_value, texts):
    twin = AsciiTwin(pattern.regex, rec.global_regex_flags)
    ready = [t for t in texts if twin_ready(t)]
    assert len(ready) > 0.8 * len(texts)
    found = 0
    for text in ready:
        expected = _spans(compiled.finditer(text), has_value)
        assert _spans(twin.finditer(text), has_value) == expected, text
        found += len(expected)
        start = len(text) // 3  # from a position inside the text, as gates make scans start
        assert _spans(twin.finditer(text, start), has_value) == _spans(
            compiled.finditer(text, start), has_value
        )
    for text in ready[-300:]:  # anchors and pivots try the pattern at chosen positions
        for pos in range(len(text)):
            assert _spans(filter(None, [twin.match(text, pos)]), has_value) == _spans(
                filter(None, [compiled.match(text, pos)]), has_value
            )
    assert found or pattern.name in {"aws-secret-key"}, "no case exercised this pattern"


def test_safe_characters_are_other_characters_to_both_engines():
    classes = [regex.compile(c) for c in (r"\w", r"\d", r"\s", r"\p{L}", r"(?i)[a-z]", r"\b")]
    for code in [*range(0x80, 0x3000), *range(0xFE00, 0x10000), *range(0x1F000, 0x1F700)]:
        char = chr(code)
        if 0xD800 <= code < 0xE000 or not twin_ready(char):
            continue
        assert not any(c.match(char) for c in classes), hex(code)
        assert char.lower() == char == char.upper() == char.casefold(), hex(code)
        folded = regex.compile("(?i)" + regex.escape(char))
        assert not any(folded.fullmatch(x) for x in string.ascii_letters), hex(code)


def test_twin_ready():
    assert twin_ready("plain ascii")
    assert twin_ready("© 2024 Acme — it’s “fine” … €5")
    for unsafe in ("Björn", "a\u00a0b", "x\u2028y", "٣", "ſ", "\u212a", "e\u0301"):
        assert not twin_ready(f"call {unsafe} now"), unsafe


def test_letter_properties_become_ascii_classes():
    assert ascii_letters(r"\p{Lu}\p{Ll}+") == "[A-Z][a-z]+"
    assert ascii_letters(r"[\p{Lu}\p{Ll}'] [^\p{L}\]] \\p{L}") == r"[A-Za-z'] [^A-Za-z\]] \\p{L}"
    assert ascii_letters(r"[]\p{L}]") == "[]A-Za-z]"


def test_leading_assertions_split_off_as_written():
    found, rest = leading_assertions(r"(?=[3-6])(?<![\w.-])(?<!(?i:\bv[\s)]{0,3}))\d+(?=x)")
    assert found == [r"(?=[3-6])", r"(?<![\w.-])", r"(?<!(?i:\bv[\s)]{0,3}))"]
    assert rest == r"\d+(?=x)"
    assert leading_assertions(r"(?im)^a") == ([], r"(?im)^a")


def test_variable_lookbehind_becomes_a_guard_with_the_same_matches():
    expression = r"(?<![\w.-])(?<!(?i:\b(?:ver|version)[\s.:#-]{0,3}))\d+\.\d+"
    twin = AsciiTwin(expression, regex.MULTILINE)
    assert twin.guard is not None
    for text in ["ver 1.2 and 3.4", "Version: 10.0.12", "v 1.2", "x.1.2 2.3 version 4.5"]:
        expected = [m.span() for m in regex.finditer(expression, text)]
        assert [m.span() for m in twin.finditer(text)] == expected
    # A refused start is skipped, not the match found there: "1.2" inside "11.2" still counts.
    bare = r"(?<!(?i:\bver\s{0,3}))\d+\.\d+"
    assert [m.group() for m in AsciiTwin(bare).finditer("ver 11.2")] == ["1.2"]
    assert [m.group() for m in regex.finditer(bare, "ver 11.2")] == ["1.2"]


def test_unsupported_flags_and_patterns_are_refused():
    with pytest.raises(ValueError):
        AsciiTwin("a", regex.VERSION1)
    with pytest.raises(stdre.error):
        AsciiTwin(r"a(?<=b+)c")
