"""Phone numbers in US and international formats: a candidate scan, filters for the numbers
that are not phones (dates, IPs, SSN shapes, versions), and `phonenumbers` to decide; numbers
written with digits and plain separators are decided from phonenumbers' metadata directly
(pipeline/pii/phone_plan.py), others by its parse."""

from __future__ import annotations

import re as stdre
import string

import phonenumbers
import regex as re
from presidio_analyzer import RecognizerResult

from corpusforge.pipeline.pii.gates import DIGIT, SCAN, Gates
from corpusforge.pipeline.pii.phone_plan import (
    MAX_INPUT_LENGTH,
    possible_international,
    valid_national,
)
from corpusforge.pipeline.pii.recognizer import PiiRecognizer
from corpusforge.pipeline.pii.structured import _NOT_PII_BEFORE, digits_of
from corpusforge.pipeline.pii.twins import stdlib_twin, twin_ready

_DIGIT_BYTES = string.digits.encode()
# Digits and the separators phonenumbers skips without a second look.
_PLAIN_PHONE_CHARS = str.maketrans("", "", "0123456789 ().-/")

# A run of digits with phone punctuation; phonenumbers decides what is a real number.
# Only the extension words have letters: IGNORECASE there alone, not over the whole scan.
_PHONE_START = r"(?=[+(\d])(?<![\w.+/-])(?:\+|00)?\(?\d"
_PHONE_REST = r"[\d\s().\-/]{5,20}\d(?:\s*(?i:x|ext\.?|extension)\s*\d{1,5})?(?![\w/-]|\.\d)"
_PHONE_CANDIDATE = re.compile(_PHONE_START + _PHONE_REST)
# The same start for the stdlib engine, which skips ahead to the characters a match can begin
# with only where each alternative at the pattern's start begins with a literal: one per
# first character, in the order the start tries them ("00" before "0"), with the lookbehind
# after that character (one more in its width).
_FIRST_BEFORE = r"(?<![\w.+/-].)"
_ASCII_PHONE_START = (
    "(?:"
    + "|".join(
        [rf"\+{_FIRST_BEFORE}\(?\d", rf"0{_FIRST_BEFORE}0\(?\d", rf"\({_FIRST_BEFORE}\d"]
        + [digit + _FIRST_BEFORE for digit in string.digits]
    )
    + ")"
)
# Seven digits or more with phone punctuation between (the candidate's core).
_PHONE_GATE = rf"{DIGIT}[0-9\t\n\x0b\x0c\r ().\-/\x{{80}}-\x{{10ffff}}]{{5,20}}{DIGIT}"
_PHONE_NEGATIVE_BEFORE = re.compile(_NOT_PII_BEFORE[4:-1] + r"$")
# Its longest match: an eight-letter word ("firmware", "revision") and three separators, and
# "$" matches before a final newline too.
_NEGATIVE_REACH = 12
_DATE_LIKE = re.compile(
    r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})(?:\s+\d{1,2}:\d{2}.*)?$"
)


# IPv4, SSN shape, decimals, year ranges "(2015-2023", ISBN-like groups ending in a check digit.
_NOT_A_PHONE = re.compile(
    r"^(?:\d+(?:\.\d+){3,}|\d{3}-\d{2}-\d{4}|\d+\.\d+|"
    r"\(?(?:19|20)\d\d\s*[-–/]\s*(?:19|20)?\d\d\)?|(?:\d+-){3,}\d)$"
)


_NANP_SHAPE = re.compile(r"^(?:\+?1[ .-]?)?(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}$")
# A date, or one of the shapes above (one match call instead of two).
_NOT_A_PHONE_OR_DATE = re.compile(rf"(?:{_DATE_LIKE.pattern})|(?:{_NOT_A_PHONE.pattern})")


def _twin(pattern: re.Pattern) -> stdre.Pattern:
    return stdlib_twin(pattern.pattern, pattern.flags)


