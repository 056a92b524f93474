"""Detection: pattern recognizers on the whole text, NER on chunks, then one clean span set.

After the recognizers run, names found once are found everywhere in the document (a full name,
its surname, a name spelled out in an e-mail address), and overlapping detections are resolved
so that each character belongs to at most one entity, the larger span winning.
"""

from __future__ import annotations

import re as stdlib_re
from collections.abc import Iterable, Sequence

import regex as re
from presidio_analyzer import EntityRecognizer, RecognizerResult

from corpusforge.pipeline.pii.addresses import StreetAddressRecognizer
from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.pii.gates import GateSet
from corpusforge.pipeline.pii.ner import NerDetector
from corpusforge.pipeline.pii.ner_view import SKIPPABLE_TYPES
from corpusforge.pipeline.pii.people import ContextualNameRecognizer
from corpusforge.pipeline.pii.phones import PhonenumbersRecognizer
from corpusforge.pipeline.pii.recognizer import PiiRecognizer, as_pii_recognizer
from corpusforge.pipeline.pii.secrets import secret_recognizers
from corpusforge.pipeline.pii.structured import (
    ChecksumIbanRecognizer,
    LuhnCardRecognizer,
    SsnRuleRecognizer,
    ValidatedEmailRecognizer,
    ValidatedIpRecognizer,
)
from corpusforge.pipeline.pii_entities import NER_ENTITIES

PROPAGATED_SCORE = 0.6
_LATIN = re.compile(r"[A-Za-zÀ-ɏ]")
_LETTER = re.compile(r"\p{L}")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]")
_ADDRESSES = re.compile(r"\S*[@/]\S*")
_ASCII_LETTERS = bytes(c for c in range(128) if _LETTER.match(chr(c)))
_ASCII_CONTROLS = bytes(c for c in range(128) if _CONTROL.match(chr(c)))


def structured_recognizers() -> list[PiiRecognizer]:
    return [
        ValidatedEmailRecognizer(),
        ValidatedIpRecognizer(),
        LuhnCardRecognizer(),
        SsnRuleRecognizer(),
        ChecksumIbanRecognizer(),
        PhonenumbersRecognizer(),
    ]


