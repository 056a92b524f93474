"""Split long text into NER-sized chunks at paragraph or sentence boundaries, with offsets.

spaCy has a `max_length` and its cost per call grows with the text, so a document is cut into
chunks of at most `max_chars`. Cuts fall on a blank line if there is one, else on a sentence
end or a line break, else on a space. Only a forced cut (no such boundary in reach) can split
an entity; those chunks start `overlap` characters early so the entity is whole in one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_BOUNDARIES = (
    re.compile(r"\n[ \t]*\n"),  # paragraph
    re.compile(r"(?<=[.!?])[\"')\]]?\s+|\n"),  # sentence end or line break
)
_SPACE = re.compile(r"\s")


@dataclass(frozen=True)
class Chunk:
    start: int  # offset of the chunk in the document
    text: str


def _cut_point(text: str, start: int, limit: int) -> tuple[int, bool]:
    """The end of the chunk starting at `start`, and whether it is a clean boundary."""
    window_start = start + limit // 2  # never cut a chunk to less than half its size
    for pattern in _BOUNDARIES:
        last = None
        for m in pattern.finditer(text, window_start, limit + start):
            last = m
        if last is not None:
            return last.end(), True
    space = text.rfind(" ", window_start, start + limit)
    if space > 0:
        return space + 1, False
    return start + limit, False


def chunk_text(text: str, max_chars: int = 4000, overlap: int = 200) -> Iterator[Chunk]:
    if len(text) <= max_chars:
        if text:
            yield Chunk(0, text)
        return
    start = 0
    while start < len(text):
        if len(text) - start <= max_chars:
            yield Chunk(start, text[start:])
            return
        end, clean = _cut_point(text, start, max_chars)
        yield Chunk(start, text[start:end])
        if clean or overlap == 0:
            start = end
        else:
            back = max(start + 1, end - overlap)
            space = _SPACE.search(text, back, end)
            start = space.end() if space else back
