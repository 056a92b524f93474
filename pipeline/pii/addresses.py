"""Street addresses as one span: number, street, unit, city, region and postcode together.

spaCy's small English model tags at best pieces of an address (a FAC, a GPE); these patterns
take the whole postal address so the city and postcode do not survive next to a placeholder.
"""

from __future__ import annotations

import re as stdre

import regex as re
from presidio_analyzer import Pattern, RecognizerResult

from corpusforge.pipeline.pii.base import (
    CuePatternRecognizer,
    Prefilter,
    TailScan,
    first_char_alternation,
    reverse_pattern,
    tail_spans,
    with_tail_gates,
)
from corpusforge.pipeline.pii.gates import DIGIT, NON_ASCII, SCAN, SPACE, alternatives

_SUFFIXES = (
    "Street", "St", "Avenue", "Ave", "Av", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Ln",
    "Drive", "Dr", "Court", "Ct", "Place", "Pl", "Terrace", "Ter", "Way", "Circle", "Cir",
    "Parkway", "Pkwy", "Highway", "Hwy", "Square", "Sq", "Trail", "Trl", "Crescent", "Cres",
    "Close", "Row", "Alley", "Plaza", "Loop", "Pike", "Grove", "Gardens", "Mews", "Walk", "Hill",
    "Park", "Point", "Pt", "Run", "Path", "Commons", "Heights", "Expressway", "Expy", "Freeway",
    "Fwy", "Causeway", "Quay", "Wharf", "Green", "Rise", "View", "Vale",
)  # fmt: skip
# The lower-case pattern keeps to the common types above (its caseless gate with every type
# is more than hyperscan compiles, and lower-case text with a rare type is rarer still).
_COMMON_SUFFIXES = _SUFFIXES
_SUFFIXES += (
    # USPS street suffixes (Publication 28, appendix C1) not above, plurals included
    "Alleys", "Annex", "Arcade", "Bayou", "Beach", "Bend", "Bluff", "Bluffs", "Bottom",
    "Branch", "Bridge", "Brook", "Brooks", "Burg", "Burgs", "Bypass", "Camp", "Canyon", "Cape",
    "Center", "Centers", "Circles", "Cliff", "Cliffs", "Club", "Common", "Corner", "Corners",
    "Course", "Courts", "Cove", "Coves", "Creek", "Crest", "Crossing", "Crossroad",
    "Crossroads", "Curve", "Dale", "Dam", "Divide", "Drives", "Estate", "Estates", "Extension",
    "Extensions", "Falls", "Ferry", "Field", "Fields", "Flat", "Flats", "Ford", "Fords",
    "Forest", "Forge", "Forges", "Fork", "Forks", "Fort", "Garden", "Gateway", "Glen", "Glens",
    "Greens", "Groves", "Harbor", "Harbors", "Haven", "Hills", "Hollow", "Inlet", "Island",
    "Islands", "Isle", "Junction", "Junctions", "Key", "Keys", "Knoll", "Knolls", "Lake",
    "Lakes", "Landing", "Light", "Lights", "Loaf", "Lock", "Locks", "Lodge", "Mall", "Manor",
    "Manors", "Meadow", "Meadows", "Mill", "Mills", "Mission", "Motorway", "Mount", "Mountain",
    "Mountains", "Neck", "Orchard", "Oval", "Overpass", "Parks", "Parkways", "Pass", "Passage",
    "Pine", "Pines", "Plain", "Plains", "Points", "Port", "Ports", "Prairie", "Radial", "Ramp",
    "Ranch", "Rapid", "Rapids", "Rest", "Ridge", "Ridges", "River", "Roads", "Route", "Shoal",
    "Shoals", "Shore", "Shores", "Skyway", "Spring", "Springs", "Spur", "Spurs", "Squares",
    "Station", "Stravenue", "Stream", "Streets", "Summit", "Throughway", "Trace", "Track",
    "Trafficway", "Tunnel", "Turnpike", "Underpass", "Union", "Unions", "Valley", "Valleys",
    "Via", "Viaduct", "Views", "Village", "Villages", "Ville", "Vista", "Walks", "Wall", "Ways",
    "Well", "Wells",
    # UK, Irish, Australian and Canadian street types
    "Approach", "Brae", "Broadway", "Chase", "Circuit", "Circlet", "Concourse", "Croft",
    "Drove", "Embankment", "Esplanade", "Gate", "Grange", "Hey", "Nook", "Parade", "Pathway",
    "Promenade", "Retreat", "Riverway", "Roadside", "Strand", "Strip", "Trunkway", "Wynd",
    "Yard",
)  # fmt: skip
_SUFFIX = "(?:" + "|".join(_SUFFIXES) + r")\.?"  # for gates
_COMMON_SUFFIX = "(?:" + "|".join(_COMMON_SUFFIXES) + r")\.?"


