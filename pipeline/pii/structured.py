"""Pattern recognizers for structured PII, each with a validator that removes look-alikes.

Candidates are found with regular expressions (the `regex` module, as presidio uses) and kept
only when they validate: a public suffix for e-mail domains, `ipaddress` for IPs, Luhn for
cards, the mod-97 checksum for IBANs, `phonenumbers` for phones, SSA rules for SSNs.
Lookbehinds drop the hard negatives a checksum cannot (versions, ISBNs, DOIs, case numbers).
"""

from __future__ import annotations

import ipaddress
import re as stdre
import string
from functools import cache

import phonenumbers
import regex as re
from phonenumbers import phonenumberutil as pnu
from phonenumbers.phonemetadata import PhoneMetadata
from presidio_analyzer import EntityRecognizer, Pattern, RecognizerResult

from pipeline.pii.base import CuePatternRecognizer, Prefilter
from pipeline.pii.gates import DIGIT, SCAN, Gates
from pipeline.pii.offline import has_public_suffix
from pipeline.pii.twins import twin_ready

CASE_SENSITIVE = re.MULTILINE | re.DOTALL
# Words that make a number a version, a reference or an identifier rather than PII. Patterns
# put their one-character lookbehind first: the same assertions, and this costly one runs only
# where that one holds (ipv4 scan -30%, card -17%).
_NOT_PII_BEFORE = (
    r"(?<!(?i:\b(?:v|ver|version|release|build|isbn(?:-1[03])?|doi|issn|case|ticket|order|"
    r"invoice|sku|part|model|serial|ref|no|patent|arxiv|pmid|id)[\s.:#-]{0,3}))"
)


# Compiled once: validators run per candidate, and the regex module's cache lookup is slow.
_NON_DIGIT = re.compile(r"\D")
# ASCII text's non-digits (\D there): str.translate drops them ~6x faster than a regex sub.
_ASCII_NON_DIGITS = dict.fromkeys(i for i in range(128) if not 48 <= i <= 57)
_DIGIT_BYTES = string.digits.encode()


def digits_of(text: str) -> str:
    """The decimal digits of `text` (what `\\D` removes)."""
    return text.translate(_ASCII_NON_DIGITS) if text.isascii() else _NON_DIGIT.sub("", text)


_IBAN_SEPARATOR = re.compile(r"[\s-]")


_LOCAL_PART_CHARS = frozenset(string.ascii_letters + string.digits + "._%+-")


class ValidatedEmailRecognizer(CuePatternRecognizer):
    def __init__(self) -> None:
        super().__init__(
            supported_entity="EMAIL_ADDRESS",
            name="CorpusforgeEmail",
            patterns=[
                Pattern(
                    "email",
                    r"(?<![\w.+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@"
                    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])",
                    0.6,
                )
            ],
            global_regex_flags=CASE_SENSITIVE,
            prefilters={
                "email": Prefilter(
                    needles=("@",),
                    gate=r"[A-Za-z0-9._%+-]@[A-Za-z0-9]",
                    reach=66,  # a local part has at most 64 characters
                    pivot="@",
                    pivot_reach=64,
                    run=_LOCAL_PART_CHARS,
                )
            },
        )

    def validate_result(self, pattern_text: str) -> bool:
        return has_public_suffix(pattern_text.rsplit("@", 1)[1])


