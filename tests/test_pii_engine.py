"""The fast paths give the results of the plain presidio paths they replace.

Pattern prefilters against presidio's AnalyzerEngine running the same recognizers over every
position, the redaction splice against AnonymizerEngine, literal name propagation against the
regular expression it replaced, and the NER view's offsets against the original text.
"""

from __future__ import annotations

import pytest
import regex as re
import spacy
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import SpacyNlpEngine

from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.pii.detector import _mentions, pattern_recognizers, propagate_names
from corpusforge.pipeline.pii.ner_view import ner_view
from corpusforge.pipeline.pii.redact import Redactor

# Texts written to sit on the prefilters' edges: cue words in other cases, anchors without a
# match, matches at the very start and end, non-ASCII letters.
EDGE_TEXTS = [
    "219-09-9999",
    "x 219-09-9999x 219-09-99990 078-05-1120 and 1234-56-7890",
    "MY NAME IS jane doe. Written By: Omar Haddad. BY: someone. Attn Mr. Okafor",
    "Posted by   \n\n",
    "PASSWORD=hunter2hunter2 Api_Key: 'abc123def456' pwd: changeme secret_key=s3cr3tv4lu3",
    "SSN: 219099999 social security no. 219099999 Ss# 219099999",
    "P.O. Box 1234, Boise, ID 83702 and po box 77",
    "Hauptstraße 5, 10115 Berlin; 12 rue de la Paix, 75002 Paris; 3 bis avenue Foch",
    "card 4111-1111-1111-1111, 5555 5555 5555 4444, 6011 1738 6401 4005 end",
    "ip 10.0.0.1, ::1, fe80::1ff:fe23:4567:890a, 2001:db8::1/64, 12:30:45",
    "-- Ångström Ægir\n-- ",
    "ſsn 219-09-9999 and K 219-09-9999",
]


def plain_analyzer() -> tuple[AnalyzerEngine, list[EntityRecognizer]]:
    """presidio's AnalyzerEngine with our recognizers, prefilters off (every position tried)."""
    recognizers = pattern_recognizers()
    for rec in recognizers:
        rec.use_prefilters = False
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "blank:en"}])
    engine.nlp = {"en": spacy.blank("en")}  # no model: patterns only, nothing to download
    registry = RecognizerRegistry(recognizers=recognizers, supported_languages=["en"])
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"]), (
        recognizers
    )


def spans(results) -> list[tuple[str, int, int]]:
    return sorted((r.entity_type, r.start, r.end) for r in results)


@pytest.fixture(scope="module")
def corpus(pii_benchmark_texts) -> list[str]:
    docs = [t for seed in (0, 1) for t in pii_benchmark_texts(150, seed)]
    return docs + EDGE_TEXTS


def test_prefiltered_scan_equals_analyzer_engine(corpus):
    analyzer, plain = plain_analyzer()
    fast = pattern_recognizers()
    assert all(getattr(r, "use_prefilters", True) for r in fast)
    entities = sorted({e for r in fast for e in r.supported_entities})
    for text in corpus:
        reference = analyzer.analyze(text, language="en", entities=entities)
        ours = [x for r in fast for x in r.analyze(text, r.supported_entities, None)]
        assert spans(EntityRecognizer.remove_duplicates(ours)) == spans(reference)
        # and recognizer by recognizer, scores included
        for a, b in zip(fast, plain, strict=True):
            got = a.analyze(text, a.supported_entities, None)
            want = b.analyze(text, b.supported_entities, None)
            assert sorted((x.start, x.end, x.score) for x in got) == sorted(
                (x.start, x.end, x.score) for x in want
            ), a.name


@pytest.mark.parametrize(
    "operators", [{}, {"PERSON": "mask", "EMAIL_ADDRESS": "hash", "PHONE_NUMBER": "redact"}]
)
def test_redaction_splice_equals_anonymizer_engine(corpus, operators, monkeypatch):
    monkeypatch.setenv("CORPUSFORGE_PII_SALT", "test-salt")
    config = PiiConfig(mode="fast", operators=operators)
    redactor = Redactor(config)
    from corpusforge.pipeline.pii.detector import PiiDetector

    found, _ = PiiDetector(config).analyze_batch(corpus)
    # same-type neighbours one space apart, which AnonymizerEngine merges
    found.append([RecognizerResult("PERSON", 0, 4, 0.9), RecognizerResult("PERSON", 5, 8, 0.9)])
    texts = [*corpus, "Jane Doe wrote"]
    for text, results in zip(texts, found, strict=True):
        expected = redactor.engine.anonymize(
            text=text, analyzer_results=list(results), operators=redactor.operators
        ).text
        assert redactor.redact(text, results) == expected


