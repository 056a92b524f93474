"""Detection: pattern recognizers on the whole text, NER on chunks, then one clean span set.

After the recognizers run, names found once are found everywhere in the document (a full name,
its surname, a name spelled out in an e-mail address), and overlapping detections are resolved
so that each character belongs to at most one entity, the larger span winning.
"""

from __future__ import annotations

from collections.abc import Sequence

import regex as re
from presidio_analyzer import EntityRecognizer, RecognizerResult

from pipeline.pii.addresses import StreetAddressRecognizer
from pipeline.pii.config import NER_ENTITIES, PiiConfig
from pipeline.pii.gates import GateSet
from pipeline.pii.ner_view import SKIPPABLE_TYPES
from pipeline.pii.people import ContextualNameRecognizer
from pipeline.pii.secrets import secret_recognizers
from pipeline.pii.structured import structured_recognizers

PROPAGATED_SCORE = 0.6
_LATIN = re.compile(r"[A-Za-zÀ-ɏ]")
_LETTER = re.compile(r"\p{L}")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]")
_ADDRESSES = re.compile(r"\S*[@/]\S*")


def pattern_recognizers() -> list[EntityRecognizer]:
    return [
        *structured_recognizers(),
        *secret_recognizers(),
        StreetAddressRecognizer(),
        ContextualNameRecognizer(),
    ]


