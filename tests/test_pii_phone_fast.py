"""The phone validator's shortcut for "+CC ..." numbers answers what phonenumbers' parse and
is_possible_number answer, for every country calling code, length and separator."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import phonenumberutil as pnu
from phonenumbers.phonemetadata import PhoneMetadata

from corpusforge.pipeline.pii import phone_plan as plan
from corpusforge.pipeline.pii import phones as P
from corpusforge.pipeline.pii import structured as S

REGIONS = ("US", "GB", "DE", "FR", "IN")
# Tests of the shortcuts themselves; valid_phone's tests run on either path.
shortcuts = pytest.mark.skipif(
    not plan.SHORTCUTS, reason=f"no shortcuts on phonenumbers {phonenumbers.__version__}"
)
CODES = sorted(pnu.COUNTRY_CODE_TO_REGION_CODE)
UNKNOWN_CODES = [c for c in range(1, 1000) if c not in pnu.COUNTRY_CODE_TO_REGION_CODE]


def _reference_valid_phone(candidate: str, regions: tuple[str, ...]) -> bool:
    """valid_phone as it was before the shortcut: phonenumbers parses every candidate."""
    international = candidate.startswith(("+", "00"))
    digits = S.digits_of(candidate)
    if candidate.startswith("00"):  # the international call prefix, read as "+"
        candidate = "+" + candidate[2:]
    if international:
        tried: tuple[str | None, ...] = (None,)
    elif digits.startswith("0"):
        tried = tuple(r for r in regions if r != "US")
    elif len(digits) == 10 or (len(digits) == 11 and digits.startswith("1")):
        nanp = digits[-10:]
        if P._NANP_SHAPE.match(candidate) and nanp[0] > "1" and nanp[3] > "1":
            return True
        tried = ("US",)
    else:
        return False
    for region in tried:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if international and phonenumbers.is_possible_number(number):
            return True
        if phonenumbers.is_valid_number(number):
            return True
    return False


def _metadata(code: int):
    return PhoneMetadata.metadata_for_region_or_calling_code(
        code, pnu.region_code_for_country_code(code)
    )


def _national_numbers(code: int, rng: random.Random) -> list[str]:
    """Random national numbers of every length, some after a "0" or the code's own national
    prefix, and the code's example numbers with and without that prefix."""

    def digits(n: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(n))

    metadata = _metadata(code) if code in pnu.COUNTRY_CODE_TO_REGION_CODE else None
    prefix = (metadata.national_prefix if metadata else None) or "0"
    numbers = []
    for length in range(0, 17 - len(str(code))):
        numbers += [digits(length), "0" + digits(length), prefix + digits(length)]
    for region in pnu.COUNTRY_CODE_TO_REGION_CODE.get(code, ()):
        for kind in (
            phonenumbers.PhoneNumberType.FIXED_LINE,
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.TOLL_FREE,
        ):
            if region == "001":
                example = phonenumbers.example_number_for_non_geo_entity(code)
            else:
                example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                nsn = pnu.national_significant_number(example)
                numbers += [nsn, prefix + nsn, nsn[:-1], nsn + digits(1), "0" + nsn]
    return numbers


def _written(code: int, national: str, rng: random.Random) -> list[str]:
    """Four of the ways a candidate can write the number: plain separators (the shortcut),
    the "00" prefix, "(0)", extensions, letters and other white space (phonenumbers)."""
    cut = rng.randrange(len(national) + 1)
    head, tail = national[:cut], national[cut:]
    sep = rng.choice([" ", "-", ".", "/", "", "  "])
    ways = [
        f"+{code} {head}{sep}{tail}",
        f"+{code}-{head}-{tail}",
        f"+({code}) {head} {tail}",
        f"+{code} ({head}) {tail}",
        f"+{code}.{head}.{tail}",
        f"+{code} (0){national}",
        f"+{code} (0) {head}/{tail}",
        f"00{code} {national}",
        f"00 {code} {head} {tail}",
        f"+{code} {national} x{rng.randint(1, 99999)}",
        f"+{code} {national} ext. {rng.randint(1, 999)}",
        f"+{code}\t{head}{sep}{tail}",
        f"+{code} {head}\n{tail}",
        f"+{code} {head}\u00a0{tail}",
        f"+{code} {head}٣{tail}",
    ]
    return [f"+{code}{national}", *rng.sample(ways, 3)]


@pytest.fixture(scope="module")
def candidates() -> list[str]:
    rng = random.Random(7)
    codes = CODES + rng.sample(UNKNOWN_CODES, 40)
    return [
        written
        for code in codes
        for national in _national_numbers(code, rng)
        for written in _written(code, national, rng)
    ]


