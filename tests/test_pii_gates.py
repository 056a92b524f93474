"""Gates only skip text where patterns cannot match: each gate is found wherever its pattern
matches, no match starts more than `reach` before the gate's first end, in ASCII and Unicode
text, and the detector's shared scan gives the plain scan's results."""

from __future__ import annotations

import pytest
import regex as re

from corpusforge.pipeline.pii.base import CuePatternRecognizer, _pivoted
from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.pii.detector import PiiDetector, pattern_recognizers
from corpusforge.pipeline.pii.gates import CASEFOLDS_TO_ASCII, Gates, GateSet, hyperscan
from corpusforge.pipeline.pii.phones import _PHONE_CANDIDATE, _PHONE_GATE

pytestmark = pytest.mark.skipif(hyperscan is None, reason="hyperscan has no wheel here")


# Where ASCII-only gates would go wrong: Unicode digits and spaces, non-ASCII letters in names,
# letters that IGNORECASE matches to ASCII, other line separators.
UNICODE_TEXTS = [
    "SSN ٢١٩-٠٩-٩٩٩٩ and ２１９-０９-９９９９, card ４１１１ １１１１ １１１１ １１１１",
    "call +49\u00a030\u00a02766748 or (555)\u2009234-5678; ip ١٠.٠.٠.١",
    "Hauptstraße\u00a05, 10115 Berlin; 12\u00a0rue de la Paix",
    "Dear Zoë,\n\nKind regards,\nÉmile Ångström\n-- Åsa Öberg\u2028From: Jürgen Groß <j@x.de>",
    "İBAN DE89 3704 0044 0532 0130 00; Mr. Łukasz Żółć; J.\u00a0Ðorđević",
    "PAſſWORD=hunter2hunter2 \u212aEY and ſsn: 219099999, pasſword: s3cr3tv4lu3x",
    "221b baker ſtreet, london nw1 6xe; 10 Downing St\u00a0, London SW1A 2AA",
    "password\u3000=\u3000correcthorsebattery; api_key\u00a0: 'abc123def456'",
    "\ud800 lone surrogate 219-09-9999",
]


@pytest.fixture(scope="module")
def texts(pii_benchmark_texts) -> list[str]:
    return pii_benchmark_texts(200, 3) + UNICODE_TEXTS


def test_each_gate_is_found_wherever_its_pattern_matches(texts):
    checked = 0
    for rec in pattern_recognizers():
        if not isinstance(rec, CuePatternRecognizer):
            continue
        for i, (pattern, compiled, *_rest) in enumerate(rec._scans):
            if i not in rec.gates.keys:
                continue
            prefilter = rec._scans[i][3]
            for text in texts:
                found = rec.gates.open(text)
                first = compiled.search(text)
                if first is not None and found is not None:
                    assert i in found, (rec.name, pattern.name, text[:60])
                    if prefilter.reach is not None:  # scanning starts `reach` before its end
                        assert first.start() >= found[i] - prefilter.reach, pattern.name
                    if prefilter.same_line:  # or at the line where the gate's match begins
                        assert first.start() > text.rfind("\n", 0, found[i] - 1), pattern.name
                    checked += 1
    phone = Gates({0: (_PHONE_GATE, False)})
    for text in texts:
        first = _PHONE_CANDIDATE.search(text)
        found = phone.open(text)
        if first is not None and found is not None:
            assert first.start() >= found[0] - 25
    assert checked > 500  # the gates were really consulted


def test_gates_stand_aside_where_they_cannot_decide():
    gates = Gates({0: ("ssn", True)})
    assert gates.open("an SSN here") == {0: 6}  # where the first match ends
    assert gates.open("ssn: é ssn") == {0: 3}
    assert gates.open("é ssn") == {0: 5}  # in characters, not UTF-8 bytes
    assert gates.open("nothing") == {}
    two = Gates({0: ("ssn", True), 1: ("pwd", False)})
    assert two.open("é pwd ü ssn ß") == {1: 5, 0: 11}
    assert gates.open("ſsn") is None  # IGNORECASE matches ſ to s; hyperscan would not
    assert gates.open("\ud800 ssn") is None  # not valid UTF-8


def test_casefold_exceptions_are_complete():
    ascii_letter = re.compile(r"(?i)[a-z]")
    found = {chr(c) for c in range(0x80, 0x10000) if ascii_letter.match(chr(c))}
    assert found == CASEFOLDS_TO_ASCII


def test_gate_set_answers_like_each_member(texts):
    members = [r.gates for r in pattern_recognizers()]
    shared = GateSet(members)
    for text in texts:
        assert shared.open(text) == [g.open(text) for g in members]


