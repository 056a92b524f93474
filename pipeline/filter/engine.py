"""Apply a source's filters to one document: language first, then the quality rules in order.

`DocumentFilter.apply(text, source)` returns a `Decision`: kept (possibly with C4's line
removal applied to the text) or removed with the first `Removal` that fired; the language and
its confidence whenever the language filter ran.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from corpusforge.pipeline.filter.config import FilterConfig
from corpusforge.pipeline.filter.langid import UNDETERMINED, get_identifier
from corpusforge.pipeline.filter.rules import (
    C4Quality,
    FineWebQuality,
    GopherQuality,
    GopherRepetition,
    Removal,
    Rule,
)
from corpusforge.pipeline.filter.text import TextView

EMPTY = "empty"


@dataclass
class Decision:
    removal: Removal | None
    text: str
    language: str | None = None
    confidence: float | None = None
    lines_removed: Counter[str] = field(default_factory=Counter)

    @property
    def kept(self) -> bool:
        return self.removal is None


class DocumentFilter:
    def __init__(self, config: FilterConfig | None = None):
        self.config = config or FilterConfig()
        c = self.config
        self.rules: dict[str, Rule] = {
            "gopher_repetition": GopherRepetition(c.gopher_repetition),
            "gopher_quality": GopherQuality(c.gopher_quality),
            "c4_quality": C4Quality(c.c4_quality),
            "fineweb_quality": FineWebQuality(c.fineweb_quality),
        }
        self.keep_languages = frozenset(c.language.keep_languages)
        self._plans: dict[str, tuple[str, ...]] = {}
        self._identifier = None

    def identify(self, text: str) -> tuple[str, float]:
        if self._identifier is None:
            self._identifier = get_identifier(self.config.language.identifier)
        return self._identifier.identify(text[: self.config.language.max_chars])

    def plan(self, source: str) -> tuple[str, ...]:
        if source not in self._plans:
            self._plans[source] = self.config.filters_for(source)
        return self._plans[source]

    def apply(self, text: str, source: str) -> Decision:
        if not text or text.isspace():
            return Decision(Removal(EMPTY, "empty_text", 0.0, None), text)
        decision = Decision(None, text)
        view = TextView(text)
        for name in self.plan(source):
            if name == "language":
                lang, score = self.identify(text)
                decision.language, decision.confidence = lang, score
                removal = self._language_removal(lang, score)
                if removal is not None:
                    decision.removal = removal
                    return decision
                continue
            outcome = self.rules[name].apply(view)
            decision.lines_removed.update(outcome.lines_removed)
            if outcome.removal is not None:
                decision.removal = outcome.removal
                return decision
            if outcome.text is not None:
                if not outcome.text:
                    decision.removal = Removal(name, "no_lines_left", 0.0, None)
                    return decision
                decision.text = outcome.text
                view = TextView(outcome.text)
        return decision

    def _language_removal(self, lang: str, score: float) -> Removal | None:
        c = self.config.language
        if lang == UNDETERMINED:
            return Removal("language", "undetermined", score, c.min_confidence, lang)
        if self.keep_languages and lang not in self.keep_languages:
            return Removal("language", "not_kept", score, None, lang)
        if score < c.min_confidence:
            return Removal("language", "min_confidence", score, c.min_confidence, lang)
        return None