def _reference_possible(number: str) -> bool:
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


def test_shortcut_equals_phonenumbers_on_generated_numbers(candidates):
    shortcut = 0
    verdicts = []
    for candidate in candidates:
        want = _reference_valid_phone(candidate, REGIONS)
        assert P.valid_phone(candidate, REGIONS) == want, repr(candidate)
        verdicts.append(want)
        shortcut += candidate[0] == "+" and not candidate[1:].translate(P._PLAIN_PHONE_CHARS)
    assert len(candidates) > 50_000
    assert shortcut > 25_000
    assert 5_000 < sum(verdicts) < len(verdicts) - 5_000


@shortcuts
def test_possible_international_equals_phonenumbers_on_digits(candidates):
    """Digits alone, including those no candidate has (fewer than 7, more than 15)."""
    numbers = {S.digits_of(c) for c in candidates if c[0] == "+"}
    some = sorted(numbers)[::20]
    numbers |= {n[:k] for n in some for k in range(0, 8)}
    numbers |= {n + "0" * k for n in some for k in range(1, 12, 2)}
    stripped = 0
    for digits in numbers:
        assert plan.possible_international(digits) == _reference_possible("+" + digits), digits
        code = next((c for c in range(1, 4) if int(digits[:c] or 0) in CODES), None)
        if code and len(digits) > 2 and digits[0] != "0":
            metadata = _metadata(int(digits[:code]))
            national = digits[code:]
            stripped += pnu._maybe_strip_national_prefix_carrier_code(national, metadata)[2]
    assert stripped > 1000  # the national-prefix branch is exercised


@shortcuts
def test_national_numbers_over_17_digits_are_too_long():
    """The shortcut's length table stops at 17 digits: longer is TOO_LONG for every code."""
    for code in CODES:
        metadata = _metadata(code)
        assert metadata is not None, code
        for length in range(18, 60):
            verdict = pnu._test_number_length("0" * length, metadata)
            assert verdict == pnu.ValidationResult.TOO_LONG, (code, length)


def test_benchmark_candidates_keep_their_verdicts(pii_benchmark_texts):
    scan, not_a_phone, _, count_digits = P._PHONE_SCAN
    checked = 0
    for seed in range(3):
        for text in pii_benchmark_texts(700, seed):
            for m in scan(text):
                candidate = m.group()
                if 7 <= count_digits(candidate) <= 15 and not not_a_phone(candidate):
                    want = _reference_valid_phone(candidate, REGIONS)
                    assert P.valid_phone(candidate, REGIONS) == want, repr(candidate)
                    checked += 1
    assert checked > 1500


def _reference_valid_national(candidate: str, region: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(candidate, region))
    except phonenumbers.NumberParseException:
        return False


def _region_numbers(region: str, rng: random.Random) -> list[str]:
    """Digits of every length after the prefixes parse treats apart (none, "0", the national
    and international prefixes, the calling code) and the region's example numbers."""

    def digits(n: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(n))

    metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
    prefixes = ["", "0", "1", "00"]
    if metadata is not None:
        prefixes += [metadata.national_prefix or "", str(metadata.country_code)]
        prefixes += [metadata.preferred_international_prefix or "011"]
    numbers = [p + digits(n) for p in prefixes for n in range(0, 16)]
    for kind in (
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
    ):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is not None:
            nsn = pnu.national_significant_number(example)
            prefix = metadata.national_prefix or ""
            numbers += [nsn, prefix + nsn, nsn[:-1], nsn + digits(1), prefix + nsn[1:]]
    return numbers


def _written_nationally(number: str, rng: random.Random) -> list[str]:
    cut = rng.randrange(len(number) + 1)
    head, tail = number[:cut], number[cut:]
    ways = [
        f"{head} {tail}",
        f"({head}) {tail}",
        f"{head}-{tail}",
        f"{head}.{tail}/{rng.randint(0, 9)}",
        f"{head}\t{tail}",
        f"{number} x{rng.randint(1, 999)}",
        f"{head}\u00a0{tail}",
    ]
    return [number, *rng.sample(ways, 2)]


@shortcuts
def test_national_shortcut_equals_phonenumbers_in_every_region():
    rng = random.Random(13)
    regions = sorted(pnu.SUPPORTED_REGIONS) + ["XX", "gb", "001"]
    decided = checked = valid = 0
    for region in regions:
        for number in _region_numbers(region, rng):
            for candidate in _written_nationally(number, rng):
                if candidate.translate(P._PLAIN_PHONE_CHARS):
                    continue  # not plain: valid_phone asks phonenumbers
                verdict = plan.valid_national(S.digits_of(candidate), region)
                checked += 1
                if verdict is None:
                    continue
                want = _reference_valid_national(candidate, region)
                assert verdict == want, (candidate, region)
                decided += 1
                valid += want
    assert checked > 50_000
    assert decided > 0.6 * checked
    assert 1000 < valid < decided - 1000