def test_detector_with_shared_scan_equals_plain_scan(texts):
    detector = PiiDetector(PiiConfig(mode="fast"))
    plain = pattern_recognizers()
    for rec in plain:
        rec.use_prefilters = False
    batch = detector._patterns_batch(texts)  # recognizer by recognizer over the batch
    assert len(batch) == len(texts)
    for text, results in zip(texts, batch, strict=True):
        got = sorted((r.entity_type, r.start, r.end, r.score) for r in results)
        assert got == sorted(
            (r.entity_type, r.start, r.end, r.score) for r in detector._patterns(text)
        )
        want = sorted(
            (r.entity_type, r.start, r.end, r.score)
            for rec in plain
            for r in rec.analyze(text, rec.supported_entities, None)
            if set(rec.supported_entities) & detector.entities
        )
        assert got == want, text[:60]


@pytest.mark.parametrize(
    "text",
    [
        "a@b.com@c.org and d@e.org",
        "x..y@example.com, -a@b.co, .@a.com, @@, a@, @b.com",
        "l" * 70 + "@example.com " + "m" * 64 + "@example.com " + "n" * 65 + "@example.com",
        "mail:jane.doe+tag@mail.example.co.uk;john_o'neil@ex.org%x@y.io",
        "ünï@example.com café@example.com é@x.org",
    ],
)
def test_pivot_search_equals_the_plain_scan(text):
    email = next(r for r in pattern_recognizers() if r.name == "CorpusforgeEmail")
    _pattern, compiled, _value, prefilter, _anchor = email._scans[0]
    assert prefilter.pivot == "@"
    for pos in (0, 3, 40):
        want = [m.span() for m in compiled.finditer(text, pos)]
        assert [m.span() for m in _pivoted(compiled, prefilter, text, pos)] == want


def test_phone_candidates_equal_the_caseless_pattern(texts):
    """The candidate pattern is case-insensitive only in its extension words, where letters
    are; it finds what the whole-pattern IGNORECASE version found."""
    caseless = re.compile(
        r"(?=[+(\d])(?<![\w.+/-])(?:\+|00)?\(?\d[\d\s().\-/]{5,20}\d"
        r"(?:\s*(?:x|ext\.?|extension)\s*\d{1,5})?(?![\w/-]|\.\d)",
        re.IGNORECASE,
    )
    extensions = [
        "call 555-234-5678 x12, 555-234-5678 X 9, (555) 234-5678 EXT. 4 or 555 234 5678 Ext12",
        "+44 20 7946 0721 extension 55; +44 20 7946 0721 EXTENSION 5; 020 7946 0721 extenſion 7",
        "555-234-5678 İxt 3, 555-234-5678 \u212axt 3, 555-234-5678 ext.x 9, 555-234-5678ext 1",
    ]
    found = 0
    for text in [*texts, *extensions]:
        want = [m.span() for m in caseless.finditer(text)]
        assert [m.span() for m in _PHONE_CANDIDATE.finditer(text)] == want
        found += len(want)
    assert found > 100


def _gates_in(cache_dir, monkeypatch) -> list[dict[int, int] | None]:
    """A fresh set of gates (compiled or loaded under `cache_dir`) opened on sample texts."""
    from corpusforge.pipeline.pii import gates as gates_module

    monkeypatch.setenv("CORPUSFORGE_GATE_CACHE", str(cache_dir))
    gates_module._compile.cache_clear()
    shared = GateSet([r.gates for r in pattern_recognizers()])
    samples = ["call 555-234-5678 or mail jane@example.org", "Dear Ms. Ödön,", "nothing"]
    return [shared.open(t) for t in samples]


def test_compiled_gates_are_reused_from_disk(tmp_path, monkeypatch):
    from corpusforge.pipeline.pii import gates as gates_module

    compiled = _gates_in(tmp_path, monkeypatch)
    stored = sorted(tmp_path.glob("*.hsdb"))
    assert len(stored) == 2  # the ASCII and the UTF-8 database
    calls = []
    real = gates_module.hyperscan.Database

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(gates_module.hyperscan, "Database", counting)
    assert _gates_in(tmp_path, monkeypatch) == compiled  # loaded: nothing compiled again
    assert calls == []
    # An altered file does not verify: compiled again (same answers) and replaced.
    stored[0].write_bytes(stored[0].read_bytes()[:-10] + b"0123456789")
    assert _gates_in(tmp_path, monkeypatch) == compiled
    assert calls == [1]
    calls.clear()
    assert _gates_in(tmp_path, monkeypatch) == compiled
    assert calls == []
    # An empty setting keeps nothing on disk.
    assert _gates_in("", monkeypatch) == compiled
    assert calls == [1, 1]
    gates_module._compile.cache_clear()


def test_gate_cache_that_cannot_be_written_only_costs_a_compile(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert _gates_in(blocker / "sub", monkeypatch)[0]  # compiled, nothing stored, no error
    assert not (blocker / "sub").exists()
