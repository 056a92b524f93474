"""The structured recognizers' fast paths give what the plain ones gave: the stdlib twins of
the phone expressions on ASCII text, digits by str.translate, the IP check by version, the
cached public-suffix check."""

from __future__ import annotations

import ipaddress
import random

import pytest
import regex

from corpusforge.pipeline.pii import phones as P
from corpusforge.pipeline.pii import structured as S
from corpusforge.pipeline.pii.offline import has_public_suffix, offline_tldextract
from corpusforge.pipeline.pii.twins import stdlib_twin, twin_ready

# Digits and phone punctuation, every ASCII white-space and separator control character (the
# stdlib's Unicode \s has \x1c-\x1f, `regex`'s has not), the extension and negative words.
_PIECES = [
    *"0123456789" * 6,
    *" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f",
    *"()+-./:#_%,;",
    *"aXxkKsS",
    "ext",
    "EXT.",
    "Extension",
    "ver ",
    "ISBN-13: ",
    "no.",
    "id#",
    "v",
    "00",
    "+1 ",
    "+44 20 ",
    "2023-",
    "(2015",
    "555-234-5678",
    "219-09-9999",
    "10.0.0.1",
    "12:30",
    "4111 1111 ",
    "5500-0000-",
    "1111",
    "192.168.",
    "Ver:",
    "isbn-10 ",
    "release 3",
    "version",
    "VERSION.-:",
    "Invoice#",
    "patent ",
]


def _fuzz(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(_PIECES) for _ in range(rng.randint(3, 40))) for _ in range(n)]


@pytest.fixture(scope="module")
def ascii_texts(pii_benchmark_texts) -> list[str]:
    texts = [t for t in pii_benchmark_texts(300, 5) if t.isascii()] + _fuzz(4000, seed=11)
    assert all(t.isascii() for t in texts)
    return texts


@pytest.mark.parametrize("cls", [r"\d", r"\D", r"\s", r"\w", r"[\d\s().\-/]", r"[\w.+/-]", "."])
def test_ascii_classes_of_both_engines_agree(cls):
    for flags in (0, regex.IGNORECASE):
        unicode = regex.compile(cls, flags)
        twin = S.stdre.compile(cls, S.stdre.ASCII | (S.stdre.IGNORECASE if flags else 0))
        for code in range(128):
            assert bool(unicode.match(chr(code))) == bool(twin.match(chr(code))), (cls, code)


def test_stdlib_twin_carries_flags_and_refuses_what_needs_a_guard():
    twin = stdlib_twin(r"\p{Lu}x", regex.IGNORECASE)
    assert twin.match("ax") and twin.match("AX") and not twin.match("1x")
    with pytest.raises(ValueError):  # a variable-length lookbehind stays with `regex`
        stdlib_twin(r"(?<!(?:ver|v)\s{0,3})\d+")


# Caseless symbols, with which a text still runs the twins (pipeline/pii/twins.py).
_SYMBOLS = ["©", "—", "’", "“", "€", "…", "•", "–"]


def _with_symbols(texts: list[str], seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for text in texts:
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(text) + 1)
            text = text[:at] + rng.choice(_SYMBOLS) + text[at:]
        out.append(text)
    return out


@pytest.mark.parametrize("symbols", [False, True], ids=["ascii", "with-symbols"])
def test_phone_scan_twins_equal_the_regex_scan(ascii_texts, symbols):
    scan, filt, before, count = P._PHONE_SCAN
    twin_scan, twin_filt, twin_before, twin_count = P._ASCII_PHONE_SCAN
    rng = random.Random(3)
    candidates = 0
    texts = _with_symbols(ascii_texts, seed=4) if symbols else ascii_texts
    assert all(map(twin_ready, texts))
    for text in texts:
        for pos in (0, rng.randrange(len(text) + 1)):
            want = [m.span() for m in scan(text, pos)]
            assert [m.span() for m in twin_scan(text, pos)] == want, repr(text)
            for start, end in want:
                candidate = text[start:end]
                assert candidate == candidate.strip()  # analyze() no longer strips
                assert bool(twin_filt(candidate)) == bool(filt(candidate)), repr(candidate)
                assert twin_count(candidate) == count(candidate)
                window = (max(0, start - P._NEGATIVE_REACH), start)
                assert bool(twin_before(text, *window)) == bool(before(text, *window))
                candidates += 1
        for start in range(0, len(text), 3):  # negative words at any window edge
            wide = bool(before(text, max(0, start - 16), start))  # the window it had before
            window = (max(0, start - P._NEGATIVE_REACH), start)
            assert bool(before(text, *window)) == wide, repr(text)
            assert bool(twin_before(text, *window)) == wide, repr(text)
    assert candidates > 2000