def test_overlapping_spans_fall_back_to_anonymizer_engine():
    redactor = Redactor(PiiConfig(mode="fast"))
    text = "call Jane Doe now"
    results = [RecognizerResult("PERSON", 5, 13, 0.9), RecognizerResult("PERSON", 10, 13, 0.6)]
    assert redactor.redact(text, results) == "call <|person|> now"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        (
            "Ana Silva met ana  silva and ANA\tSILVA, not anasilva or ana.silva@x.org",
            ["ana", "silva"],
        ),
        ("Baker saw a baker; Baker's cake, @Baker, x.Baker", ["Baker"]),
        ("İstanbul: Jane Doe and jane doe", ["jane", "doe"]),  # lower() changes the length
    ],
)
def test_literal_name_search_equals_the_regex(text, parts):
    pattern = r"(?<![\w@.])" + r"\s+".join(map(re.escape, parts)) + r"(?![\w@])"
    flags = 0 if parts[0][0].isupper() else re.IGNORECASE
    want = [m.span() for m in re.finditer(pattern, text, flags)]
    if len(text.lower()) == len(text):
        haystack = text if flags == 0 else text.lower()
        assert _mentions(text, haystack, parts) == want
    found = propagate_names(text, [RecognizerResult("PERSON", *want[0], 0.85)] if want else [])
    assert {(r.start, r.end) for r in found} >= set(want)


def test_ner_view_drops_taken_spans_and_maps_offsets_back():
    text = "From: Siobhan Carter <carter@mail.co.uk>\nall lower case here\nCall +49 30 2766748 now"
    email = (text.index("carter@"), text.index(">"))
    phone = (text.index("+49"), text.index(" now"))
    view = ner_view(text, [email, phone])
    assert "carter@" not in view.text and "+49" not in view.text
    assert "all lower case here" in view.text  # the model tags some lower-case names
    assert view.text.count("\n") == text.count("\n")  # line structure kept
    for word in ("Siobhan Carter", "Call", "now", "From"):
        start = view.text.index(word)
        assert view.span_to_text(start, start + len(word)) == (
            text.index(word),
            text.index(word) + len(word),
        )
    # an entity joining the words either side of a taken span is not mapped over it
    start = view.text.index("Call")
    assert view.span_to_text(start, view.text.index("now") + 3) is None


def test_ner_view_without_drops_is_the_text():
    text = "Jane Doe\nJohn Roe"
    view = ner_view(text)
    assert view.text == text and view.span_to_text(0, 8) == (0, 8)


def _script_by_character_classes(text: str, sample: int = 4000) -> str:
    """`script_of` as first written: every count by a regex over the sample."""
    head = re.sub(r"\S*[@/]\S*", " ", text[:sample])
    letters = len(re.findall(r"\p{L}", head))
    junk = len(re.findall(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]", head))
    if letters < max(8, len(head) // 10) or junk > len(head) // 50:
        return "none"
    return "latin" if len(re.findall(r"[A-Za-zÀ-ɏ]", head)) >= 0.6 * letters else "other"


def test_script_of_ascii_shortcut_equals_the_character_classes():
    import random

    from corpusforge.pipeline.pii.detector import script_of

    rng = random.Random(7)
    texts = [
        "",
        "short",
        "Meeting notes: ask Priya about the invoice, mail ops@example.net or see /srv/x.",
        "\x00\x01\x02 binary \x7f header " * 12,
        "12 34 56 78 90 11 12 13 14 15 a",
        "Grüße aus Köln, Frau Weiß",  # not ASCII: the general path
        "Привет, как дела? Hello",
    ]
    texts += [
        "".join(rng.choice("aQz9 \n\t\x00\x08\x0e\x1f\x7f@/.-") for _ in range(rng.randint(0, 400)))
        for _ in range(3000)
    ]
    kinds = set()
    for text in texts:
        got = script_of(text)
        assert got == _script_by_character_classes(text), repr(text[:80])
        kinds.add(got)
    assert kinds == {"latin", "none", "other"}