# The candidate scan and its filters, per engine: ASCII texts (most) run the stdlib twins, and
# so do texts whose other characters are caseless symbols (pipeline/pii/twins.py: no class
# of either engine admits them, no case folds them).
_PHONE_SCAN = (
    _PHONE_CANDIDATE.finditer,
    _NOT_A_PHONE_OR_DATE.match,
    _PHONE_NEGATIVE_BEFORE.search,
    lambda candidate: sum(map(str.isdigit, candidate)),
)
_ASCII_PHONE_SCAN = (
    stdre.compile(_ASCII_PHONE_START + _PHONE_REST, stdre.ASCII).finditer,
    _twin(_NOT_A_PHONE_OR_DATE).match,
    _twin(_PHONE_NEGATIVE_BEFORE).search,
    # Its length less that of its bytes without digits (bytes.translate: no dict look-ups).
    lambda candidate: len(candidate) - len(candidate.encode().translate(None, _DIGIT_BYTES)),
)
_ASCII_NANP_SHAPE = _twin(_NANP_SHAPE)


class PhonenumbersRecognizer(PiiRecognizer):
    """Phone numbers in US and international formats, validated by `phonenumbers`."""

    def __init__(self, regions: tuple[str, ...] = ("US", "GB", "DE", "FR", "IN")) -> None:
        self.regions = regions
        self.use_prefilters = True
        self.gates = Gates({0: (_PHONE_GATE, False)})
        super().__init__(supported_entities=["PHONE_NUMBER"], name="CorpusforgePhone")
        self._metadata = self.result_metadata()

    def analyze(
        self, text, entities, nlp_artifacts=None, gates_open=SCAN
    ) -> list[RecognizerResult]:
        results = []
        pos = 0
        if self.use_prefilters:
            gated = self.gates.open(text) if gates_open is SCAN else gates_open
            if gated is not None:
                if not gated:  # no seven digits with phone punctuation
                    return results
                # A candidate is "+"/"00", "(" and the gate's digits: 25 characters at most.
                pos = max(0, gated[0] - 25)
        if twin_ready(text):  # ASCII, or other characters only caseless symbols such as ©
            finditer, not_a_phone, negative_before, count_digits = _ASCII_PHONE_SCAN
        else:
            finditer, not_a_phone, negative_before, count_digits = _PHONE_SCAN
        for m in finditer(text, pos):
            # It begins with "+", "(" or a digit and ends with a digit.
            candidate, start = m.group(), m.start()
            if candidate[0] == "(" and ")" not in candidate:  # "(555-234-5678)": the number
                candidate, start = candidate[1:], start + 1
            digits = count_digits(candidate)
            if digits < 7 or digits > 15 or not_a_phone(candidate):
                continue
            if negative_before(text, max(0, start - _NEGATIVE_REACH), start):
                continue
            if valid_phone(candidate, self.regions) or phone_context(text, start, candidate):
                end = start + len(candidate)
                metadata = self._metadata.copy()  # each result its own, as presidio's have
                results.append(RecognizerResult("PHONE_NUMBER", start, end, 0.75, None, metadata))
        return results


# Context that makes a phone-shaped number a phone number whatever the numbering plan says
# (numbers from plans phonenumbers does not know, unassigned area codes, national formats
# without a trunk prefix). Only candidates the plan refused are tested: rare, so plain searches.
_CUE_BEFORE = stdre.compile(
    r"(?i)(?:\b(?:tel|telephone|phone|ph|mobile|mob|cell|cellphone|fax|call|called|calling|"
    r"callback|dial|dialled|dialed|ring|text|sms|whatsapp|hotline|helpline|reach|reached|"
    r"(?:my|your|his|her|our|their|phone|mobile|cell|contact|home|work|office|direct|old|new)"
    r"\s+(?:\w+\s+)?(?:number|no\.?|nr\.?|#))\b[^\w\n]{0,3}(?:[a-z]+[^\w\n]{1,3}){0,4}"
    r"|(?:^|[\s|•·(])(?:t|m|p|f|h|w|tel|ph|mob)[ \t]*[:.][ \t]*)$"
)
_CUE_AFTER = stdre.compile(
    r"[ \t]*\((?:cell|mobile|mob|home|work|office|fax|tel|landline|direct|whatsapp)\)", stdre.I
)
# A field of a contact line: "jane@example.org | 0170 1234567 | Berlin"
_FIELD_EDGE = frozenset("|•·")
_NAME_BEFORE_PAREN = stdre.compile(r"[A-Z][a-z]+\S*[ \t]\($")


