"""The published heuristic quality rules, one small configurable filter per publication.

Each filter takes a `TextView` and returns `Outcome`: a `Removal` (the rule, the measured value
and the threshold it crossed) or nothing; C4 also returns the text with its bad lines removed.
A rule is evaluated in the publication's order and the first one that fails is the reason.
Setting a threshold to None turns that rule off.

The definitions follow datatrove's implementations (huggingface/datatrove,
`src/datatrove/pipeline/filters/`, v0.10.1), which the benchmark compares against decision by
decision; where this code differs it says so.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar

import numpy as np
import regex
from pydantic import Field

from corpusforge.core.settings import StrictModel
from corpusforge.pipeline.filter.text import (
    TextView,
    is_symbol_word,
    nonblank_line_runs,
    paragraphs,
)


@dataclass(frozen=True)
class Removal:
    """Why a document was removed: which filter, which rule, the value and the threshold."""

    filter: str
    rule: str
    value: float
    threshold: float | None = None
    detail: str = ""


@dataclass
class Outcome:
    removal: Removal | None = None
    text: str | None = None  # the text after line removal (C4), when it changed
    lines_removed: Counter[str] = field(default_factory=Counter)


KEEP = Outcome()


class Rule:
    """A named filter with its config model."""

    name: ClassVar[str]

    def apply(self, view: TextView) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError


def _remove(filter_name: str, rule: str, value: float, threshold: float | None) -> Outcome:
    return Outcome(removal=Removal(filter_name, rule, round(float(value), 6), threshold))


# ---- Gopher quality --------------------------------------------------------------------------


class GopherQualityConfig(StrictModel):
    """Gopher's quality rules; thresholds from Rae et al. 2021, "Scaling Language Models:
    Methods, Analysis & Insights from Training Gopher", appendix A (MassiveWeb quality filter)."""

    min_doc_words: int | None = Field(50, ge=0, description="fewer words: removed")
    max_doc_words: int | None = Field(100_000, ge=0, description="more words: removed")
    min_avg_word_length: float | None = Field(3, ge=0, description="shorter mean: removed")
    max_avg_word_length: float | None = Field(10, ge=0, description="longer mean: removed")
    max_symbol_word_ratio: float | None = Field(
        0.1, ge=0, description="'#' or ellipses per word above this: removed"
    )
    max_bullet_lines_ratio: float | None = Field(
        0.9, ge=0, le=1, description="share of lines starting with a bullet above this: removed"
    )
    max_ellipsis_lines_ratio: float | None = Field(
        0.3, ge=0, le=1, description="share of lines ending with an ellipsis above this: removed"
    )
    min_alpha_words_ratio: float | None = Field(
        0.8, ge=0, le=1, description="share of words with a letter below this: removed"
    )
    min_stop_words: int | None = Field(
        2, ge=0, description="fewer distinct stop words than this: removed"
    )
    stop_words: list[str] = Field(
        default_factory=lambda: ["the", "be", "to", "of", "and", "that", "have", "with"],
        description="Gopher's English stop words (case-sensitive, as datatrove)",
    )