class ValidatedIpRecognizer(CuePatternRecognizer):
    def __init__(self) -> None:
        super().__init__(
            supported_entity="IP_ADDRESS",
            name="CorpusforgeIp",
            patterns=[
                Pattern(
                    "ipv4",
                    r"(?<![\w.-])"
                    + _NOT_PII_BEFORE
                    + r"(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?(?![\w-]|\.\d)",
                    0.6,
                ),
                Pattern(
                    "ipv6",
                    r"(?=[0-9A-Fa-f:])(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|"
                    r"(?:\d{1,3}\.){3}\d{1,3})?(?:/\d{1,3})?(?![\w:])",
                    0.6,
                ),
            ],
            global_regex_flags=CASE_SENSITIVE,
            prefilters={
                "ipv4": Prefilter(
                    needles=(".",),
                    gate=rf"{DIGIT}\.{DIGIT}{{1,3}}\.{DIGIT}{{1,3}}\.",
                    reach=12,
                ),
                "ipv6": Prefilter(needles=(":",), gate=r":[0-9A-Fa-f]{0,4}:", reach=10),
            },
        )

    def validate_result(self, pattern_text: str) -> bool:
        address = pattern_text.split("/", 1)[0]
        # ip_address() tries IPv4 first; a ":" decides the version (IPv4 has none, IPv6 needs
        # two), so the other parse, and its exception, are skipped.
        if ":" in address:
            if "::" not in address and "." not in address:
                # All IPv6Address takes then (clock times like 10:12:01 fail), one match
                # instead of its parse (~6 us) or exception (~4 us).
                return _EIGHT_HEXTETS.fullmatch(address) is not None
            # Clock times and C++ scopes (a::b) parse as IPv6; real ones have 3+ groups.
            if len([g for g in address.split(":") if g]) < 3:
                return False
            try:
                ipaddress.IPv6Address(address)
            except ValueError:
                return False
            return True
        # What IPv4Address takes (ASCII octets 0-255 without leading zeros) in one match
        # instead of its parse (~3 us); 0.0.0.0 is unspecified.
        return _IPV4_ADDRESS.fullmatch(address) is not None and address != "0.0.0.0"


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IPV4_ADDRESS = stdre.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")
_EIGHT_HEXTETS = stdre.compile(r"(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}")


# Each digit doubled, less 9 above 9: the digits Luhn doubles, by bytes.translate.
_LUHN_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")


def luhn_ok(digits: str) -> bool:
    if digits.isascii():
        # Every other digit from the right kept, the others doubled: byte sums less "0"s
        # (~4x faster than a loop over the digits).
        kept, doubled = digits[::-2].encode(), digits[-2::-2].encode().translate(_LUHN_DOUBLED)
        return (sum(kept) + sum(doubled) - 48 * len(digits)) % 10 == 0
    total = 0  # other decimal digits: their code points, as ever
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# The card scan runs as a stdlib twin (Prefilter.ascii_twin, pipeline/pii/twins.py): -4%
# instructions (callgrind, seed 0). The e-mail, SSN, IP and IBAN scans take more as twins
# (+1.6%, +0.5%, +35%, +0.4%) and stay with `regex`.
class LuhnCardRecognizer(CuePatternRecognizer):
    def __init__(self) -> None:
        super().__init__(
            supported_entity="CREDIT_CARD",
            name="CorpusforgeCreditCard",
            patterns=[
                Pattern(
                    "card",
                    r"(?=[3-6])(?<![\w.-])"
                    + _NOT_PII_BEFORE
                    + r"(?:[3-6]\d{3})(?:[ -]?\d{3,4}){2,3}(?:[ -]?\d{1,4})?"
                    + r"(?![\w-]|\.\d)",
                    0.5,
                )
            ],
            global_regex_flags=CASE_SENSITIVE,
            prefilters={
                "card": Prefilter(
                    anchor=r"[3-6]\d{3}[ -]?\d{3}",
                    gate=rf"[3-6]{DIGIT}{{3}}[ -]?{DIGIT}{{3}}",
                    reach=8,
                    ascii_twin=True,
                )
            },
        )

    def validate_result(self, pattern_text: str) -> bool:
        digits = digits_of(pattern_text)
        if not 13 <= len(digits) <= 19 or len(set(digits)) < 2:
            return False
        groups = pattern_text.replace("-", " ").split(" ")  # split at [ -], without a regex
        if len(groups) > 1 and len({len(g) for g in groups[:-1]}) > 2:
            return False
        return luhn_ok(digits)


class SsnRuleRecognizer(CuePatternRecognizer):
    def __init__(self) -> None:
        super().__init__(
            supported_entity="US_SSN",
            name="CorpusforgeSsn",
            patterns=[
                Pattern(
                    "ssn-dashed",
                    r"(?=\d)(?<![\w.-])"
                    + _NOT_PII_BEFORE
                    + r"\d{3}([- ])\d{2}\1\d{4}(?![\w-]|\.\d)",
                    0.5,
                ),
                Pattern(
                    "ssn-plain",
                    r"(?i:\b(?:ssn|social security(?: number| no\.?)?|ss#)[\s:#]{1,4})"
                    r"(?P<value>\d{9})(?!\d)",
                    0.5,
                ),
            ],
            global_regex_flags=CASE_SENSITIVE,
            prefilters={
                "ssn-dashed": Prefilter(
                    anchor=r"\d{3}[- ]\d{2}[- ]\d{4}",
                    gate=rf"{DIGIT}{{3}}[- ]{DIGIT}{{2}}[- ]{DIGIT}{{4}}",
                    reach=11,
                ),
                "ssn-plain": Prefilter(
                    needles=("ssn", "social security", "ss#"),
                    fold=True,
                    gate=rf"(?:ssn|social security|ss#)[\s\S]*{DIGIT}{{9}}",
                    gate_caseless=True,
                ),
            },
        )

    def validate_result(self, pattern_text: str) -> bool:
        digits = digits_of(pattern_text)
        area, group, serial = digits[:3], digits[3:5], digits[5:]
        if area in ("000", "666") or area.startswith("9") or group == "00" or serial == "0000":
            return False
        return len(set(digits)) > 2 and digits not in ("123456789", "987654321")


