# ruff: noqa: E501 - generator templates read better unwrapped
"""Labeled PII benchmark documents: web pages, forum posts, CVs, support tickets, wiki bios,
commit logs and server logs, with PII planted at known spans and hard negatives beside it.

Every value is generated (random names from several cultures, Luhn-valid cards, checksummed
IBANs, valid phone numbers, realistic keys), phrasings are drawn from several variants and
letter case varies, so scores reflect the recognizers rather than one template.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Carlos Sofia Mateo Lucia Wei Mei Hiroshi Yuki "
    "Arjun Priya Ahmed Fatima Olga Dmitri Kwame Amara Liam Emma Noah Olivia Lars Ingrid Pierre "
    "Camille Giovanni Chiara Siobhan Declan Tomasz Agnieszka Nguyen Linh Omar Leila Rafael Ana "
    "Bjorn Astrid Kofi Zanele Mohammed Aisha Hannah Felix Nora Ethan Chloe Diego Valentina"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Thompson White Harris Clark "
    "Lewis Robinson Walker Young Allen King Wright Scott Nguyen Hill Flores Green Adams Nelson "
    "Baker Hall Rivera Campbell Mitchell Carter Roberts Tanaka Yamamoto Kowalski Novak Schmidt "
    "Muller Rossi Ferrari Dubois Laurent Okafor Mensah Patel Sharma Khan Ivanova Petrov Larsen "
    "Johansson O'Brien McCarthy Fitzgerald Haddad Nakamura Chen Wang Silva Santos Costa"
).split()
STREETS = (
    "Maple Oak Pine Cedar Elm Washington Lake Hill Park Sunset Lincoln Jackson River Highland "
    "Church Mill Spring Meadow Forest Willow Cherry Walnut Chestnut Franklin Madison Jefferson"
).split()
SUFFIX = "Street St Avenue Ave Road Rd Lane Drive Dr Boulevard Blvd Court Way Place Terrace".split()
CITIES = [
    ("Springfield", "IL", "62704"),
    ("Portland", "OR", "97205"),
    ("Austin", "TX", "78701"),
    ("Denver", "CO", "80202"),
    ("Madison", "WI", "53703"),
    ("Columbus", "OH", "43215"),
    ("Raleigh", "NC", "27601"),
    ("Boise", "ID", "83702"),
]
UK_CITIES = [("London", "SW1A 1AA"), ("Manchester", "M1 1AE"), ("Leeds", "LS1 4AP")]
COMPANIES = "Acme Corp|Globex|Initech|Umbrella Labs|Stark Industries|Wayne Enterprises".split("|")


@dataclass
class Doc:
    kind: str
    parts: list[tuple[str, str | None]] = field(default_factory=list)  # (text, type or None)

    def add(self, text: str, entity: str | None = None) -> Doc:
        self.parts.append((text, entity))
        return self

    def build(self) -> tuple[str, list[tuple[int, int, str]], list[tuple[int, int]]]:
        text, spans, negatives, pos = "", [], [], 0
        for chunk, entity in self.parts:
            if entity == "NEG":
                negatives.append((pos, pos + len(chunk)))
            elif entity:
                spans.append((pos, pos + len(chunk), entity))
            text += chunk
            pos += len(chunk)
        return text, spans, negatives


class Gen:
    def __init__(self, seed: int):
        self.r = random.Random(seed)

    def pick(self, seq):
        return self.r.choice(seq)

    def name(self, style: str | None = None) -> str:
        first, last = self.pick(FIRST), self.pick(LAST)
        style = (
            style
            or self.r.choices(
                ["full", "initial", "caps", "lower", "middle", "first"], [5, 1, 1, 1, 1, 1]
            )[0]
        )
        return {
            "full": f"{first} {last}",
            "initial": f"{first[0]}. {last}",
            "caps": f"{first} {last}".upper(),
            "lower": f"{first} {last}".lower(),
            "middle": f"{first} {self.r.choice(string.ascii_uppercase)}. {last}",
            "first": f"{first} {last}",
        }[style]

    def email(self, name: str | None = None) -> str:
        base = name or f"{self.pick(FIRST)} {self.pick(LAST)}"
        parts = [p.strip(".").lower() for p in base.split() if p.strip(".")]
        local = self.pick([".".join(parts), parts[0] + str(self.r.randint(1, 99)), parts[-1]])
        local = local.replace("'", "")
        return (
            f"{local}@{self.pick(['gmail.com', 'example.org', 'mail.co.uk', 'corp.io', 'uni.edu'])}"
        )

    def phone(self) -> str:
        area, mid, end = self.r.randint(201, 989), self.r.randint(200, 999), self.r.randint(0, 9999)
        while area % 100 == 11 or str(area)[1:] == "11":
            area += 1
        return self.pick(
            [
                f"({area}) {mid}-{end:04d}",
                f"{area}-{mid}-{end:04d}",
                f"{area}.{mid}.{end:04d}",
                f"+1 {area} {mid} {end:04d}",
                f"+44 20 7946 {self.r.randint(0, 999):04d}",
                f"+49 30 {self.r.randint(1000000, 9999999)}",
                f"+33 1 {self.r.randint(10, 99)} {self.r.randint(10, 99)} {self.r.randint(10, 99)} {self.r.randint(10, 99)}",
            ]
        )

    def card(self) -> str:
        prefix = self.pick(["4", "51", "37", "6011"])
        length = 15 if prefix == "37" else 16
        digits = [int(c) for c in prefix] + [
            self.r.randint(0, 9) for _ in range(length - len(prefix) - 1)
        ]
        total = 0
        for i, d in enumerate(reversed(digits)):
            total += (d * 2 - 9 if d > 4 else d * 2) if i % 2 == 0 else d
        digits.append((10 - total % 10) % 10)
        s = "".join(map(str, digits))
        if length == 16 and self.r.random() < 0.6:
            return " ".join(s[i : i + 4] for i in range(0, 16, 4))
        return s

    def ssn(self) -> str:
        return f"{self.r.randint(100, 665)}-{self.r.randint(10, 99)}-{self.r.randint(1000, 9999)}"

    def iban(self) -> str:
        country, bban = self.pick([("DE", 18), ("GB", 18), ("FR", 23), ("NL", 14)])
        if country == "GB":
            body = "NWBK" + "".join(str(self.r.randint(0, 9)) for _ in range(14))
        elif country == "NL":
            body = "ABNA" + "".join(str(self.r.randint(0, 9)) for _ in range(10))
        else:
            body = "".join(str(self.r.randint(0, 9)) for _ in range(bban))
        number = int("".join(str(int(c, 36)) for c in body + country + "00"))
        iban = f"{country}{98 - number % 97:02d}{body}"
        return (
            " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
            if self.r.random() < 0.5
            else iban
        )

    def ip(self) -> str:
        if self.r.random() < 0.25:
            return ":".join(f"{self.r.randint(0, 65535):x}" for _ in range(8))
        return ".".join(str(self.r.randint(1, 254)) for _ in range(4))

    def address(self) -> str:
        n = self.r.randint(1, 9999)
        street = f"{self.pick(STREETS)} {self.pick(SUFFIX)}"
        if self.r.random() < 0.25:
            city, pc = self.pick(UK_CITIES)
            return f"{n} {street}, {city} {pc}"
        city, st, z = self.pick(CITIES)
        unit = self.pick(
            ["", "", f", Apt {self.r.randint(1, 40)}", f" Suite {self.r.randint(100, 900)}"]
        )
        return f"{n} {street}{unit}, {city}, {st} {z}"

    def secret(self) -> tuple[str, str, str]:
        """(text before, secret value, text after)."""
        an = string.ascii_letters + string.digits
        rnd = lambda k, al=an: "".join(self.r.choice(al) for _ in range(k))  # noqa: E731
        kind = self.r.randrange(8)
        if kind == 0:
            return (
                "aws_access_key_id = ",
                "AKIA" + rnd(16, string.ascii_uppercase + string.digits),
                "",
            )
        if kind == 1:
            return "export GITHUB_TOKEN=", "ghp_" + rnd(36), ""
        if kind == 2:
            return "OPENAI_API_KEY=", "sk-" + self.pick(["", "proj-"]) + rnd(40), ""
        if kind == 3:
            return "slack token: ", f"xoxb-{self.r.randint(10**10, 10**11)}-{rnd(24)}", ""
        if kind == 4:
            return "Authorization: Bearer ", f"eyJ{rnd(20)}.eyJ{rnd(40)}.{rnd(43)}", ""
        if kind == 5:
            return "password=", rnd(12, an + "!#%&"), ""
        if kind == 6:
            return "DATABASE_URL=postgres://admin:", rnd(14), "@db.internal:5432/app"
        body = "\n".join(rnd(64, an + "+/") for _ in range(4))
        return "", f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----", ""

    def negative(self) -> str:
        r = self.r
        return self.pick(
            [
                f"version {r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 30)}",
                f"v{r.randint(1, 4)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}",
                f"ISBN 978-{r.randint(0, 1)}-{r.randint(100, 999)}-{r.randint(10000, 99999)}-{r.randint(0, 9)}",
                f"doi:10.{r.randint(1000, 9999)}/{r.randint(100000, 999999)}",
                "".join(r.choice("0123456789abcdef") for _ in range(40)),
                "-".join(
                    "".join(r.choice("0123456789abcdef") for _ in range(k))
                    for k in (8, 4, 4, 4, 12)
                ),
                f"@{self.pick(['app.route', 'pytest.fixture', 'staticmethod', 'dataclass', 'property'])}",
                f"{r.randint(2, 99)} * {r.randint(2, 99)} = {r.randint(100, 9999)}",
                f"Case No. {r.randint(2000, 2024)}-CV-{r.randint(10000, 99999)}",
                f"SKU {r.randint(1000, 9999)}-{r.randint(100, 999)}-{r.randint(100, 999)}",
                f"order #{r.randint(10**7, 10**8)}",
                f"ticket {r.randint(100000, 999999)}",
                f"port {r.randint(1024, 65535)}",
                f"{r.randint(1, 28)}/{r.randint(1, 12)}/{r.randint(1990, 2024)}",
                f"{r.randint(1990, 2024)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
                f"x = {r.random():.6f}",
                f"{r.randint(100, 999)}-{r.randint(100, 999)}-{r.randint(1000, 9999)}-{r.randint(0, 9)}",
            ]
        )


def web_page(g: Gen) -> Doc:
    n = g.name()
    d = Doc("web").add(
        g.pick(["About us\n\n", "Welcome to our shop!\n", "Home | Blog | Contact\n\n"])
    )
    d.add(g.pick(["Our founder ", "Written by ", "Meet "])).add(n, "PERSON").add(". ")
    d.add("We ship our ").add(g.negative(), "NEG").add(" release worldwide.\n\n")
    d.add("Visit us at ").add(g.address(), "STREET_ADDRESS").add(g.pick([". ", ".\n"]))
    d.add(g.pick(["Call ", "Phone: ", "Questions? Ring us on "])).add(g.phone(), "PHONE_NUMBER")
    d.add(" or write to ").add(g.email(), "EMAIL_ADDRESS").add(
        ".\n© 2024 " + g.pick(COMPANIES) + "\n"
    )
    return d


def forum_post(g: Gen) -> Doc:
    user = g.name(g.pick(["lower", "full", "first"]))
    d = Doc("forum").add("Re: build fails after upgrading to ").add(g.negative(), "NEG").add("\n\n")
    d.add(g.pick(["hey ", "Hi ", "thanks "])).add(user.split()[0], "PERSON").add(
        g.pick([",\n", "!\n"])
    )
    d.add("same here, my server at ").add(g.ip(), "IP_ADDRESS").add(" crashes with ").add(
        g.negative(), "NEG"
    )
    d.add(". i pasted my config, oops:\n")
    pre, sec, post = g.secret()
    d.add(pre).add(sec, "SECRET").add(post + "\n")
    other = g.name()
    d.add(g.pick(["ping ", "cc ", "maybe ask "])).add(other, "PERSON").add(
        g.pick([" who wrote the patch.\n", ", she knows.\n"])
    )
    d.add(g.pick(["-- ", "Cheers,\n", "regards,\n"])).add(g.name(), "PERSON").add("\n")
    return d


def cv(g: Gen) -> Doc:
    n = g.name(g.pick(["caps", "full", "middle"]))
    d = Doc("cv").add(n, "PERSON").add("\n").add(g.address(), "STREET_ADDRESS").add("\n")
    d.add(g.pick(["Tel: ", "Mobile ", "Phone "])).add(g.phone(), "PHONE_NUMBER").add(" | ")
    d.add(g.email(n), "EMAIL_ADDRESS").add("\n\nEXPERIENCE\n")
    d.add(
        f"Senior Engineer, {g.pick(COMPANIES)} ({g.r.randint(2010, 2018)}-{g.r.randint(2019, 2024)})\n"
    )
    d.add("Shipped ").add(g.negative(), "NEG").add(" and cut latency by 40%.\n")
    d.add("References: ").add(g.name(), "PERSON").add(", ").add(g.phone(), "PHONE_NUMBER").add("\n")
    if g.r.random() < 0.5:
        d.add("SSN: ").add(g.ssn(), "US_SSN").add("\n")
    return d


def support_ticket(g: Gen) -> Doc:
    n = g.name()
    d = Doc("ticket").add("Ticket: ").add(g.negative(), "NEG").add("\nFrom: ").add(n, "PERSON")
    d.add(" <").add(g.email(n), "EMAIL_ADDRESS").add(">\nSubject: refund\n\n")
    d.add(g.pick(["Hello support,\n", "Dear team,\n"]))
    d.add(g.pick(["I was charged twice on card ", "Please refund card ", "my credit card "]))
    d.add(g.card(), "CREDIT_CARD").add(g.pick([". ", " yesterday. "]))
    d.add(g.pick(["Wire it to IBAN ", "Or use my account "])).add(g.iban(), "IBAN_CODE").add(".\n")
    d.add("My SSN is ").add(g.ssn(), "US_SSN").add(" if needed. Call ").add(
        g.phone(), "PHONE_NUMBER"
    )
    d.add(".\n\nThanks,\n").add(n.split()[0] if g.r.random() < 0.5 else n, "PERSON").add("\n")
    return d


def wiki_bio(g: Gen) -> Doc:
    n = g.name("full")
    first, last = n.split()[0], n.split()[-1]
    d = (
        Doc("wiki")
        .add(n, "PERSON")
        .add(
            f" (born {g.r.randint(1940, 1999)}) is a {g.pick(['chemist', 'novelist', 'footballer', 'politician'])} "
        )
    )
    d.add(f"from {g.pick(['Ohio', 'Lyon', 'Osaka', 'Accra'])}. ")
    d.add(last, "PERSON").add(
        f" studied at the University of {g.pick(['Leeds', 'Tokyo', 'Chicago'])} under "
    )
    d.add(g.name("full"), "PERSON").add(". In 2015 ").add(g.pick(["she", "he", "they"]))
    d.add(" published a paper (").add(g.negative(), "NEG").add(") with ").add(
        g.name("initial"), "PERSON"
    )
    d.add(". ").add(first, "PERSON").add(f" lives in {g.pick(['Berlin', 'Toronto', 'Lagos'])}.\n")
    return d


def commit_log(g: Gen) -> Doc:
    a, b = g.name("full"), g.name("full")
    d = Doc("commit").add("commit ").add(g.negative(), "NEG").add("\nAuthor: ").add(a, "PERSON")
    d.add(" <").add(g.email(a), "EMAIL_ADDRESS").add(">\nDate:   Mon Mar 4 10:12:01 2024\n\n")
    d.add("    Fix race in cache eviction; bump to ").add(g.negative(), "NEG").add("\n\n")
    d.add("    Signed-off-by: ").add(b, "PERSON").add(" <").add(g.email(b), "EMAIL_ADDRESS").add(
        ">\n"
    )
    if g.r.random() < 0.5:
        c = g.name(g.pick(["lower", "caps", "full"]))
        d.add("\n -- ").add(c, "PERSON").add(" <").add(g.email(c), "EMAIL_ADDRESS").add(
            ">  Tue, 05 Mar 2024\n"
        )
    return d


def server_log(g: Gen) -> Doc:
    d = Doc("log")
    for _ in range(g.r.randint(3, 6)):
        ts = f"2024-0{g.r.randint(1, 9)}-1{g.r.randint(0, 9)}T0{g.r.randint(0, 9)}:1{g.r.randint(0, 9)}:00Z"
        kind = g.r.randrange(4)
        d.add(ts + " INFO ")
        if kind == 0:
            d.add("login ok user=").add(g.email(), "EMAIL_ADDRESS").add(" from ").add(
                g.ip(), "IP_ADDRESS"
            ).add("\n")
        elif kind == 1:
            d.add("GET /api/v2/items 200 client=").add(g.ip(), "IP_ADDRESS").add(" build=").add(
                g.negative(), "NEG"
            ).add("\n")
        elif kind == 2:
            pre, sec, post = g.secret()
            if "BEGIN" in sec:
                pre, sec = (
                    "token=",
                    "ghp_" + "".join(g.r.choice(string.ascii_letters) for _ in range(36)),
                )
            d.add("config loaded ").add(pre).add(sec, "SECRET").add(post + "\n")
        else:
            d.add("job ").add(g.negative(), "NEG").add(" done in 35ms\n")
    return d


KINDS = [web_page, forum_post, cv, support_ticket, wiki_bio, commit_log, server_log]


def generate(n: int, seed: int = 0) -> list[dict]:
    """n labeled documents: text, spans [(start, end, type)], negatives [(start, end)]."""
    g = Gen(seed)
    docs = []
    for i in range(n):
        text, spans, negatives = KINDS[i % len(KINDS)](g).build()
        docs.append(
            {
                "id": f"bench-{i}",
                "kind": KINDS[i % len(KINDS)].__name__,
                "text": text,
                "spans": spans,
                "negatives": negatives,
            }
        )
    return docs
