"""What the demo corpus plants on purpose in every format: fake personal data and duplicates.

`Pii` hands out fake personal data (names, e-mails, phones, IPs, Luhn-valid card numbers, street
addresses, API keys) and counts every value, so the sample can report what it planted (counts
only, never values); the names and places come from `data/people.json`. `perturb` makes near
duplicates, `jaccard` measures them, and `Ledger` records each document and planted pair by
reference.
"""

from __future__ import annotations

import random
import re
import string
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from corpusforge.demo.prose import ADVERBS, GENERIC_ADJECTIVES, TOPICS
from corpusforge.demo.resources import load_json

# ---------------------------------------------------------------------------------------------
# Bookkeeping: what was planted where (counts and ids only)


@dataclass
class Doc:
    source: str
    file: str
    locator: str
    uri: str
    kind: str
    pii: Counter[str]
    pii_sub: Counter[str]

    def ref(self) -> dict[str, str]:
        return {"source": self.source, "file": self.file, "locator": self.locator, "uri": self.uri}


@dataclass
class Ledger:
    docs: list[Doc] = field(default_factory=list)
    exact: list[dict[str, Any]] = field(default_factory=list)
    near: list[dict[str, Any]] = field(default_factory=list)
    boilerplate_pages: int = 0

    def add(self, source, file, locator, uri, kind, tally) -> Doc:
        pii, sub = tally
        doc = Doc(source, file, str(locator), uri, kind, Counter(pii), Counter(sub))
        self.docs.append(doc)
        return doc


# ---------------------------------------------------------------------------------------------
# Names and places for fake personal data (data/people.json)

_PEOPLE = load_json("people.json")
FIRST_NAMES: list[str] = _PEOPLE["first_names"]
LAST_NAMES: list[str] = _PEOPLE["last_names"]
USERNAME_WORDS: list[str] = _PEOPLE["username_words"]
US_CITIES: list[tuple[str, str, str]] = [tuple(c) for c in _PEOPLE["us_cities"]]
STREET_NAMES: list[str] = _PEOPLE["street_names"]
STREET_TYPES: list[str] = _PEOPLE["street_types"]
EMAIL_DOMAINS: list[str] = _PEOPLE["email_domains"]
ALNUM = string.ascii_letters + string.digits


def luhn_check_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # these get doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    middle: str = ""

    @property
    def full(self) -> str:
        return f"{self.first} {self.middle + ' ' if self.middle else ''}{self.last}"


_FOLD = str.maketrans("áàâäãåçéèêëíìîïñóòôöõøúùûüýÿšćčž", "aaaaaaceeeeiiiinoooooouuuuyysccz")


def _ascii(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower().translate(_FOLD))


