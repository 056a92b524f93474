"""Street addresses as one span: number, street, unit, city, region and postcode together.

spaCy's small English model tags at best pieces of an address (a FAC, a GPE); these patterns
take the whole postal address so the city and postcode do not survive next to a placeholder.
"""

from __future__ import annotations

import regex as re
from presidio_analyzer import Pattern

from corpusforge.pipeline.pii.base import CuePatternRecognizer, Prefilter, first_char_alternation
from corpusforge.pipeline.pii.gates import DIGIT, NON_ASCII, SPACE, alternatives

_SUFFIXES = (
    "Street", "St", "Avenue", "Ave", "Av", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Ln",
    "Drive", "Dr", "Court", "Ct", "Place", "Pl", "Terrace", "Ter", "Way", "Circle", "Cir",
    "Parkway", "Pkwy", "Highway", "Hwy", "Square", "Sq", "Trail", "Trl", "Crescent", "Cres",
    "Close", "Row", "Alley", "Plaza", "Loop", "Pike", "Grove", "Gardens", "Mews", "Walk", "Hill",
    "Park", "Point", "Pt", "Run", "Path", "Commons", "Heights", "Expressway", "Expy", "Freeway",
    "Fwy", "Causeway", "Quay", "Wharf", "Green", "Rise", "View", "Vale",
)  # fmt: skip
_SUFFIX = "(?:" + "|".join(_SUFFIXES) + r")\.?"  # for gates


_SUFFIX_P = first_char_alternation(_SUFFIXES) + r"\.?"  # for patterns (same order)
# Possessive (*+, ++) where giving characters back cannot help (a word is always followed by
# white space, a street suffix always starts with a letter): the same matches, fewer retries.
# A word is a capitalised run or an ordinal ("5th"); [NSEW]\.?, Mc.. and O'.. were alternatives
# too, but each matches a part of the capitalised run, and a part is never followed by a space.
_WORD = r"(?:[A-Z][A-Za-z'’.-]*+|\d{1,3}(?:st|nd|rd|th))"
# House numbers start where a word does (\b) but not after . , or - ("v1.2 ", "10-12"):
# \b(?<![.,-])\d is (?<![\w.,-])\d, and `regex` finds it in half the time.
_HOUSE_NUMBER = r"\b(?<![.,-])\d{1,6}+"
_UNIT = (
    r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Fl|Floor|Rm|Room|Bldg|#)\.?\s*#?[A-Za-z0-9-]{1,6})"
)
_CITY = r"(?:[A-Z][A-Za-z'’.-]+(?:[ -][A-Z][A-Za-z'’.-]+){0,3})"
_STATE = r"(?:[A-Z]{2}|[A-Z][a-z]+(?: [A-Z][a-z]+)?)"
_US_ZIP = r"\d{5}(?:-\d{4})?"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}"
_CA_POSTCODE = r"[A-Z]\d[A-Z]\s?\d[A-Z]\d"
_TAIL = (
    rf"(?:,?\s+{_CITY})?"
    rf"(?:,\s*{_STATE})?"
    rf"(?:,?\s+(?:{_US_ZIP}|{_UK_POSTCODE}|{_CA_POSTCODE}))?"
    r"(?:,\s*(?:USA|U\.S\.A\.|US|United States|UK|United Kingdom|Canada|Australia))?"
)

# After the number comes a capital (a word, or the suffix), an ordinal, or a lower-case word
# right before the suffix: testing that first fails most numbers in prose at once.
_US_NEXT = r"(?=[A-Z]|\d{1,3}(?:st|nd|rd|th)\s|[a-z]++\s*+[A-Z])"
_US_STYLE = (
    rf"{_HOUSE_NUMBER}[A-Za-z]?+(?:-\d{{1,4}}+)?+\s++{_US_NEXT}(?:{_WORD}\s++){{0,4}}"
    rf"(?-i:[A-Z][a-z]*+|[a-z]++)?\s*+{_SUFFIX_P}(?:\s+[NSEW][EW]?\.?)?(?!\w){_UNIT}?{_TAIL}"
)
# "221b baker street, london nw1 6xe" in lower case: needs a postcode to be sure.
_LOWER = (
    r"(?i)"
    + _HOUSE_NUMBER
    + r"[a-z]?+\s++(?:[a-z'’.-]++\s++){1,4}"
    + _SUFFIX_P
    + r",?\s+(?:[a-z'’.-]+\s+){0,3}[a-z'’.-]*,?\s*(?:[a-z]{2}\s+)?"
    r"(?:\d{5}(?:-\d{4})?|[a-z]{1,2}\d[a-z\d]?\s?\d[a-z]{2})(?!\w)"
)
# Continental style: "Hauptstraße 5, 10115 Berlin", "12 rue de la Paix, 75002 Paris".
_EU_STREET = (
    r"(?=[A-ZÄÖÜ])(?<![\w-])[A-ZÄÖÜ][\wäöüß.-]*(?:straße|strasse|str\.|weg|platz|allee|gasse|ring|damm|"
    r"ufer|gracht|laan|straat|vej|gatan|gata|veien)\s+\d{1,4}[a-z]?"
    r"(?:,?\s+\d{4,5}\s+[A-ZÄÖÜ][\wäöüß-]+(?:\s[A-ZÄÖÜ][\wäöüß-]+)?)?"
)
_FR_STREET = (
    r"(?=\d)(?<![\w-])\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|bd|place|chemin|allée|"
    r"impasse|quai|route|calle|via|viale|piazza|avenida|rua|plaza)\s+(?:[\w'’-]+\s){0,4}?"
    r"[\w'’-]+(?:,\s*\d{4,5}\s+[A-Z][\w-]+(?:\s[A-Z][\w-]+)?)?"
)
_PO_BOX = r"(?i)\bP\.?\s?O\.?\s?Box\s+\d{1,6}" + _TAIL

