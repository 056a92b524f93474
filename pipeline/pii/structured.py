"""Pattern recognizers for structured PII, each with a validator that removes look-alikes.

Candidates are found with regular expressions (the `regex` module, as presidio uses) and kept
only when they validate: a public suffix for e-mail domains, `ipaddress` for IPs, Luhn for
cards, the mod-97 checksum for IBANs, SSA rules for SSNs (phones: pipeline/pii/phones.py).
Lookbehinds drop the hard negatives a checksum cannot (versions, ISBNs, DOIs, case numbers).
"""

from __future__ import annotations

import ipaddress
import re as stdre
import string

import regex as re
from presidio_analyzer import Pattern

from corpusforge.pipeline.pii.base import CuePatternRecognizer, Prefilter
from corpusforge.pipeline.pii.gates import DIGIT
from corpusforge.pipeline.pii.offline import has_public_suffix

CASE_SENSITIVE = re.MULTILINE | re.DOTALL
# Words that make a number a version, a reference or an identifier rather than PII. Patterns
# put their one-character lookbehind first: the same assertions, and this costly one runs only
# where that one holds.
_NOT_PII_BEFORE = (
    r"(?<!(?i:\b(?:v|ver|version|release|build|firmware|fw|bios|kernel|driver|rev|revision|"
    r"isbn(?:-1[03])?|doi|issn|case|ticket|order|invoice|sku|part|model|serial|ref|no|patent|"
    r"arxiv|pmid|id)[\s.:#-]{0,3}))"
)


# Compiled once: validators run per candidate, and the regex module's cache lookup is slow.
_NON_DIGIT = re.compile(r"\D")
# ASCII text's non-digits (\D there): str.translate drops them without a regex call.
_ASCII_NON_DIGITS = dict.fromkeys(i for i in range(128) if not 48 <= i <= 57)


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
                # instead of its parse or its exception.
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
        # instead of its parse; 0.0.0.0 is unspecified.
        # 0.0.0.0/8 is "this network" (RFC 1122), never a host's address: "0.9.12.3" is a
        # version number.
        return _IPV4_ADDRESS.fullmatch(address) is not None and not address.startswith("0.")


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IPV4_ADDRESS = stdre.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")
_EIGHT_HEXTETS = stdre.compile(r"(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}")


# Each digit doubled, less 9 above 9: the digits Luhn doubles, by bytes.translate.
_LUHN_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")


def luhn_ok(digits: str) -> bool:
    if digits.isascii():
        # Every other digit from the right kept, the others doubled: byte sums less "0"s
        # (no Python loop over the digits).
        kept, doubled = digits[::-2].encode(), digits[-2::-2].encode().translate(_LUHN_DOUBLED)
        return (sum(kept) + sum(doubled) - 48 * len(digits)) % 10 == 0
    total = 0  # other decimal digits: their code points, as ever
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_brand_ok(digits: str) -> bool:
    """The number's issuer range (IIN) is one a current card network issues, at a length that
    network uses: Visa 4 (13, 16, 19 digits); Mastercard 51-55 and 2221-2720 (16); Amex 34, 37
    (15); Discover 6011, 644-649, 65, 622126-622925 (16-19); JCB 3528-3589 (16-19); UnionPay 62
    and 81 (16-19); Diners Club 300-305, 3095, 36, 38-39 (14-19); Mir 2200-2204 (16-19);
    Maestro 50, 56-69 (12-19)."""
    n = len(digits)
    if not digits.isascii():
        digits = "".join(str(int(c)) for c in digits)  # other decimal digits: their values
    two, four = int(digits[:2]), int(digits[:4])
    if two // 10 == 4:
        return n in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if four == 6011 or 644 <= four // 10 <= 649 or two == 65 or 622126 <= int(digits[:6]) <= 622925:
        return 16 <= n <= 19
    if 3528 <= four <= 3589 or two in (62, 81) or 2200 <= four <= 2204:
        return 16 <= n <= 19
    if 300 <= four // 10 <= 305 or four == 3095 or two in (36, 38, 39):
        return 14 <= n <= 19
    if two == 50 or 56 <= two <= 69:
        return 12 <= n <= 19
    return False


# The card scan runs as a stdlib twin (Prefilter.ascii_twin, pipeline/pii/twins.py), where it
# took fewer instructions; the e-mail, SSN, IP and IBAN scans took more as twins and stay with
# `regex` (docs/pii.md, "Measurements behind the code").
class LuhnCardRecognizer(CuePatternRecognizer):
    def __init__(self) -> None:
        super().__init__(
            supported_entity="CREDIT_CARD",
            name="CorpusforgeCreditCard",
            patterns=[
                Pattern(
                    "card",
                    r"(?=[2-68])(?<![\w.-])"
                    + _NOT_PII_BEFORE
                    + r"[2-68]\d{3}(?:[ -]?\d{3,4}){2,3}(?:[ -]?\d{1,4})?"
                    + r"(?![\w-]|\.\d)",
                    0.5,
                )
            ],
            global_regex_flags=CASE_SENSITIVE,
            prefilters={
                "card": Prefilter(
                    anchor=r"[2-68]\d{3}[ -]?\d{3}",
                    gate=rf"[2-68]{DIGIT}{{3}}[ -]?{DIGIT}{{3}}",
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
        return card_brand_ok(digits) and luhn_ok(digits)


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
                    # "SSN: 219099999", "ssn=219099999", "social security number, 219 09 9999",
                    # "SSN is 219-09-9999": nine digits after the label, separators optional.
                    r"(?i:\b(?:ssn|social security(?: number| no\.?)?|ss#)[\s:#=,]{1,4}"
                    r"(?:(?:is|was|of)\s+)?)(?P<value>\d{3}([- ]?)\d{2}\2\d{4})(?![\w-]|\.\d)",
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
                    gate=rf"(?:ssn|social security|ss#)[\s\S]*{DIGIT}{{3}}[- ]?{DIGIT}{{2}}[- ]?"
                    rf"{DIGIT}{{4}}",
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
# str.translate, without a regex sub or an int(c, 36) call per character.
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
