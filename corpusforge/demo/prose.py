"""A small seeded prose grammar for the demo corpus: topic vocabularies feed sentence templates.

Slots in the templates (`data/templates.json`) are filled from the topic's words
(`data/topics.json`) and the generic ones (`data/words.json`) with a seeded `random.Random`, so two
unrelated documents share almost no word 5-grams while each still reads like plain English.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from corpusforge.demo.resources import load_json

if TYPE_CHECKING:
    from corpusforge.demo.planted import Pii

# ---------------------------------------------------------------------------------------------
# Morphology helpers


def plural(noun: str) -> str:
    """Plural of a (possibly multi-word) noun; `sing:plural` entries are split by `Topic`."""
    head, _, last = noun.rpartition(" ")
    if last.endswith(("s", "x", "z", "ch", "sh")):
        p = last + "es"
    elif last.endswith("y") and last[-2:-1] not in "aeiou":
        p = last[:-1] + "ies"
    else:
        p = last + "s"
    return f"{head} {p}" if head else p


def third_person(verb: str) -> str:
    return plural(verb)  # the same spelling rules: watch -> watches, carry -> carries


def past(verb: str) -> str:
    if verb.endswith("e"):
        return verb + "d"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ied"
    return verb + "ed"


def article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" and not word.lower().startswith("uni") else "a"


@dataclass(frozen=True)
class Verb:
    base: str
    past: str
    participle: str
    third: str


def _verbs(spec: list[str]) -> list[Verb]:
    out = []
    for item in spec:
        parts = item.split(":")
        base = parts[0]
        p = parts[1] if len(parts) > 1 else past(base)
        pp = parts[2] if len(parts) > 2 else p
        out.append(Verb(base, p, pp, third_person(base)))
    return out


def _nouns(spec: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in spec:
        sing, _, pl = item.partition(":")
        out.append((sing, pl or plural(sing)))
    return out


@dataclass
class Topic:
    name: str
    nouns: list[tuple[str, str]]
    adjectives: list[str]
    verbs: list[Verb]
    roles: list[str]
    org_kinds: list[str]
    headlines: list[str]


def _topic(name: str, spec: dict[str, list[str]]) -> Topic:
    """A topic from its data entry; `sing:plural` nouns and `base:past[:participle]` verbs."""
    return Topic(
        name,
        _nouns(spec["nouns"]),
        list(spec["adjectives"]),
        _verbs(spec["verbs"]),
        list(spec["roles"]),
        list(spec["org_kinds"]),
        list(spec["headlines"]),
    )


# ---------------------------------------------------------------------------------------------
# Vocabulary (data/words.json) and topics (data/topics.json)

_WORDS = load_json("words.json")
GENERIC_ADJECTIVES: list[str] = _WORDS["generic_adjectives"]
ADVERBS: list[str] = _WORDS["adverbs"]
GENERIC_VERBS = _verbs(_WORDS["generic_verbs"])
PARTICIPLES: list[str] = _WORDS["participles"]
OPENERS: list[str] = _WORDS["openers"]
TIMES: list[str] = _WORDS["times"]
PREPOSITIONS: list[str] = _WORDS["prepositions"]
MODALS: list[str] = _WORDS["modals"]
QUANTIFIERS: list[str] = _WORDS["quantifiers"]
PLACE_PARTS: list[str] = _WORDS["place_parts"]
PLACE_ROOTS: list[str] = _WORDS["place_roots"]
PLACE_STEMS: list[str] = _WORDS["place_stems"]

_TOPICS = load_json("topics.json")
TOPICS: dict[str, Topic] = {name: _topic(name, spec) for name, spec in _TOPICS["topics"].items()}
NARRATIVE = _topic("narrative", _TOPICS["narrative"])

# ---------------------------------------------------------------------------------------------
# Prose

_TEMPLATES: dict[str, list[str]] = load_json("templates.json")

_SLOT = re.compile(r"\{(\w+)\}")


class Prose:
    """Seeded sentence generator for one topic; `person()` names go through `Pii`."""

    def __init__(self, rng: random.Random, topic: Topic, pii: Pii | None = None, style="news"):
        self.r = rng
        self.topic = topic
        self.pii = pii
        self.style = style
        self.nouns = topic.nouns
        self.adjs = topic.adjectives + (GENERIC_ADJECTIVES if style != "narrative" else [])
        self.verbs = topic.verbs + (GENERIC_VERBS if style != "narrative" else [])
        self.templates = {
            "news": _TEMPLATES["news"],
            "blog": _TEMPLATES["blog"] + _TEMPLATES["news"][:12],
            "narrative": _TEMPLATES["narrative"],
        }[style]

    # -- pieces -------------------------------------------------------------------------------
    def noun(self, plural_form: bool = False) -> str:
        sing, pl = self.r.choice(self.nouns)
        return pl if plural_form else sing

    def adj(self) -> str:
        return self.r.choice(self.adjs)

    def np(self) -> str:
        r = self.r
        n = self.noun()
        if r.random() < 0.5:
            n = f"{self.adj()} {n}"
        det = r.choice(["the", "the", "the", "a", "this", "that", "every", "their", "its", "one"])
        if det == "a":
            det = article(n)
        out = f"{det} {n}"
        if r.random() < 0.2:
            out += f" of the {self.noun()}"
        return out

    def nps(self) -> str:
        r = self.r
        n = self.noun(True)
        if r.random() < 0.5:
            n = f"{self.adj()} {n}"
        return f"{r.choice(['the', 'these', 'many', 'some', 'most', 'their', 'local'])} {n}"

    def pp(self) -> str:
        r = self.r
        if r.random() < 0.15 and self.style != "narrative":
            return f"in {self.place()}"
        return f"{r.choice(PREPOSITIONS)} {self.np()}"

    def place(self) -> str:
        r = self.r
        base = r.choice(PLACE_STEMS) + r.choice(PLACE_ROOTS)
        return f"{r.choice(PLACE_PARTS)} {base}" if r.random() < 0.3 else base

    def org(self) -> str:
        r = self.r
        kinds = self.topic.org_kinds or ["Society"]
        return f"the {r.choice(PLACE_STEMS)}{r.choice(PLACE_ROOTS)} {r.choice(kinds)}"

    def person(self) -> str:
        if self.pii is None:
            return f"the {self.r.choice(self.topic.roles)}"
        return self.pii.name()

    def clause(self) -> str:
        r = self.r
        v = r.choice(self.verbs)
        form = r.choice(["past", "past", "third"])
        verb = v.past if form == "past" else v.third
        return f"{self.np()} {verb} {self.np() if r.random() < 0.6 else self.nps()}"

    def _fill(self, name: str) -> str:
        r = self.r
        lower = name.lower()
        match lower:
            case "np":
                out = self.np()
            case "nps":
                out = self.nps()
            case "nouns":
                out = self.noun(True)
                if r.random() < 0.5:
                    out = f"{self.adj()} {out}"
            case "noun":
                out = self.noun()
            case "adj":
                out = self.adj()
            case "a_adj":
                a = self.adj()
                out = f"{article(a)} {a}"
            case "adv":
                out = r.choice(ADVERBS)
            case "vp":
                out = r.choice(self.verbs).past
            case "vpp":
                out = r.choice(self.verbs).participle
            case "vb":
                out = r.choice(self.verbs).base
            case "v3":
                out = r.choice(self.verbs).third
            case "pp":
                out = self.pp()
            case "part":
                out = r.choice(PARTICIPLES)
            case "time":
                out = r.choice(TIMES)
            case "open":
                out = r.choice(OPENERS)
            case "year":
                out = str(r.randint(1998, 2023))
            case "num":
                out = r.choice(["two", "three", "four", "five", "six", "eight", "ten", "twelve"])
            case "quant":
                out = r.choice(QUANTIFIERS)
            case "modal":
                out = r.choice(MODALS)
            case "org":
                out = self.org()
            case "person":
                out = self.person()
            case "role":
                out = r.choice(self.topic.roles)
            case "role_a":
                role = r.choice(self.topic.roles)
                out = f"{article(role)} {role}"
            case "said":
                out = r.choice(["said", "argued", "warned", "insisted", "noted", "suggested"])
            case "clause":
                out = self.clause()
            case _:
                raise KeyError(name)
        if name[0].isupper():
            out = out[0].upper() + out[1:]
        return out

    def sentence(self) -> str:
        tpl = self.r.choice(self.templates)
        s = _SLOT.sub(lambda m: self._fill(m.group(1)), tpl)
        return s[0].upper() + s[1:]

    def paragraph(self, lo: int = 3, hi: int = 6) -> str:
        return " ".join(self.sentence() for _ in range(self.r.randint(lo, hi)))

    def paragraphs(self, n: int, lo: int = 3, hi: int = 6) -> list[str]:
        return [self.paragraph(lo, hi) for _ in range(n)]

    def book_title(self) -> str:
        r = self.r
        noun, other = self.noun().title(), self.noun().title()
        adj = self.adj().title()
        return r.choice(
            [
                f"The {adj} {noun}",
                f"{noun} and {other}",
                f"A Tale of {self.place()}",
                f"The {r.choice(self.topic.roles).title()} of {self.place()}",
                f"The {noun} at {self.place()}",
                f"{adj} Days at {self.place()}",
            ]
        )

    def chapter_title(self) -> str:
        r = self.r
        v = r.choice(self.verbs)
        return r.choice(
            [
                f"The {self.adj().title()} {self.noun().title()}",
                f"In Which the {r.choice(self.topic.roles).title()} {v.past.title()} "
                f"{article(n := self.noun())} {n.title()}",
                f"At {self.place()}",
                f"A {self.noun().title()} in the {self.noun().title()}",
                f"How We {v.past.title()} the {self.noun().title()}",
            ]
        )

    def title(self) -> str:
        r = self.r
        seed = r.choice(self.topic.headlines) if self.topic.headlines else self.noun()
        pattern = r.choice(
            [
                "{A} {n} {v3} {seed}",
                "How {the} {n} {vp} {seed}",
                "{Seed}: what {nps} need to know",
                "Why {nps} {vb} {the} {adj} {n}",
                "{A} {adj} {n} and {the} {seed}",
                "{Seed} {pp}",
            ]
        )
        n = self.noun()
        v = r.choice(self.verbs)
        out = pattern.format(
            A=article(n).capitalize(),
            the="the",
            n=n,
            v3=v.third,
            vp=v.past,
            vb=v.base,
            seed=seed,
            Seed=seed[0].upper() + seed[1:],
            nps=self.noun(True),
            adj=self.adj(),
            pp=self.pp(),
        )
        return out[0].upper() + out[1:]
