"""Word lists, a small seeded prose grammar and fake-PII makers for `corpusforge.pipeline.sample`.

Everything here is original generated text: topic vocabularies feed sentence templates whose
slots are filled from a seeded `random.Random`, so two unrelated documents share almost no word
5-grams while each still reads like plain English. Fake personal data (names, e-mails, phones,
IPs, Luhn-valid card numbers, street addresses, API keys) comes from `Pii`, which counts every
value it hands out so the sample can report what it planted (counts only, never values).
"""

from __future__ import annotations

import random
import re
import string
from collections import Counter
from dataclasses import dataclass

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


def _verbs(spec: str) -> list[Verb]:
    out = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        parts = item.split(":")
        base = parts[0]
        p = parts[1] if len(parts) > 1 else past(base)
        pp = parts[2] if len(parts) > 2 else p
        out.append(Verb(base, p, pp, third_person(base)))
    return out


def _nouns(spec: str) -> list[tuple[str, str]]:
    out = []
    for item in spec.split(","):
        item = item.strip()
        if item:
            sing, _, pl = item.partition(":")
            out.append((sing, pl or plural(sing)))
    return out


def _words(spec: str) -> list[str]:
    return [w.strip() for w in spec.split(",") if w.strip()]


@dataclass
class Topic:
    name: str
    nouns: list[tuple[str, str]]
    adjectives: list[str]
    verbs: list[Verb]
    roles: list[str]
    org_kinds: list[str]
    headlines: list[str]


def _topic(name, nouns, adjectives, verbs, roles, org_kinds, headlines) -> Topic:
    return Topic(
        name,
        _nouns(nouns),
        _words(adjectives),
        _verbs(verbs),
        _words(roles),
        _words(org_kinds),
        _words(headlines),
    )


# ---------------------------------------------------------------------------------------------
# Vocabulary

GENERIC_ADJECTIVES = _words(
    "new, local, recent, major, small, large, early, late, final, public, private, annual, "
    "national, regional, popular, familiar, modest, significant, unusual, careful, detailed, "
    "broad, narrow, steady, sudden, gradual, quiet, busy, crowded, rare, common, affordable, "
    "expensive, reliable, fragile, ambitious, cautious, practical, generous, strict, flexible, "
    "independent, experienced, young, older, temporary, permanent, complex, simple, obvious, "
    "hidden, formal, informal, direct, indirect, urgent, routine, surprising, predictable, "
    "overdue, unexpected, long-running, short-lived, well-known, little-known, costly, efficient"
)

ADVERBS = _words(
    "quickly, slowly, quietly, openly, carefully, briefly, sharply, steadily, gradually, "
    "suddenly, formally, largely, partly, mostly, clearly, narrowly, firmly, gently, loudly, "
    "eventually, initially, repeatedly, reluctantly, eagerly, cautiously, abruptly, "
    "deliberately, jointly, separately, publicly, privately, unexpectedly, predictably"
)

GENERIC_VERBS = _verbs(
    "describe, review, support, challenge, announce, propose, examine, improve, reduce, expand, "
    "replace, delay, approve, reject, praise, criticize, test, measure, track, compare, share, "
    "publish, launch, finance, extend, limit, prepare, organize, change, defend, question, "
    "welcome, adopt, consider, discuss, explore, highlight, ignore, inspect, maintain, monitor, "
    "outline, protect, recommend, restore, revise, schedule, secure, simplify, survey, update, "
    "build:built, buy:bought, bring:brought, choose:chose:chosen, draw:drew:drawn, find:found, "
    "hold:held, keep:kept, lead:led, leave:left, make:made, meet:met, sell:sold, send:sent, "
    "take:took:taken, win:won, write:wrote:written, give:gave:given, show:showed:shown"
)

PARTICIPLES = _words(
    "leaving, prompting, raising, forcing, drawing, creating, sparking, ending, easing, "
    "reversing, doubling, halving, delaying, clearing, widening, narrowing, reviving, testing"
)