# ASCII candidates: separators dropped (\s and "-" there) and letters made numbers by
# str.translate, ~5x faster than a regex sub and int(c, 36) per character.
_ASCII_IBAN_SEPARATORS = dict.fromkeys(map(ord, "\t\n\x0b\x0c\r -"))
_BASE36 = string.digits + string.ascii_uppercase
_BASE36_VALUES = {ord(c): str(value) for value, c in enumerate(_BASE36)}
_BASE36_CHARS = frozenset(_BASE36)


def iban_ok(candidate: str) -> bool:
    if candidate.isascii():
        iban = candidate.translate(_ASCII_IBAN_SEPARATORS).upper()
    else:
        iban = _IBAN_SEPARATOR.sub("", candidate).upper()
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    if _BASE36_CHARS.issuperset(rearranged):
        number = rearranged.translate(_BASE36_VALUES)
    else:  # other digits, which int() reads too
        number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


class ChecksumIbanRecognizer(CuePatternRecognizer):
    def __init__(self) -> None:
        super().__init__(
            supported_entity="IBAN_CODE",
            name="CorpusforgeIban",
            patterns=[
                Pattern(
                    "iban",
                    r"(?<![\w])[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,4})?(?!\w)",
                    0.5,
                )
            ],
            global_regex_flags=CASE_SENSITIVE,
            prefilters={"iban": Prefilter(gate=rf"[A-Z]{{2}}{DIGIT}{{2}}", reach=4)},
        )

    def validate_result(self, pattern_text: str) -> bool:
        return iban_ok(pattern_text)


# A run of digits with phone punctuation; phonenumbers decides what is a real number.
# Only the extension words have letters: IGNORECASE there alone scans ~17% faster.
_PHONE_START = r"(?=[+(\d])(?<![\w.+/-])(?:\+|00)?\(?\d"
_PHONE_REST = r"[\d\s().\-/]{5,20}\d(?:\s*(?i:x|ext\.?|extension)\s*\d{1,5})?(?![\w/-]|\.\d)"
_PHONE_CANDIDATE = re.compile(_PHONE_START + _PHONE_REST)
# The same start for the stdlib engine, which skips ahead to the characters a match can begin
# with only where each alternative at the pattern's start begins with a literal: one per
# first character, in the order the start tries them ("00" before "0"), with the lookbehind
# after that character (one more in its width). ASCII candidate scan ~1.35x faster.
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
# Its longest match: a seven-letter word ("version", "isbn-13") and three separators, and "$"
# matches before a final newline too.
_NEGATIVE_REACH = 11
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


def ascii_twin(pattern: re.Pattern) -> stdre.Pattern:
    """The same expression for the stdlib engine, to run on ASCII text only.

    On ASCII characters, re.ASCII's classes (\\d \\s \\w \\b, case folding) are `regex`'s
    Unicode ones and both engines backtrack alike, so the matches are the same
    (tests/test_pii_structured_fast.py); the stdlib engine runs the phone scan ~1.7x faster.
    """
    if pattern.flags & ~(re.UNICODE | re.VERSION0):
        raise ValueError("global flags are not carried over; use inline ones")
    return stdre.compile(pattern.pattern, stdre.ASCII)


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
    ascii_twin(_NOT_A_PHONE_OR_DATE).match,
    ascii_twin(_PHONE_NEGATIVE_BEFORE).search,
    # Its length less that of its bytes without digits: ~3x faster than str.translate's dict.
    lambda candidate: len(candidate) - len(candidate.encode().translate(None, _DIGIT_BYTES)),
)
_ASCII_NANP_SHAPE = ascii_twin(_NANP_SHAPE)