class GopherQuality(Rule):
    """Gopher quality filter (Rae et al. 2021, appendix A): a document is removed if it has
    fewer than 50 or more than 100,000 words, a mean word length outside 3..10 characters, a
    symbol-to-word ratio above 0.1 for '#' or for ellipses, more than 90% of lines starting
    with a bullet, more than 30% of lines ending with an ellipsis, fewer than 80% of words
    containing a letter, or fewer than two of the stop words.

    Words are `TextView.words` (punctuation marks are words of their own); the word count and
    mean length use the words that are not only punctuation, the ratios all words, as in
    datatrove. Bullets are '•' and '-' (datatrove's choice)."""

    name = "gopher_quality"

    def __init__(self, config: GopherQualityConfig | None = None):
        self.c = config or GopherQualityConfig()
        self.stop_words = frozenset(self.c.stop_words)

    def apply(self, view: TextView) -> Outcome:
        c, name, text = self.c, self.name, view.text
        words = view.words
        n_words = len(words)
        freq = view.word_counts
        # only words that are not all letters can be symbols or lack a letter: few per document
        other = [(w, k) for w, k in freq.items() if not w.isalpha()]
        symbol = [(w, k) for w, k in other if _symbol_word(w)]
        n = n_words - sum(k for _, k in symbol)
        if c.min_doc_words is not None and n < c.min_doc_words:
            return _remove(name, "min_doc_words", n, c.min_doc_words)
        if c.max_doc_words is not None and n > c.max_doc_words:
            return _remove(name, "max_doc_words", n, c.max_doc_words)
        mean = (len("".join(words)) - sum(len(w) * k for w, k in symbol)) / n if n else 0.0
        if c.min_avg_word_length is not None and mean < c.min_avg_word_length:
            return _remove(name, "min_avg_word_length", mean, c.min_avg_word_length)
        if c.max_avg_word_length is not None and mean > c.max_avg_word_length:
            return _remove(name, "max_avg_word_length", mean, c.max_avg_word_length)
        denom = max(n_words, 1)
        if c.max_symbol_word_ratio is not None:
            ratio = text.count("#") / denom
            if ratio > c.max_symbol_word_ratio:
                return _remove(name, "hash_word_ratio", ratio, c.max_symbol_word_ratio)
            ratio = (text.count("...") + text.count("…")) / denom
            if ratio > c.max_symbol_word_ratio:
                return _remove(name, "ellipsis_word_ratio", ratio, c.max_symbol_word_ratio)
        lines = view.lines
        n_lines = max(len(lines), 1)
        if c.max_bullet_lines_ratio is not None:
            ratio = sum(s.lstrip().startswith(("•", "-")) for s in lines) / n_lines
            if ratio > c.max_bullet_lines_ratio:
                return _remove(name, "bullet_lines_ratio", ratio, c.max_bullet_lines_ratio)
        if c.max_ellipsis_lines_ratio is not None:
            ratio = sum(s.rstrip().endswith(("...", "…")) for s in lines) / n_lines
            if ratio > c.max_ellipsis_lines_ratio:
                return _remove(name, "ellipsis_lines_ratio", ratio, c.max_ellipsis_lines_ratio)
        if c.min_alpha_words_ratio is not None:
            ratio = (n_words - sum(k for w, k in other if not _has_letter(w))) / denom
            if ratio < c.min_alpha_words_ratio:
                return _remove(name, "alpha_words_ratio", ratio, c.min_alpha_words_ratio)
        if c.min_stop_words is not None:
            found = len(self.stop_words.intersection(freq))
            if found < c.min_stop_words:
                return _remove(name, "stop_words", found, c.min_stop_words)
        return KEEP


@lru_cache(maxsize=1 << 16)
def _symbol_word(word: str) -> bool:
    return is_symbol_word(word) or all(unicodedata.category(ch).startswith("P") for ch in word)


@lru_cache(maxsize=1 << 16)
def _has_letter(word: str) -> bool:
    return any(ch.isalpha() for ch in word)


# ---- Gopher repetition -----------------------------------------------------------------------


class GopherRepetitionConfig(StrictModel):
    """Gopher's repetition rules; thresholds from Rae et al. 2021, appendix A, table A1."""

    max_dup_line_frac: float | None = Field(0.30, ge=0, le=1)
    max_dup_para_frac: float | None = Field(0.30, ge=0, le=1)
    max_dup_line_char_frac: float | None = Field(0.20, ge=0, le=1)
    max_dup_para_char_frac: float | None = Field(0.20, ge=0, le=1)
    top_ngram_char_frac: dict[int, float] = Field(
        default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16},
        description="n -> most frequent n-gram's share of characters above which: removed",
    )
    top_ngram_min_count: int = Field(
        2,
        ge=1,
        description="the top n-gram counts only if it occurs this often (datatrove: 1, so a "
        "short text whose n-grams are all unique is removed)",
    )
    dup_ngram_char_frac: dict[int, float] = Field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10},
        description="n -> share of characters in duplicated n-grams above which: removed",
    )


