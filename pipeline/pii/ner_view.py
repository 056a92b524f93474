"""What NER reads: the text less the spans patterns already took, with offsets mapped back.

NER costs the same for every token, and on PII-dense text many tokens lie in spans the pattern
recognizers have already taken (phones, keys, e-mails, IPs, cards): NER would only re-read
them. Those spans become one space each; everything else, line breaks included, is kept as it
was, so the context around a name is unchanged. Street addresses stay, because a name above an
address line is a name to the model; lines without a capital letter stay too, because the small
English model does tag some lower-case names (docs/pii.md, "Measurements behind the code").
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from corpusforge.pipeline.pii_entities import NER_SKIPPED

# Types NER need not read again (their spans carry no name and no context for one): the
# registry's types whose `ner_reads_spans` is False.
SKIPPABLE_TYPES = NER_SKIPPED


@dataclass(frozen=True)
class NerView:
    text: str
    view_starts: tuple[int, ...]  # where each piece starts in the view ...
    text_starts: tuple[int, ...]  # ... and in the original text
    gaps: tuple[int, ...] = ()  # view positions of the spaces that stand for taken spans

    def to_text(self, pos: int) -> int:
        i = bisect_right(self.view_starts, pos) - 1
        return self.text_starts[i] + pos - self.view_starts[i]

    def span_to_text(self, start: int, end: int) -> tuple[int, int] | None:
        """A view span in text offsets; None if it covers a taken span (NER joining the words
        either side of it would otherwise swallow an address or a phone number)."""
        i = bisect_right(self.gaps, start - 1)
        if i < len(self.gaps) and self.gaps[i] < end:
            return None
        return self.to_text(start), self.to_text(end - 1) + 1


def ner_view(text: str, taken: Sequence[tuple[int, int]] = ()) -> NerView:
    """`taken`: spans already detected (not names), each replaced by one space."""
    parts: list[str] = []
    view_starts: list[int] = []
    text_starts: list[int] = []
    gaps: list[int] = []
    pos = view = 0
    for start, end in sorted(taken):
        if end <= pos or end <= start:
            continue
        start = max(start, pos)
        if start > pos:
            view_starts.append(view)
            text_starts.append(pos)
            parts.append(text[pos:start])
            view += start - pos
        view_starts.append(view)  # one space keeps the words either side apart
        text_starts.append(start)
        gaps.append(view)
        parts.append(" ")
        view += 1
        pos = end
    view_starts.append(view)
    text_starts.append(pos)
    parts.append(text[pos:])
    return NerView("".join(parts), tuple(view_starts), tuple(text_starts), tuple(gaps))