OPENERS = _words(
    "Meanwhile, In practice, By contrast, For now, Last year, Over the past decade, "
    "At first, In the end, Until recently, On paper, Since then, In the meantime, "
    "Earlier this month, Two years ago, Under the new rules, In most cases, By the autumn, "
    "According to early figures, As a result, Despite the delays, For the first time, "
    "In a surprise move, Within weeks, Later that evening, On balance"
)

TIMES = _words(
    "next spring, by the end of the year, within six months, before the summer, "
    "over the next decade, later this week, by early autumn, in the coming weeks, "
    "ahead of the winter, after the holidays, before the next election, within two years, "
    "by the following morning, during the first quarter, over three seasons"
)

PREPOSITIONS = _words(
    "in, across, around, near, beyond, during, under, through, for, with, along, behind, "
    "beside, inside, outside, toward, against, among, within"
)

MODALS = _words("could, would, might, should, will, may, must")

QUANTIFIERS = _words("several, many, a few, dozens of, hundreds of, some, a handful of, few")

PLACE_PARTS = _words(
    "North, South, East, West, Upper, Lower, Old, New, Little, Great, Port, Fort, Mount, Lake"
)
PLACE_ROOTS = _words(
    "field, brook, haven, ford, bridge, crest, dale, gate, hurst, mere, moor, stone, wick, "
    "worth, ton, by, mouth, stead, combe, ley"
)
PLACE_STEMS = _words(
    "Ash, Bay, Birch, Bright, Cedar, Clay, Elm, Fair, Glen, Green, Hazel, High, Holly, Kings, "
    "Lark, Linden, Maple, Marsh, Mill, Oak, Pine, Red, Ridge, River, Rose, Salt, Silver, "
    "Stone, Thorn, Water, Willow, Wolf, Wren, Yew, Amber, Copper, Heron, Orchard, Hollow"
)

# ---------------------------------------------------------------------------------------------
# Topics (nouns; adjectives; verbs; people's roles; organisation kinds; headline seeds)

