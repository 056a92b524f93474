"""One document's text, split once: lines, paragraphs, words, and their n-gram hashes.

Every rule reads the same `TextView`, so a document is split into words once for all the rules
(datatrove tokenises it again in each filter). Words follow the shape of datatrove's word
tokenizer for English (spaCy's rules, `datatrove.utils.word_tokenizers`): runs of letters and
digits are words, punctuation marks are words of their own (an ellipsis is one), URLs and e-mail
addresses are one word, and an English clitic (`n't`, `'s`, `'ll`, ...) is split off. It is a
regular expression, not spaCy, so a rule's value can differ slightly on unusual text (the
benchmark measures the decision agreement).
"""

from __future__ import annotations

import re
from collections import Counter
from functools import cached_property, lru_cache

import numpy as np

# Characters that are punctuation for the "symbol word" tests (a word made only of them is not
# a word for Gopher's word count and mean length), after datatrove's PUNCTUATION_SET: ASCII and
# common CJK/typographic punctuation plus control characters; rules.py adds any Unicode P*
# category character.
_PUNCT = set(
    "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»"
)  # noqa: E501
_PUNCT.update(chr(c) for c in (*range(0, 32), *range(127, 160)))

# spaCy-shaped tokenisation, per whitespace-separated chunk (cached: chunks repeat a lot):
# punctuation is peeled off the front (prefixes) and the back (suffixes) one mark at a time,
# then split inside the chunk only at spaCy's infix patterns (hyphens and slashes between
# letters, a period between a lower- and an upper-case letter, commas between letters,
# ellipses). A period stays on a single capital ("J.") and on abbreviations ("U.S."), as spaCy
# keeps them.
_QUOTES = "'\"”“`‘´’‚„»«「」『』（）〔〕【】《》〈〉⟦⟧"
_PUNCT_LIST = "…,:;!?¿؟¡()[]{}<>_#*&。？！，、；：～·।،۔؛٪"
_CURRENCY = "$£€¥฿₽₹₩₪₫"
_PREFIX_RE = re.compile(
    r"^(?:\.\.+|……|[§%=—–" + re.escape(_PUNCT_LIST + _QUOTES + _CURRENCY) + r"]|\+(?![0-9]))"
)
_SUFFIX_RE = re.compile(
    r"(?:\):|\.\.+|……|['’](?:[sSmMdD]|ll|re|ve)|(?<=\w)n['’]t"
    r"|[—–" + re.escape(_PUNCT_LIST + _QUOTES) + r"]"
    r"|(?<=[0-9])(?:[+%" + re.escape(_CURRENCY) + r"]|km|kg|mg|cm|mm|mb|MB|GB|KB|TB|K|M|G|T)"
    r"|(?<=[^\W_A-Z])\.|(?<=[" + re.escape(_PUNCT_LIST + _QUOTES) + r"])\.|(?<=[A-Z][A-Z])\.)$"
)
_INFIX_RE = re.compile(
    r"(\.\.+|…"
    r"|(?<=[0-9])[+\-*^](?=[0-9-])"
    r"|(?<=[a-z'\"”’])\.(?=[A-Z'\"”’])"
    r"|(?<=[^\W\d_]),(?=[^\W\d_])"
    r"|(?<=[^\W_])(?:---|--|——|-|–|—|~)(?=[^\W\d_])"
    r"|(?<=[^\W_])[:<>=/](?=[^\W\d_])"
    r"|[©®°¦№™\u2190-\u21ff\u2300-\u23ff\u2500-\u27bf\U0001F000-\U0001FAFF])"
)
_URL_RE = re.compile(r"^(?:https?://|www\.)\S+$|^[\w.+-]+@[\w-]+(?:\.[\w-]+)+$")
_ABBREVIATION_RE = re.compile(r"^(?:[^\W\d_]{1,3}\.){2,}$")
_SPLIT_RE = re.compile(r"\S+")