def pattern_recognizers() -> list[PiiRecognizer]:
    """The project's recognizers, in the order the detector runs them (the order settles ties
    between equal overlapping spans)."""
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
    if head.isascii():  # the same counts by byte deletion, without a list per character class
        data = head.encode("ascii")
        letters = len(data) - len(data.translate(None, _ASCII_LETTERS))
        junk = len(data) - len(data.translate(None, _ASCII_CONTROLS))
        if letters < max(8, len(head) // 10) or junk > len(head) // 50:
            return "none"
        return "latin"  # every ASCII letter is Latin
    letters = len(_LETTER.findall(head))
    junk = len(_CONTROL.findall(head))
    if letters < max(8, len(head) // 10) or junk > len(head) // 50:
        return "none"
    return "latin" if len(_LATIN.findall(head)) >= 0.6 * letters else "other"


class PiiDetector:
    """`recognizers`: more recognizers to run after the project's, each a `PiiRecognizer` or
    any presidio `EntityRecognizer` (run through `PresidioRecognizer`); a recognizer runs
    where one of its types is active."""

    def __init__(self, config: PiiConfig, recognizers: Iterable[EntityRecognizer] = ()):
        self.config = config
        self.entities = set(config.active_entities)
        added = [as_pii_recognizer(r) for r in recognizers]
        self.recognizers = [
            r for r in [*pattern_recognizers(), *added] if self.entities & set(r.supported_entities)
        ]
        self.gates = GateSet([r.gates for r in self.recognizers])
        ner_entities = [e for e in NER_ENTITIES if e in self.entities]
        self.ner = None
        if config.mode == "full" and ner_entities:
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
        entities, min_score = self.entities, self.config.min_score
        propagate = "PERSON" in entities
        final = []
        for text, results in zip(texts, found, strict=True):
            results = [r for r in results if r.entity_type in entities and r.score >= min_score]
            mentions = name_mentions(text, results) if propagate else ()
            final.append(resolve_overlaps(results, mentions))
        return final, used

    def _patterns(self, text: str) -> list[RecognizerResult]:
        return self._patterns_batch([text])[0]

    def _patterns_batch(self, texts: Sequence[str]) -> list[list[RecognizerResult]]:
        """Each recognizer over the whole batch in turn, not each text through all of them: its
        compiled patterns, gates and validator tables stay in the CPU caches. The results per text
        come in the same order."""
        opened = [self.gates.open(t) for t in texts]
        out: list[list[RecognizerResult]] = [[] for _ in texts]
        for k, rec in enumerate(self.recognizers):
            entities = rec.supported_entities
            for found, text, gates_open in zip(out, texts, opened, strict=True):
                found.extend(rec.analyze(text, entities, None, gates_open=gates_open[k]))
        return out


_NAME_PART = re.compile(r"[^\W\d_]{2,}")
_ASCII_NAME_PART = stdlib_re.compile(r"[A-Za-z]{2,}")  # the same in ASCII; re calls cost 1/3


def propagate_names(text: str, results: Sequence[RecognizerResult]) -> list[RecognizerResult]:
    """Other mentions of names already found: whole names, surnames, names in e-mail ids."""
    return _propagated(name_mentions(text, results))


def name_mentions(text: str, results: Sequence[RecognizerResult]) -> list[tuple[int, int]]:
    """The spans of `propagate_names`' results. Spans, not results: nearly all of them (98% on
    the labeled set) coincide with or fall inside a found name and are dropped by
    `resolve_overlaps`, which makes results only for the few it keeps."""
    names: set[str] = set()
    surnames: set[str] = set()  # and first names: both case-sensitive, alone
    seen: set[str] = set()  # a name is often found twice (a header and a signature)
    for r in results:
        entity_type = r.entity_type
        if entity_type == "PERSON":
            value = text[r.start : r.end].strip()
            if value in seen:
                continue
            seen.add(value)
            parts = (_ASCII_NAME_PART if value.isascii() else _NAME_PART).findall(value)
            if len(value) >= 4 and parts:
                names.add(value)
            if len(parts) >= 2 and len(parts[-1]) >= 3 and parts[-1][0].isupper():
                surnames.add(parts[-1])
                # The first name alone too ("Early life: Jane grew up ..."), written as a name
                # is: capitalised, then lower case; a title before it is skipped.
                given = parts[1] if parts[0].lower() in _TITLES and len(parts) >= 3 else parts[0]
                if (
                    len(given) >= 3
                    and given[0].isupper()
                    and given[1:].islower()
                    and given.lower() not in _TITLES
                ):
                    surnames.add(given)
        elif entity_type == "EMAIL_ADDRESS":
            local = text[r.start : r.end].split("@", 1)[0]
            # split at any of . _ - (what a regex split at [._-] gives, without its call cost)
            pieces = local.replace(".", "-").replace("_", "-").split("-")
            parts = [p for p in pieces if p.isalpha() and len(p) >= 2]
            if len(parts) == 2:
                names.add(f"{parts[0]} {parts[1]}")
    if not names and not surnames:
        return []
    spans: list[tuple[int, int]] = []
    folded = text.lower()
    if len(folded) != len(text):  # rare letters whose lower case is longer: offsets differ
        for name in names:
            pattern = r"(?<![\w@.])" + r"\s+".join(map(re.escape, name.split())) + r"(?![\w@])"
            spans += [m.span() for m in re.finditer(pattern, text, re.IGNORECASE)]
    else:  # "Jane Doe" and "JANE DOE" are the same search in the lower-cased text
        for parts in {tuple(name.lower().split()) for name in names}:
            spans += _mentions(text, folded, parts)
    for surname in surnames:  # case-sensitive: "Baker" the person, not "baker" the job
        spans += _mentions(text, text, (surname,))
    return spans


# Words before a first name that are not one ("Dr. Jane Doe"), lower case.
_TITLES = frozenset(
    "mr mrs ms mx miss dr prof professor sir dame rev judge officer sgt capt det agent nurse "
    "coach uncle aunt auntie grandma grandpa herr frau mme mlle sr sra saint st the".split()
)
_BLOCKS_BEFORE = re.compile(r"[\w@.]")  # a mention does not continue a word, address or path
_BLOCKS_AFTER = re.compile(r"[\w@]")
_SPACES = re.compile(r"\s+")
# The same classes among ASCII characters: a set look-up instead of a `regex` call.
_ASCII_BLOCKS_BEFORE = frozenset(c for c in map(chr, range(128)) if _BLOCKS_BEFORE.match(c))
_ASCII_BLOCKS_AFTER = frozenset(c for c in map(chr, range(128)) if _BLOCKS_AFTER.match(c))
_ASCII_SPACES = frozenset(c for c in map(chr, range(128)) if _SPACES.match(c))


def _mentions(text: str, haystack: str, parts: Sequence[str]) -> list[tuple[int, int]]:
    """Spans where `parts` occur in `haystack` (text or its same-length lower case) as whole
    words separated by white space. A literal search: compiling a regular expression for every
    name cost more than all the pattern recognizers together."""
    first, rest = parts[0], parts[1:]
    size = len(text)
    spans = []
    i = haystack.find(first)
    while i >= 0:
        end = i + len(first)
        # The character before: ASCII ones by set look-up (no regex call), inline.
        char = text[i - 1] if i else " "
        ok = char not in _ASCII_BLOCKS_BEFORE and (char.isascii() or not _BLOCKS_BEFORE.match(char))
        for part in rest:
            if not ok:
                break
            if end < size and text[end] == " " and haystack.startswith(part, end + 1):
                end += 1 + len(part)  # one space, all that \s+ takes: a part never starts blank
                continue
            gap = _gap(text, end)
            ok = gap >= 0 and haystack.startswith(part, gap)
            end = gap + len(part)
        if ok:
            char = text[end] if end < size else " "
            ok = char not in _ASCII_BLOCKS_AFTER and (
                char.isascii() or not _BLOCKS_AFTER.match(char)
            )
        if ok:
            spans.append((i, end))
            i = haystack.find(first, end)
        else:
            i = haystack.find(first, i + 1)
    return spans


def _gap(text: str, pos: int) -> int:
    """Where the white space at `pos` ends, -1 where there is none (no regex call where the
    next character is ASCII and not a space, as after most first names' occurrences)."""
    char = text[pos : pos + 1]
    if char.isascii() and char not in _ASCII_SPACES:
        return -1
    gap = _SPACES.match(text, pos)
    return -1 if gap is None else gap.end()


def resolve_overlaps(
    results: Sequence[RecognizerResult], mentions: Sequence[tuple[int, int]] = ()
) -> list[RecognizerResult]:
    """One entity per character: containing spans beat contained ones; among partial overlaps
    of the same type the union is kept, otherwise the higher score (then the longer span).
    `mentions`: spans of propagated names, as if `propagate_names`' results followed `results`.
    """
    # Most documents need only the containment rule: spans that are disjoint or nested (a name
    # and the propagated mentions of its surname). Then the outermost spans are kept, the first
    # of identical ones in the general order below (highest score, then input order), and
    # nothing else changes; partial overlaps take the general path. Plain tuples sort without
    # a key function's call per span (the input position settles ties, as a stable sort would).
    n = len(results)
    order = [(r.start, -r.end, -r.score, i) for i, r in enumerate(results)]
    order += [(s, -e, -PROPAGATED_SCORE, n + j) for j, (s, e) in enumerate(mentions)]
    order.sort()
    kept: list[int] = []
    end = -1
    for start, neg_end, _, i in order:
        stop = -neg_end
        if start >= end:
            if stop > start:  # empty spans are dropped
                kept.append(i)
                end = stop
        elif stop > end:
            return _resolve_overlapping([*results, *_propagated(mentions)])
    return [results[i] if i < n else _propagated((mentions[i - n],))[0] for i in kept]


def _propagated(mentions: Sequence[tuple[int, int]]) -> list[RecognizerResult]:
    return [RecognizerResult("PERSON", s, e, PROPAGATED_SCORE) for s, e in mentions]


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
