"""The PII recognizer contract: one entity registry, the project's recognizers under one base
class, stock presidio recognizers through the adapter, and the worked example of docs/pii.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer

from corpusforge.core.errors import ConfigError
from corpusforge.pipeline import pii_entities as registry
from corpusforge.pipeline import special_tokens as st
from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.pii.detector import PiiDetector, pattern_recognizers
from corpusforge.pipeline.pii.ner_view import SKIPPABLE_TYPES
from corpusforge.pipeline.pii.recognizer import PiiRecognizer, PresidioRecognizer
from corpusforge.pipeline.pii.scrub import Scrubber

DOCS = Path(__file__).resolve().parents[1] / "docs" / "pii.md"


def test_special_tokens_keep_their_order():
    """Token ids follow this order: a trained tokenizer depends on it (append, never reorder)."""
    assert st.ALL_SPECIAL_TOKENS == (
        "<|endoftext|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>",
        "<|person|>", "<|email|>", "<|phone|>", "<|ip|>", "<|credit_card|>", "<|ssn|>",
        "<|iban|>", "<|address|>", "<|secret|>", "<|url|>", "<|date|>", "<|org|>",
        "<|location|>", "<|pseudonym|>",
    )  # fmt: skip


def test_everything_derives_from_the_registry():
    types = registry.ENTITY_TYPES
    assert {e.name: e.placeholder for e in types} == st.PII_PLACEHOLDERS
    assert PiiConfig().entities == [e.name for e in types if e.risk == "high"]
    assert PiiConfig().keep_low_risk == [e.name for e in types if e.risk == "low"]
    assert {e.name for e in types if not e.ner_reads_spans} == SKIPPABLE_TYPES
    assert {
        "EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS", "CREDIT_CARD", "US_SSN", "IBAN_CODE",
        "SECRET",
    } == SKIPPABLE_TYPES  # fmt: skip
    # spaCy's labels for people, places, organisations and dates
    for label, entity in [
        ("PERSON", "PERSON"),
        ("GPE", "LOCATION"),
        ("LOC", "LOCATION"),
        ("ORG", "ORGANIZATION"),
        ("DATE", "DATE_TIME"),
        ("TIME", "DATE_TIME"),
    ]:
        assert registry.NER_LABELS[label] == entity
    assert set(registry.NER_ENTITIES) == {"PERSON", "ORGANIZATION", "LOCATION", "DATE_TIME"}
    assert PiiConfig(entities=["PSEUDONYM"]).entities == ["PSEUDONYM"]
    with pytest.raises(ValueError, match="unknown entity types"):
        PiiConfig(entities=["PERSON", "SHOE_SIZE"])


def test_the_registry_refuses_repeats():
    twice = (*registry.ENTITY_TYPES[:2], registry.EntityType("OTHER", "<|email|>", "high"))
    with pytest.raises(ValueError, match="repeated placeholders"):
        registry._check(twice)


def test_project_recognizers_share_the_base_class_and_report_registry_types():
    recognizers = pattern_recognizers()
    assert len(recognizers) >= 8
    for rec in recognizers:
        assert isinstance(rec, PiiRecognizer) and isinstance(rec, EntityRecognizer)
        assert set(rec.supported_entities) <= set(registry.ENTITIES), rec.name


# A format the project's recognizers do not know: a Japanese postal address line (〒 mark,
# seven-digit postcode); the place names are made up.
def _jp_address() -> PatternRecognizer:
    return PatternRecognizer(
        supported_entity="STREET_ADDRESS",
        name="JapanesePostalAddress",
        patterns=[Pattern("jp-postcode-line", r"〒[ \t]?\d{3}-\d{4}[^\n]{0,60}", 0.7)],
    )


TEXT = "Ship to:\n〒150-0002 東京都架空区見本町1-2-3\nContact jo@example.org, ref 150-0002."


def test_stock_presidio_recognizer_through_the_adapter_end_to_end():
    config = PiiConfig(mode="fast", drop_entities_per_1000_chars=None)
    plain = Scrubber(config).scrub([TEXT])[0]
    assert "〒150-0002" in plain.text and plain.counts == {"EMAIL_ADDRESS": 1}
    scrubber = Scrubber(config, recognizers=[_jp_address()])
    added = scrubber.detector.recognizers[-1]
    assert isinstance(added, PresidioRecognizer) and added.name == "JapanesePostalAddress"
    out = scrubber.scrub([TEXT])[0]
    assert out.text == "Ship to:\n<|address|>\nContact <|email|>, ref 150-0002."
    assert out.counts == {"STREET_ADDRESS": 1, "EMAIL_ADDRESS": 1}
    # the other operators apply to its results as to the project's
    masked = PiiConfig(mode="fast", operators={"STREET_ADDRESS": "mask"})
    out = Scrubber(masked, recognizers=[_jp_address()]).scrub([TEXT])[0]
    assert "〒" not in out.text and "*" * 20 in out.text


def test_adapted_recognizer_runs_only_for_active_types():
    config = PiiConfig(mode="fast", entities=["EMAIL_ADDRESS"])
    detector = PiiDetector(config, [_jp_address()])
    assert all("STREET_ADDRESS" not in r.supported_entities for r in detector.recognizers)


def test_recognizer_of_an_unregistered_type_is_refused():
    shoe = PatternRecognizer(supported_entity="SHOE_SIZE", patterns=[Pattern("s", r"\d+", 0.9)])
    with pytest.raises(ConfigError, match="SHOE_SIZE"):
        PiiDetector(PiiConfig(mode="fast"), [shoe])
    with pytest.raises(ConfigError, match="not a presidio EntityRecognizer"):
        PiiDetector(PiiConfig(mode="fast"), [object()])


def test_docs_adding_a_recognizer_example_runs():
    """The worked example in docs/pii.md, "Adding a recognizer", runs as written."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("\n## Adding a recognizer", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert blocks, "no python block in the section"
    for block in blocks:
        exec(compile(block, f"{DOCS}:adding-a-recognizer", "exec"), {})
