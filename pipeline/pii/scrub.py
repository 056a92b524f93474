"""Scrub a batch of texts: detect, apply the density policy, replace, count by type."""

from __future__ import annotations

import gc
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from presidio_analyzer import EntityRecognizer

from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.pii.detector import PiiDetector, clean_text, script_of
from corpusforge.pipeline.pii.redact import Redactor


@dataclass
class Scrubbed:
    text: str
    counts: Counter[str] = field(default_factory=Counter)  # entities by type
    dropped: bool = False  # above the PII density threshold
    ner: str | None = None  # NER language used, None when skipped
    flags: tuple[str, ...] = ()  # malformed_unicode, empty, not_text, ner_skipped_language


def language_of(meta: str | None) -> str | None:
    if not meta:
        return None
    try:
        value = json.loads(meta)
    except (TypeError, ValueError):
        return None
    lang = value.get("language") or value.get("lang") if isinstance(value, dict) else None
    return str(lang) if lang else None


# Touches every lazily loaded table: gate databases, public suffixes, phone metadata, NER.
_WARM_UP = (
    "From: Jane Doe <jane.doe@example.org>\nCall +44 20 7946 0958 or (415) 555-0132, "
    "10 Downing Street, London SW1A 2AA, IP 192.0.2.1."
)


class Scrubber:
    """`recognizers`: more recognizers for the detector (`PiiDetector`): the project's kind or
    any presidio `EntityRecognizer`."""

    def __init__(self, config: PiiConfig, recognizers: Iterable[EntityRecognizer] = ()):
        self.config = config
        self.detector = PiiDetector(config, recognizers)
        self.redactor = Redactor(config)

    def warm_up(self) -> None:
        """Load what the first real batch would otherwise load (and time) lazily."""
        self.scrub([_WARM_UP])

    def scrub(
        self, texts: Sequence[str], languages: Sequence[str | None] | None = None
    ) -> list[Scrubbed]:
        cleaned = [clean_text(t or "") for t in texts]
        plain = [t for t, _ in cleaned]
        detections, used = self.detector.analyze_batch(plain, languages)
        out = []
        for (text, malformed), results, ner in zip(cleaned, detections, used, strict=True):
            flags = ["malformed_unicode"] if malformed else []
            if not text.strip():
                flags.append("empty")
            elif self.detector.ner is not None and ner is None:
                flags.append("not_text" if script_of(text) == "none" else "ner_skipped_language")
            counts = Counter(r.entity_type for r in results)
            dropped = self.over_density(sum(counts.values()), text)
            scrubbed = "" if dropped else self.redactor.redact(text, results)
            out.append(Scrubbed(scrubbed, counts, dropped, ner, tuple(flags)))
        return out

    def over_density(self, entities: int, text: str) -> bool:
        """The density policy: drop a text with more entities per 1,000 characters than the
        limit (and at least the minimum)."""
        limit = self.config.drop_entities_per_1000_chars
        return (
            limit is not None
            and entities >= self.config.drop_min_entities
            and entities * 1000 / max(len(text), 1) > limit
        )


def freeze_heap() -> None:
    """Exempt every object alive now from cyclic garbage collection (`gc.freeze`).

    A warmed-up scrubber holds large tables for the life of a worker process (tldextract's
    suffix trie, phonenumbers' metadata, presidio's registries, spaCy's vocabulary); each full
    collection walked all of them again. Objects created later are
    collected as usual, and frozen ones are still freed when their last reference goes. For a
    process that keeps what it has built, as the stage's workers do.
    """
    gc.collect()
    gc.freeze()
