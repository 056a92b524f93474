"""A presidio PatternRecognizer whose patterns may carry context and a cheap prefilter.

presidio reports a pattern's whole match, so cue words ("password=", "From:") would have to be
variable-length lookbehinds, which the regex engine tries at every position.
Here a pattern may name a group `value`: the match starts at the cue (fast literal scan) and
only the group is reported. Validation works as in presidio: True raises the score to 1.0,
False discards the match, None keeps the pattern's score.

A pattern may also have a `Prefilter`: a gate (pipeline/pii/gates.py), an expression that one
hyperscan pass checks for all patterns of the recognizer at once; literals without which it
cannot match (a substring test, far cheaper than any pattern); and an anchor, a simple
expression that matches wherever a match of the pattern can start, so the full pattern is only
tried there. All only skip text where the pattern cannot match, so the results equal a plain
scan (`use_prefilters = False`), which tests/test_pii_engine.py checks against presidio's
AnalyzerEngine.

On ASCII text a pattern may run in the stdlib `re` engine instead (`Prefilter.ascii_twin`), which
executes many of these patterns faster; see `AsciiTwin`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache

import regex as re
from presidio_analyzer import PatternRecognizer, RecognizerResult

from corpusforge.pipeline.pii.gates import SCAN, Gates
from corpusforge.pipeline.pii.recognizer import PiiRecognizer
from corpusforge.pipeline.pii.twins import AsciiTwin, twin_ready


@dataclass(frozen=True)
class Prefilter:
    needles: tuple[str, ...] = ()  # one of these occurs wherever the pattern matches
    fold: bool = False  # needles are lower case and looked for in text.casefold()
    anchor: str | None = None  # matches at every position where a match can start
    gate: str | None = None  # hyperscan expression found in every text the pattern matches
    gate_caseless: bool = False
    # Every match holds a gate match that ends at most `reach` characters after the match's
    # start, so scanning can start `reach` before the first gate match ends.
    reach: int | None = None
    # Matches and their gate's matches begin at the same line start: scanning can start at the
    # line where the first gate match begins.
    same_line: bool = False
    # Every match holds `pivot` at most `pivot_reach` characters after its start, with only
    # `run` characters before it: the pattern is tried only at the few starts this leaves.
    pivot: str | None = None
    pivot_reach: int = 0
    run: frozenset[str] = frozenset()
    # On ASCII text, run the pattern's stdlib twin (AsciiTwin): only where measured faster.
    ascii_twin: bool = False


def first_char_alternation(alternatives: Iterable[str]) -> str:
    """The alternatives (regular expressions, each starting with a plain character) as one
    alternation grouped by first character, each group in the original order. `regex` tries
    alternatives one by one, so thirty cue words cost thirty tries at every candidate position
    where this costs one or two; alternatives with different first characters never both
    match, so the same one wins as in the flat alternation."""
    groups: dict[str, list[str]] = {}
    for alternative in dict.fromkeys(alternatives):
        groups.setdefault(alternative[0], []).append(alternative[1:])
    return "(?:" + "|".join(f"{c}(?:{'|'.join(rest)})" for c, rest in groups.items()) + ")"


class CuePatternRecognizer(PatternRecognizer, PiiRecognizer):
    """presidio's PatternRecognizer under the project's contract (pipeline/pii/recognizer.py):
    cue groups, prefilters, gates and stdlib twins as described above."""

    use_prefilters = True

    def __init__(self, *args, prefilters: dict[str, Prefilter] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        prefilters = prefilters or {}
        self._scans = []
        self._twins: list[AsciiTwin | None] = []
        for pattern in self.patterns:
            compiled = re.compile(pattern.regex, flags=self.global_regex_flags)
            pf = prefilters.get(pattern.name, Prefilter())
            anchor = re.compile(pf.anchor, flags=self.global_regex_flags) if pf.anchor else None
            self._scans.append((pattern, compiled, "value" in compiled.groupindex, pf, anchor))
            twin = AsciiTwin(pattern.regex, self.global_regex_flags) if pf.ascii_twin else None
            self._twins.append(twin)
        self._any_twin = any(self._twins)
        self._metadata = self.result_metadata()
        self.gates = Gates(
            {i: (pf.gate, pf.gate_caseless) for i, (*_, pf, _) in enumerate(self._scans) if pf.gate}
        )
        self._ungated = [i for i in range(len(self._scans)) if i not in self.gates.keys]

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None, gates_open=SCAN):
        """`gates_open`: the gates found in `text` when a GateSet has scanned it already."""
        if not self.use_prefilters:
            gated = None
        else:
            gated = self.gates.open(text) if gates_open is SCAN else gates_open
            if not gated and gated is not None and not self._ungated:
                return []  # no gate found: no pattern can match (most texts, most recognizers)
        entity = self.supported_entities[0]
        results = []
        folded = None
        twins = self._twins if self.use_prefilters and self._any_twin and twin_ready(text) else None
        metadata = self._metadata
        if gated is None:
            indices: Iterable[int] = range(len(self._scans))
        else:  # the patterns whose gate was found, and those without one
            indices = sorted([*gated, *self._ungated]) if self._ungated else sorted(gated)
            if indices and indices[-1] >= TAIL_GATE_KEY:  # gates of a subclass's tail scans
                indices = [i for i in indices if i < TAIL_GATE_KEY]
        for i in indices:
            pattern, compiled, has_value, pf, anchor = self._scans[i]
            pos = 0  # no match starts before
            if gated is not None and i in gated:
                first_end = gated[i]
                if pf.reach is not None:
                    pos = max(0, first_end - pf.reach)
                elif pf.same_line:  # (a gate ending in "\n" began on the line before it)
                    pos = text.rfind("\n", 0, first_end - 1) + 1
            elif self.use_prefilters and pf.needles:
                if pf.fold and folded is None:
                    folded = text.casefold()
                haystack = folded if pf.fold else text
                if not any(n in haystack for n in pf.needles):
                    continue
            engine = (twins and twins[i]) or compiled  # both: match(text, pos), finditer(...)
            if self.use_prefilters and pf.pivot is not None:
                matches = _pivoted(engine, pf, text, pos)
            elif self.use_prefilters and anchor is not None:
                matches = _anchored(engine, anchor, text, pos)
            else:
                matches = engine.finditer(text, pos)
            for m in matches:
                start, end = m.span("value") if has_value else m.span()
                if end <= start:
                    continue
                verdict = self.validate_result(text[start:end])
                if verdict is False:
                    continue
                score = 1.0 if verdict else pattern.score
                results.append(RecognizerResult(entity, start, end, score, None, metadata.copy()))
        return results


def _anchored(compiled, anchor, text: str, pos: int = 0) -> Iterator:
    """The matches `compiled.finditer(text, pos)` gives, trying the pattern only at anchor hits."""
    resume = pos
    for hit in anchor.finditer(text, pos, overlapped=True):
        pos = hit.start()
        if pos < resume:
            continue
        m = compiled.match(text, pos)
        if m is not None:
            yield m
            resume = max(m.end(), pos + 1)


@cache
def _chars(chars: frozenset[str]) -> str:
    return "".join(sorted(chars))


def _pivoted(compiled, pf: Prefilter, text: str, pos: int = 0) -> Iterator:
    """The matches `compiled.finditer(text, pos)` gives, trying the pattern only at the starts
    a pivot allows: within `pivot_reach` before it, over `run` characters only, in order."""
    resume = pos
    run = _chars(pf.run)
    at = text.find(pf.pivot, pos)
    while at >= 0:
        lowest = max(resume, at - pf.pivot_reach)
        # The run of `run` characters that ends at the pivot (str.rstrip: no per-character loop)
        start = lowest + len(text[lowest:at].rstrip(run))
        for candidate in range(start, at + 1):
            m = compiled.match(text, candidate)
            if m is not None:
                yield m
                resume = max(m.end(), candidate + 1)
                break
        at = text.find(pf.pivot, max(at + 1, resume))


@dataclass(frozen=True)
class TailScan:
    """A value that ends where a rare cue begins, on the cue's line: "Jane Doe (born ...",
    "Springfield, IL 62704". Scanning for the value first (a name, a town) tries it at every
    capital letter; here the cue is found first (`tail`, one pass for its first character)
    and the value searched for in at most `lead` characters of the line before it (`head`,
    anchored at that end by "$"). `keep_tail`: the result runs to the cue's end. A cue and its
    gate's match lie on one line."""

    tail: object  # compiled pattern (stdlib `re` or `regex`)
    head: object  # compiled `regex` pattern with a `value` group, ending in "$"
    gate: str  # hyperscan expression found wherever `tail` matches (gates.py)
    gate_caseless: bool = False
    lead: int = 80
    keep_tail: bool = False

    def spans(self, text: str, pos: int = 0) -> Iterator[tuple[int, int]]:
        for cue in self.tail.finditer(text, pos):
            at = cue.start()
            low = max(text.rfind("\n", 0, at) + 1, at - self.lead)
            # pos/endpos: lookbehinds still see the text before `low`; "$" matches at `at`
            m = self.head.search(text, low, at)
            if m is not None:
                start, end = m.span("value")
                yield start, cue.end() if self.keep_tail else end