class PhonenumbersRecognizer(EntityRecognizer):
    """Phone numbers in US and international formats, validated by `phonenumbers`."""

    def __init__(self, regions: tuple[str, ...] = ("US", "GB", "DE", "FR", "IN")) -> None:
        self.regions = regions
        self.use_prefilters = True
        self.gates = Gates({0: (_PHONE_GATE, False)})
        super().__init__(supported_entities=["PHONE_NUMBER"], name="CorpusforgePhone")
        # presidio's recognizers name themselves in each result (it logs a debug line if not)
        self._metadata = {
            RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
        }

    def load(self) -> None:
        pass

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
            # It begins with "+", "(" or a digit and ends with a digit: nothing to strip.
            candidate, start = m.group(), m.start()
            digits = count_digits(candidate)
            if digits < 7 or digits > 15 or not_a_phone(candidate):
                continue
            if negative_before(text, max(0, start - _NEGATIVE_REACH), start):
                continue
            if valid_phone(candidate, self.regions):
                end = start + len(candidate)
                metadata = self._metadata.copy()  # each result its own, as presidio's have
                results.append(RecognizerResult("PHONE_NUMBER", start, end, 0.75, None, metadata))
        return results


def valid_phone(candidate: str, regions: tuple[str, ...]) -> bool:
    """`phonenumbers` decides, with the regions a national number is tried in."""
    international = candidate.startswith(("+", "00"))
    # Digits and plain separators: phonenumbers reads the digits alone there (no extension,
    # letters or other white space), so the shortcuts below answer from them.
    plain = len(candidate) <= pnu._MAX_INPUT_STRING_LENGTH
    if international:
        if candidate[0] == "0":
            return False  # parse(candidate, None) raises: only a "+" names the country there
        if plain and not candidate[1:].translate(_PLAIN_PHONE_CHARS):
            return possible_international(digits_of(candidate))
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
        # length check goes first: it costs a tenth of is_valid_number and decides most.
        if international and phonenumbers.is_possible_number(number):
            return True
        if phonenumbers.is_valid_number(number):
            return True
    return False


# The shortcuts answer what phonenumbers.parse and is_possible_number / is_valid_number answer
# for numbers of digits only, with phonenumbers' own metadata and steps, without its generic
# parse (RFC 3966, extensions, letters, viability): "+CC" numbers ~2 us instead of ~27 us,
# national ones ~15 us instead of ~35 us a region (tests/test_pii_phone_fast.py).
_PLAIN_PHONE_CHARS = str.maketrans("", "", "0123456789 ().-/")
_KEEPS_STRIPPED = (pnu.ValidationResult.IS_POSSIBLE, pnu.ValidationResult.TOO_LONG)
_POSSIBLE = (pnu.ValidationResult.IS_POSSIBLE, pnu.ValidationResult.IS_POSSIBLE_LOCAL_ONLY)
_NSN_LENGTHS = range(pnu._MIN_LENGTH_FOR_NSN, pnu._MAX_LENGTH_FOR_NSN + 1)