TOPICS: dict[str, Topic] = {
    t.name: t
    for t in [
        _topic(
            "city",
            "council, budget, neighborhood, bridge, transit line, library, zoning plan, "
            "housing project, street festival, park, district, tenant, landlord, bus route, "
            "ferry terminal, "
            "water main, sidewalk, permit, committee, ballot measure, school board, fire station, "
            "recycling program, parking garage, bike lane, town hall, ordinance, levy, playground, "
            "market square, flood barrier, tram depot, rent cap, public hearing, waiting list",
            "municipal, civic, residential, downtown, suburban, zoning, contested, overcrowded, "
            "unanimous, divided, underfunded, walkable, historic",
            "fund, repave, rezone, reopen, petition, relocate, renovate, subsidize, postpone, "
            "annex, assess, allocate, appeal, audit",
            "city planner, council member, transit director, housing advocate, deputy mayor, "
            "neighborhood organizer, budget analyst, school trustee",
            "City Council, Housing Trust, Transit Authority, Planning Board, Civic Association",
            "council vote, transit plan, housing shortage, bridge repairs, park redesign",
        ),
        _topic(
            "tech",
            "server, database, release, library, compiler, laptop, firmware, router, browser, "
            "plugin, repository, pipeline, container, cluster, dashboard, API, cache, query, "
            "build script, test suite, config file, log file, kernel, driver, package manager, "
            "load balancer, certificate, token, schema, index, backup, terminal, keyboard, "
            "memory leak, race condition",
            "open-source, distributed, deprecated, experimental, encrypted, lightweight, "
            "asynchronous, backward-compatible, misconfigured, containerized, headless, stable",
            "deploy, compile, refactor, benchmark, patch, debug:debugged, migrate, cache, index, "
            "encrypt, configure, install, revert, profile, containerize",
            "software engineer, maintainer, security researcher, product manager, site "
            "reliability engineer, developer advocate, data engineer, systems administrator",
            "Labs, Systems, Software, Networks, Data Cooperative",
            "security update, release notes, outage report, new framework, developer survey",
        ),
        _topic(
            "science",
            "telescope, sample, enzyme, fossil, glacier, sediment, protein, galaxy, experiment, "
            "hypothesis, microscope, specimen, reef, volcano, comet, isotope, genome, bacterium:"
            "bacteria, ice core, climate model, field station, survey vessel, sensor array, "
            "data set, peer review, laboratory, seabed, tree ring, spectrum, particle, moth, "
            "wetland, aquifer, nebula",
            "molecular, coastal, marine, geological, thermal, orbital, microbial, statistical, "
            "preliminary, peer-reviewed, tropical, subterranean, ancient",
            "sequence, analyze, calibrate, observe, sample, model, replicate, classify, detect, "
            "quantify, excavate, catalog, simulate, isolate",
            "biologist, geologist, astronomer, lead author, research fellow, field technician, "
            "marine ecologist, doctoral student",
            "Institute, Observatory, Research Station, University, Natural History Museum",
            "new species, ice sheet study, telescope images, fossil discovery, reef survey",
        ),
        _topic(
            "food",
            "recipe, kitchen, bakery, sourdough starter, spice blend, menu, restaurant, chef, "
            "oven, skillet, marinade, broth, pastry, harvest, farmers market, dumpling, "
            "vinaigrette, risotto, tasting menu, cookbook, pantry, stew, sauce, dough, "
            "casserole, flatbread, noodle, lentil, orchard, cheese board, brunch, food truck, "
            "dessert, pickle, coffee roaster",
            "crispy, smoky, tangy, seasonal, homemade, fragrant, tender, savory, buttery, "
            "spicy, roasted, fermented, delicate",
            "simmer, roast, knead, season, braise, whisk, bake, chop, marinate, grill, ferment, "
            "garnish, taste, serve, plate, chop:chopped",
            "head chef, food critic, pastry cook, restaurant owner, home cook, baker, sommelier, "
            "market vendor",
            "Bakery, Kitchen, Supper Club, Food Hall, Culinary School",
            "weeknight dinner, bread baking, new bistro, seasonal menu, street food",
        ),
        _topic(
            "travel",
            "itinerary, passport, hostel, ferry, train station, border crossing, mountain pass, "
            "guidebook, suitcase, boarding pass, hiking trail, night bus, old town, harbor, "
            "campsite, museum, cathedral, coastline, lighthouse, village, valley, airport "
            "lounge, rental car, travel insurance, layover, cable car, canal, market, hot "
            "spring, national park, hostel dorm, souvenir, viewpoint, island, bay",
            "scenic, remote, crowded, overpriced, budget, coastal, alpine, sleepy, sun-drenched, "
            "windswept, off-season, walkable, picturesque",
            "visit, explore, book, hike, pack, wander, cross, cancel, reschedule, photograph, "
            "navigate, rent, tour, sail",
            "travel writer, tour guide, hostel owner, ferry captain, park ranger, backpacker, "
            "flight attendant, local guide",
            "Tourism Board, Travel Cooperative, Heritage Trust, Rail Company, Ferry Line",
            "weekend guide, island hopping, rail journey, hidden beaches, mountain villages",
        ),
        _topic(
            "sport",
            "season, match, goalkeeper, striker, coach, stadium, league table, transfer window, "
            "penalty, relegation battle, training camp, rookie, playoff, marathon, relay, "
            "cycling team, tournament, referee, half-time, comeback, scoreline, fixture list, "
            "derby, title race, contract, injury, academy, locker room, pitch, trophy, "
            "championship, season ticket, rivalry, starting lineup, squad",
            "undefeated, injured, promoted, relegated, aggressive, defensive, disciplined, "
            "unbeaten, veteran, inexperienced, dramatic, one-sided, hard-fought",
            "score, defend, tackle, sign, substitute, coach, train, qualify, draft, "
            "equalize, concede, clinch, celebrate, overtake:overtook:overtaken",
            "head coach, team captain, club chairman, sports physician, assistant coach, "
            "scout, team manager, commentator",
            "Athletic Club, Rovers, United, Cycling Club, Rowing Association",
            "derby report, transfer news, playoff preview, marathon results, title race",
        ),
        _topic(
            "health",
            "clinic, vaccine, patient, symptom, diagnosis, treatment, waiting room, nurse, "
            "prescription, blood test, sleep pattern, diet, exercise routine, hospital ward, "
            "ambulance, pharmacy, screening program, immune response, allergy, dose, therapy, "
            "checkup, infection, recovery, health record, insurance claim, emergency room, "
            "heart rate, outbreak, trial, side effect, medication, surgery, specialist, "
            "appointment",
            "chronic, acute, clinical, preventive, mild, severe, contagious, routine, "
            "experimental, elderly, pediatric, over-the-counter, seasonal",
            "diagnose, treat, prescribe, vaccinate, screen, admit:admitted, discharge, "
            "refer:referred, monitor, "
            "recover, isolate, sterilize, operate, rehabilitate",
            "family doctor, epidemiologist, nurse practitioner, hospital administrator, "
            "pharmacist, surgeon, public health officer, physiotherapist",
            "Health Trust, Medical Center, Community Clinic, Hospital, Public Health Agency",
            "flu season, clinic waiting times, vaccine rollout, sleep research, hospital funding",
        ),
        _topic(
            "finance",
            "interest rate, mortgage, pension, savings account, stock market, bond, dividend, "
            "inflation figure, quarterly report, invoice, tax return, budget deficit, loan, "
            "credit score, exchange rate, startup, investor, portfolio, bank branch, payment "
            "app, audit, merger, shareholder, balance sheet, fee, subsidy, tariff, earnings "
            "call, credit union, payroll, rent increase, index fund, retirement plan, "
            "bankruptcy, valuation",
            "quarterly, fiscal, volatile, inflationary, profitable, indebted, cautious, "
            "speculative, tax-free, long-term, short-term, unsecured, diversified",
            "invest, borrow, refinance, hedge, audit, repay, downgrade, upgrade, acquire, "
            "liquidate, forecast:forecast, underwrite:underwrote:underwritten, default, "
            "lend:lent",
            "chief economist, financial adviser, fund manager, accountant, bank teller, "
            "credit analyst, tax consultant, investment banker",
            "Savings Bank, Credit Union, Capital Partners, Insurance Group, Pension Fund",
            "rate decision, mortgage costs, pension reform, earnings season, startup funding",
        ),
        _topic(
            "garden",
            "greenhouse, seedling, compost heap, raised bed, tomato plant, hedge, lawn, "
            "allotment, trellis, watering can, rose bush, pruning saw, mulch, potting shed, "
            "herb garden, beetle, aphid, fruit tree, cutting, bulb, soil test, rain barrel, "
            "wildflower meadow, pond, bird feeder, vegetable patch, hosepipe, frost cloth, "
            "climbing bean, squash vine, earthworm, orchard ladder, border, shrub, wheelbarrow",
            "hardy, drought-tolerant, perennial, annual, shady, waterlogged, overgrown, "
            "compact, fragrant, evergreen, self-seeding, frost-tender, pollinator-friendly",
            "prune, water, plant, sow, repot:repotted, mulch, fertilize, harvest, transplant, "
            "weed, propagate, stake, overwinter, divide",
            "head gardener, allotment secretary, nursery owner, garden designer, beekeeper, "
            "horticulturist, volunteer, tree surgeon",
            "Garden Society, Allotment Association, Plant Nursery, Botanic Garden, Seed Library",
            "spring planting, frost warning, pest control, seed swap, pruning guide",
        ),
        _topic(
            "history",
            "archive, manuscript, castle, treaty, railway, shipwreck, mill, guild, monastery, "
            "map, census, diary, letter, battlefield, merchant, harbor wall, parish register, "
            "coin hoard, estate, workhouse, canal, printing press, photograph, family tree, "
            "lighthouse keeper, cartographer, town charter, market cross, almanac, tithe barn, "
            "chapel, lantern, ledger, engraving, uprising",
            "medieval, colonial, industrial, forgotten, handwritten, restored, disputed, "
            "surviving, wartime, Victorian, ancient, rediscovered, crumbling",
            "restore, transcribe, excavate, digitize, catalog, document, preserve, commemorate, "
            "rediscover, reconstruct, date, trace, chronicle, annotate",
            "archivist, historian, curator, conservator, local historian, genealogist, "
            "museum director, archaeologist",
            "Historical Society, Archive, Heritage Museum, Record Office, Antiquarian Society",
            "archive discovery, restored mill, shipwreck survey, old maps, family history",
        ),
        _topic(
            "music",
            "album, guitar, chorus, rehearsal, concert hall, record label, setlist, festival "
            "stage, drummer, violin, orchestra, demo tape, vinyl pressing, bass line, studio, "
            "tour bus, soundcheck, encore, choir, synthesizer, melody, lyric sheet, jazz club, "
            "piano, headphones, amplifier, backing track, songwriter, playlist, radio session, "
            "brass section, recital, single, music video, producer",
            "acoustic, electric, melancholy, upbeat, experimental, sold-out, orchestral, "
            "lo-fi, soulful, raw, polished, underground, chart-topping",
            "record, rehearse, perform, compose, arrange, mix, remix, tour, release, tune, "
            "improvise, sample, broadcast:broadcast, conduct",
            "bandleader, sound engineer, music critic, session musician, promoter, conductor, "
            "composer, festival director",
            "Records, Philharmonic, Music Hall, Jazz Society, Youth Orchestra",
            "album review, festival lineup, orchestra season, new single, tour dates",
        ),
        _topic(
            "education",
            "classroom, curriculum, teacher, exam, homework, lecture, campus, scholarship, "
            "textbook, semester, tutor, reading list, school trip, science fair, graduation, "
            "enrolment, dormitory, seminar, grade, essay, timetable, library card, field trip, "
            "principal, student union, thesis, lab report, study group, report card, "
            "whiteboard, admissions office, coursework, internship, alumni network, lunch hall",
            "primary, secondary, remote, bilingual, underfunded, selective, vocational, "
            "part-time, full-time, inclusive, oversubscribed, rigorous, hands-on",
            "teach:taught, grade, enroll, graduate, tutor, mentor, assess, revise, study, lecture, "
            "supervise, accredit, examine, coach",
            "head teacher, lecturer, admissions officer, school counselor, dean, teaching "
            "assistant, education researcher, governor",
            "Academy, College, Learning Trust, School District, Community College",
            "exam results, school funding, new curriculum, campus housing, teacher shortage",
        ),
    ]
}