def test_phone_scan_twin_on_runs_at_the_length_limits():
    """Starts the twin spells out ("+", "00", "(", a digit after any character) before runs of
    digits and separators around the candidate's length limits, where "00" and "0" differ."""
    rng = random.Random(23)
    scan, twin = P._PHONE_SCAN[0], P._ASCII_PHONE_SCAN[0]
    found = 0
    for _ in range(20000):
        before = rng.choice(["", " ", "a", ".", "+", "/", "-", "(", "x", "0", "tel: ", "\n", "©"])
        start = rng.choice(["", "+", "00", "0", "(", "+(", "00(", "(0", "+0"])
        run = "".join(rng.choice("0123456789 ().-/") for _ in range(rng.randint(3, 26)))
        after = rng.choice(["", " ", "a", ".5", ". ", "-", " x12", " ext. 3", "/", "\n", "—"])
        text = before + start + rng.choice("0123456789") + run + after
        want = [m.span() for m in scan(text)]
        assert [m.span() for m in twin(text)] == want, repr(text)
        found += len(want)
    assert found > 10000


def test_negative_words_reach_no_further_than_the_window(ascii_texts):
    """The phone check looks _NEGATIVE_REACH characters back, not 16: no match is longer,
    in Unicode text too (non-ASCII separators, letters IGNORECASE folds to ASCII)."""
    before = P._PHONE_SCAN[2]
    unicode = [t.replace(" ", "\u00a0").replace("s", "\u017f") for t in ascii_texts[-1500:]]
    hits = 0
    for text in ascii_texts + unicode:
        for start in range(len(text) + 1):
            wide = bool(before(text, max(0, start - 16), start))
            assert bool(before(text, max(0, start - P._NEGATIVE_REACH), start)) == wide
            hits += wide
    assert hits > 1000


def test_one_filter_equals_the_date_and_shape_filters(ascii_texts):
    words = {t for text in ascii_texts for t in regex.split(r"[^\d().\-/ –:]+", text)}
    words |= {"2023-01-02 10:30 UTC", "(2015 – 2023)", "1.2.3.4.5", "12.5", "1-2-3-4"}
    for word in words:
        want = bool(P._DATE_LIKE.match(word) or P._NOT_A_PHONE.match(word))
        assert bool(P._NOT_A_PHONE_OR_DATE.match(word)) == want, repr(word)


def test_digits_of_equals_the_regex_sub(ascii_texts):
    texts = ascii_texts[:500] + ["٢١٩-٠٩-٩٩٩٩", "４１１１ １１１１", "x²³ 12", "\x7f9\x00"]
    for text in texts:
        assert S.digits_of(text) == S._NON_DIGIT.sub("", text)


def _ip_reference(pattern_text: str) -> bool:
    """The IP check as written first: ipaddress.ip_address decides the version."""
    address = pattern_text.split("/", 1)[0]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6:
        return len([g for g in address.split(":") if g]) >= 3
    return ip not in ipaddress.ip_network("0.0.0.0/8")  # "this network": versions, not hosts