@cache
def _numbering_plan(code: int, region: str) -> tuple:
    """The metadata phonenumbers uses for a country calling code and region, its length
    verdicts for national numbers of 0-17 digits (longer ones are TOO_LONG everywhere), and its
    national prefix's match (None without one)."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    by_length = tuple(
        pnu._test_number_length("0" * n, metadata) for n in range(_NSN_LENGTHS[-1] + 1)
    )
    prefix = metadata.national_prefix_for_parsing
    return metadata, by_length, pnu.re_compile(prefix).match if prefix else None


def _significant_number(national: str, plan: tuple) -> str | None:
    """The national significant number parse makes of a national number's digits (None where
    it raises): without the national prefix where the rest has a possible length."""
    metadata, by_length, prefix_match = plan
    if len(national) < pnu._MIN_LENGTH_FOR_NSN:
        return None
    if prefix_match is not None and prefix_match(national):
        _, stripped, _ = pnu._maybe_strip_national_prefix_carrier_code(national, metadata)
        if len(stripped) >= len(by_length) or by_length[len(stripped)] in _KEEPS_STRIPPED:
            national = stripped
    return national if len(national) in _NSN_LENGTHS else None


def possible_international(digits: str) -> bool:
    """What is_possible_number(phonenumbers.parse("+" + digits)) says, False where parse
    raises."""
    if len(digits) <= pnu._MIN_LENGTH_FOR_NSN or digits[0] == "0":
        return False  # too short after the "+"; no calling code starts with 0
    for size in range(1, pnu._MAX_LENGTH_COUNTRY_CODE + 1):
        code = int(digits[:size])
        if code in pnu.COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return False
    plan = _numbering_plan(code, pnu.region_code_for_country_code(code))
    nsn = _significant_number(digits[size:], plan)
    return nsn is not None and plan[1][len(nsn)] in _POSSIBLE


@cache
def _national_plan(region: str) -> tuple | None:
    """For a region parse accepts: its calling code (as text too), its international prefix's
    match and its numbering plan."""
    if region not in pnu.SUPPORTED_REGIONS:
        return None
    metadata = PhoneMetadata.metadata_for_region(region)
    code = metadata.country_code
    idd = metadata.international_prefix
    idd_match = pnu.re_compile(idd).match if idd else None
    return code, str(code), idd_match, _numbering_plan(code, region)


def valid_national(digits: str, region: str) -> bool | None:
    """What is_valid_number(phonenumbers.parse(number, region)) says for a number written as
    `digits` with plain separators, False where parse raises; None where phonenumbers has to
    decide: an unknown region, too few digits, digits that start like an international prefix."""
    plan = _national_plan(region)
    if plan is None or len(digits) < 3:
        return None
    code, code_text, idd_match, numbering_plan = plan
    if idd_match is not None and idd_match(digits):
        return None
    national = digits
    if digits.startswith(code_text):  # perhaps the calling code written without a "+"
        national, numbering_plan = _without_calling_code(digits, code, numbering_plan)
    nsn = _significant_number(national, numbering_plan)
    return nsn is not None and _valid_number(code, nsn)


def _without_calling_code(digits: str, code: int, plan: tuple) -> tuple[str, tuple]:
    """parse's reading of national digits that begin with the region's calling code: without
    it (and a national prefix after it) where only then they fit the region's pattern, or
    where they are too long with it; the numbering plan of the code's main region then."""
    metadata, by_length, _ = plan
    rest = digits[len(str(code)) :]
    _, rest, _ = pnu._maybe_strip_national_prefix_carrier_code(rest, metadata)
    general = metadata.general_desc
    too_long = len(digits) >= len(by_length) or by_length[len(digits)] is _TOO_LONG
    if too_long or (
        not pnu._match_national_number(digits, general, False)
        and pnu._match_national_number(rest, general, False)
    ):
        return rest, _numbering_plan(code, pnu.region_code_for_country_code(code))
    return digits, plan


_TOO_LONG = pnu.ValidationResult.TOO_LONG
_UNKNOWN_TYPE = pnu.PhoneNumberType.UNKNOWN


@cache
def _region_matchers(code: int) -> tuple[bool, tuple]:
    """How is_valid_number finds the region of a number of this calling code: the only one,
    or the first whose leading digits match the number (or, without those, whose patterns
    do); with each region's metadata and its leading digits' match (None without)."""
    regions = pnu.COUNTRY_CODE_TO_REGION_CODE[code]
    matchers = []
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is not None:
            leading = metadata.leading_digits
            matchers.append((metadata, pnu.re_compile(leading).match if leading else None))
    return len(regions) == 1, tuple(matchers)


def _valid_number(code: int, nsn: str) -> bool:
    """is_valid_number for a geographic calling code and a national significant number, with
    the region matchers compiled once (~8 us instead of ~60 us for the 25 regions of +1)."""
    only, matchers = _region_matchers(code)
    if only:
        return bool(matchers) and pnu._number_type_helper(nsn, matchers[0][0]) != _UNKNOWN_TYPE
    for metadata, leading_match in matchers:
        if leading_match is not None:
            if leading_match(nsn):
                return pnu._number_type_helper(nsn, metadata) != _UNKNOWN_TYPE
        elif pnu._number_type_helper(nsn, metadata) != _UNKNOWN_TYPE:
            return True
    return False


def structured_recognizers() -> list[EntityRecognizer]:
    return [
        ValidatedEmailRecognizer(),
        ValidatedIpRecognizer(),
        LuhnCardRecognizer(),
        SsnRuleRecognizer(),
        ChecksumIbanRecognizer(),
        PhonenumbersRecognizer(),
    ]