class Pii:
    """Hands out fake personal data and counts it: `counts` by type, `subtypes` by type/kind.

    Types follow Presidio's names where one exists: PERSON, EMAIL_ADDRESS, PHONE_NUMBER,
    IP_ADDRESS, CREDIT_CARD; plus STREET_ADDRESS and API_KEY. `begin()` starts a fresh tally
    for one document and `take()` returns it.
    """

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.counts: Counter[str] = Counter()
        self.subtypes: Counter[str] = Counter()

    def begin(self) -> None:
        self.counts = Counter()
        self.subtypes = Counter()

    def take(self) -> tuple[Counter[str], Counter[str]]:
        out = (self.counts, self.subtypes)
        self.begin()
        return out

    def _count(self, kind: str, sub: str) -> None:
        self.counts[kind] += 1
        self.subtypes[f"{kind}/{sub}"] += 1

    # -- people -------------------------------------------------------------------------------
    def new_person(self) -> Person:
        """A fresh identity (not counted until it is written with `name()`)."""
        r = self.rng
        middle = f"{r.choice(string.ascii_uppercase)}." if r.random() < 0.15 else ""
        return Person(r.choice(FIRST_NAMES), r.choice(LAST_NAMES), middle)

    def name(self, person: Person | None = None, style: str = "full") -> str:
        p = person or self.new_person()
        if style == "caps":
            self._count("PERSON", "caps")
            return p.full.upper()
        if style == "first":
            self._count("PERSON", "first")
            return p.first
        if style == "last_first":
            self._count("PERSON", "last_first")
            return f"{p.last}, {p.first}"
        self._count("PERSON", "full")
        return p.full

    def email(self, person: Person | None = None) -> str:
        r = self.rng
        p = person or self.new_person()
        f, last = _ascii(p.first), _ascii(p.last)
        local = r.choice(
            [
                f"{f}.{last}",
                f"{f[0]}{last}",
                f"{f}{r.randint(10, 99)}",
                f"{last}.{f[0]}",
                f"{f}_{last}",
            ]
        )
        self._count("EMAIL_ADDRESS", "personal")
        return f"{local}@{r.choice(EMAIL_DOMAINS)}"

    def role_email(self, domain: str, box: str) -> str:
        self._count("EMAIL_ADDRESS", "role")
        return f"{box}@{domain}"

    # -- phones -------------------------------------------------------------------------------
    def phone(self, kind: str | None = None) -> str:
        r = self.rng
        kind = kind or r.choice(["us", "us", "us", "intl"])
        area = r.choice([206, 212, 303, 312, 415, 503, 512, 614, 617, 646, 702, 919])
        line = f"{r.randint(100, 199):04d}"  # 555-01XX is reserved for fiction
        if kind == "us":
            fmt = r.choice(
                ["({a}) 555-{l}", "{a}-555-{l}", "+1 {a} 555 {l}", "{a}.555.{l}", "1-{a}-555-{l}"]
            )
            self._count("PHONE_NUMBER", "us")
            return fmt.format(a=area, l=line)
        self._count("PHONE_NUMBER", "intl")
        return r.choice(
            [
                f"+44 20 7946 0{r.randint(100, 999)}",
                f"+44 161 496 0{r.randint(100, 999)}",
                f"+49 30 {r.randint(1000000, 9999999)}",
                f"+33 1 {r.randint(10, 99)} {r.randint(10, 99)} {r.randint(10, 99)} "
                f"{r.randint(10, 99)}",
                f"+61 2 {r.randint(7000, 9999)} {r.randint(1000, 9999)}",
                f"+91 98{r.randint(100, 999)} {r.randint(10000, 99999)}",
            ]
        )

    # -- network ------------------------------------------------------------------------------
    def ipv4(self) -> str:
        r = self.rng
        prefix = r.choice(["192.0.2", "198.51.100", "203.0.113", "10.14.3", "192.168.1"])
        self._count("IP_ADDRESS", "v4")
        return f"{prefix}.{r.randint(2, 254)}"

    def ipv6(self) -> str:
        r = self.rng
        groups = [f"{r.randint(0, 0xFFFF):x}" for _ in range(4)]
        self._count("IP_ADDRESS", "v6")
        if r.random() < 0.5:
            return "2001:db8:" + ":".join(groups[:2]) + "::" + groups[3]
        return "2001:db8:" + ":".join(groups) + f":{r.randint(0, 0xFFFF):x}:{r.randint(1, 0xFFF):x}"

    # -- money --------------------------------------------------------------------------------
    def card(self) -> str:
        r = self.rng
        kind = r.choice(["visa", "visa", "mastercard", "amex"])
        if kind == "amex":
            body = r.choice(["34", "37"]) + "".join(r.choice(string.digits) for _ in range(12))
            num = body + luhn_check_digit(body)
            groups = [num[:4], num[4:10], num[10:]]
        else:
            start = "4" if kind == "visa" else str(r.randint(51, 55))
            body = start + "".join(r.choice(string.digits) for _ in range(15 - len(start)))
            num = body + luhn_check_digit(body)
            groups = [num[i : i + 4] for i in range(0, 16, 4)]
        sep = r.choice([" ", "-", " ", ""])
        self._count("CREDIT_CARD", kind)
        return sep.join(groups)

    # -- addresses ----------------------------------------------------------------------------
    def address(self, kind: str | None = None, one_line: bool = True) -> str:
        r = self.rng
        kind = kind or r.choice(["us", "us", "us", "uk", "de", "ca"])
        self._count("STREET_ADDRESS", kind)
        if kind == "uk":
            city, pc = r.choice(
                [("Leeds", "LS2"), ("Bristol", "BS1"), ("York", "YO1"), ("Bath", "BA1")]
            )
            kind_ = r.choice(["Road", "Lane", "Street"])
            street = f"{r.randint(2, 240)} {r.choice(STREET_NAMES)} {kind_}"
            letters = "ABDEFGHJLNPQRSTUWXYZ"
            code = f"{pc} {r.randint(1, 9)}{r.choice(letters)}{r.choice(letters)}"
            parts = [street, city, code]
            return f"{street}, {city} {code}" if one_line else "\n".join(parts)
        if kind == "de":
            stem = r.choice(["Linden", "Garten", "Berg", "Schiller", "Kirch"])
            street = f"{stem}straße {r.randint(1, 120)}"
            city = r.choice([("10969", "Berlin"), ("80331", "München"), ("50667", "Köln")])
            return (
                f"{street}, {city[0]} {city[1]}" if one_line else f"{street}\n{city[0]} {city[1]}"
            )
        if kind == "ca":
            street = f"{r.randint(10, 990)} {r.choice(STREET_NAMES)} Street West"
            code = f"M{r.randint(1, 9)}{r.choice('ABCEGHJ')} "
            code += f"{r.randint(1, 9)}{r.choice('KLMNPR')}{r.randint(1, 9)}"
            return f"{street}, Toronto, ON {code}" if one_line else f"{street}\nToronto, ON {code}"
        city, state, zip3 = r.choice(US_CITIES)
        street = f"{r.randint(12, 9850)} {r.choice(STREET_NAMES)} {r.choice(STREET_TYPES)}"
        if r.random() < 0.25:
            street += (
                f", {r.choice(['Apt', 'Suite', 'Unit'])} {r.randint(2, 40)}{r.choice(['', 'B'])}"
            )
        zipc = f"{zip3}{r.randint(0, 99):02d}"
        return (
            f"{street}, {city}, {state} {zipc}" if one_line else f"{street}\n{city}, {state} {zipc}"
        )

    # -- secrets ------------------------------------------------------------------------------
    def aws_key(self) -> str:
        self._count("API_KEY", "aws_access_key")
        return "AKIA" + "".join(
            self.rng.choice(string.ascii_uppercase + "234567") for _ in range(16)
        )

    def aws_secret(self) -> str:
        self._count("API_KEY", "aws_secret")
        return "".join(self.rng.choice(ALNUM + "+/") for _ in range(40))

    def github_token(self) -> str:
        self._count("API_KEY", "github")
        return "ghp_" + "".join(self.rng.choice(ALNUM) for _ in range(36))

    def openai_key(self) -> str:
        self._count("API_KEY", "openai")
        return "sk-" + "".join(self.rng.choice(ALNUM) for _ in range(48))