def test_national_shortcut_keeps_valid_phone_verdicts():
    rng = random.Random(17)
    candidates = [
        candidate
        for region in REGIONS
        for _ in range(3)
        for number in _region_numbers(region, rng)
        for candidate in _written_nationally(number, rng)
    ]
    for candidate in candidates:
        if candidate[:1].isdigit() or candidate[:1] == "(":
            want = _reference_valid_phone(candidate, REGIONS)
            assert P.valid_phone(candidate, REGIONS) == want, repr(candidate)
    assert len(candidates) > 3000


@shortcuts
def test_region_matchers_equal_is_valid_number():
    """_valid_number finds the region as is_valid_number does: example numbers of every region
    (leading digits of shared codes such as +1 and +44), changed and random ones."""
    rng = random.Random(19)
    checked = valid = 0
    for region in sorted(pnu.SUPPORTED_REGIONS):
        code = PhoneMetadata.metadata_for_region(region).country_code
        # what the shortcut takes for granted about the regions sharing a code
        for shared in pnu.COUNTRY_CODE_TO_REGION_CODE[code]:
            assert shared != pnu.REGION_CODE_FOR_NON_GEO_ENTITY
            assert pnu.country_code_for_valid_region(shared) == code
        nsns = ["".join(rng.choice("0123456789") for _ in range(n)) for n in range(2, 18)]
        for kind in phonenumbers.PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                nsn = pnu.national_significant_number(example)
                nsns += [
                    nsn,
                    nsn[:-1] + str(rng.randint(0, 9)),
                    nsn[:3] + nsn[:0:-1][: len(nsn) - 3],
                ]
        for nsn in nsns:
            number = phonenumbers.PhoneNumber(country_code=code, national_number=int(nsn))
            pnu._set_italian_leading_zeros_for_phone_number(nsn, number)
            want = phonenumbers.is_valid_number(number)
            assert plan._valid_number(code, nsn) == want, (region, nsn)
            checked += 1
            valid += want
    assert checked > 5000 and valid > 1000


def test_phone_validation_equals_the_reference_on_text_candidates(pii_benchmark_texts):
    texts = pii_benchmark_texts(200, 3)
    rng = random.Random(7)
    candidates = [m.group().strip() for t in texts for m in P._PHONE_CANDIDATE.finditer(t)]
    for _ in range(3000):  # numbers of every length, with and without country codes
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(6, 16)))
        prefix = rng.choice(["", "+", "00", "+1 ", "+44 ", "+49 ", "0", "(0"])
        candidates.append(prefix + digits)
    regions = ("US", "GB", "DE", "FR", "IN")
    verdicts = [P.valid_phone(c, regions) for c in candidates]
    assert verdicts == [_reference_valid_phone(c, regions) for c in candidates]
    assert 100 < sum(verdicts) < len(verdicts) - 100  # both answers are exercised


def test_shortcuts_run_only_on_checked_releases(monkeypatch):
    assert plan.shortcuts_supported("9.0.43") and plan.shortcuts_supported("8.13.0")
    assert not plan.shortcuts_supported("8.12.57")
    assert not plan.shortcuts_supported("10.0.0")
    assert not plan.shortcuts_supported("not a version")
    monkeypatch.delattr(pnu, "_number_type_helper")  # an internal renamed in some release
    assert not plan.shortcuts_supported("9.0.43")


@shortcuts
def test_public_api_fallback_gives_the_same_decisions(candidates, monkeypatch):
    """With the shortcuts off (a phonenumbers release they were not checked on), valid_phone
    asks phonenumbers' public API for every number: the same decisions, international and
    national numbers of every region."""
    rng = random.Random(23)
    national = [
        candidate
        for region in REGIONS
        for number in _region_numbers(region, rng)
        for candidate in _written_nationally(number, rng)
    ]
    numbers = candidates[::5] + national
    assert plan.SHORTCUTS
    with_shortcuts = [P.valid_phone(c, REGIONS) for c in numbers]
    monkeypatch.setattr(plan, "SHORTCUTS", False)
    assert plan.possible_international("442079460958") is None
    assert plan.valid_national("2079460958", "GB") is None
    assert [P.valid_phone(c, REGIONS) for c in numbers] == with_shortcuts
    assert len(numbers) > 10_000
    assert 1000 < sum(with_shortcuts) < len(numbers) - 1000
