"""phonenumbers' verdicts for numbers of digits and plain separators, from its metadata.

What phonenumbers.parse and is_possible_number / is_valid_number answer, with phonenumbers'
own metadata and steps but without its generic parse (RFC 3966, extensions, letters,
viability), which costs several times more per number (docs/pii.md, phones). The steps call
phonenumbers' internal helpers, so they run only on the releases they were checked against
(`SHORTCUTS`: `CHECKED_RELEASES` and every helper present); elsewhere every function here
answers None, "phonenumbers has to decide", and the caller asks its public API (parse,
is_possible_number, is_valid_number): the same decisions (tests/test_pii_phone_fast.py checks
both paths against the public API).
"""

from __future__ import annotations

import re
from functools import cache

import phonenumbers
from phonenumbers import phonenumberutil as pnu
from phonenumbers.phonemetadata import PhoneMetadata

# phonenumbers releases whose internals the shortcuts were checked against, [from, to):
# tests/test_pii_phone_fast.py passed on 8.13.0, 8.13.55, 9.0.0 and 9.0.43 (docs/pii.md).
CHECKED_RELEASES = ((8, 13), (10,))
_INTERNALS = (
    "_MIN_LENGTH_FOR_NSN",
    "_MAX_LENGTH_FOR_NSN",
    "_MAX_LENGTH_COUNTRY_CODE",
    "_MAX_INPUT_STRING_LENGTH",
    "_test_number_length",
    "_maybe_strip_national_prefix_carrier_code",
    "_match_national_number",
    "_number_type_helper",
)


def release(version: str) -> tuple[int, ...]:
    """'9.0.43' -> (9, 0, 43); the numeric parts up to the first that is not a number."""
    parts = []
    for part in version.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def shortcuts_supported(version: str = phonenumbers.__version__) -> bool:
    low, high = CHECKED_RELEASES
    return low <= release(version) < high and all(hasattr(pnu, name) for name in _INTERNALS)


# Read at every call, so a test can switch the shortcuts off.
SHORTCUTS = shortcuts_supported()
# parse refuses longer input (its own limit where it has one).
MAX_INPUT_LENGTH = getattr(pnu, "_MAX_INPUT_STRING_LENGTH", 250)
# phonenumbers' cached re.compile where it has one (9.0.x), else re.compile: the same patterns.
_compile = getattr(pnu, "re_compile", re.compile)
_KEEPS_STRIPPED = (pnu.ValidationResult.IS_POSSIBLE, pnu.ValidationResult.TOO_LONG)
_POSSIBLE = (pnu.ValidationResult.IS_POSSIBLE, pnu.ValidationResult.IS_POSSIBLE_LOCAL_ONLY)


@cache
def _nsn_lengths() -> range:
    return range(pnu._MIN_LENGTH_FOR_NSN, pnu._MAX_LENGTH_FOR_NSN + 1)


@cache
def _numbering_plan(code: int, region: str) -> tuple:
    """The metadata phonenumbers uses for a country calling code and region, its length
    verdicts for national numbers of 0-17 digits (longer ones are TOO_LONG everywhere), and its
    national prefix's match (None without one)."""
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    by_length = tuple(
        pnu._test_number_length("0" * n, metadata) for n in range(_nsn_lengths()[-1] + 1)
    )
    prefix = metadata.national_prefix_for_parsing
    return metadata, by_length, _compile(prefix).match if prefix else None


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
    return national if len(national) in _nsn_lengths() else None


def possible_international(digits: str) -> bool | None:
    """What is_possible_number(phonenumbers.parse("+" + digits)) says, False where parse
    raises; None without the shortcuts."""
    if not SHORTCUTS:
        return None
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
    idd_match = _compile(idd).match if idd else None
    return code, str(code), idd_match, _numbering_plan(code, region)


def valid_national(digits: str, region: str) -> bool | None:
    """What is_valid_number(phonenumbers.parse(number, region)) says for a number written as
    `digits` with plain separators, False where parse raises; None where phonenumbers has to
    decide: an unknown region, too few digits, digits that start like an international prefix,
    or no shortcuts."""
    if not SHORTCUTS:
        return None
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
            matchers.append((metadata, _compile(leading).match if leading else None))
    return len(regions) == 1, tuple(matchers)


def _valid_number(code: int, nsn: str) -> bool:
    """is_valid_number for a geographic calling code and a national significant number, with
    the region matchers compiled once (is_valid_number compiles them for each number, for each
    of the 25 regions of +1)."""
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
