"""ASCII twins: a `regex` pattern run by the stdlib `re` engine on ASCII text.

On ASCII characters re.ASCII's classes (\\d \\s \\w \\b, case folding) equal `regex`'s Unicode
ones, and both are backtracking engines that try alternatives and repeats in the same order, so
a pattern that both compile finds the same matches there. The stdlib engine executes many of
ours faster (docs/pii.md, "Measurements behind the code"). Two things it lacks are bridged:

- Unicode letter properties \\p{Lu} \\p{Ll} \\p{L}: on ASCII text they are [A-Z] [a-z] [A-Za-z]
  (under IGNORECASE both engines let them match either case).
- Variable-length lookbehinds at the start of a pattern (the negative words before a number):
  they only test the position where a match starts, so they stay with `regex` as a guard,
  checked at each start the twin finds. A start the guard refuses is skipped and the search goes
  on one character later, as the regex engine does.

Text need not be pure ASCII: non-ASCII characters that no class of either engine admits and
that have no case (punctuation and symbols: © — ’ “ € …, which most English web pages hold
somewhere) are "other" characters to both engines alike, so such text runs the twin too
(`twin_ready`). Equality is tested in tests/test_pii_twins.py.
"""

from __future__ import annotations

import re as stdre
from collections.abc import Iterator
from functools import lru_cache

import regex as re

_FLAGS = (
    (re.IGNORECASE, stdre.IGNORECASE),
    (re.MULTILINE, stdre.MULTILINE),
    (re.DOTALL, stdre.DOTALL),
    (re.VERBOSE, stdre.VERBOSE),
)
_NO_EFFECT = re.UNICODE | re.VERSION0  # what `regex` does by default for str patterns
_LETTERS = {"Lu": "A-Z", "Ll": "a-z", "L": "A-Za-z"}
_PROPERTY = stdre.compile(r"\\p\{(Lu|Ll|L)\}")
_ASSERTIONS = ("(?=", "(?!", "(?<=", "(?<!")
# Non-ASCII characters that some class of a pattern may admit, or that IGNORECASE may match to
# another character: letters, marks, digits, spaces, controls, connector punctuation, case.
_CLASSED = re.compile(
    r"[\w\s\d\p{L}\p{M}\p{N}\p{Z}\p{C}\p{Pc}\p{Alphabetic}\p{Cased}"
    r"\p{Changes_When_Casefolded}\p{Changes_When_Casemapped}]"
)
_NON_ASCII_RUN = stdre.compile(r"[^\x00-\x7f]+")


def twin_ready(text: str) -> bool:
    """Whether twins find in `text` what their `regex` patterns find: ASCII text, or text whose
    other characters are caseless punctuation and symbols."""
    return text.isascii() or all(map(_plain_symbols, _NON_ASCII_RUN.findall(text)))


@lru_cache(maxsize=4096)
def _plain_symbols(run: str) -> bool:
    return _CLASSED.search(run) is None


class AsciiTwin:
    """`match` and `finditer` of `expression` (a `regex` pattern with `flags`), for text where
    `twin_ready` holds. Raises stdre.error where the stdlib engine cannot express the pattern."""

    def __init__(self, expression: str, flags: int = 0):
        known = _NO_EFFECT
        std_flags = stdre.ASCII
        for ours, theirs in _FLAGS:
            known |= ours
            std_flags |= theirs if flags & ours else 0
        if flags & ~known:
            raise ValueError(f"flags {flags:#x} have no stdlib twin")
        assertions, rest = leading_assertions(expression)
        kept, guards = [], []
        for assertion in assertions:
            try:
                stdre.compile(ascii_letters(assertion), std_flags)
                kept.append(assertion)
            except stdre.error:  # a variable-length lookbehind
                guards.append(assertion)
        self.pattern = stdre.compile(ascii_letters("".join(kept) + rest), std_flags)
        self.guard = re.compile("".join(guards), flags) if guards else None

    def match(self, text: str, pos: int = 0):
        m = self.pattern.match(text, pos)
        if m is not None and self.guard is not None and self.guard.match(text, pos) is None:
            return None
        return m

    def finditer(self, text: str, pos: int = 0) -> Iterator:
        if self.guard is None:
            return self.pattern.finditer(text, pos)
        return self._guarded(text, pos)

    def _guarded(self, text: str, pos: int) -> Iterator:
        search, guard = self.pattern.search, self.guard.match
        m = search(text, pos)
        while m is not None:
            start, end = m.span()
            if guard(text, start) is not None:
                yield m
                pos = end if end > start else start + 1
            else:
                pos = start + 1
            m = search(text, pos)


def stdlib_twin(expression: str, flags: int = 0) -> stdre.Pattern:
    """The stdlib pattern of `AsciiTwin(expression, flags)` on its own, for expressions whose
    twin needs no guard (raises ValueError otherwise): its `match`, `search`, `finditer` and
    `fullmatch` find what the `regex` pattern finds, on text where `twin_ready` holds."""
    twin = AsciiTwin(expression, flags)
    if twin.guard is not None:
        raise ValueError("a variable-length lookbehind at the start needs AsciiTwin's guard")
    return twin.pattern


def ascii_letters(expression: str) -> str:
    """`expression` with \\p{Lu}, \\p{Ll} and \\p{L} as the ASCII letter classes."""
    out = []
    for _, token, in_class in _tokens(expression):
        prop = _PROPERTY.fullmatch(token)
        if prop is not None:
            letters = _LETTERS[prop.group(1)]
            token = letters if in_class else f"[{letters}]"
        out.append(token)
    return "".join(out)


def leading_assertions(expression: str) -> tuple[list[str], str]:
    """The lookaround groups `expression` starts with, and the rest of it."""
    found = []
    i = 0
    while expression.startswith(_ASSERTIONS, i):
        end = _group_end(expression, i)
        found.append(expression[i:end])
        i = end
    return found, expression[i:]


def _tokens(expression: str, start: int = 0) -> Iterator[tuple[int, str, bool]]:
    """(position, token, inside a class) for each token of `expression` from `start`: an
    escape (a letter property whole), a class's "[" with a "^" and a literal "]" right after
    it, or one character."""
    i, in_class = start, False
    while i < len(expression):
        c = expression[i]
        if c == "\\":
            prop = _PROPERTY.match(expression, i)
            token = prop.group() if prop is not None else expression[i : i + 2]
        elif c == "[" and not in_class:
            lead = "^" if expression.startswith("^", i + 1) else ""
            token = c + lead + ("]" if expression.startswith("]", i + 1 + len(lead)) else "")
        else:
            token = c
        yield i, token, in_class
        if token[0] == "[" and not in_class:
            in_class = True
        elif token == "]":
            in_class = False
        i += len(token)


def _group_end(expression: str, start: int) -> int:
    """The index after the ")" that closes the group opening at `start`."""
    depth = 0
    for i, token, in_class in _tokens(expression, start):
        if in_class:
            continue
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    raise ValueError("unbalanced group in pattern")