def phone_context(text: str, start: int, candidate: str) -> bool:
    """A phone-shaped number in phone context: a cue before it on its line (`Tel:`, `phone`,
    `call me at`, `her number is`), a kind after it (`(cell)`), a field of a contact line
    that holds an e-mail address, or in brackets after a name ("Jane Doe (555 234 5678)").
    Negative cues (order, case, ISBN ...) were tested before this."""
    end = start + len(candidate)
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    if line_end < 0:
        line_end = len(text)
    before = text[max(line_start, start - 48) : start]
    if _CUE_BEFORE.search(before) or _CUE_AFTER.match(text, end):
        return True
    head, tail = text[line_start:start].rstrip(" \t"), text[end:line_end].lstrip(" \t")
    # a field between separators, on a line with an e-mail address
    head_edge = not head or head[-1] in _FIELD_EDGE
    if head_edge and (not tail or tail[0] in _FIELD_EDGE) and (head or tail):
        return "@" in text[line_start:line_end]
    return (
        candidate[0] != "("
        and text.startswith(")", end)
        and _NAME_BEFORE_PAREN.search(text, max(line_start, start - 40), start) is not None
    )


def valid_phone(candidate: str, regions: tuple[str, ...]) -> bool:
    """`phonenumbers` decides, with the regions a national number is tried in."""
    international = candidate.startswith(("+", "00"))
    # Digits and plain separators: phonenumbers reads the digits alone there (no extension,
    # letters or other white space), so the shortcuts below answer from them.
    plain = len(candidate) <= MAX_INPUT_LENGTH
    if international:
        if candidate[0] == "0":
            # "0044 20 7946 0958": 00 is the international call prefix of most of the world,
            # written where others write "+" (phonenumbers reads a country only after "+").
            candidate = "+" + candidate[2:]
        if plain and not candidate[1:].translate(_PLAIN_PHONE_CHARS):
            verdict = possible_international(digits_of(candidate))
            if verdict is not None:
                return verdict
        tried: tuple[str | None, ...] = (None,)
        plain = False
    else:
        digits = digits_of(candidate)
        if digits.startswith("0"):  # a national trunk prefix: Europe, India, ...
            tried = tuple(r for r in regions if r != "US")
        elif len(digits) == 10 or (len(digits) == 11 and digits.startswith("1")):
            # Written like a North American number: area and exchange codes start with 2-9.
            nanp = digits[-10:]
            shape = _ASCII_NANP_SHAPE if candidate.isascii() else _NANP_SHAPE
            if shape.match(candidate) and nanp[0] > "1" and nanp[3] > "1":
                return True
            tried = ("US",)
        else:
            return False
        plain = plain and not candidate.translate(_PLAIN_PHONE_CHARS)
    for region in tried:
        if plain:
            verdict = valid_national(digits, region)
            if verdict is not None:
                if verdict:
                    return True
                continue
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        # "+1 422 681 8981": an explicit country code makes a possible number enough. The
        # length check goes first: it is far cheaper than is_valid_number and decides most.
        if international and phonenumbers.is_possible_number(number):
            return True
        if phonenumbers.is_valid_number(number):
            return True
    return False