class GopherRepetition(Rule):
    """Gopher repetition filter (Rae et al. 2021, appendix A, table A1): a document is removed
    when more than 30% of its paragraphs or lines are duplicates, duplicated paragraphs or lines
    hold more than 20% of its characters, its most frequent 2/3/4-gram covers more than
    20/18/16% of the characters, or duplicated 5..10-grams cover more than 15..10%.

    Paragraphs split at two or more newlines, lines at one or more. N-grams are over
    `TextView.words`; a top n-gram's characters count the spaces between its words, duplicated
    n-grams' characters do not, and duplicated n-grams are counted without overlap (a match
    skips its n words), all as in datatrove. One difference: the most frequent n-gram counts
    only when it repeats (`top_ngram_min_count`, 2); datatrove also counts an n-gram that
    occurs once, which removes every text shorter than about six times an n-gram's length
    (encyclopedia stubs, short answers) for "repetition" it does not have."""

    name = "gopher_repetition"

    def __init__(self, config: GopherRepetitionConfig | None = None):
        self.c = config or GopherRepetitionConfig()

    def apply(self, view: TextView) -> Outcome:
        c, name, text = self.c, self.name, view.text
        total = len(text)
        if total == 0:
            return KEEP
        paras = paragraphs(text)
        dups, dup_chars = _duplicates(paras)
        if c.max_dup_para_frac is not None and dups / len(paras) > c.max_dup_para_frac:
            return _remove(name, "dup_para_frac", dups / len(paras), c.max_dup_para_frac)
        if c.max_dup_para_char_frac is not None and dup_chars / total > c.max_dup_para_char_frac:
            return _remove(name, "dup_para_char_frac", dup_chars / total, c.max_dup_para_char_frac)
        lines = nonblank_line_runs(text)
        dups, dup_chars = _duplicates(lines)
        if c.max_dup_line_frac is not None and dups / len(lines) > c.max_dup_line_frac:
            return _remove(name, "dup_line_frac", dups / len(lines), c.max_dup_line_frac)
        if c.max_dup_line_char_frac is not None and dup_chars / total > c.max_dup_line_char_frac:
            return _remove(name, "dup_line_char_frac", dup_chars / total, c.max_dup_line_char_frac)
        for n, limit in sorted(c.top_ngram_char_frac.items()):
            frac = _top_ngram_chars(view, n, c.top_ngram_min_count) / total
            if frac > limit:
                return _remove(name, f"top_{n}_gram_char_frac", frac, limit)
        for n, limit in sorted(c.dup_ngram_char_frac.items()):
            chars = _dup_ngram_chars(view, n)
            stats = view.ngram_stats(n)
            if stats is None or stats[3].max() < 2:
                break  # no n-gram repeats, so no longer one does either
            frac = chars / total
            if frac > limit:
                return _remove(name, f"dup_{n}_gram_char_frac", frac, limit)
        return KEEP


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(number of items seen before, their characters)."""
    seen: set[str] = set()
    n = chars = 0
    for item in items:
        if item in seen:
            n += 1
            chars += len(item)
        else:
            seen.add(item)
    return n, chars


def _top_ngram_chars(view: TextView, n: int, min_count: int = 1) -> int:
    """Characters of the most frequent n-gram (joined by spaces) times its count; ties go to
    the n-gram seen first (Counter.most_common); 0 if it occurs fewer than `min_count` times."""
    stats = view.ngram_stats(n)
    if stats is None:
        return 0
    _, first, _, counts = stats
    top = counts.max()
    if top < min_count:
        return 0
    at = int(first[counts == top].min())
    return (int(view.ngram_chars(n)[at]) + n - 1) * int(top)


def _dup_ngram_chars(view: TextView, n: int) -> int:
    """Characters (without spaces) of n-grams seen before, scanning left to right and jumping
    past each match (datatrove's find_all_duplicate). Only n-grams that occur more than once
    can match, so the scan visits just those positions: between them it would only step."""
    stats = view.ngram_stats(n)
    if stats is None:
        return 0
    h, _, inverse, counts = stats
    repeated_at = np.flatnonzero(counts[inverse] > 1)
    if len(repeated_at) == 0:
        return 0
    chars = view.ngram_chars(n)
    seen: set[int] = set()
    repeated, next_free = 0, 0
    for p, key in zip(repeated_at.tolist(), h[repeated_at].tolist(), strict=True):
        if p < next_free:
            continue
        if key in seen:
            repeated += int(chars[p])
            next_free = p + n
        else:
            seen.add(key)
    return repeated


# ---- C4 ------------------------------------------------------------------------------------------


_CITATION_RE = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_END_PUNCTUATION = (".", "?", "!", '"', "'")
_POLICY = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
# A sentence ends at terminal punctuation (with closing quotes/brackets) followed by space and
# more text; a line holds one sentence more than it has such ends.
_SENTENCE_END_RE = re.compile(r"[.!?]+[\"'”’)\]]*\s+(?=\S)")


class C4Config(StrictModel):
    """C4's rules; from Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a
    Unified Text-to-Text Transformer" (JMLR 21), section 2.2, and its reference implementation
    (tensorflow_datasets c4_utils) as datatrove's C4QualityFilter carries it."""

    remove_citations: bool = Field(True, description="strip [1], [edit], [citation needed]")
    filter_no_terminal_punct: bool = Field(
        True, description="remove lines not ending in . ? ! \" ' (or ending in an ellipsis)"
    )
    min_num_sentences: int | None = Field(
        5, ge=0, description="fewer sentences left after line removal: document removed"
    )
    min_words_per_line: int | None = Field(3, ge=0, description="shorter lines removed")
    max_word_length: int | None = Field(1000, ge=1, description="lines with a longer word removed")
    filter_lorem_ipsum: bool = Field(True, description="'lorem ipsum': document removed")
    filter_javascript: bool = Field(True, description="lines mentioning javascript removed")
    filter_curly_bracket: bool = Field(True, description="a '{': document removed")
    filter_policy: bool = Field(True, description="cookie / terms-of-use lines removed")


class C4Quality(Rule):
    """C4's line and page rules (Raffel et al. 2020, section 2.2): lines are kept only if they
    end in terminal punctuation (not an ellipsis), have at least 3 words, no word over 1,000
    characters, and do not mention javascript or cookie/terms-of-use policies; a page is
    removed if it contains "lorem ipsum" or a curly bracket in a kept line, or has fewer than 5
    sentences left. The document keeps only its kept lines (stripped, joined by newlines): C4
    edits text, it does not only select it. Lines and sentences are checked in datatrove's
    order, so lorem ipsum and curly brackets count only in lines that survived the line rules
    before them. Sentences are counted with a punctuation rule, not spaCy's sentencizer."""

    name = "c4_quality"

    def __init__(self, config: C4Config | None = None):
        self.c = config or C4Config()

    def apply(self, view: TextView) -> Outcome:
        c, name = self.c, self.name
        kept: list[str] = []
        removed: Counter[str] = Counter()
        sentences = 0
        for raw in view.lines:
            line = raw.strip()
            words = line.split()
            too_long = c.max_word_length is not None and len(line) > c.max_word_length
            if too_long and any(len(w) > c.max_word_length for w in words):
                removed["too_long_word"] += 1
                continue
            if c.remove_citations:
                line = _CITATION_RE.sub("", line)
            if c.filter_no_terminal_punct and (
                not line.endswith(_END_PUNCTUATION) or line.endswith("...")
            ):
                removed["no_terminal_punct"] += 1
                continue
            if c.min_words_per_line is not None and len(words) < c.min_words_per_line:
                removed["too_few_words"] += 1
                continue
            lower = line.lower()
            if c.filter_lorem_ipsum and "lorem ipsum" in lower:
                return Outcome(
                    removal=Removal(name, "lorem_ipsum", 1.0, None), lines_removed=removed
                )
            if c.filter_javascript and "javascript" in lower:
                removed["javascript"] += 1
                continue
            if c.filter_curly_bracket and "{" in line:
                return Outcome(
                    removal=Removal(name, "curly_bracket", 1.0, None), lines_removed=removed
                )
            if c.filter_policy and any(p in lower for p in _POLICY):
                removed["policy"] += 1
                continue
            sentences += 1 + len(_SENTENCE_END_RE.findall(line))
            kept.append(line)
        if c.min_num_sentences is not None and sentences < c.min_num_sentences:
            return Outcome(
                removal=Removal(name, "min_num_sentences", float(sentences), c.min_num_sentences),
                lines_removed=removed,
            )
        text = "\n".join(kept).strip()
        return Outcome(text=text if text != view.text else None, lines_removed=removed)


# ---- FineWeb ---------------------------------------------------------------------------------


_TERMINAL_RE = regex.compile(r"\p{Sentence_Terminal}")


@lru_cache(maxsize=4096)
def _is_terminal(ch: str) -> bool:
    return _TERMINAL_RE.match(ch) is not None


class FineWebConfig(StrictModel):
    """FineWeb's additional rules; thresholds from Penedo et al. 2024, "The FineWeb Datasets:
    Decanting the Web for the Finest Text Data at Scale", section 3.6 (custom filters), as
    datatrove's FineWebQualityFilter sets them."""

    min_line_punct_ratio: float | None = Field(
        0.12, ge=0, le=1, description="share of lines ending in terminal punctuation below: removed"
    )
    line_punct_exclude_zero: bool = Field(
        False, description="do not remove documents with no punctuated line at all"
    )
    max_short_line_ratio: float | None = Field(
        0.67, ge=0, le=1, description="share of short lines above this: removed"
    )
    short_line_length: int = Field(30, ge=0, description="a line this long or shorter is short")
    max_dup_line_char_ratio: float | None = Field(
        0.01, ge=0, le=1, description="characters in duplicated lines above this share: removed"
    )
    max_new_line_ratio: float | None = Field(
        0.3, ge=0, description="newlines per word above this (lists): removed"
    )


class FineWebQuality(Rule):
    """FineWeb's rules (Penedo et al. 2024, section 3.6): over the non-blank lines, a document
    is removed if at most 12% of lines end in terminal punctuation (below 0.12, as datatrove
    compares), more than 67% of lines are 30 characters or shorter, duplicated lines hold more
    than 1% of the characters (newlines not counted), or there are more than 0.3 newlines per
    word. Terminal punctuation is Unicode's Sentence_Terminal property."""

    name = "fineweb_quality"

    def __init__(self, config: FineWebConfig | None = None):
        self.c = config or FineWebConfig()

    def apply(self, view: TextView) -> Outcome:
        c, name, text = self.c, self.name, view.text
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            return KEEP
        n = len(lines)
        if c.min_line_punct_ratio is not None:
            ratio = sum(_is_terminal(line[-1]) for line in lines) / n
            if ratio < c.min_line_punct_ratio and not (ratio == 0 and c.line_punct_exclude_zero):
                return _remove(name, "line_punct_ratio", ratio, c.min_line_punct_ratio)
        if c.max_short_line_ratio is not None:
            ratio = sum(len(line) <= c.short_line_length for line in lines) / n
            if ratio > c.max_short_line_ratio:
                return _remove(name, "short_line_ratio", ratio, c.max_short_line_ratio)
        if c.max_dup_line_char_ratio is not None:
            chars = len(text) - text.count("\n")
            ratio = _duplicates(lines)[1] / chars if chars else 0.0
            if ratio > c.max_dup_line_char_ratio:
                return _remove(name, "dup_line_char_ratio", ratio, c.max_dup_line_char_ratio)
        if c.max_new_line_ratio is not None:
            ratio = text.count("\n") / max(len(view.words), 1)
            if ratio > c.max_new_line_ratio:
                return _remove(name, "new_line_ratio", ratio, c.max_new_line_ratio)
        return KEEP
