"""Shared by the recognizer tests: a fast-mode scrubber and what it finds in one text."""

from __future__ import annotations

from corpusforge.pipeline.pii.config import PiiConfig
from corpusforge.pipeline.pii.scrub import Scrubber


def fast_scrubber() -> Scrubber:
    """Patterns only, no model, and no density drop (single sentences would trip it)."""
    return Scrubber(PiiConfig(mode="fast", drop_entities_per_1000_chars=None))


def found(scrubber: Scrubber, text: str) -> list[tuple[str, str]]:
    results, _ = scrubber.detector.analyze_batch([text])
    return [(r.entity_type, text[r.start : r.end]) for r in results[0]]