NARRATIVE = _topic(
    "narrative",
    "lantern, cottage, meadow, hedgerow, carriage, ferryman:ferrymen, orchard, millpond, parlour, "
    "chimney, candle, shepherd, bridle path, harbour, schooner, churchyard, inn, tavern, "
    "kitchen garden, letter, cloak, road, hill, storm, river, well, barn, cellar, stair, "
    "window, gate, fire, table, bell, fog, moor, tide, cart, basket, field",
    "grey, weary, silent, crooked, gentle, ancient, narrow, damp, cheerful, solemn, bitter, "
    "pale, restless, faithful, stubborn, lonely, kindly, ruined, golden, wintry",
    "carry, open, close, watch, follow, mend, gather, climb, cross, fetch, "
    "greet, answer, wrap:wrapped, light:lit, bring:brought, hold:held, keep:kept, "
    "leave:left, find:found, see:saw:seen, "
    "take:took:taken, tell:told, hear:heard, seek:sought, meet:met, lead:led, drive:drove:driven",
    "old miller, young schoolmaster, widow, captain, innkeeper, parson, blacksmith, "
    "doctor, housekeeper, stranger, ferryman, shepherd, squire, curate, carter",
    "",
    "",
)

# ---------------------------------------------------------------------------------------------
# Names and places for fake personal data