_SUFFIX_P = first_char_alternation(_SUFFIXES) + r"\.?"  # for patterns (same order)
_COMMON_SUFFIX_P = first_char_alternation(_COMMON_SUFFIXES) + r"\.?"
# Possessive (*+, ++) where giving characters back cannot help (a word is always followed by
# white space, a street suffix always starts with a letter): the same matches, fewer retries.
# A word is a capitalised run or an ordinal ("5th"); [NSEW]\.?, Mc.. and O'.. were alternatives
# too, but each matches a part of the capitalised run, and a part is never followed by a space.
_WORD = r"(?:[A-Z][A-Za-z'’.-]*+|\d{1,3}(?:st|nd|rd|th))"
# House numbers start where a word does (\b) but not after . , or - ("v1.2 ", "10-12"):
# \b(?<![.,-])\d is (?<![\w.,-])\d, written so that `regex` tests the lookbehind only at \b.
_HOUSE_NUMBER = r"\b(?<![.,-])\d{1,6}+"
_UNIT_WORDS = "Apt|Apartment|Suite|Ste|Unit|Flat|Studio|Level|Lvl|Fl|Floor|Rm|Room|Bldg|Shop"
_UNIT = rf"(?:,?\s+(?:{_UNIT_WORDS}|#)\.?\s*#?[A-Za-z0-9-]{{1,6}})"
# A unit before the street: "Suite 4 12 Main Road", "Flat 3, 12 High Street", "Studio 7,
# Tanner Mews" (the unit's number the only one).
_UNIT_FIRST = (
    rf"\b(?:{_UNIT_WORDS})\.?[ \t]*\d{{1,5}}[A-Za-z]?,?[ \t]+(?:\d{{1,6}}[A-Za-z]?[ \t]+)?"
)
_CITY = r"(?:[A-Z][A-Za-z'’.-]+(?:[ -][A-Z][A-Za-z'’.-]+){0,3})"
_STATE = r"(?:[A-Z]{2}|[A-Z][a-z]+(?: [A-Z][a-z]+)?)"
_US_ZIP = r"\d{5}(?:-\d{4})?"
_UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}"
_CA_POSTCODE = r"[A-Z]\d[A-Z]\s?\d[A-Z]\d"
# Australian postcodes: four digits after the city or state ("Parramatta NSW 2150").
_AU_POSTCODE = r"\d{4}(?!\d)"
_TAIL = (
    rf"(?:,?\s+{_CITY}(?!\d))?"
    rf"(?:,\s*{_STATE}(?!\w))?"
    rf"(?:,?[ \t]+(?:{_US_ZIP}|{_UK_POSTCODE}|{_CA_POSTCODE}|{_AU_POSTCODE}))?"
    # a UK postcode before the town: "12 Mill Lane, SW1A 2AA Brightwell"
    rf"(?:,?[ \t]+(?:{_UK_POSTCODE}|{_CA_POSTCODE})[ \t]+{_CITY})?"
    r"(?:,\s*(?:USA|U\.S\.A\.|US|United States|UK|United Kingdom|Canada|Australia))?"
)