def script_of(text: str, sample: int = 4000) -> str:
    """'latin', 'other' (another script: English NER is useless there) or 'none' (binary
    junk or hardly any letters)"""
    head = _ADDRESSES.sub(" ", text[:sample])  # e-mails and URLs are Latin in any language
    letters = len(_LETTER.findall(head))
    junk = len(_CONTROL.findall(head))
    if letters < max(8, len(head) // 10) or junk > len(head) // 50:
        return "none"
    return "latin" if len(_LATIN.findall(head)) >= 0.6 * letters else "other"


class PiiDetector:
    def __init__(self, config: PiiConfig):
        self.config = config
        self.entities = set(config.active_entities)
        self.recognizers = [
            r for r in pattern_recognizers() if self.entities & set(r.supported_entities)
        ]
        self.gates = GateSet([r.gates for r in self.recognizers])
        ner_entities = [e for e in NER_ENTITIES if e in self.entities]
        self.ner = None
        if config.mode == "full" and ner_entities:
            from pipeline.pii.ner import NerDetector

            self.ner = {
                lang: NerDetector(
                    model,
                    ner_entities,
                    language=lang,
                    batch_size=config.nlp_batch_size,
                    max_chunk_chars=config.max_chunk_chars,
                    overlap=config.chunk_overlap_chars,
                )
                for lang, model in {
                    config.default_language: config.spacy_model,
                    **config.language_models,
                }.items()
            }

    def ner_language(self, text: str, language: str | None) -> str | None:
        """Which NER model reads this text, or None (patterns only): counted by the caller."""
        if self.ner is None:
            return None
        lang = (language or self.config.default_language).split("-")[0].lower()
        if lang not in self.ner:
            return None
        if lang == self.config.default_language and script_of(text) != "latin":
            return None
        return lang

    def analyze_batch(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> tuple[list[list[RecognizerResult]], list[str | None]]:
        """Entities per text, and the NER language used per text (None: NER skipped)."""
        languages = languages or [None] * len(texts)
        found = self._patterns_batch(texts)
        used = [self.ner_language(t, lang) for t, lang in zip(texts, languages, strict=True)]
        for lang, detector in (self.ner or {}).items():
            idx = [i for i, u in enumerate(used) if u == lang]
            taken = [
                [(r.start, r.end) for r in found[i] if r.entity_type in SKIPPABLE_TYPES]
                for i in idx
            ]
            for i, results in zip(
                idx, detector.analyze_batch([texts[i] for i in idx], taken), strict=True
            ):
                found[i].extend(results)
        final = []
        for text, results in zip(texts, found, strict=True):
            results = [
                r
                for r in results
                if r.entity_type in self.entities and r.score >= self.config.min_score
            ]
            if "PERSON" in self.entities:
                results += propagate_names(text, results)
            final.append(resolve_overlaps(results))
        return final, used

    def _patterns(self, text: str) -> list[RecognizerResult]:
        return self._patterns_batch([text])[0]

    def _patterns_batch(self, texts: Sequence[str]) -> list[list[RecognizerResult]]:
        """Each recognizer over the whole batch in turn, not each text through all of them: its
        compiled patterns, gates and validator tables stay in the CPU caches (-25% time on short
        documents, measured in one process). The results per text come in the same order."""
        opened = [self.gates.open(t) for t in texts]
        out: list[list[RecognizerResult]] = [[] for _ in texts]
        for k, rec in enumerate(self.recognizers):
            entities = rec.supported_entities
            for found, text, gates_open in zip(out, texts, opened, strict=True):
                found.extend(rec.analyze(text, entities, None, gates_open=gates_open[k]))
        return out


_NAME_PART = re.compile(r"[^\W\d_]{2,}")
_LOCAL_SEPARATOR = re.compile(r"[._-]")


def propagate_names(text: str, results: Sequence[RecognizerResult]) -> list[RecognizerResult]:
    """Other mentions of names already found: whole names, surnames, names in e-mail ids."""
    names: set[str] = set()
    surnames: set[str] = set()
    seen: set[str] = set()  # a name is often found twice (a header and a signature)
    for r in results:
        if r.entity_type == "PERSON":
            value = text[r.start : r.end].strip()
            if value in seen:
                continue
            seen.add(value)
            parts = _NAME_PART.findall(value)
            if len(value) >= 4 and parts:
                names.add(value)
            if len(parts) >= 2 and len(parts[-1]) >= 3 and parts[-1][0].isupper():
                surnames.add(parts[-1])
        elif r.entity_type == "EMAIL_ADDRESS":
            local = text[r.start : r.end].split("@", 1)[0]
            parts = [p for p in _LOCAL_SEPARATOR.split(local) if p.isalpha() and len(p) >= 2]
            if len(parts) == 2:
                names.add(f"{parts[0]} {parts[1]}")
    out: list[RecognizerResult] = []
    if not names and not surnames:
        return out
    folded = text.lower()
    if len(folded) != len(text):  # rare letters whose lower case is longer: offsets differ
        for name in names:
            pattern = r"(?<![\w@.])" + r"\s+".join(map(re.escape, name.split())) + r"(?![\w@])"
            for m in re.finditer(pattern, text, re.IGNORECASE):
                out.append(RecognizerResult("PERSON", *m.span(), PROPAGATED_SCORE))
    else:  # "Jane Doe" and "JANE DOE" are the same search in the lower-cased text
        for parts in {tuple(name.lower().split()) for name in names}:
            for s, e in _mentions(text, folded, parts):
                out.append(RecognizerResult("PERSON", s, e, PROPAGATED_SCORE))
    for surname in surnames:  # case-sensitive: "Baker" the person, not "baker" the job
        for s, e in _mentions(text, text, (surname,)):
            out.append(RecognizerResult("PERSON", s, e, PROPAGATED_SCORE))
    return out


_BLOCKS_BEFORE = re.compile(r"[\w@.]")
_BLOCKS_AFTER = re.compile(r"[\w@]")
_SPACES = re.compile(r"\s+")


def _mentions(text: str, haystack: str, parts: Sequence[str]) -> list[tuple[int, int]]:
    """Spans where `parts` occur in `haystack` (text or its same-length lower case) as whole
    words separated by white space. A literal search: compiling a regular expression for every
    name cost more than all the pattern recognizers together."""
    spans = []
    i = haystack.find(parts[0])
    while i >= 0:
        end = i + len(parts[0])
        ok = not (i and _blocks(text[i - 1], _BLOCKS_BEFORE, "@."))
        for part in parts[1:]:
            gap = _SPACES.match(text, end) if ok else None
            ok = gap is not None and haystack.startswith(part, gap.end())
            end = gap.end() + len(part) if ok else end
        if ok and not (end < len(text) and _blocks(text[end], _BLOCKS_AFTER, "@")):
            spans.append((i, end))
            i = haystack.find(parts[0], end)
        else:
            i = haystack.find(parts[0], i + 1)
    return spans


def _blocks(char: str, pattern, extra: str) -> bool:
    """`pattern.match(char)`, [\\w<extra>], without the regex call for ASCII characters."""
    if char.isascii():
        return char.isalnum() or char == "_" or char in extra
    return pattern.match(char) is not None


def resolve_overlaps(results: Sequence[RecognizerResult]) -> list[RecognizerResult]:
    """One entity per character: containing spans beat contained ones; among partial overlaps
    of the same type the union is kept, otherwise the higher score (then the longer span)."""
    # Most documents need only the containment rule: spans that are disjoint or nested (a name
    # and the propagated mentions of its surname). Then the outermost spans are kept, the first
    # of identical ones in the general order below (highest score, then input order), and
    # nothing else changes; partial overlaps take the general path.
    spans = sorted(results, key=lambda r: (r.start, -r.end, -r.score))
    kept: list[RecognizerResult] = []
    end = -1
    for r in spans:
        if r.end <= r.start:
            continue
        if r.start >= end:
            kept.append(r)
            end = r.end
        elif r.end > end:
            return _resolve_overlapping(results)
    return kept


def _resolve_overlapping(results: Sequence[RecognizerResult]) -> list[RecognizerResult]:
    ordered = sorted(results, key=lambda r: (-(r.end - r.start), -r.score, r.start))
    kept: list[RecognizerResult] = []
    for r in ordered:
        if r.end <= r.start:
            continue
        clash = [k for k in kept if k.start < r.end and r.start < k.end]
        if not clash:
            kept.append(r)
            continue
        if all(k.start <= r.start and r.end <= k.end for k in clash):
            continue  # inside a larger span
        if all(k.entity_type == r.entity_type for k in clash):
            for k in clash:
                kept.remove(k)
            start = min([r.start, *(k.start for k in clash)])
            end = max([r.end, *(k.end for k in clash)])
            kept.append(
                RecognizerResult(r.entity_type, start, end, max(r.score, *(k.score for k in clash)))
            )
        elif r.score > max(k.score for k in clash) + 0.1:
            for k in clash:
                kept.remove(k)
            kept.append(r)
    return sorted(kept, key=lambda r: r.start)


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str) -> tuple[str, bool]:
    """Lone surrogates (malformed Unicode) become U+FFFD; the flag says it happened."""
    try:
        text.encode("utf-8")
        return text, False
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text), True