FIRST_NAMES = _words(
    "Amelia, Aaron, Beatrice, Caleb, Clara, Damian, Delia, Elliot, Esther, Felix, Fiona, "
    "Gideon, Greta, Harriet, Hugo, Imogen, Isaac, Jasmine, Jonah, Keira, Lionel, Lucinda, "
    "Malcolm, Marisol, Nadia, Nathaniel, Odette, Oscar, Priya, Quentin, Rosalind, Rupert, "
    "Sabrina, Tobias, Ursula, Victor, Wanda, Xavier, Yvonne, Zachary, Adaeze, Bongani, "
    "Chiara, Dmitri, Emeka, Farida, Hiroshi, Ingrid, Joaquín, Kalani, Lorenzo, Mei, "
    "Nikolai, Oluwaseun, Paloma, Rahul, Siobhan, Tomasz, Valentina, Wei, José, Zoë, "
    "Renée, François, Søren, Anaïs, Marta, Declan, Hannah, Leonard, Gwendolyn, Terrence"
)
LAST_NAMES = _words(
    "Abernathy, Blackwood, Castellano, Dunmore, Ellery, Fairweather, Galloway, Hargreaves, "
    "Iverson, Jessop, Kowalczyk, Lindqvist, Montague, Nakamura, Okonkwo, Pemberton, "
    "Quigley, Ravensworth, Sandoval, Thorncroft, Underhill, Vasquez, Whitlock, Yardley, "
    "Zielinski, Achebe, Brennan, Chaudhry, Delacroix, Esposito, Fitzgerald, Gallagher, "
    "Haddad, Ishikawa, Jovanović, Kristiansen, Lambert, Mbeki, Novak, O'Sullivan, Petrakis, "
    "Rasmussen, Szabo, Tanaka, Van der Berg, Whitfield, Müller, Núñez, Ødegaard, Costa, "
    "Moreau, Donnelly, Ferreira, Holloway, Ashworth, Carrington, Merriweather, Strand"
)
USERNAME_WORDS = _words(
    "byte, river, fox, pixel, cedar, nova, quill, ember, tundra, lumen, hollow, crane, "
    "comet, rust, vapor, fern, orbit, gravel, harbor, moss, static, willow, ridge, cobalt"
)

