"""The fast paths after the recognizers give the plain definitions' answers: name propagation
against one regular expression per name, overlap resolution with the propagated spans passed
as spans, and the redaction splice (constant placeholders looked up once) against presidio's
AnonymizerEngine, for every operator."""

from __future__ import annotations

import random

import pytest
import regex as re
from presidio_analyzer import RecognizerResult

from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.pii.detector import (
    PROPAGATED_SCORE,
    name_mentions,
    propagate_names,
)
from corpusforge.pipeline.pii.redact import Redactor

TITLES = {"mr", "mrs", "ms", "dr", "prof", "sir", "the"}  # those the random documents hold
FIRST = [
    "Dr",
    "Prof",
    "Ana",
    "jane",
    "JOSÉ",
    "Zoë",
    "Øystein",
    "Li",
    "İlker",
    "O'Neil",
    "Mary-Jo",
    "ana",
]
LAST = ["Silva", "Doe", "Baker", "Müller", "de", "X", "Ng", "Dœ", "silva", "BAKER", "Ab1"]
SEPARATORS = [" ", "  ", "\t", "\n", "\u00a0", "\x1c", "", ".", "_", "@", "-", "'", "\u2003"]
WORDS = ["baker", "the", "Silva's", "x.org", "@", "é", "mail", "K", "_", "42", "ſ", "a.b"]


def _spans(results):
    return [(r.entity_type, r.start, r.end, r.score) for r in results]


def _pattern(name: str) -> str:
    return r"(?<![\w@.])" + r"\s+".join(map(re.escape, name.split())) + r"(?![\w@])"


def reference_mentions(text: str, results) -> list[tuple[int, int]]:
    """The definition: a regular expression per name (case-insensitive) and per surname (not),
    with the regex engine's classes for name parts and address separators."""
    names, surnames = set(), set()
    for r in results:
        value = text[r.start : r.end]
        if r.entity_type == "PERSON":
            value = value.strip()
            parts = re.findall(r"[^\W\d_]{2,}", value)
            if len(value) >= 4 and parts:
                names.add(value)
            if len(parts) >= 2 and len(parts[-1]) >= 3 and parts[-1][0].isupper():
                surnames.add(parts[-1])
                # the first name, as a name is written (a title before it skipped)
                given = parts[1] if parts[0].lower() in TITLES and len(parts) >= 3 else parts[0]
                if re.fullmatch(r"\p{Lu}\p{Ll}{2,}", given) and given.lower() not in TITLES:
                    surnames.add(given)
        elif r.entity_type == "EMAIL_ADDRESS":
            local = value.split("@", 1)[0]
            parts = [p for p in re.split(r"[._-]", local) if p.isalpha() and len(p) >= 2]
            if len(parts) == 2:
                names.add(f"{parts[0]} {parts[1]}")
    spans = []
    searched = set()
    for name in names:  # one search for names equal but for case, where lower() keeps offsets
        if tuple(name.lower().split()) not in searched:
            if len(text.lower()) == len(text):
                searched.add(tuple(name.lower().split()))
            flags = re.IGNORECASE
            spans += [m.span() for m in re.finditer(_pattern(name), text, flags)]
    for surname in surnames:
        spans += [m.span() for m in re.finditer(_pattern(surname), text)]
    return sorted(spans)


def random_document(rng: random.Random) -> tuple[str, list[RecognizerResult]]:
    """Names, their surnames, e-mail ids and noise, with results on some of the names."""
    pieces, results, pos = [], [], 0
    for _ in range(rng.randint(1, 12)):
        kind = rng.random()
        if kind < 0.35:
            piece = rng.choice(FIRST) + rng.choice(SEPARATORS[:6]) + rng.choice(LAST)
            entity = "PERSON"
        elif kind < 0.5:
            first, last = rng.choice(FIRST).lower(), rng.choice(LAST).lower()
            piece = f"{first}{rng.choice('._-')}{last}@example.org"
            entity = "EMAIL_ADDRESS"
        else:
            piece = rng.choice(WORDS + LAST + FIRST)
            entity = None
        if entity and rng.random() < 0.6:
            pad = rng.choice(["", " "]) if entity == "PERSON" else ""
            results.append(RecognizerResult(entity, pos, pos + len(piece) + len(pad), 0.85))
        pieces.append(piece)
        pos += len(piece)
        separator = rng.choice(SEPARATORS)
        pieces.append(separator)
        pos += len(separator)
    return "".join(pieces), results


def test_name_mentions_equal_one_regex_per_name():
    rng = random.Random(11)
    found = 0
    for _ in range(4000):
        text, results = random_document(rng)
        got = name_mentions(text, results)
        assert sorted(got) == reference_mentions(text, results), text
        assert _spans(propagate_names(text, results)) == [
            ("PERSON", s, e, PROPAGATED_SCORE) for s, e in got
        ]
        found += len(got)
    assert found > 3000


@pytest.mark.parametrize(
    "text",
    [
        "Jane Doe\n\tjane  DOE, Doe and doe",
        "Jane Doe x@Doe Doe_ Doe. end Doe",
        "Jane Doe\u00a0jane\u2003doe\x1cDoe",
        "Jane Doe and jane doe İ",  # lower() is longer: the regex path
        "Jane Doe",
    ],
)
def test_name_mentions_edges(text):
    results = [RecognizerResult("PERSON", 0, 8, 0.85)]
    assert sorted(name_mentions(text, results)) == reference_mentions(text, results)


OPERATORS = [
    {"default_operator": "replace"},
    {"default_operator": "mask"},
    {"default_operator": "hash"},
    {"default_operator": "redact"},
    {"operators": {"PERSON": "hash", "EMAIL_ADDRESS": "mask", "PHONE_NUMBER": "redact"}},
]


@pytest.mark.parametrize("operators", OPERATORS)
def test_splice_equals_anonymizer_engine_for_every_operator(operators, monkeypatch):
    monkeypatch.setenv("CORPUSFORGE_PII_SALT", "test-salt")
    redactor = Redactor(PiiConfig(mode="fast", **operators))
    rng = random.Random(3)
    spliced = 0
    for _ in range(1500):
        # no "\n": presidio merges same-type entities across spaces and one final newline
        # (its r"^( )+$" matches before a trailing newline); the splice, across spaces only
        text = "".join(rng.choice("ab  \t.é") for _ in range(rng.randint(0, 40)))
        results = []
        for _ in range(rng.randint(0, 5)):
            if not text:
                break
            start = rng.randrange(len(text))  # non-empty spans, as the detector gives
            end = min(len(text), start + rng.randint(1, 8))
            entity = rng.choice(["PERSON", "PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "URL"])
            results.append(RecognizerResult(entity, start, end, 0.85))
        if not rng.randrange(20):
            results.append(RecognizerResult("NOT_CONFIGURED", 0, min(len(text), 2), 0.9))
        expected = redactor.engine.anonymize(
            text=text, analyzer_results=list(results), operators=redactor.operators
        ).text
        assert redactor.redact(text, results) == expected
        spliced += bool(results)
    assert spliced > 1000


def test_constants_are_presidio_s_replace_and_redact_outputs(monkeypatch):
    monkeypatch.setenv("CORPUSFORGE_PII_SALT", "test-salt")
    redactor = Redactor(PiiConfig(mode="fast", **OPERATORS[-1]))
    assert set(redactor.constant) == {
        t for t, cfg in redactor.operators.items() if cfg.operator_name in ("replace", "redact")
    }
    for entity_type, value in redactor.constant.items():
        operator, params = redactor.apply[entity_type]
        assert operator.operate(text="any value", params=params) == value