_ROMANCE_WAYS = (
    "rue avenue boulevard bd place chemin allée impasse quai route calle via viale piazza "
    "avenida rua plaza"
).split()
# Street words without which these patterns cannot match. (An anchor at house numbers did not
# pay for US/UK addresses: the cost is in the attempts at numbers, not in finding them.)
_EU_WAYS = (
    "straße strasse str. weg platz allee gasse ring damm ufer gracht laan straat vej gatan gata "
    "veien"
).split()
# Gates: a number, then only characters that can lie between it and a street suffix (digits,
# letters, ' ’ . - and blanks), the suffix after a blank or a letter: 202 of the 700 benchmark
# texts open where "a digit, later a suffix" opened 228 (the pattern matches in 200). In lower
# case, the text after the suffix as the pattern has it, up to the postcode's first digit: 129
# open where "a digit later" opened 216 (it matches in 128). Following the house number and
# the words token by token too cost more in the shared scan than it saved.
_NUMBER_TO_SUFFIX = rf"[0-9A-Za-z'.\-\t\n\x0b\x0c\r {NON_ASCII}]"
_LOWER_WORD = rf"[a-z'.\-{NON_ASCII}]"
_LOWER_GATE = (  # caseless
    rf"{DIGIT}[\s\S]*{SPACE}{_SUFFIX},?{SPACE}+(?:{_LOWER_WORD}+{SPACE}+){{0,3}}{_LOWER_WORD}*,?"
    rf"{SPACE}*(?:[a-z]{{2}}{SPACE}+)?"
    rf"(?:{DIGIT}{{5}}|[a-z]{{1,2}}{DIGIT}[a-z0-9{NON_ASCII}]?{SPACE}?{DIGIT}[a-z]{{2}})"
)
# ascii_twin: the stdlib engine ran the scans of the benchmark's texts in fewer instructions
# (callgrind, seed 0: us-uk -40%, lower case -21%).
_PREFILTERS = {
    "us-uk-address": Prefilter(
        gate=rf"{DIGIT}{_NUMBER_TO_SUFFIX}*[A-Za-z\t\n\x0b\x0c\r {NON_ASCII}]{_SUFFIX}\b",
        ascii_twin=True,
    ),
    "lower-case-address": Prefilter(gate=_LOWER_GATE, gate_caseless=True, ascii_twin=True),
    "eu-address": Prefilter(
        needles=tuple(_EU_WAYS), gate=rf"{alternatives(_EU_WAYS)}{SPACE}+{DIGIT}"
    ),
    "romance-address": Prefilter(
        needles=tuple(_ROMANCE_WAYS),
        anchor=r"\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:" + "|".join(_ROMANCE_WAYS) + r")\s",
        gate=rf"{DIGIT}(?:{SPACE}?(?:bis|ter))?,?{SPACE}+{alternatives(_ROMANCE_WAYS)}{SPACE}",
    ),
    "po-box": Prefilter(
        needles=("box",),
        fold=True,
        gate=rf"p\.?{SPACE}?o\.?{SPACE}?box{SPACE}+{DIGIT}",
        gate_caseless=True,
    ),
}


class StreetAddressRecognizer(CuePatternRecognizer):
    def __init__(self) -> None:
        super().__init__(
            supported_entity="STREET_ADDRESS",
            name="CorpusforgeStreetAddress",
            patterns=[
                Pattern("us-uk-address", _US_STYLE, 0.7),
                Pattern("lower-case-address", _LOWER, 0.7),
                Pattern("eu-address", _EU_STREET, 0.7),
                Pattern("romance-address", _FR_STREET, 0.6),
                Pattern("po-box", _PO_BOX, 0.7),
            ],
            global_regex_flags=re.MULTILINE,
            prefilters=_PREFILTERS,
        )

    def validate_result(self, pattern_text: str) -> bool | None:
        # "3 Dr." or "10 St" alone are references, not addresses: need a street name word.
        words = pattern_text.split()
        return False if len(words) < 3 else None