def username(rng: random.Random) -> str:
    """A forum or wiki user name made of two words (not counted: not personal data)."""
    a, b = rng.sample(USERNAME_WORDS, 2)
    return rng.choice([f"{a}_{b}", f"{a}{b.capitalize()}", f"{a}{rng.randint(7, 99)}"])


# ---------------------------------------------------------------------------------------------
# Near-duplicate edits

_REPLACEABLE: dict[str, list[str]] = {}
for _group in (GENERIC_ADJECTIVES, ADVERBS, *[t.adjectives for t in TOPICS.values()]):
    for _w in _group:
        if " " not in _w:
            _REPLACEABLE.setdefault(_w, _group)


def perturb(text: str, rng: random.Random, fraction: float) -> tuple[str, int]:
    """Swap about `fraction` of all words for another word of the same class.

    Only adjectives and adverbs from the word lists are touched, so planted personal data
    (names, e-mails, numbers) is left as it is. Returns the new text and the number of edits.
    """
    tokens = re.split(r"(\s+)", text)
    words = [i for i, t in enumerate(tokens) if t and not t.isspace()]
    eligible = [i for i in words if tokens[i] in _REPLACEABLE]
    k = min(len(eligible), max(1, round(fraction * len(words))))
    chosen = sorted(rng.sample(eligible, k))
    for i in chosen:
        old = tokens[i]
        vowel = old[0] in "aeiou"
        options = [w for w in _REPLACEABLE[old] if w != old and (w[0] in "aeiou") == vowel]
        tokens[i] = rng.choice(options)
    return "".join(tokens), k


def jaccard(a: list[str], b: list[str], n: int = 5) -> float:
    """Word n-gram Jaccard similarity."""
    sa = {tuple(a[i : i + n]) for i in range(max(1, len(a) - n + 1))}
    sb = {tuple(b[i : i + n]) for i in range(max(1, len(b) - n + 1))}
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0