def test_ip_check_equals_ip_address():
    rng = random.Random(5)
    values = [
        "0.0.0.0", "10.0.0.1", "256.1.1.1", "01.2.3.4", "1.2.3.4/24", "10:12:01", "a::b",
        "::1", "::", "fe80::1ff:fe23:4567:890a", "2001:db8::8a2e:370:7334/64", "::ffff:1.2.3.4",
        "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "١٠.٠.٠.١", "1.2.3", "", "10:12:01:33",
        "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:1.2.3.4", ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7:",
        "a:b:c:d:e:f:0:1/64", "1:2:3:4:5:6:7:8.1", "1:2:3:4:5:6:7:8:",
    ]  # fmt: skip
    for _ in range(5000):
        values.append(
            "".join(rng.choice("0123456789abcdefABCDEF:./") for _ in range(rng.randint(1, 30)))
        )
        values.append(".".join(str(rng.randint(0, 300)) for _ in range(4)))
        values.append(".".join(f"{rng.randint(0, 300):0{rng.randint(1, 4)}d}" for _ in range(4)))
        groups = [
            rng.choice(["", "0", "1f", "abcd", "12345", "g1"]) for _ in range(rng.randint(2, 10))
        ]
        values.append(":".join(groups) + rng.choice(["", ":1.2.3.4", ".5", "/64"]))
    rec = S.ValidatedIpRecognizer()
    verdicts = [rec.validate_result(v) for v in values]
    assert verdicts == [_ip_reference(v) for v in values]
    assert 100 < sum(verdicts) < len(values) - 100


def test_cached_public_suffix_check_equals_tldextract():
    domains = ["gmail.com", "mail.co.uk", "co.uk", "uni.edu", "db.internal", "x.invalid"]
    domains += ["example.org", "localhost", "a.b.c.example.com", "xn--bcher-kva.de", "com"]
    for domain in domains * 2:
        parts = offline_tldextract()(domain)
        assert has_public_suffix(domain) == (bool(parts.suffix) and bool(parts.domain))


@pytest.mark.parametrize(
    ("recognizer", "name"),
    [
        (S.ValidatedIpRecognizer, "ipv4"),
        (S.LuhnCardRecognizer, "card"),
        (S.SsnRuleRecognizer, "ssn-dashed"),
    ],
)
def test_cheap_lookbehind_first_finds_the_same_matches(recognizer, name, ascii_texts):
    """The one-character lookbehind moved before the negative words: same matches."""
    pattern = next(p for p in recognizer().patterns if p.name == name).regex
    cheap = r"(?<![\w.-])"
    assert cheap + S._NOT_PII_BEFORE in pattern
    before = regex.compile(pattern.replace(cheap + S._NOT_PII_BEFORE, S._NOT_PII_BEFORE + cheap))
    after = regex.compile(pattern)
    words = ["v", "Ver", "version", "ISBN-13", "isbn-12", "doi", "no", "ID", "xid", "k"]
    values = ["10.0.0.1", "4111 1111 1111 1111", "219-09-9999", "10.0.0.1/24"]
    near = [
        f"{w}{sep}{v}" for w in words for sep in ("", " ", ": ", "#", ".-:", "    ") for v in values
    ]
    texts = ascii_texts + near + [t.replace("1", "١") for t in ascii_texts[-500:] + near]
    found = 0
    for text in texts:
        want = [m.span() for m in before.finditer(text)]
        assert [m.span() for m in after.finditer(text)] == want, repr(text)
        found += len(want)
    assert found > 100


def _iban_reference(candidate: str) -> bool:
    """iban_ok as written first: a regex sub and int(c, 36) per character."""
    iban = regex.sub(r"[\s-]", "", candidate).upper()
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def test_iban_check_equals_the_reference():
    rng = random.Random(9)
    valid = ["DE89 3704 0044 0532 0130 00", "GB82-WEST-1234-5698-7654-32", "gb82west12345698765432"]
    values = valid + ["DE89\t3704\x0b0044\x0c0532\r0130 00", "DE٨٩ 3704 0044 0532 0130 00"]
    for _ in range(10000):
        body = "".join(
            rng.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ -") for _ in range(rng.randint(11, 36))
        )
        values.append(rng.choice(["DE", "GB", "FR", "NL"]) + f"{rng.randint(0, 99):02d}" + body)
    for text in valid:  # one character changed: mostly invalid
        for _ in range(200):
            i = rng.randrange(len(text))
            values.append(text[:i] + rng.choice("0123456789ABCXYZ") + text[i + 1 :])
    verdicts = []
    for value in values:
        try:
            want = _iban_reference(value)
        except ValueError:  # characters int(c, 36) rejects
            with pytest.raises(ValueError):
                S.iban_ok(value)
            continue
        verdicts.append(want)
        assert S.iban_ok(value) == want, repr(value)
    assert sum(verdicts) > 50