# After the number comes a capital (a word, or the suffix), an ordinal, or a lower-case word
# right before the suffix: testing that first fails most numbers in prose at once.
_US_NEXT = r"(?=[A-Z]|\d{1,3}(?:st|nd|rd|th)\s|[a-z]++\s*+[A-Z])"
_STREET_REST = (
    rf"(?:{_WORD}\s++){{0,4}}"
    rf"(?-i:[A-Z][a-z]*+|[a-z]++)?\s*+{_SUFFIX_P}(?:\s+[NSEW][EW]?\.?)?(?!\w){_UNIT}?{_TAIL}"
)
_US_STYLE = rf"{_HOUSE_NUMBER}[A-Za-z]?+(?:[-/]\d{{1,4}}+)?+\s++{_US_NEXT}" + _STREET_REST
# A unit first: "Suite 4 12 Main Road", "Flat 3, Orchard Mews" (its own pattern: as an
# alternative of the one above it kept the regex engine from skipping ahead to digits).
_UNIT_FIRST_STYLE = rf"{_UNIT_FIRST}(?=[A-Z])" + _STREET_REST
# "221b baker street, london nw1 6xe" in lower case: needs a postcode to be sure.
_LOWER = (
    r"(?i)"
    + _HOUSE_NUMBER
    + r"[a-z]?+\s++(?:[a-z'’.-]++\s++){1,4}"
    + _COMMON_SUFFIX_P
    + r",?\s+(?:[a-z'’.-]+\s+){0,3}[a-z'’.-]*,?\s*(?:[a-z]{2}\s+)?"
    r"(?:\d{5}(?:-\d{4})?|[a-z]{1,2}\d[a-z\d]?\s?\d[a-z]{2})(?!\w)"
)
# Continental style: "Hauptstraße 5, 10115 Berlin", "12 rue de la Paix, 75002 Paris".
_EU_WAYS = (
    "straße strasse str. weg platz allee gasse ring damm ufer gracht laan straat vej gatan gata "
    "veien chaussee steig stieg pfad promenade markt zeile graben kamp berg hof pad steeg singel "
    "dreef kade plein baan dijk"
).split()
# Continental style: "Hauptstraße 5, 10115 Berlin", "Jan-Smit-Weg 3-7", "Rosengasse 4/2",
# "Kerkstraat 12, 1234 AB Utrecht". The street type may start a hyphenated part ("-Straße").
_EU_STREET = (
    r"(?=[A-ZÄÖÜ])(?<![\w-])[A-ZÄÖÜ][\wäöüß.-]*(?i:"
    + "|".join(re.escape(w) for w in _EU_WAYS)
    + r")\s+\d{1,4}[a-z]?(?:[ \t]?[-/][ \t]?\d{1,4}[a-z]?)?(?![\w.,]\d)"
    r"(?:,?\s+\d{4,5}(?:[ \t]?[A-Z]{2})?\s+[A-ZÄÖÜ][\wäöüß-]+(?:[ \t][A-ZÄÖÜ][\wäöüß-]+)?)?"
)
_FR_STREET = (
    r"(?=\d)(?<![\w-])\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|bd|place|chemin|allée|"
    r"impasse|quai|route|calle|via|viale|piazza|avenida|rua|plaza)\s+(?:[\w'’-]+\s){0,4}?"
    r"[\w'’-]+(?:,\s*\d{4,5}\s+[A-Z][\w-]+(?:\s[A-Z][\w-]+)?)?"
)
# Without a house number, before a postcode and town: "avenue de la Gare, 75002 Paris".
_ROMANCE_NO_NUMBER = (
    r"(?<![\w-])(?i:rue|avenue|boulevard|bd|place|chemin|allée|impasse|quai|route|calle|via|viale|"
    r"piazza|avenida|rua|plaza)[ \t]+(?:[\w'’-]+[ \t]){0,4}?[\w'’-]+"
    r"(?:,[ \t]*|[ \t]*\n[ \t]*)\d{5}[ \t]+"
    r"\p{Lu}[\w-]+(?:[ \t]\p{Lu}[\w-]+)?"
)
_PO_BOX = r"(?i)\bP\.?\s?O\.?\s?Box\s+\d{1,6}" + _TAIL
_US_STATES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI UM FM MH PW "
    "AA AE AP"
).split()