@lru_cache(maxsize=1 << 18)
def _chunk_words(chunk: str) -> tuple[str, ...]:
    front: list[str] = []
    back: list[str] = []
    while chunk:
        if _ABBREVIATION_RE.match(chunk):
            break
        if m := _PREFIX_RE.match(chunk):
            if m.end() == len(chunk):
                break
            front.append(m.group())
            chunk = chunk[m.end() :]
            continue
        if m := _SUFFIX_RE.search(chunk):
            if m.start() == 0:
                break
            back.append(m.group())
            chunk = chunk[: m.start()]
            continue
        break
    whole = _URL_RE.match(chunk) or _ABBREVIATION_RE.match(chunk)
    middle = [p for p in _INFIX_RE.split(chunk) if p] if chunk and not whole else []
    if chunk and not middle:
        middle = [chunk]
    return (*front, *middle, *reversed(back))


_PARAGRAPH_RE = re.compile(r"\n{2,}")
_LINES_RE = re.compile(r"\n+")

# 64-bit polynomial rolling hash of word ids: n-gram identity without building n-gram strings.
_MULT = np.uint64(1_000_003)


def split_words(text: str) -> list[str]:
    words: list[str] = []
    add, extend = words.append, words.extend
    for chunk in text.split():
        if chunk.isalpha():  # most chunks: a plain word, nothing to split
            add(chunk)
        else:
            extend(_chunk_words(chunk))
    return words


def is_symbol_word(word: str) -> bool:
    """A word made only of punctuation (datatrove: every character in PUNCTUATION_SET)."""
    return all(ch in _PUNCT for ch in word)


class TextView:
    """Lazily computed splits of one text, shared by all rules that look at it."""

    def __init__(self, text: str):
        self.text = text
        self._stats: dict[int, tuple[np.ndarray, ...] | None] = {}
        self._hashes: dict[int, np.ndarray] = {}

    @cached_property
    def lines(self) -> list[str]:
        """`str.splitlines()`: Gopher and C4 count lines this way."""
        return self.text.splitlines()

    @cached_property
    def words(self) -> list[str]:
        return split_words(self.text)

    @cached_property
    def word_counts(self) -> Counter[str]:
        return Counter(self.words)

    @cached_property
    def word_ids(self) -> np.ndarray:
        vocab = {w: i for i, w in enumerate(self.word_counts)}
        return np.fromiter(map(vocab.__getitem__, self.words), np.uint64, len(self.words))

    def ngram_stats(self, n: int) -> tuple[np.ndarray, ...] | None:
        """(hashes, first position, inverse, counts) of the n-grams; None if there are none."""
        if n not in self._stats:
            h = self.ngram_hashes(n)
            if len(h) == 0:
                self._stats[n] = None
            else:
                _, first, inverse, counts = np.unique(
                    h, return_index=True, return_inverse=True, return_counts=True
                )
                self._stats[n] = (h, first, inverse, counts)
        return self._stats[n]

    @cached_property
    def word_lengths(self) -> np.ndarray:
        return np.fromiter(map(len, self.words), dtype=np.int64, count=len(self.words))

    def ngram_hashes(self, n: int) -> np.ndarray:
        """One uint64 per n-gram position (positions 0 .. len(words) - n), each n built from
        the (n-1)-gram hashes."""
        ids = self.word_ids
        if len(ids) < n:
            return np.empty(0, dtype=np.uint64)
        if n not in self._hashes:
            if n == 1:
                self._hashes[1] = ids
            else:
                prev = self.ngram_hashes(n - 1)
                with np.errstate(over="ignore"):
                    self._hashes[n] = prev[:-1] * _MULT + ids[n - 1 :] + np.uint64(1)
        return self._hashes[n]

    def ngram_chars(self, n: int) -> np.ndarray:
        """Characters of each n-gram's words (no separators), per position."""
        lengths = self.word_lengths
        if len(lengths) < n:
            return np.empty(0, dtype=np.int64)
        c = np.concatenate(([0], np.cumsum(lengths)))
        return c[n:] - c[:-n]


def paragraphs(text: str) -> list[str]:
    """Paragraphs: the stripped text split at runs of two or more newlines (Gopher)."""
    return _PARAGRAPH_RE.split(text.strip())


def nonblank_line_runs(text: str) -> list[str]:
    """The text split at runs of newlines (Gopher repetition's lines: blank lines not counted
    as lines of their own)."""
    return _LINES_RE.split(text)