def _luhn_reference(digits: str) -> bool:
    """luhn_ok as written first: a loop over the digits from the right."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_reference(pattern_text: str) -> bool:
    """The card check as written first: groups split by a regex."""
    digits = S.digits_of(pattern_text)
    if not 13 <= len(digits) <= 19 or len(set(digits)) < 2:
        return False
    groups = regex.split(r"[ -]", pattern_text)
    if len(groups) > 1 and len({len(g) for g in groups[:-1]}) > 2:
        return False
    return _brand_reference(digits) and _luhn_reference(digits)


# (first digits low, high, lengths) of the card networks, written out as the networks list them
_NETWORKS = [
    ("4", "4", (13, 16, 19)),  # Visa
    ("51", "55", (16,)),  # Mastercard
    ("2221", "2720", (16,)),  # Mastercard 2-series
    ("34", "34", (15,)),  # Amex
    ("37", "37", (15,)),
    ("6011", "6011", range(16, 20)),  # Discover
    ("644", "649", range(16, 20)),
    ("65", "65", range(16, 20)),
    ("622126", "622925", range(16, 20)),
    ("3528", "3589", range(16, 20)),  # JCB
    ("62", "62", range(16, 20)),  # UnionPay
    ("2200", "2204", range(16, 20)),  # Mir
    ("300", "305", range(14, 20)),  # Diners Club
    ("3095", "3095", range(14, 20)),
    ("36", "36", range(14, 20)),
    ("38", "39", range(14, 20)),
    ("50", "50", range(12, 20)),  # Maestro
    ("56", "69", range(12, 20)),
]


def _brand_reference(digits: str) -> bool:
    digits = "".join(str(int(c)) for c in digits)
    return any(
        int(low) <= int(digits[: len(low)]) <= int(high) and len(digits) in lengths
        for low, high, lengths in _NETWORKS
    )


def test_card_networks():
    rec = S.LuhnCardRecognizer()
    for number in [
        "4111 1111 1111 1111", "4222222222222", "5555 5555 5555 4444", "2223 0031 2200 3222",
        "2720 9900 0000 0007", "3782 822463 10005", "6011 1111 1111 1117", "3566 0020 2036 0505",
        "6200 0000 0000 0005", "3056 9309 0259 04", "6759 6498 2643 8453",
    ]:  # fmt: skip
        assert rec.validate_result(number), number
    for number in [
        "2220 9900 0000 0002",
        "2721 0000 0000 0004",
        "1234 5678 9012 3452",
        "3782 8224 6310 0052",
    ]:  # fmt: skip  (below and above the 2-series, no network, Amex at 16 digits; all Luhn)
        assert S.luhn_ok(S.digits_of(number)) and not rec.validate_result(number), number
    found = rec.analyze("card=2223003122003222 (order 2223 0031 2200 3222)", ["CREDIT_CARD"])
    assert [(r.start, r.end) for r in found] == [(5, 21)]


def test_card_check_equals_the_reference():
    rng = random.Random(21)
    numbers = ["".join(rng.choice("0123456789") for _ in range(n)) for n in range(0, 23)] * 300
    numbers += ["4111111111111111", "5500000000000004", "4" * 16, "378282246310005"]
    for body in numbers[:3000]:  # the check digit that makes each a Luhn number
        numbers += [body + d for d in "0123456789" if _luhn_reference(body + d)]
    numbers += [n.replace("1", "١") for n in numbers[:500]] + [
        n.replace("2", "２") for n in numbers[:500]
    ]
    for digits in numbers:
        assert S.luhn_ok(digits) == _luhn_reference(digits), digits
    values = []
    for digits in numbers:
        cuts = sorted(rng.sample(range(1, max(2, len(digits))), min(3, max(0, len(digits) - 2))))
        pieces = [digits[i:j] for i, j in zip([0, *cuts], [*cuts, len(digits)], strict=True)]
        values.append("".join(p + rng.choice(["", " ", "-", "  ", " -"]) for p in pieces).strip())
    rec = S.LuhnCardRecognizer()
    verdicts = [rec.validate_result(v) for v in values]
    assert verdicts == [_card_reference(v) for v in values]
    assert 10 < sum(verdicts) < len(values) - 100  # random digits seldom carry a network's IIN