# A street of any type when a town and postcode follow on its line: "12 Wattle Copse,
# Springvale 3171", "Unit 4 9 Kings Interchange, Cairns QLD 4870", "3 Mill End, Leeds LS1 4AP".
_STREET_WITH_POSTCODE = TailScan(
    # the town and postcode after the street's comma: found first
    tail=stdre.compile(
        rf",[ \t]*{_CITY}(?:,?[ \t]+[A-Z]{{2,3}})?,?[ \t]+"
        rf"(?:{_US_ZIP}|{_AU_POSTCODE}|{_UK_POSTCODE}|{_CA_POSTCODE})(?![\w-])"
    ),
    # then the number (or unit) and street words before it
    head=reverse_pattern(
        rf"(?P<value>(?:{_UNIT_FIRST}|{_HOUSE_NUMBER}[A-Za-z]?(?:/\d{{1,5}})?[ \t]+)(?=[A-Z])"
        r"(?:[A-Z][A-Za-z'’.-]*[ \t]+){0,3}[A-Z][A-Za-z'’.-]*)$"
    ),
    gate=rf",[ \t]*[A-Z][A-Za-z'.\- \t{NON_ASCII}]*,?[ \t]+(?:{DIGIT}{{4}}|[A-Z]{{1,2}}{DIGIT})",
    keep_tail=True,
)
_PROVINCES = "AB BC MB NB NL NS NT NU ON PE QC SK YT".split()
# A town line on its own: "Springfield, IL 62704", "Lake Ivy, QC H2X 1Y4" (also after a street
# on the line above, which the street patterns leave); "Leeds LS1 4AP", "Toronto M5V 2T6".
# Found from the state and ZIP or the postcode (TailScan), then the town before it.
_TAIL_SCANS = (
    _STREET_WITH_POSTCODE,
    TailScan(
        tail=stdre.compile(
            rf",[ \t]*(?:{'|'.join(_US_STATES + _PROVINCES)})[ \t]+(?:{_US_ZIP}|{_CA_POSTCODE})"
            r"(?![\w-])"
        ),
        head=reverse_pattern(rf"(?<![\w-])(?P<value>{_CITY})$"),
        gate=rf",[ \t]*[A-Z]{{2}}[ \t]+(?:{DIGIT}{{5}}|[A-Z]{DIGIT}[A-Z])",
        keep_tail=True,
    ),
    TailScan(
        tail=stdre.compile(
            rf"[ \t](?:{_UK_POSTCODE}|{_CA_POSTCODE})(?=[ \t]*(?:$|[|,;.]))", stdre.MULTILINE
        ),
        head=reverse_pattern(rf"(?<![\w-])(?P<value>{_CITY})[ \t]*$"),
        gate=rf"[ \t](?:[A-Z]{{1,2}}{DIGIT}[A-Z0-9]?[ \t]?{DIGIT}[A-Z]{{2}}"
        rf"|[A-Z]{DIGIT}[A-Z][ \t]?{DIGIT}[A-Z]{DIGIT})",
        keep_tail=True,
    ),
)
# A postcode and town at the start of a line or after a comma, the line ending there:
# "10115 Berlin", "1011 AB Amsterdam", "75002 Paris", "SW1A 2AA London".
_POSTCODE = rf"(?:\d{{5}}|\d{{4}}[ \t]?(?!S[ADS]\b)[A-Z]{{2}}|{_UK_POSTCODE}|{_CA_POSTCODE})"
_POSTCODE_TOWN = (
    r"(?m)(?:^|[,|])[ \t]*(?P<value>"
    + _POSTCODE
    + r"[ \t]+\p{Lu}[\w'’-]+(?:[ \t]\p{Lu}[\w'’-]+){0,2})(?=[ \t]*(?:$|[|,;]))"
)
_POSTCODE_GATE = (
    rf"(?:{DIGIT}{{5}}|{DIGIT}{{4}}[ \t]?[A-Z]{{2}}"
    rf"|[A-Z]{{1,2}}{DIGIT}[A-Z0-9]?[ \t]?{DIGIT}[A-Z]{{2}}"
    rf"|[A-Z]{DIGIT}[A-Z][ \t]?{DIGIT}[A-Z]{DIGIT})[ \t]+[A-Z{NON_ASCII}]"
)