# Gate keys of tail scans follow the patterns' (a recognizer has fewer than this many).
TAIL_GATE_KEY = 1000


def with_tail_gates(gates: Gates, scans: Iterable[TailScan]) -> Gates:
    """The recognizer's gates and one per tail scan (keys TAIL_GATE_KEY + j)."""
    specs = dict(gates.specs)
    for j, scan in enumerate(scans):
        specs[TAIL_GATE_KEY + j] = (scan.gate, scan.gate_caseless)
    return Gates(specs)


def tail_spans(
    scans: Sequence[TailScan], text: str, gated: dict[int, int] | None
) -> Iterator[tuple[int, int]]:
    """The spans of the tail scans whose gate was found (all where the gates cannot decide).
    A cue lies on one line, as its gate's match does: scanning starts at the line where the
    gate's first match ends."""
    for j, scan in enumerate(scans):
        if gated is None:
            yield from scan.spans(text)
        elif (end := gated.get(TAIL_GATE_KEY + j)) is not None:
            yield from scan.spans(text, text.rfind("\n", 0, end - 1) + 1)


def reverse_pattern(expression: str) -> re.Pattern:
    """A TailScan head, matched from its end ("$" at the cue) backwards: one attempt where a
    forward search tried every position of the line before the cue."""
    return re.compile("(?r)" + expression)