US_CITIES = [
    ("Springfield", "IL", "627"),
    ("Portland", "OR", "972"),
    ("Austin", "TX", "787"),
    ("Columbus", "OH", "432"),
    ("Raleigh", "NC", "276"),
    ("Madison", "WI", "537"),
    ("Boise", "ID", "837"),
    ("Tucson", "AZ", "857"),
    ("Albany", "NY", "122"),
    ("Richmond", "VA", "232"),
    ("Denver", "CO", "802"),
    ("Spokane", "WA", "992"),
    ("Savannah", "GA", "314"),
    ("Burlington", "VT", "054"),
]
STREET_NAMES = _words(
    "Maple, Oak, Cedar, Elm, Willow, Harbor, Lakeview, Hillcrest, Sunset, Orchard, Mill, "
    "Church, Park, Chestnut, Franklin, Jefferson, Walnut, Prospect, Riverside, Meadow"
)
STREET_TYPES = _words("Street, Avenue, Road, Lane, Drive, Court, Boulevard, Place, Terrace, Way")
EMAIL_DOMAINS = _words(
    "example.com, example.org, example.net, mail.example.com, post.example.org, "
    "inbox.example.net, staff.example.edu"
)
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


# ---------------------------------------------------------------------------------------------
# Prose


_TEMPLATES_NEWS = [
    "{Open}, {np} {vp} {np} {pp}.",
    "{NP} {adv} {vp} {np} {pp}, {part} {np}.",
    "{NP} {v3} {np} {pp}, according to {org}.",
    "“{Clause},” said {person}, {role_a} at {org}.",
    "{Person} {said} that {np} {modal} {vb} {np} {time}.",
    "In {year}, {np} {vp} {np} {pp}.",
    "Unlike {np}, {np} {v3} {np} {pp}.",
    "There were {quant} {nouns} {pp}, and {np} {vp} {np}.",
    "{Num} {nouns} {vp} {np} {time}.",
    "{NP} and {np} {vp} {np} {pp}.",
    "{Open}, {nps} {modal} {vb} {np} if {np} {v3} {np}.",
    "{NP}, which {vp} {np} {time}, {adv} {vp} {np}.",
    "For {nps} {pp}, {np} {v3} {nouns}.",
    "Most {nouns} {vb} {np} {pp}, but {np} {vp} {np}.",
    "{NP} {vp} {np}; {np} {vp} {np} {pp}.",
    "It is {adj} that {np} {vp} {np} {pp}.",
    "Critics {vp} {np}, arguing that {nps} {modal} {vb} {np} {time}.",
    "{NP} was {adv} {adj} {pp}.",
    "After {np} {vp} {np}, {np} {vp} {np} {pp}.",
    "Even so, {np} {vp} {np} and {vp} {np}.",
    "By {year}, {np} had {vpp} {num} {nouns} {pp}.",
    "“We {vp} {np} {time},” {person} said, “and {nps} {vp} {np}.”",
    "{NP} {modal} not {vb} {np} {pp} until {np} {v3} {np}.",
]
_TEMPLATES_BLOG = [
    "I {vp} {np} {pp}, and {clause}.",
    "We {adv} {vp} {np} {time}.",
    "My {noun} {vp} {np} {pp}.",
    "Honestly, {clause}.",
    "If you {vb} {np} {pp}, {vb} {np} first.",
    "The {adj} {noun} was {adv} {adj}, and {np} {vp} {np}.",
    "Have you ever {vpp} {np} {pp}? {Clause}.",
    "{Open}, I {vp} {quant} {nouns} and {vp} {np}.",
    "It turns out that {np} {v3} {np} {pp}.",
    "A friend {vp} {np} {pp}, which {vp} {np}.",
    "Next time I will {vb} {np} {time}.",
    "{NP} {v3} {nouns}, so I {vp} {np} {pp}.",
    "I still {vb} {nps} {pp}, even when {np} {v3} {np}.",
    "Here is the thing: {clause}.",
    "{Num} {nouns} later, {np} {vp} {np}.",
]
_TEMPLATES_NARRATIVE = [
    "I {vp} the {adj} {noun} {pp}, and {clause}.",
    "The {role} {vp} {np} {pp}, for {clause}.",
    "“{Clause},” said the {role}, and {vp} {np}.",
    "It was {adj} {pp} when we {vp} the {noun}.",
    "We {vp} {np} {pp}, and the {role} {vp} {np} {adv}.",
    "There was {a_adj} {noun} {pp}, and {np} {vp} it.",
    "{Open}, the {role} {vp} {np} and {vp} {np}.",
    "No one {vp} {np}, though {np} {vp} {np} {pp}.",
    "“Will you {vb} {np}?” asked the {role}. “{Clause}.”",
    "So I {vp} {np}, and {clause}, and the {noun} was {adj}.",
    "Long afterwards the {role} {vp} {np} {pp}.",
    "The {noun} was {adj} and the {noun} {adj}, and {clause}.",
]

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
            "news": _TEMPLATES_NEWS,
            "blog": _TEMPLATES_BLOG + _TEMPLATES_NEWS[:12],
            "narrative": _TEMPLATES_NARRATIVE,
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