_ROMANCE_WAYS = (
    "rue avenue boulevard bd place chemin allée impasse quai route calle via viale piazza "
    "avenida rua plaza"
).split()
# Street words without which these patterns cannot match. (An anchor at house numbers did not
# pay for US/UK addresses: the cost is in the attempts at numbers, not in finding them.)
# Gates: a number, then only characters that can lie between it and a street suffix (digits,
# letters, ' ’ . - and blanks), the suffix after a blank or a letter: 202 of the 700 benchmark
# texts open where "a digit, later a suffix" opened 228 (the pattern matches in 200). In lower
# case, the text after the suffix as the pattern has it, up to the postcode's first digit: 129
# open where "a digit later" opened 216 (it matches in 128). Following the house number and
# the words token by token too cost more in the shared scan than it saved.
_NUMBER_TO_SUFFIX = rf"[0-9A-Za-z'.,\-\t\n\x0b\x0c\r {NON_ASCII}]"
_LOWER_WORD = rf"[a-z'.\-{NON_ASCII}]"
_LOWER_GATE = (  # caseless
    rf"{DIGIT}[\s\S]*{SPACE}{_COMMON_SUFFIX},?{SPACE}+(?:{_LOWER_WORD}+{SPACE}+){{0,3}}{_LOWER_WORD}*,?"
    rf"{SPACE}*(?:[a-z]{{2}}{SPACE}+)?"
    rf"(?:{DIGIT}{{5}}|[a-z]{{1,2}}{DIGIT}[a-z0-9{NON_ASCII}]?{SPACE}?{DIGIT}[a-z]{{2}})"
)
# ascii_twin: where the stdlib engine ran the scans of the benchmark's texts in fewer
# instructions (docs/pii.md, "Measurements behind the code").
_PREFILTERS = {
    "us-uk-address": Prefilter(
        gate=rf"{DIGIT}{_NUMBER_TO_SUFFIX}*[A-Za-z\t\n\x0b\x0c\r {NON_ASCII}]{_SUFFIX}\b",
        ascii_twin=True,
    ),
    "unit-first-address": Prefilter(
        gate=rf"\b(?:{_UNIT_WORDS})\.?[ \t]*{DIGIT}[0-9A-Za-z'.,\-\t\n\x0b\x0c\r {NON_ASCII}]*"
        rf"[A-Za-z\t\n\x0b\x0c\r {NON_ASCII}]{_SUFFIX}\b",
        same_line=True,
    ),
    "lower-case-address": Prefilter(gate=_LOWER_GATE, gate_caseless=True, ascii_twin=True),
    "eu-address": Prefilter(
        needles=tuple(_EU_WAYS),
        fold=True,
        gate=rf"{alternatives(_EU_WAYS)}{SPACE}+{DIGIT}",
        gate_caseless=True,
    ),
    "romance-address": Prefilter(
        needles=tuple(_ROMANCE_WAYS),
        anchor=r"\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:" + "|".join(_ROMANCE_WAYS) + r")\s",
        gate=rf"{DIGIT}(?:{SPACE}?(?:bis|ter))?,?{SPACE}+{alternatives(_ROMANCE_WAYS)}{SPACE}",
    ),
    "romance-no-number": Prefilter(gate=rf"[,\n]{SPACE}*{DIGIT}{{5}}{SPACE}+[A-Z{NON_ASCII}]"),
    "postcode-town": Prefilter(gate=rf"(?:^|,|\|)[ \t]*{_POSTCODE_GATE}", same_line=True),
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
                Pattern("unit-first-address", _UNIT_FIRST_STYLE, 0.7),
                Pattern("lower-case-address", _LOWER, 0.7),
                Pattern("eu-address", _EU_STREET, 0.7),
                Pattern("romance-address", _FR_STREET, 0.6),
                Pattern("romance-no-number", _ROMANCE_NO_NUMBER, 0.6),
                Pattern("postcode-town", _POSTCODE_TOWN, 0.6),
                Pattern("po-box", _PO_BOX, 0.7),
            ],
            global_regex_flags=re.MULTILINE,
            prefilters=_PREFILTERS,
        )
        self.gates = with_tail_gates(self.gates, _TAIL_SCANS)

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None, gates_open=SCAN):
        results = super().analyze(text, entities, nlp_artifacts, regex_flags, gates_open)
        if self.use_prefilters:
            gated = self.gates.open(text) if gates_open is SCAN else gates_open
        else:
            gated = None
        for start, end in tail_spans(_TAIL_SCANS, text, gated):
            if self.validate_result(text[start:end]) is False:
                continue
            results.append(
                RecognizerResult("STREET_ADDRESS", start, end, 0.7, None, self._metadata.copy())
            )
        return results

    def validate_result(self, pattern_text: str) -> bool | None:
        words = pattern_text.split()
        if len(words) < 2:
            return False
        first = words[0]
        # "in 2019 Union Station": a year, not a house number, where nothing else says address
        year_first = len(first) == 4 and first.isdigit() and first[:2] in ("19", "20")
        if len(words) >= 3 and not year_first and "," in pattern_text:
            return None  # a street and a town (most addresses: no search below)
        postcode = _ZIP_OR_POSTCODE.search(pattern_text)
        if year_first and not postcode:
            return False
        if len(words) < 3:
            # "3 Dr." or "10 St" alone are references, "Spring 2019" a season: two words are
            # a postcode and town ("10115 Berlin", "1010 Wien").
            return None if postcode or _TOWN_POSTCODE.search(pattern_text) else False
        if postcode or "," in pattern_text or len(_NUMBERS.findall(pattern_text)) > 1:
            return None
        # No town, postcode or unit: the street type must be a common one ("2 Key Features"
        # is not an address, "12 Orchard Road" is).
        return None if any(w.rstrip(".") in _COMMON_TYPES for w in words) else False


_COMMON_TYPES = frozenset(_COMMON_SUFFIXES) | frozenset(w.lower() for w in _COMMON_SUFFIXES)
_NUMBERS = re.compile(r"\d+")
_TOWN_POSTCODE = re.compile(r"(?<!\d)(?!19\d\d|20\d\d)\d{4}(?!\d)")


_POSTCODE_LIKE = re.compile(r"\d{4}|\p{Lu}\d")
_ZIP_OR_POSTCODE = re.compile(rf"\b\d{{5}}\b|{_UK_POSTCODE}|{_CA_POSTCODE}")
