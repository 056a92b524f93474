"""A small, deterministic sample corpus in the real source formats.

`write_sample(out_dir, seed, scale)` writes

* ``web/crawl-NNNNN.warc.gz`` - WARC/1.0, one gzip member per record: a ``warcinfo`` record,
  then a ``request`` + ``response`` pair per fetched URL (HTML pages with navigation, cookie
  banners, sidebars, footers, scripts and styles around the article; a few pages declare
  ``windows-1252`` / ``iso-8859-1`` only in ``<meta>``; plus a robots.txt, a PNG and a 404);
* ``books/`` - Project Gutenberg plain-text books in three header/footer styles (modern UTF-8
  with BOM and CRLF, 2006-2019 ISO-8859-1, 2004 "no-space marker" style gzipped), and the
  modern one again as a ``.zip``;
* ``wiki/enwiki-sample-pages-articles.xml.bz2`` - a MediaWiki export (schema 0.11) with
  infoboxes, citations, refs, tables, files, categories, a redirect, a Talk page and a
  project-namespace page;
* ``sft/instructions.jsonl`` - instruction pairs (``prompt``/``response``) and chat rows
  (``messages``).

The text is original and generated from a seeded grammar (`corpusforge.pipeline.sample_text`); fake
personal data, exact and near duplicates are planted on purpose and reported in the returned
dict by counts and record ids, never by value. Same seed => byte-identical files: every date
is derived from the seed, gzip headers carry mtime 0 and zip entries a fixed date.
"""

from __future__ import annotations

import base64
import bz2
import hashlib
import html
import io
import json
import random
import re
import struct
import textwrap
import unicodedata
import uuid
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from corpusforge.pipeline.sample_text import (
    NARRATIVE,
    PLACE_ROOTS,
    PLACE_STEMS,
    TOPICS,
    USERNAME_WORDS,
    Pii,
    Prose,
    perturb,
)

__all__ = ["write_sample", "SAMPLE_VERSION"]

SAMPLE_VERSION = 1
BASE_TIME = datetime(2024, 3, 4, 6, 0, 0, tzinfo=UTC)
WIKI_FILE = "wiki/enwiki-sample-pages-articles.xml.bz2"
SFT_FILE = "sft/instructions.jsonl"
MW_NS = "http://www.mediawiki.org/xml/export-0.11/"


# ---------------------------------------------------------------------------------------------
# Bookkeeping: what was planted where (counts and ids only)


@dataclass
class _Doc:
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
class _Ledger:
    docs: list[_Doc] = field(default_factory=list)
    exact: list[dict[str, Any]] = field(default_factory=list)
    near: list[dict[str, Any]] = field(default_factory=list)
    boilerplate_pages: int = 0

    def add(self, source, file, locator, uri, kind, tally) -> _Doc:
        pii, sub = tally
        doc = _Doc(source, file, str(locator), uri, kind, Counter(pii), Counter(sub))
        self.docs.append(doc)
        return doc


def _rng(seed: int, *parts: object) -> random.Random:
    return random.Random(":".join(["corpusforge-sample", str(seed), *map(str, parts)]))


def _uuid(seed: int, *parts: object) -> str:
    digest = hashlib.sha256(":".join(["warc", str(seed), *map(str, parts)]).encode()).digest()
    return f"<urn:uuid:{uuid.UUID(bytes=digest[:16], version=4)}>"


def _gzip(data: bytes) -> bytes:
    """One gzip member, mtime 0, no file name, OS 'unknown': the same bytes everywhere."""
    co = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = co.compress(data) + co.flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


def _fold(text: str, encoding: str) -> str:
    """Make `text` encodable in `encoding`: typographic quotes to ASCII, accents stripped."""
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        return text
    out = []
    for ch in text:
        try:
            ch.encode(encoding)
            out.append(ch)
        except UnicodeEncodeError:
            repl = {"“": '"', "”": '"', "‘": "'", "’": "'", "—": "--", "–": "-", "…": "..."}
            ch = (
                repl.get(ch) or unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            )
            out.append(ch)
    return "".join(out)


def _slug(text: str) -> str:
    keep = "".join(c.lower() if c.isalnum() else "-" for c in _fold(text, "ascii"))
    return "-".join(p for p in keep.split("-") if p)[:60]


# ---------------------------------------------------------------------------------------------
# Web: sites, pages, HTML


@dataclass
class _Site:
    kind: str
    name: str
    domain: str
    topics: list[str]
    nav: list[str]
    headlines: list[str]
    licence: str
    charset: str = "utf-8"
    accent: str = "#1a4f8b"
    ga_id: str = ""
    phone: str = ""
    address: str = ""


@dataclass(eq=False)
class _Page:
    url: str
    title: str
    html: str = ""
    kind: str = "news"
    tally: tuple[Counter[str], Counter[str]] = field(default_factory=lambda: (Counter(), Counter()))
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    body: bytes = b""
    charset: str = "utf-8"
    # set while writing the WARC
    record_id: str = ""
    doc: _Doc | None = None


_NAV = {
    "news": ["Home", "Local", "Business", "Science", "Health", "Sport", "Opinion", "Podcasts"],
    "blog": ["Home", "Recipes", "Travel", "Garden", "Archive", "About me", "Contact"],
    "forum": ["Forums", "What's new", "Members", "Search", "Rules", "Log in", "Register"],
    "shop": ["Shop all", "New arrivals", "Outdoor", "Kitchen", "Audio", "Sale", "Help"],
    "company": ["Home", "Services", "Our work", "About us", "Careers", "Contact"],
    "farm": ["Home", "Encyclopedia", "Random article", "Categories", "About"],
    "mirror": ["Front page", "Latest", "Sources", "About this mirror"],
}


def _site(rng: random.Random, kind: str, topics: list[str]) -> _Site:
    stem, root = rng.choice(PLACE_STEMS), rng.choice(PLACE_ROOTS)
    town = stem + root
    if kind == "news":
        name = f"The {town} {rng.choice(['Gazette', 'Courier', 'Chronicle', 'Herald', 'Post'])}"
        domain = f"www.{town.lower()}{rng.choice(['gazette', 'news', 'courier'])}.com"
    elif kind == "blog":
        name = f"{rng.choice(['Notes from', 'Life at', 'Letters from'])} {town}"
        domain = f"{town.lower()}{rng.choice(['notes', 'diary', 'kitchen'])}.blog"
    elif kind == "forum":
        name = f"{town} {rng.choice(['Tech Forums', 'Admin Community', 'Help Desk'])}"
        domain = f"forum.{town.lower()}{rng.choice(['tech', 'dev', 'ops'])}.net"
    elif kind == "shop":
        name = f"{town} {rng.choice(['Outfitters', 'Goods', 'Supply Co.'])}"
        domain = f"shop.{town.lower()}{rng.choice(['outfitters', 'goods', 'supply'])}.com"
    elif kind == "company":
        name = f"{town} {rng.choice(['Consulting', 'Architects', 'Analytics', 'Studio'])}"
        domain = f"www.{town.lower()}{rng.choice(['consulting', 'design', 'partners'])}.co.uk"
    elif kind == "farm":
        name = f"{town}pedia"
        domain = f"www.{town.lower()}pedia.info"
    else:  # mirror / aggregator
        name = f"{town} {rng.choice(['News Mirror', 'Daily Digest', 'Reader'])}"
        domain = f"{town.lower()}-{rng.choice(['mirror', 'digest', 'reader'])}.org"
    licence = {
        "news": (
            f"This story is published by {name} under a Creative Commons Attribution-"
            "NoDerivatives 4.0 licence. You may republish it free of charge provided you credit "
            f"{name}, link back to the original article and do not edit the text; photographs "
            "and illustrations are not covered by this licence and may not be reused."
        ),
        "blog": (
            f"Unless otherwise noted, all words and pictures on {name} are licensed under a "
            "Creative Commons Attribution-ShareAlike 4.0 International licence. Quote freely, "
            "credit the author and share your adaptations under the same terms."
        ),
        "mirror": (
            f"{name} republishes syndicated stories under the terms set by each original "
            "publisher. Copyright remains with the original authors; report errors to the "
            "publisher named above the story."
        ),
    }.get(kind, f"Copyright {name}. All rights reserved.")
    headlines = [Prose(rng, TOPICS[rng.choice(topics)]).title() for _ in range(8)]
    site = _Site(
        kind,
        name,
        domain,
        topics,
        _NAV[kind],
        headlines,
        licence,
        accent=rng.choice(["#1a4f8b", "#8b1a1a", "#2f6b3a", "#5b3a8b", "#b36b00", "#222"]),
        ga_id=f"G-{''.join(rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ23456789') for _ in range(10))}",
    )
    return site


def _e(text: str) -> str:
    return html.escape(text, quote=False)


def _paras(paragraphs: list[str]) -> str:
    return "\n".join(f"<p>{_e(p)}</p>" for p in paragraphs)


def _render(site: _Site, page_title: str, main: str, rng: random.Random, when: datetime) -> str:
    """Wrap the main content in a realistic page: head, scripts, banner, nav, sidebar, footer."""
    if site.charset == "iso-8859-1":
        meta = '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
    else:
        meta = f'<meta charset="{site.charset}">'
    nav = "\n".join(
        f'<li><a href="/{_slug(item) if item != "Home" else ""}">{_e(item)}</a></li>'
        for item in site.nav
    )
    picks = rng.sample(site.headlines, 5)
    sidebar = "\n".join(f'<li><a href="/{_slug(h)}/">{_e(h)}</a></li>' for h in picks)
    year = when.year
    ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "WebPage",
            "name": page_title,
            "dateModified": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "publisher": {"@type": "Organization", "name": site.name},
        },
        ensure_ascii=True,
    )
    contact = ""
    if site.phone or site.address:
        contact = f'<p class="contact">{_e(site.address)} &middot; {_e(site.phone)}</p>\n'
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
{meta}
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(page_title)} | {_e(site.name)}</title>
<link rel="stylesheet" href="/assets/css/main.{rng.randrange(16**8):08x}.css">
<link rel="icon" href="/favicon.ico">
<style>
:root {{ --accent: {site.accent}; }}
body {{ margin: 0; font: 17px/1.6 Georgia, "Times New Roman", serif; color: #222; }}
.site-header, .site-footer {{ background: var(--accent); color: #fff; padding: 0.8rem 1.2rem; }}
.main-nav ul {{ list-style: none; display: flex; gap: 1rem; margin: 0; padding: 0; }}
.cookie-banner {{ position: fixed; bottom: 0; left: 0; right: 0; background: #111; color: #eee; }}
.sidebar {{ float: right; width: 28%; font-size: 0.9rem; }}
article {{ max-width: 42rem; }}
</style>
<script async src="https://www.googletagmanager.com/gtag/js?id={site.ga_id}"></script>
<script>
window.dataLayer = window.dataLayer || [];
function gtag(){{dataLayer.push(arguments);}}
gtag('js', new Date());
gtag('config', '{site.ga_id}', {{ 'anonymize_ip': true }});
</script>
<script type="application/ld+json">{ld}</script>
</head>
<body class="{site.kind}-page">
<div id="cookie-banner" class="cookie-banner" role="dialog" aria-label="Cookie consent">
<p>We use cookies and similar technologies to keep this site working, to measure traffic and to
personalise content. Choose "Accept all" to agree, or manage your preferences at any time.
<a href="/privacy-policy">Privacy policy</a></p>
<button id="cookie-accept" type="button">Accept all</button>
<button id="cookie-manage" type="button">Manage preferences</button>
</div>
<header class="site-header">
<a class="logo" href="/">{_e(site.name)}</a>
<nav class="main-nav" aria-label="Main"><ul>
{nav}
</ul></nav>
<form class="search" action="/search" role="search"><input type="search" name="q"
placeholder="Search"><button type="submit">Search</button></form>
</header>
<div class="layout">
<main id="content">
{main}
</main>
<aside class="sidebar">
<h3>Most read</h3>
<ul>
{sidebar}
</ul>
<div class="newsletter"><h3>Newsletter</h3><p>Get the best of {_e(site.name)} in your inbox
every Friday.</p><form action="/subscribe" method="post"><input type="email" name="email"
placeholder="Your e-mail address"><button>Sign up</button></form></div>
</aside>
</div>
<footer class="site-footer">
<nav class="footer-nav"><a href="/about">About</a> | <a href="/contact">Contact</a> |
<a href="/careers">Careers</a> | <a href="/advertise">Advertise</a> | <a href="/terms">Terms of
use</a> | <a href="/privacy-policy">Privacy</a> | <a href="/accessibility">Accessibility</a></nav>
{contact}<p>© {year} {_e(site.name)}. All rights reserved.</p>
</footer>
<script>
document.getElementById('cookie-accept').addEventListener('click', function () {{
  document.cookie = 'consent=all; max-age=31536000; path=/';
  document.getElementById('cookie-banner').remove();
}});
</script>
<noscript><img src="https://pixel.{site.domain}/p.gif?v=1" alt="" width="1" height="1"></noscript>
</body>
</html>
"""


def _fmt_date(when: datetime) -> str:
    return f"{when.strftime('%B')} {when.day}, {when.year}"


def _news_page(site: _Site, rng: random.Random, pii: Pii, when: datetime) -> _Page:
    topic = TOPICS[rng.choice(site.topics)]
    prose = Prose(rng, topic, pii, "news")
    title = prose.title()
    byline = f"By {pii.name()}"
    if rng.random() < 0.25:
        byline += f" and {pii.name()}"
    paras = prose.paragraphs(rng.randint(8, 12), 3, 6)
    extra = ""
    if rng.random() < 0.5:
        reporter = pii.new_person()
        extra += (
            f'<p class="tagline">Contact the reporter, {_e(pii.name(reporter))}, at '
            f"{_e(pii.email(reporter))} or {_e(pii.phone('us'))}.</p>\n"
        )
    if rng.random() < 0.3:
        extra += (
            f"<p>MEDIA CONTACT: {_e(pii.name(style='caps'))}, {_e(prose.org()[4:])}, "
            f"{_e(pii.phone())}</p>\n"
        )
    main = (
        f'<article class="story">\n<h1>{_e(title)}</h1>\n'
        f'<p class="byline">{_e(byline)} &middot; <time datetime="{when:%Y-%m-%d}">'
        f"{_fmt_date(when)}</time></p>\n{_paras(paras)}\n{extra}"
        f'<p class="licence">{_e(site.licence)}</p>\n</article>'
    )
    url = f"https://{site.domain}/{when:%Y/%m/%d}/{_slug(title)}"
    return _Page(url, title, _render(site, title, main, rng, when), "news", pii.take())


def _blog_page(site: _Site, rng: random.Random, pii: Pii, when: datetime) -> _Page:
    topic = TOPICS[rng.choice(site.topics)]
    prose = Prose(rng, topic, pii, "blog")
    title = prose.title()
    author = pii.name(style="first")
    paras = prose.paragraphs(rng.randint(7, 10), 3, 6)
    tips = "\n".join(f"<li>{_e(prose.sentence())}</li>" for _ in range(rng.randint(3, 5)))
    comments = []
    for i in range(rng.randint(2, 4)):
        who = pii.new_person()
        text = prose.paragraph(1, 3)
        if i == 1 and rng.random() < 0.6:
            text += f" Drop me a line at {pii.email(who)} if you want the details."
        if i == 2 and rng.random() < 0.5:
            text += f" Or call me on {pii.phone()} after six."
        comments.append(
            f'<li class="comment"><p class="comment-author">{_e(pii.name(who))} says:</p>'
            f"<p>{_e(text)}</p></li>"
        )
    main = (
        f'<article class="post">\n<h1>{_e(title)}</h1>\n'
        f'<p class="meta">Posted on {_fmt_date(when)} by {_e(author)}</p>\n{_paras(paras[:3])}\n'
        f"<ul>\n{tips}\n</ul>\n{_paras(paras[3:])}\n"
        f'<p class="licence">{_e(site.licence)}</p>\n</article>\n'
        f'<section class="comments"><h2>{len(comments)} comments</h2><ol>\n'
        + "\n".join(comments)
        + "\n</ol></section>"
    )
    url = f"https://{site.domain}/{when:%Y/%m}/{_slug(title)}/"
    return _Page(url, title, _render(site, title, main, rng, when), "blog", pii.take())


def _username(rng: random.Random) -> str:
    a, b = rng.sample(USERNAME_WORDS, 2)
    return rng.choice([f"{a}_{b}", f"{a}{b.capitalize()}", f"{a}{rng.randint(7, 99)}"])


def _forum_page(site: _Site, rng: random.Random, pii: Pii, when: datetime) -> _Page:
    topic = TOPICS[rng.choice(site.topics)]
    prose = Prose(rng, topic, pii, "blog")
    title = f"{prose.title()} - help needed"
    posts = []
    for i in range(rng.randint(3, 5)):
        user = _username(rng)
        body = [_e(p) for p in prose.paragraphs(rng.randint(2, 4), 2, 5)]
        roll = rng.random()
        if i == 0:
            host, v6 = pii.ipv4(), pii.ipv6()
            body.append(
                "<pre><code>"
                + _e(
                    f"$ curl -v https://{host}:8443/api/health\n"
                    f"*   Trying {host}:8443...\n"
                    f"* connect to {host} port 8443 failed: Connection refused\n"
                    f"$ ping6 -c1 {v6}\n"
                    f"From {v6} icmp_seq=1 Destination unreachable"
                )
                + "</code></pre>"
            )
        elif roll < 0.35:
            body.append(
                "<p>Here is my config (keys redacted... mostly):</p><pre><code>"
                + _e(
                    "[default]\nregion = eu-west-1\n"
                    f"aws_access_key_id = {pii.aws_key()}\n"
                    f"aws_secret_access_key = {pii.aws_secret()}\n"
                )
                + "</code></pre>"
            )
        elif roll < 0.55:
            key = pii.github_token() if rng.random() < 0.5 else pii.openai_key()
            body.append(
                "<pre><code>"
                + _e(f'export API_TOKEN="{key}"\npython sync.py --retries 3 --verbose')
                + "</code></pre>"
            )
        elif roll < 0.75:
            a, b = pii.new_person(), pii.new_person()
            body.append(
                "<blockquote><p>"
                + _e(f"From: {pii.name(a)} <{pii.email(a)}>")
                + "<br>"
                + _e(f"To: {pii.name(b)} <{pii.email(b)}>")
                + "<br>"
                + _e(f"Subject: Re: {prose.title()}")
                + "</p><p>"
                + _e(prose.paragraph(2, 3))
                + "</p></blockquote>"
            )
        if rng.random() < 0.5:
            me = pii.new_person()
            body.append(
                f'<div class="signature">-- {_e(pii.name(me))} &lt;{_e(pii.email(me))}&gt;</div>'
            )
        posted = when + timedelta(hours=i * rng.randint(1, 9), minutes=rng.randint(0, 59))
        posts.append(
            f'<article class="post" id="post-{i + 1}">\n<header class="post-meta">'
            f'<span class="username">{_e(user)}</span> <span class="joined">Joined: '
            f"{posted.year - rng.randint(1, 6)}</span> <time>{posted:%Y-%m-%d %H:%M}</time>"
            f'</header>\n<div class="post-body">\n'
            + "\n".join(b if b.startswith("<") else f"<p>{b}</p>" for b in body)
            + "\n</div>\n</article>"
        )
    main = (
        f'<div class="thread">\n<h1>{_e(title)}</h1>\n'
        + "\n".join(posts)
        + '\n<p class="thread-footer">You must log in or register to reply here.</p>\n</div>'
    )
    url = f"https://{site.domain}/threads/{_slug(title)}.{rng.randint(1000, 99999)}/"
    return _Page(url, title, _render(site, title, main, rng, when), "forum", pii.take())


def _product_page(site: _Site, rng: random.Random, pii: Pii, when: datetime) -> _Page:
    topic = TOPICS[rng.choice(site.topics)]
    prose = Prose(rng, topic, pii, "blog")
    brand = rng.choice(PLACE_STEMS) + rng.choice(PLACE_ROOTS).capitalize()
    product = f"{brand} {prose.adj().title()} {prose.noun().title()} {rng.randint(2, 90)}"
    price = f"${rng.randint(9, 480)}.{rng.choice(['00', '49', '95', '99'])}"
    desc = prose.paragraphs(rng.randint(4, 6), 3, 5)
    specs = "\n".join(
        f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>"
        for k, v in [
            ("Weight", f"{rng.randint(120, 4200)} g"),
            (
                "Dimensions",
                f"{rng.randint(10, 80)} x {rng.randint(10, 60)} x {rng.randint(2, 30)} cm",
            ),
            ("Material", rng.choice(["recycled nylon", "oak", "stainless steel", "cotton canvas"])),
            ("SKU", f"{brand[:3].upper()}-{rng.randint(10000, 99999)}"),
        ]
    )
    reviews = []
    for i in range(rng.randint(3, 5)):
        stars = rng.choice(["★★★★★", "★★★★☆", "★★★☆☆", "★★☆☆☆"])
        text = prose.paragraph(2, 3)
        if i == 0 and rng.random() < 0.7:
            text += (
                f" Support charged my card {pii.card()} twice and only fixed it after I called "
                f"{pii.phone('us')}."
            )
        reviews.append(
            f'<li class="review"><p class="stars">{stars}</p><p class="reviewer">'
            f"{_e(pii.name())}, {_e(prose.place())}</p><p>{_e(text)}</p></li>"
        )
    main = (
        f'<article class="product" itemscope itemtype="https://schema.org/Product">\n'
        f'<h1 itemprop="name">{_e(product)}</h1>\n<p class="price">{price}</p>\n'
        f'<button class="add-to-cart">Add to cart</button>\n{_paras(desc)}\n'
        f'<table class="specs">\n{specs}\n</table>\n'
        f'<section class="reviews"><h2>Customer reviews</h2><ul>\n'
        + "\n".join(reviews)
        + "\n</ul></section>\n</article>"
    )
    url = f"https://{site.domain}/products/{_slug(product)}"
    return _Page(url, product, _render(site, product, main, rng, when), "product", pii.take())


def _about_page(site: _Site, rng: random.Random, pii: Pii, when: datetime) -> _Page:
    topic = TOPICS[rng.choice(site.topics)]
    prose = Prose(rng, topic, pii, "news")
    title = f"About {site.name}"
    history = prose.paragraphs(rng.randint(4, 6), 3, 5)
    team = []
    for _ in range(rng.randint(4, 6)):
        p = pii.new_person()
        team.append(
            f"<li><strong>{_e(pii.name(p))}</strong>, {_e(rng.choice(topic.roles)).title()} "
            f"&ndash; {_e(pii.email(p))}</li>"
        )
    domain = site.domain.removeprefix("www.")
    press = pii.name(style="caps")
    main = (
        f'<article class="about">\n<h1>{_e(title)}</h1>\n{_paras(history)}\n'
        f"<h2>Our team</h2>\n<ul>\n" + "\n".join(team) + "\n</ul>\n"
        "<h2>Contact us</h2>\n<address>\n"
        f"{_e(site.name)}<br>\n{_e(pii.address(one_line=True))}<br>\n"
        f"Telephone: {_e(pii.phone('us'))}<br>\n"
        f"International: {_e(pii.phone('intl'))}<br>\n"
        f"E-mail: {_e(pii.role_email(domain, 'info'))}<br>\n"
        f"Press enquiries: {_e(press)}, {_e(pii.role_email(domain, 'press'))}\n</address>\n"
        f"<p>{_e(prose.paragraph(2, 3))}</p>\n</article>"
    )
    url = f"https://{site.domain}/about-us/"
    return _Page(url, title, _render(site, title, main, rng, when), "about", pii.take())


def _wiki_repost_page(site: _Site, rng: random.Random, wiki: _WikiRepost, when) -> _Page:
    sections = []
    for heading, paras in wiki.sections:
        if heading:
            sections.append(f"<h2>{_e(heading)}</h2>")
        sections.append(_paras(paras))
    main = (
        f'<article class="entry">\n<h1>{_e(wiki.title)}</h1>\n'
        + "\n".join(sections)
        + "\n</article>"
    )
    url = f"https://{site.domain}/wiki/{_slug(wiki.title)}.html"
    return _Page(url, wiki.title, _render(site, wiki.title, main, rng, when), "wiki_repost")


def _not_found_page(site: _Site, rng: random.Random, when: datetime) -> _Page:
    main = (
        '<div class="error"><h1>Page not found</h1><p>Sorry, the page you were looking for has '
        'moved or never existed. Try the <a href="/search">search</a>.</p></div>'
    )
    title = "Page not found"
    url = f"https://{site.domain}/{when:%Y/%m}/{rng.randrange(16**6):06x}-old-story"
    page = _Page(url, title, _render(site, title, main, rng, when), "not_found", status=404)
    return page


def _png(rng: random.Random, size: int = 16) -> bytes:
    """A small valid RGB PNG with a seeded gradient."""
    r0, g0, b0 = rng.randrange(256), rng.randrange(256), rng.randrange(256)
    raw = b"".join(
        b"\x00"
        + bytes(v for x in range(size) for v in ((r0 + 8 * x) % 256, (g0 + 8 * y) % 256, b0))
        for y in range(size)
    )

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _encode_page(page: _Page) -> None:
    page.body = _fold(page.html, page.charset).encode(page.charset)
    if page.charset == "utf-8":
        page.content_type = "text/html; charset=utf-8"
    else:
        page.content_type = "text/html"  # the charset is declared in <meta> only


_TAG = re.compile(r"<[^>]+>")
_MAIN = re.compile(r"<main[^>]*>(.*?)</main>", re.S)


def main_words(page_html: str) -> list[str]:
    """Visible words of a page's <main> element (tags dropped, entities decoded)."""
    m = _MAIN.search(page_html)
    return html.unescape(_TAG.sub(" ", m.group(1) if m else page_html)).split()


def jaccard(a: list[str], b: list[str], n: int = 5) -> float:
    """Word n-gram Jaccard similarity."""
    sa = {tuple(a[i : i + n]) for i in range(max(1, len(a) - n + 1))}
    sb = {tuple(b[i : i + n]) for i in range(max(1, len(b) - n + 1))}
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def _edit_main(page_html: str, rng: random.Random, how: str, amount: float, prose: Prose):
    """Edit only inside <main>: `scatter` swaps ~`amount` of the words for synonyms of the
    same class; `rewrite` replaces the last sentence of one paragraph and adds an update note.
    Returns the new HTML and the number of words changed or added."""
    m = _MAIN.search(page_html)
    assert m is not None
    main = m.group(1)
    if how == "scatter":
        main, edits = perturb(main, rng, amount)
    else:
        paras = [p for p in re.finditer(r"<p>([^<]+)</p>", main) if p.group(1).count(". ") >= 2]
        target = rng.choice(paras)
        text = target.group(1)
        keep = text[: text.rstrip(". ").rfind(". ") + 1]
        new_sentence = prose.sentence()
        main = main[: target.start(1)] + keep + " " + _e(new_sentence) + main[target.end(1) :]
        note = f"Update: {prose.sentence()}"
        main = main.replace('<p class="licence">', f'<p>{_e(note)}</p>\n<p class="licence">', 1)
        edits = len(new_sentence.split()) + len(note.split())
    return page_html[: m.start(1)] + main + page_html[m.end(1) :], edits


def _build_web_pages(seed: int, index: int, wiki: _WikiRepost | None):
    """All pages of one crawl file, in crawl order, plus the planted duplicate pairs."""
    rng = _rng(seed, "web", index)
    pii = Pii(rng)
    t = BASE_TIME + timedelta(days=index)

    def when() -> datetime:
        return t - timedelta(days=rng.randint(1, 900), minutes=rng.randint(0, 1439))

    news_a = _site(rng, "news", ["city", "health", "education", "finance"])
    news_b = _site(rng, "news", ["science", "sport", "music", "history"])
    blog_a = _site(rng, "blog", ["food", "travel", "garden"])
    blog_b = _site(rng, "blog", ["music", "history", "travel"])
    blog_b.charset = "windows-1252"
    forum = _site(rng, "forum", ["tech"])
    shop = _site(rng, "shop", ["travel", "food", "garden", "music"])
    shop.phone = pii.phone("us")
    shop.address = pii.address("us")
    shop_tally = pii.take()  # printed in the footer of every shop page
    mirror = _site(rng, "mirror", ["city"])
    farm = _site(rng, "farm", ["history"])
    companies = [_site(rng, "company", [tp]) for tp in ("tech", "finance", "health", "food")]
    companies[2].charset = "iso-8859-1"

    pages: list[_Page] = []
    for site, make, n in (
        (news_a, _news_page, 8),
        (news_b, _news_page, 6),
        (blog_a, _blog_page, 5),
        (blog_b, _blog_page, 5),
        (forum, _forum_page, 8),
        (shop, _product_page, 6),
    ):
        for _ in range(n):
            page = make(site, rng, pii, when())
            page.charset = site.charset
            if site is shop:
                page.tally = (page.tally[0] + shop_tally[0], page.tally[1] + shop_tally[1])
            pages.append(page)
    for comp in companies:
        page = _about_page(comp, rng, pii, when())
        page.charset = comp.charset
        pages.append(page)

    def copy(src: _Page, url: str, new_html: str | None = None) -> _Page:
        dup = _Page(url, src.title, new_html or src.html, src.kind, src.tally)
        dup.charset = src.charset
        return dup

    extra: list[tuple[str, _Page, _Page, dict[str, Any]]] = []
    # exact duplicates: a mirror serving the same bytes, and the same page behind a tracking URL
    src = pages[0]
    extra.append(
        ("web_mirror", src, copy(src, f"https://{mirror.domain}/syndicated/{_path(src.url)}"), {})
    )
    src = pages[9]
    extra.append(("web_tracking_url", src, copy(src, src.url + "?utm_source=newsletter"), {}))
    # near duplicates: an updated story (clustered edits), a syndicated blog post with a few
    # words changed, and a product colour variant with more scattered changes
    plain = Prose(rng, TOPICS["city"], None, "news")
    src = pages[2]
    new_html, edits = _edit_main(src.html, rng, "rewrite", 0, plain)
    extra.append(
        ("web_near_updated", src, copy(src, f"{src.url}-updated", new_html), {"edits": edits})
    )
    src = pages[14]
    new_html, edits = _edit_main(src.html, rng, "scatter", 0.015, plain)
    new_html = new_html.replace(blog_a.name, mirror.name).replace(blog_a.domain, mirror.domain)
    dup = copy(src, f"https://{mirror.domain}/blogs/{_path(src.url)}", new_html)
    extra.append(("web_near_syndicated", src, dup, {"edits": edits}))
    src = pages[32]
    new_html, edits = _edit_main(src.html, rng, "scatter", 0.03, plain)
    dup = copy(src, f"{src.url}-{rng.choice(['sage', 'slate', 'rust'])}", new_html)
    extra.append(("web_near_variant", src, dup, {"edits": edits}))
    for _, src, dup, meta in extra:
        if meta:
            meta["jaccard_5gram"] = round(jaccard(main_words(src.html), main_words(dup.html)), 3)
        pages.append(dup)

    if wiki is not None:
        pages.append(_wiki_repost_page(farm, rng, wiki, when()))
    for p in pages:
        _encode_page(p)

    # non-HTML responses and a 404 that readers must skip
    robots = _Page(f"https://{news_a.domain}/robots.txt", "robots.txt", kind="robots")
    robots.body = (
        b"User-agent: *\nDisallow: /search\nDisallow: /account/\n\n"
        b"User-agent: GPTBot\nDisallow: /\n\nSitemap: https://"
        + news_a.domain.encode()
        + b"/sitemap.xml\n"
    )
    robots.content_type = "text/plain"
    logo = _Page(f"https://{shop.domain}/static/img/logo.png", "logo", kind="image")
    logo.body, logo.content_type = _png(rng), "image/png"
    missing = _not_found_page(news_b, rng, when())
    _encode_page(missing)
    skipped = [robots, logo, missing]

    order = pages + skipped
    rng.shuffle(order)
    # every copy comes after its original, as in a crawl that finds the copy later
    for _, src, dup, _meta in extra:
        order.remove(dup)
        order.insert(order.index(src) + 1 + rng.randint(0, 3), dup)
    return order, extra, skipped


def _path(url: str) -> str:
    return url.split("/", 3)[3].strip("/") if url.count("/") >= 3 else ""


def _digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def _warc_record(headers: list[tuple[str, str]], block: bytes) -> bytes:
    """One uncompressed WARC record (header block, content block, CRLF CRLF)."""
    head = ["WARC/1.0", *(f"{k}: {v}" for k, v in headers), f"Content-Length: {len(block)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + block + b"\r\n\r\n"


_REASONS = {200: "OK", 404: "Not Found"}


def _write_warc(path: Path, rel: str, seed: int, index: int, pages: list[_Page], ledger: _Ledger):
    rng = _rng(seed, "warc", index)
    t = BASE_TIME + timedelta(days=index, hours=2)
    info_id = _uuid(seed, index, "warcinfo")
    info = (
        "software: corpusforge-sample/1.0\r\n"
        "format: WARC File Format 1.0\r\n"
        "conformsTo: http://bibnum.bnf.fr/WARC/WARC_ISO_28500_version1_latestdraft.pdf\r\n"
        f"isPartOf: corpusforge-sample-{seed}\r\n"
        "description: Synthetic crawl generated for tests; all text is machine-written.\r\n"
        "robots: classic\r\n"
        "http-header-user-agent: corpusforge-sample-crawler/1.0 (+https://example.org/bot)\r\n"
    ).encode()
    out = [
        _warc_record(
            [
                ("WARC-Type", "warcinfo"),
                ("WARC-Date", t.strftime("%Y-%m-%dT%H:%M:%SZ")),
                ("WARC-Filename", path.name),
                ("WARC-Record-ID", info_id),
                ("WARC-Block-Digest", _digest(info)),
                ("Content-Type", "application/warc-fields"),
            ],
            info,
        )
    ]
    counts = Counter({"warcinfo": 1})
    for n, page in enumerate(pages):
        t += timedelta(seconds=rng.randint(1, 40))
        date = t.strftime("%Y-%m-%dT%H:%M:%SZ")
        host = page.url.split("/")[2]
        path_q = "/" + page.url.split("/", 3)[3] if page.url.count("/") >= 3 else "/"
        ip = f"{rng.choice(['192.0.2', '198.51.100', '203.0.113'])}.{rng.randint(2, 254)}"
        req_id, resp_id = _uuid(seed, index, n, "request"), _uuid(seed, index, n, "response")
        request = (
            f"GET {path_q} HTTP/1.1\r\nHost: {host}\r\n"
            "User-Agent: corpusforge-sample-crawler/1.0 (+https://example.org/bot)\r\n"
            "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
            "Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: identity\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        out.append(
            _warc_record(
                [
                    ("WARC-Type", "request"),
                    ("WARC-Target-URI", page.url),
                    ("WARC-Date", date),
                    ("WARC-Record-ID", req_id),
                    ("WARC-IP-Address", ip),
                    ("WARC-Warcinfo-ID", info_id),
                    ("WARC-Block-Digest", _digest(request)),
                    ("Content-Type", "application/http; msgtype=request"),
                ],
                request,
            )
        )
        http_date = format_datetime(t, usegmt=True)
        modified = t - timedelta(days=rng.randint(1, 60))
        head = (
            f"HTTP/1.1 {page.status} {_REASONS[page.status]}\r\n"
            f"Date: {http_date}\r\n"
            f"Server: {rng.choice(['nginx/1.24.0', 'Apache/2.4.58 (Debian)', 'cloudflare'])}\r\n"
            f"Content-Type: {page.content_type}\r\n"
            f"Content-Length: {len(page.body)}\r\n"
            f"Last-Modified: {format_datetime(modified, usegmt=True)}\r\n"
            f'ETag: "{hashlib.sha1(page.body).hexdigest()[:16]}"\r\n'
            f"Cache-Control: {rng.choice(['max-age=600', 'no-cache', 'public, max-age=86400'])}\r\n"
            "X-Content-Type-Options: nosniff\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        block = head + page.body
        out.append(
            _warc_record(
                [
                    ("WARC-Type", "response"),
                    ("WARC-Target-URI", page.url),
                    ("WARC-Date", date),
                    ("WARC-Record-ID", resp_id),
                    ("WARC-Concurrent-To", req_id),
                    ("WARC-IP-Address", ip),
                    ("WARC-Warcinfo-ID", info_id),
                    ("WARC-Block-Digest", _digest(block)),
                    ("WARC-Payload-Digest", _digest(page.body)),
                    ("Content-Type", "application/http; msgtype=response"),
                ],
                block,
            )
        )
        counts["request"] += 1
        counts["response"] += 1
        page.record_id = resp_id
        if page.status == 200 and page.content_type.startswith("text/html"):
            page.doc = ledger.add("web", rel, resp_id, page.url, page.kind, page.tally)
    path.write_bytes(b"".join(_gzip(rec) for rec in out))  # record-at-a-time gzip
    return counts, sum(len(rec) for rec in out)


# ---------------------------------------------------------------------------------------------
# Wiki


@dataclass
class _WikiRepost:
    title: str
    sections: list[tuple[str, list[str]]]
    page_id: int = 0
    rev_id: int = 0


def _linkify(text: str, rng: random.Random, nouns: list[str], rate: float = 0.25) -> str:
    """Wrap some topic nouns in [[links]]: the visible text stays exactly the same."""
    out = text
    for noun in rng.sample(nouns, min(len(nouns), 6)):
        pos = out.find(f" {noun}")
        if pos < 0 or rng.random() > rate * 3 or "[[" in out[max(0, pos - 2) : pos + 2]:
            continue
        start = pos + 1
        end = start + len(noun)
        if out[end : end + 1].isalpha() or "]]" in out[start:end] or "[[" in out[start:end]:
            continue
        target = noun[0].upper() + noun[1:]
        if rng.random() < 0.4:
            link = f"[[{target} ({rng.choice(['concept', 'topic', 'history'])})|{noun}]]"
        else:
            link = f"[[{noun}]]"
        out = out[:start] + link + out[end:]
    return out


def _cite(rng: random.Random, pii: Pii, prose: Prose, name: str | None = None) -> str:
    kind = rng.choice(["web", "news", "book", "journal"])
    who = pii.new_person()
    year = rng.randint(1995, 2022)
    title = prose.title()
    tag = f'<ref name="{name}">' if name else "<ref>"
    author = f"|last={who.last} |first={who.first}"
    pii.name(who, style="last_first")  # counted once: the author of the cited work
    if kind == "web":
        body = (
            f"{{{{cite web |url=https://www.example.org/{_slug(title)} |title={title} "
            f"{author} |website={prose.org()[4:]} |date={rng.randint(1, 28)} "
            f"{rng.choice(['March', 'June', 'October'])} {year} |access-date=2 May 2023}}}}"
        )
    elif kind == "news":
        body = (
            f"{{{{cite news {author} |title={title} |newspaper=The {rng.choice(PLACE_STEMS)}"
            f"{rng.choice(PLACE_ROOTS)} Times |date={year}-0{rng.randint(1, 9)}-"
            f"1{rng.randint(0, 9)}"
            f" |page={rng.randint(1, 40)}}}}}"
        )
    elif kind == "book":
        isbn = f"978-{rng.randint(0, 1)}-{rng.randint(100, 999)}-{rng.randint(10000, 99999)}-"
        isbn += str(rng.randint(0, 9))
        body = (
            f"{{{{cite book {author} |title={title} |publisher={prose.org()[4:]} Press "
            f"|year={year} |isbn={isbn} |pages={rng.randint(10, 300)}–{rng.randint(301, 400)}}}}}"
        )
    else:
        body = (
            f"{{{{cite journal {author} |title={title} |journal=Journal of "
            f"{prose.noun().title()} Studies |volume={rng.randint(1, 80)} |issue="
            f"{rng.randint(1, 12)} |year={year} |doi=10.{rng.randint(1000, 9999)}/"
            f"{rng.randint(100000, 999999)}}}}}"
        )
    return f"{tag}{body}</ref>"


def _wiki_article(rng: random.Random, pii: Pii, title: str, kind: str, topic_name: str):
    topic = TOPICS[topic_name]
    prose = Prose(rng, topic, pii if kind != "plain" else None, "news")
    nouns = [n for n, _ in topic.nouns]
    lines: list[str] = []
    region = rng.choice(PLACE_STEMS) + "shire"
    if kind == "settlement":
        pop = rng.randint(2_000, 480_000)
        lines += [
            f"{{{{Short description|Town in {region}, England}}}}",
            "{{Use dmy dates|date=March 2021}}",
            "{{Infobox settlement",
            f"| name                = {title}",
            "| settlement_type     = Town",
            f"| image_skyline       = {title.replace(' ', '_')}_high_street.jpg",
            f"| image_caption       = The high street in {rng.randint(2008, 2021)}",
            f"| subdivision_name    = [[{region}]]",
            f"| population_total    = {pop:,}",
            "| population_as_of    = 2021",
            f"| coordinates         = {{{{coord|5{rng.randint(0, 5)}|{rng.randint(0, 59)}|N|"
            f"{rng.randint(0, 3)}|{rng.randint(0, 59)}|W|display=inline,title}}}}",
            f"| website             = {{{{URL|https://www.{_slug(title)}.example.gov.uk}}}}",
            "}}",
        ]
        lead = (
            f"'''{title}''' (from the Old English ''{title.lower()[:5]}'', a clearing) is a "
            f"[[market town]] and [[civil parish]] in [[{region}]], England."
        )
    elif kind == "biography":
        person = pii.new_person()
        born = rng.randint(1901, 1975)
        lines += [
            "{{Short description|English "
            + rng.choice(topic.roles)
            + f" ({born}–{born + rng.randint(50, 90)})}}}}",
            "{{Infobox person",
            f"| name        = {pii.name(person)}",
            f"| birth_date  = {{{{birth date|{born}|{rng.randint(1, 12)}|{rng.randint(1, 28)}}}}}",
            f"| birth_place = [[{prose.place()}]], [[{region}]]",
            f"| occupation  = {rng.choice(topic.roles).title()}",
            f"| spouse      = {pii.name()}",
            "}}",
        ]
        title = pii.name(person)
        lead = (
            f"'''{title}''' (born {born}) was an English {rng.choice(topic.roles)} known for "
            f"work on {prose.nps()}."
        )
    elif kind == "organization":
        lines += [
            "{{Infobox company",
            f"| name         = {title}",
            f"| founded      = {{{{Start date and age|{rng.randint(1950, 2015)}}}}}",
            f"| founder      = {pii.name()}",
            f"| key_people   = {pii.name()} (CEO)<br />{pii.name()} (chair)",
            f"| hq_location  = {pii.address('us')}",
            f"| num_employees = {rng.randint(20, 9000):,}",
            "}}",
        ]
        lead = f"'''{title}''' is an American organisation working on {prose.nps()}."
    elif kind == "concept":
        lines += [
            "{{Short description|" + f"Term used in {topic_name}" + "}}",
            "{{About|the term|other uses|" + f"{title} (disambiguation)" + "}}",
        ]
        lead = f"A '''{title.lower()}''' is {prose.np()} {prose.pp()}."
    else:  # plain: re-posted verbatim on a content farm
        lead = f"'''{title}''' is the name given to {prose.np()} {prose.pp()}."

    ref_name = f"{_slug(title)[:12]}{rng.randint(1, 99)}"
    body: list[tuple[str, list[str]]] = []
    first = [lead + " " + prose.paragraph(2, 3)] + prose.paragraphs(1, 3, 4)
    body.append(("", first))
    headings = rng.sample(
        [
            "History",
            "Background",
            "Description",
            "Reception",
            "Legacy",
            "Development",
            "Activities",
            "Organisation",
            "Research",
            "Controversies",
            "Later years",
            "Geography",
        ],
        rng.randint(3, 5),
    )
    for h in headings:
        body.append((h, prose.paragraphs(rng.randint(2, 4), 3, 5)))

    if kind == "plain":
        plain_sections = [(h, [p.replace("'''", "") for p in ps]) for h, ps in body]
        for h, ps in body:
            if h:
                lines.append(f"\n== {h} ==")
            for p in ps:
                lines.append(_linkify(p, rng, nouns) + "\n")
        lines.append(f"\n[[Category:{topic_name.title()}]]")
        return title, "\n".join(lines).strip() + "\n", plain_sections

    for si, (h, ps) in enumerate(body):
        if h:
            lines.append(f"\n== {h} ==")
        if si == 1:
            lines.append("<!-- Please cite a reliable source for every claim in this section -->")
        if si == 2 and rng.random() < 0.7:
            lines.append(
                f"[[File:{_slug(prose.noun()).title()}_{rng.randint(1890, 2020)}.jpg|thumb|"
                f"{rng.choice(['left|', ''])}{prose.np().capitalize()}]]"
            )
        for pi, p in enumerate(ps):
            text = _linkify(p, rng, nouns)
            if si == 0 and pi == 0:
                text += _cite(rng, pii, prose, ref_name)
            elif rng.random() < 0.6:
                text += (
                    _cite(rng, pii, prose) if rng.random() < 0.7 else f'<ref name="{ref_name}" />'
                )
            lines.append(text + "\n")
        if si == 1 and kind in ("settlement", "organization", "concept"):
            label = {"settlement": "Population", "organization": "Revenue", "concept": "Value"}[
                kind
            ]
            rows = []
            value = rng.randint(1000, 9000)
            for y in range(rng.randint(1961, 1981), 2022, 10):
                delta = rng.randint(-8, 15)
                value = max(10, value + value * delta // 100)
                rows.append(f"|-\n| {y} || {value:,} || {delta:+d}%")
            lines.append(
                '{| class="wikitable sortable"\n'
                f"|+ {label} by year\n! Year !! {label} !! Change\n" + "\n".join(rows) + "\n|}\n"
            )
    lines += [
        "\n== See also ==",
        f"* [[List of {topic_name} topics]]",
        f"* [[{prose.noun().capitalize()}]]",
        "\n== References ==",
        "{{Reflist}}",
        "\n== External links ==",
        f"* [https://www.example.org/{_slug(title)} Official website]",
        "* {{Commons category}}" if kind == "biography" else f"* {{{{Commons category|{title}}}}}",
        "",
        "{{Authority control}}",
        "",
        f"[[Category:{topic_name.title()} in {region}]]",
        f"[[Category:{kind.title()} articles]]",
    ]
    if kind == "biography":
        lines.append(f"[[Category:{born} births]]")
    return title, "\n".join(lines).strip() + "\n", None


def _base36_sha1(data: bytes) -> str:
    n = int.from_bytes(hashlib.sha1(data).digest(), "big")
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out.rjust(31, "0")


_NAMESPACES = [
    (-2, "Media"), (-1, "Special"), (0, ""), (1, "Talk"), (2, "User"), (3, "User talk"),
    (4, "Wikipedia"), (5, "Wikipedia talk"), (6, "File"), (7, "File talk"), (8, "MediaWiki"),
    (9, "MediaWiki talk"), (10, "Template"), (11, "Template talk"), (12, "Help"),
    (13, "Help talk"), (14, "Category"), (15, "Category talk"), (100, "Portal"),
    (101, "Portal talk"), (118, "Draft"), (119, "Draft talk"), (828, "Module"),
    (829, "Module talk"),
]  # fmt: skip


def _write_wiki(path: Path, seed: int, scale: int, ledger: _Ledger) -> tuple[dict, list]:
    rng = _rng(seed, "wiki")
    pii = Pii(rng)
    kinds = ["settlement"] * 5 + ["biography"] * 5 + ["organization"] * 4 + ["concept"] * 4
    kinds += ["plain"] * 2
    kinds = kinds * scale
    rng.shuffle(kinds)
    topic_names = sorted(TOPICS)
    page_id = rng.randint(1_000, 5_000)
    rev_id = rng.randint(900_000_000, 1_100_000_000)
    pages: list[dict[str, Any]] = []
    reposts: list[_WikiRepost] = []
    used: set[str] = set()
    for i, kind in enumerate(kinds):
        topic_name = topic_names[i % len(topic_names)]
        stem = rng.choice(PLACE_STEMS) + rng.choice(PLACE_ROOTS)
        title = {
            "settlement": stem,
            "organization": f"{stem} {rng.choice(TOPICS[topic_name].org_kinds)}",
            "concept": f"{Prose(rng, TOPICS[topic_name]).adj().capitalize()} "
            f"{rng.choice(TOPICS[topic_name].nouns)[0]}",
            "plain": f"{stem} {rng.choice(['Festival', 'Canal', 'Observatory', 'Railway'])}",
        }.get(kind, "")
        if title in used:
            title = f"{title} ({topic_name})"
        title, text, plain = _wiki_article(rng, pii, title, kind, topic_name)
        used.add(title)
        page_id += rng.randint(1, 400)
        rev_id += rng.randint(1, 90_000)
        pages.append(
            {"title": title, "ns": 0, "id": page_id, "rev": rev_id, "text": text, "kind": kind,
             "tally": pii.take()}
        )  # fmt: skip
        if plain is not None:
            reposts.append(_WikiRepost(title, plain, page_id, rev_id))

    # a redirect to the first settlement, a Talk page and a project-namespace page
    target = next(p for p in pages if p["kind"] == "settlement")
    region = rng.choice(PLACE_STEMS) + "shire"
    page_id += rng.randint(1, 400)
    rev_id += rng.randint(1, 90_000)
    pages.append(
        {"title": f"{target['title']}, {region}", "ns": 0, "id": page_id, "rev": rev_id,
         "redirect": target["title"], "kind": "redirect", "tally": (Counter(), Counter()),
         "text": f"#REDIRECT [[{target['title']}]]\n\n{{{{Redirect category shell|\n"
                 "{{R from qualified name}}\n}}\n"}
    )  # fmt: skip
    users = [_username(rng) for _ in range(3)]
    ip = pii.ipv4()
    talk = (
        "{{WikiProject banner shell|class=C|\n{{WikiProject England|importance=low}}\n}}\n\n"
        "== Population figures ==\n"
        f"The figure in the infobox does not match the census table further down. "
        f"Which one is right? [[User:{users[0]}|{users[0]}]] ([[User talk:{users[0]}|talk]]) "
        f"14:02, 3 May 2019 (UTC)\n"
        f":The table uses the parish, the infobox the built-up area. I added a note. "
        f"[[User:{users[1]}|{users[1]}]] ([[User talk:{users[1]}|talk]]) 09:17, 4 May 2019 (UTC)\n"
        f'::Thanks, that explains it. <small><span class="autosigned">— Preceding '
        f"[[Wikipedia:Signatures|unsigned]] comment added by [[Special:Contributions/{ip}|{ip}]] "
        f"</span></small>\n\n"
        "== Mill photograph ==\n"
        f"Is the mill photo really from 1910? The lorry in the background looks later. "
        f"[[User:{users[2]}|{users[2]}]] ([[User talk:{users[2]}|talk]]) "
        "21:40, 11 June 2020 (UTC)\n"
    )
    page_id += rng.randint(1, 400)
    rev_id += rng.randint(1, 90_000)
    tally = pii.take()
    tally[0]["IP_ADDRESS"] += 1  # the unsigned comment shows the address twice (link + label)
    tally[1]["IP_ADDRESS/v4"] += 1
    pages.append(
        {"title": f"Talk:{target['title']}", "ns": 1, "id": page_id, "rev": rev_id, "text": talk,
         "kind": "talk", "tally": tally}
    )  # fmt: skip
    project = (
        "{{Wikipedia how-to|WP:SAMPLE}}\n"
        f"This page describes how editors of [[Wikipedia:WikiProject {region}|WikiProject "
        f"{region}]] assess articles about towns and villages.\n\n"
        "== Assessment ==\n"
        "* '''Stub''': a few sentences, no sources.\n"
        "* '''Start''': several paragraphs, some sources, no infobox.\n"
        "* '''C''': a complete infobox, a population table and inline citations.\n\n"
        "== Sources ==\nPrefer census tables and local archives over newspaper summaries. "
        "Do not cite personal blogs or forums.\n"
    )
    page_id += rng.randint(1, 400)
    rev_id += rng.randint(1, 90_000)
    pages.append(
        {"title": f"Wikipedia:WikiProject {region}/Assessment", "ns": 4, "id": page_id,
         "rev": rev_id, "text": project, "kind": "project", "tally": (Counter(), Counter())}
    )  # fmt: skip

    t = BASE_TIME - timedelta(days=400)
    parts = [
        f'<mediawiki xmlns="{MW_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{MW_NS} http://www.mediawiki.org/xml/export-0.11.xsd" '
        'version="0.11" xml:lang="en">\n',
        "  <siteinfo>\n    <sitename>Wikipedia</sitename>\n    <dbname>enwiki</dbname>\n"
        "    <base>https://en.wikipedia.org/wiki/Main_Page</base>\n"
        "    <generator>MediaWiki 1.42.0-wmf.25</generator>\n    <case>first-letter</case>\n"
        "    <namespaces>\n",
    ]
    for key, name in _NAMESPACES:
        if name:
            parts.append(f'      <namespace key="{key}" case="first-letter">{name}</namespace>\n')
        else:
            parts.append(f'      <namespace key="{key}" case="first-letter" />\n')
    parts.append("    </namespaces>\n  </siteinfo>\n")
    ip_contributors = 0
    non_article_pii: Counter[str] = Counter()
    for page in pages:
        t += timedelta(minutes=rng.randint(5, 20_000))
        text = page["text"]
        raw = text.encode("utf-8")
        sha1 = _base36_sha1(raw)
        if rng.random() < 0.2:
            contributor = f"        <ip>{pii.ipv4() if rng.random() < 0.6 else pii.ipv6()}</ip>\n"
            ip_contributors += 1
            pii.take()  # revision metadata, not page text: reported separately
        else:
            contributor = (
                f"        <username>{xml_escape(_username(rng))}</username>\n"
                f"        <id>{rng.randint(10_000, 48_000_000)}</id>\n"
            )
        redirect = ""
        if page.get("redirect"):
            redirect = f"    <redirect title={quoteattr(page['redirect'])} />\n"
        comment = rng.choice(
            ["/* History */ copyedit", "add citation", "Reverted vandalism", "infobox update",
             "/* References */ fix cite", "ce"]
        )  # fmt: skip
        parts.append(
            "  <page>\n"
            f"    <title>{xml_escape(page['title'])}</title>\n"
            f"    <ns>{page['ns']}</ns>\n"
            f"    <id>{page['id']}</id>\n"
            f"{redirect}"
            "    <revision>\n"
            f"      <id>{page['rev']}</id>\n"
            f"      <parentid>{page['rev'] - rng.randint(10, 5_000_000)}</parentid>\n"
            f"      <timestamp>{t:%Y-%m-%dT%H:%M:%SZ}</timestamp>\n"
            "      <contributor>\n"
            f"{contributor}"
            "      </contributor>\n"
            f"      <comment>{xml_escape(comment)}</comment>\n"
            f"      <origin>{page['rev']}</origin>\n"
            "      <model>wikitext</model>\n"
            "      <format>text/x-wiki</format>\n"
            f'      <text bytes="{len(raw)}" sha1="{sha1}" xml:space="preserve">'
            f"{xml_escape(text)}</text>\n"
            f"      <sha1>{sha1}</sha1>\n"
            "    </revision>\n"
            "  </page>\n"
        )
        if page["kind"] in ("talk", "project"):
            non_article_pii.update(page["tally"][0])
        elif page["kind"] != "redirect":
            ledger.add(
                "wiki",
                WIKI_FILE,
                f"{page['id']}/{page['rev']}",
                f"https://en.wikipedia.org/wiki/{page['title'].replace(' ', '_')}",
                page["kind"],
                page["tally"],
            )
    parts.append("</mediawiki>\n")
    xml = "".join(parts).encode("utf-8")
    path.write_bytes(bz2.compress(xml, 9))
    summary = {
        "files": [WIKI_FILE],
        "pages": len(pages),
        "articles": sum(1 for p in pages if p["ns"] == 0 and p["kind"] != "redirect"),
        "redirects": sum(1 for p in pages if p["kind"] == "redirect"),
        "non_article": sum(1 for p in pages if p["ns"] != 0),
        "namespaces": dict(sorted(Counter(str(p["ns"]) for p in pages).items())),
        "ip_contributors": ip_contributors,
        "non_article_pii": dict(sorted(non_article_pii.items())),
        "bytes_uncompressed": len(xml),
    }
    return summary, reposts


# ---------------------------------------------------------------------------------------------
# Books


def _wrap(text: str, width: int = 70) -> str:
    return textwrap.fill(text, width=width, break_long_words=False, break_on_hyphens=False)


_LICENCE = [
    "THE FULL PROJECT GUTENBERG LICENSE",
    "PLEASE READ THIS BEFORE YOU DISTRIBUTE OR USE THIS WORK",
    "Section 1. General Terms of Use and Redistributing Project Gutenberg-tm electronic works",
    "By reading, copying or passing on this electronic work you agree to the terms of this "
    "licence. If you do not agree, stop using the work and delete or destroy every copy you "
    "hold. A fee paid for a copy of the work is refunded only under the conditions in the "
    "paragraphs below.",
    "The Project Gutenberg name is a registered trademark. It may only be used with an "
    "electronic work by people who agree to be bound by these terms, and most works in the "
    "collection are in the public domain in the United States, so you may copy and share "
    "them there without asking permission.",
    "Section 2. Information about the Mission of Project Gutenberg-tm",
    "Project Gutenberg-tm is synonymous with the free distribution of electronic works in "
    "formats readable by the widest variety of computers, old, middle-aged and new. It "
    "exists because of the efforts of hundreds of volunteers and donations from people in "
    "all walks of life.",
    "Section 3. Information about the Project Gutenberg Literary Archive Foundation",
    "The Foundation is a non-profit educational corporation. Contributions to it are "
    "tax deductible to the full extent permitted by the law of your state, and its business "
    "office can be reached through the contact page at www.gutenberg.org/contact.",
    "Section 4. Information about Donations to the Project Gutenberg Literary Archive Foundation",
    "Project Gutenberg-tm depends upon and cannot survive without widespread public support "
    "and donations to carry out its mission of increasing the number of public domain and "
    "licensed works that can be freely distributed in machine-readable form.",
    "Section 5. General Information About Project Gutenberg-tm electronic works",
    "Most eBooks are produced from several printed editions, all of which are confirmed as "
    "not protected by copyright in the U.S. unless a copyright notice is included. This "
    "website includes information about Project Gutenberg-tm, including how to make "
    "donations and how to subscribe to the email newsletter to hear about new eBooks.",
]

_ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV"]


@dataclass
class _BookSpec:
    number: int
    title: str
    author: str
    producers: list[str]
    chapters: int
    style: str  # modern | older | nospace
    encoding: str
    newline: str
    text: str = ""
    tally: tuple[Counter[str], Counter[str]] = field(default_factory=lambda: (Counter(), Counter()))


def _book_body(rng: random.Random, pii: Pii, spec: _BookSpec) -> str:
    prose = Prose(rng, NARRATIVE, None, "narrative")
    typographic = spec.encoding == "utf-8"
    out = [spec.title.upper(), "", f"BY {spec.author.upper()}", "", "", "CONTENTS", ""]
    names = [prose.chapter_title() for _ in range(spec.chapters)]
    out += [f"  {_ROMAN[i]}. {names[i]}" for i in range(spec.chapters)]
    out += ["", ""]
    letter_at = rng.randrange(1, spec.chapters)
    for c in range(spec.chapters):
        out += ["", f"CHAPTER {_ROMAN[c]}.", names[c].upper(), ""]
        for _ in range(rng.randint(6, 9)):
            p = prose.paragraph(4, 7)
            if not typographic:
                p = p.replace("“", '"').replace("”", '"')
            out += [_wrap(p), ""]
        if c == letter_at:
            addr = pii.address("uk", one_line=False).split("\n")
            pad = " " * 30
            out += [pad + line for line in addr]
            out += [pad + f"{rng.randint(2, 28)}th {rng.choice(['March', 'October'])}.", ""]
            out += [f"My dear {pii.name(style='first')},", ""]
            out += [_wrap(prose.paragraph(3, 4)), "", f"{' ' * 40}Yours ever,"]
            out += [f"{' ' * 40}{pii.name()}", ""]
            if spec.encoding == "iso-8859-1":
                out += [_wrap("The fare to town was £3, and the café on the quay had shut."), ""]
    return "\n".join(out)


def _book_text(rng: random.Random, pii: Pii, spec: _BookSpec) -> str:
    body = _book_body(rng, pii, spec)
    t, a, n = spec.title, spec.author, spec.number
    producers = " and ".join(spec.producers)
    release = f"{rng.choice(['January', 'May', 'August', 'November'])} {rng.randint(1, 28)}, "
    if spec.style == "modern":
        head = [
            f"The Project Gutenberg eBook of {t}, by {a}",
            "",
            _wrap(
                "This eBook may be used by anyone, almost anywhere, free of charge and with very "
                "few restrictions. You may copy it, give it away or reuse it under the terms of "
                "the Project Gutenberg License included with it or online at www.gutenberg.org. "
                "Readers outside the United States should check the laws of their country "
                "before using it."
            ),
            "",
            f"Title: {t}",
            "",
            f"Author: {a}",
            "",
            f"Release Date: {release}{rng.randint(2009, 2016)} [EBook #{n}]",
            f"Most recently updated: {release}2023",
            "",
            "Language: English",
            "",
            "Character set encoding: UTF-8",
            "",
            f"Produced by: {producers} and the Online Distributed Proofreading Team at "
            "https://www.pgdp.net",
            "",
            f"*** START OF THE PROJECT GUTENBERG EBOOK {t.upper()} ***",
            "",
            "",
        ]
        tail = [
            "",
            "",
            f"*** END OF THE PROJECT GUTENBERG EBOOK {t.upper()} ***",
            "",
            _wrap(
                "Updated editions replace older ones, and the older files are renamed. Because "
                "the printed edition is in the public domain in the United States, no one owns "
                "a United States copyright in this work, so the Foundation (and you!) can copy "
                "and distribute it there without permission or royalties."
            ),
            "",
            "START: FULL LICENSE",
            "",
        ]
        tail += [_wrap(p) + "\n" for p in _LICENCE]
    elif spec.style == "older":
        head = [
            f"The Project Gutenberg EBook of {t}, by {a}",
            "",
            _wrap(
                "This eBook is for anyone, anywhere, at no cost and with almost no restrictions. "
                "You may copy it, give it away or re-use it under the terms of the Project "
                "Gutenberg License included with this eBook or online at www.gutenberg.net"
            ),
            "",
            "",
            f"Title: {t}",
            "",
            f"Author: {a}",
            "",
            f"Release Date: {release}{rng.randint(2005, 2008)} [EBook #{n}]",
            "",
            "Language: English",
            "",
            "Character set encoding: ISO-8859-1",
            "",
            f"*** START OF THIS PROJECT GUTENBERG EBOOK {t.upper()} ***",
            "",
            "",
            "",
            f"Produced by {producers}",
            "",
            "",
        ]
        tail = [
            "",
            "",
            f"End of Project Gutenberg's {t}, by {a}",
            "",
            f"*** END OF THIS PROJECT GUTENBERG EBOOK {t.upper()} ***",
            "",
            f"***** This file should be named {n}-8.txt or {n}-8.zip *****",
            "This and all associated files of various formats will be found in:",
            f"        http://www.gutenberg.org/{'/'.join(str(n)[:-1])}/{n}/",
            "",
            f"Produced by {producers}",
            "",
            _wrap("Updated editions replace older ones, and the older files are renamed."),
            "",
            "",
            "*** START: FULL LICENSE ***",
            "",
        ]
        tail += [_wrap(p) + "\n" for p in _LICENCE]
        tail += ["*** END: FULL LICENSE ***"]
    else:  # nospace: an early-2000s file whose markers carry no inner spaces
        head = [
            f"The Project Gutenberg EBook of {t}, by {a}",
            "",
            _wrap(
                "This eBook is for anyone, anywhere, at no cost and with almost no restrictions. "
                "You may copy it, give it away or re-use it under the terms of the Project "
                "Gutenberg License included with this eBook or online at www.gutenberg.net"
            ),
            "",
            f"Title: {t}",
            "",
            f"Author: {a}",
            "",
            f"Release Date: {release}{rng.randint(2002, 2004)} [EBook #{n}]",
            "",
            "Language: English",
            "",
            "Character set encoding: ASCII",
            "",
            f"***START OF THE PROJECT GUTENBERG EBOOK {t.upper()}***",
            "",
            f"E-text prepared by {producers}",
            "",
            "",
        ]
        tail = [
            "",
            "",
            f"End of the Project Gutenberg EBook of {t}, by {a}",
            "",
            f"***END OF THE PROJECT GUTENBERG EBOOK {t.upper()}***",
            "",
            f"******* This file should be named {n}.txt or {n}.zip *******",
            "",
            "*** START: FULL LICENSE ***",
            "",
        ]
        tail += [_wrap(p) + "\n" for p in _LICENCE]
        tail += ["*** END: FULL LICENSE ***"]
    text = "\n".join(head) + body + "\n".join(tail) + "\n"
    if spec.encoding != "utf-8":
        text = _fold(text, spec.encoding)
    return text


def _write_books(root: Path, seed: int, ledger: _Ledger) -> tuple[dict, list[str], int]:
    rng = _rng(seed, "books")
    pii = Pii(rng)
    numbers = sorted(rng.sample(range(4_000, 60_000), 3))
    prose = Prose(rng, NARRATIVE, None, "narrative")
    specs = []
    for n, style, enc, nl, chapters in (
        (numbers[2], "modern", "utf-8", "\r\n", 12),
        (numbers[1], "older", "iso-8859-1", "\r\n", 9),
        (numbers[0], "nospace", "ascii", "\n", 7),
    ):
        author = pii.new_person()
        producers = [pii.new_person() for _ in range(2)]
        title = prose.book_title()
        # counted where they appear: "by Author" (head, tail), "Author:", "BY AUTHOR", producers
        tally_names = 4 if style != "modern" else 3
        spec = _BookSpec(
            n, title, author.full, [p.full for p in producers], chapters, style, enc, nl
        )
        for _ in range(tally_names):
            pii.name(author)
        for p in producers:
            for _ in range(2 if style == "older" else 1):
                pii.name(p)
        specs.append(spec)
        head_names = pii.take()
        spec.text = _book_text(rng, pii, spec)
        body_pii = pii.take()
        spec.tally = (body_pii[0] + head_names[0], body_pii[1] + head_names[1])

    files: list[str] = []
    info: list[dict[str, Any]] = []
    unc = 0
    for spec in specs:
        text = spec.text.replace("\n", spec.newline)
        data = text.encode(spec.encoding)
        if spec.style == "modern":
            data = b"\xef\xbb\xbf" + data  # PG's UTF-8 files start with a byte-order mark
            rel = f"books/{spec.number}-0.txt"
            zrel = f"books/{spec.number}-0.zip"
            (root / rel).write_bytes(data)
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
                zi = zipfile.ZipInfo(f"{spec.number}-0.txt", date_time=(2023, 5, 1, 0, 0, 0))
                zi.compress_type = zipfile.ZIP_DEFLATED
                zi.external_attr = 0o644 << 16
                zf.writestr(zi, data)
            (root / zrel).write_bytes(buf.getvalue())
            a = ledger.add("books", rel, str(spec.number), rel, spec.style, spec.tally)
            b = ledger.add("books", zrel, str(spec.number), zrel, spec.style, spec.tally)
            ledger.exact.append({"kind": "book_txt_zip", "a": a.ref(), "b": b.ref()})
            files += [rel, zrel]
            unc += 2 * len(data)
            entries = [(rel, "txt"), (zrel, "zip")]
        elif spec.style == "older":
            rel = f"books/{spec.number}-8.txt"
            (root / rel).write_bytes(data)
            ledger.add("books", rel, str(spec.number), rel, spec.style, spec.tally)
            files.append(rel)
            unc += len(data)
            entries = [(rel, "txt")]
        else:
            rel = f"books/{spec.number}.txt.gz"
            (root / rel).write_bytes(_gzip(data))
            ledger.add("books", rel, str(spec.number), rel, spec.style, spec.tally)
            files.append(rel)
            unc += len(data)
            entries = [(rel, "txt.gz")]
        for path, container in entries:
            info.append(
                {
                    "file": path,
                    "container": container,
                    "ebook": spec.number,
                    "style": spec.style,
                    "encoding": spec.encoding,
                    "line_endings": "crlf" if spec.newline == "\r\n" else "lf",
                }
            )
    return {"files": files, "books": len(specs), "entries": info}, files, unc


# ---------------------------------------------------------------------------------------------
# Instruction tuning rows


def _sft_rows(seed: int, scale: int, ledger: _Ledger) -> tuple[list[dict], list[Counter], dict]:
    rng = _rng(seed, "sft")
    pii = Pii(rng)
    rows: list[dict[str, Any]] = []
    tallies = []
    names = sorted(TOPICS)
    n_plain, n_pii, n_chat = 30 * scale, 12 * scale, 8 * scale
    for i in range(n_plain):
        topic = TOPICS[names[i % len(names)]]
        prose = Prose(rng, topic, None, rng.choice(["news", "blog"]))
        ask = rng.choice(
            [
                f"Write a short blog post about {rng.choice(topic.headlines)}.",
                f"Summarize the main arguments for and against the {prose.noun()} proposal.",
                f"Explain to a beginner how {prose.nps()} affect {prose.nps()}.",
                f"Give me three practical tips about {prose.noun(True)}.",
                f"Draft an opening paragraph for a report on {rng.choice(topic.headlines)}.",
            ]
        )
        if ask.startswith("Give me three"):
            answer = "\n".join(f"{k}. {prose.sentence()}" for k in (1, 2, 3))
            answer += "\n\n" + prose.paragraph(3, 5)
        else:
            answer = "\n\n".join(prose.paragraphs(rng.randint(3, 5), 3, 5))
        rows.append({"prompt": ask, "response": answer})
        tallies.append(pii.take())
    for i in range(n_pii):
        topic = TOPICS[names[(i * 5) % len(names)]]
        prose = Prose(rng, topic, None, "blog")
        kind = i % 6
        if kind == 0:
            me = pii.new_person()
            addr = pii.address("us")
            prompt = (
                f"My name is {pii.name(me)} and I rent the flat at {addr}. The {prose.noun()} "
                f"has been broken for three weeks. Write a firm but polite letter to my landlord."
            )
            response = (
                f"{pii.name(me)}\n{addr}\n\nDear landlord,\n\n{prose.paragraph(3, 4)}\n\n"
                f"Please reply to {pii.email(me)} or call {pii.phone()}.\n\nYours sincerely,\n"
                f"{pii.name(me)}"
            )
            pii.counts["STREET_ADDRESS"] += 1  # the address appears twice
            pii.subtypes["STREET_ADDRESS/us"] += 1
        elif kind == 1:
            prompt = (
                "Why does `aws s3 ls` say InvalidAccessKeyId? My config:\n```\n[default]\n"
                f"aws_access_key_id = {pii.aws_key()}\naws_secret_access_key = {pii.aws_secret()}"
                "\nregion = us-east-1\n```"
            )
            response = (
                "The key ID is not recognised by the account you are calling. Check that the "
                "key is still active in IAM, that no environment variable overrides the file, "
                "and rotate the key now: you have pasted a secret into a chat.\n\n"
                + prose.paragraph(3, 5)
            )
        elif kind == 2:
            who = pii.new_person()
            prompt = (
                "Extract the contact details from this e-mail signature as JSON:\n\n"
                f"-- \n{pii.name(who)}\n{rng.choice(topic.roles).title()}, {prose.org()[4:]}\n"
                f"{pii.phone()} | {pii.email(who)}"
            )
            response = (
                '{"name": "[NAME]", "title": "...", "phone": "[PHONE]", "email": "[EMAIL]"}\n\n'
                "I replaced the personal values with placeholders; the structure is what matters."
            )
        elif kind == 3:
            prompt = (
                f"Summarize this customer complaint: I was charged twice on my card "
                f"{pii.card()} for order {rng.randint(100000, 999999)}. {prose.paragraph(3, 5)}"
            )
            response = prose.paragraph(3, 5) + " The customer asks for one charge to be refunded."
        elif kind == 4:
            a, b = pii.ipv4(), pii.ipv6()
            prompt = (
                f"My web server at {a} answers on IPv4 but not on {b}. The firewall allows "
                f"port 443 on both. What should I check?"
            )
            response = (
                "Check that the server listens on the IPv6 address (`ss -ltnp`), that the AAAA "
                "record points to it, and that the IPv6 firewall chain has the same rule. "
                + prose.paragraph(3, 5)
            )
        else:
            token = pii.github_token() if rng.random() < 0.5 else pii.openai_key()
            prompt = (
                f'This script fails with 401:\n```python\nimport requests\nTOKEN = "{token}"\n'
                "r = requests.get(URL, headers={'Authorization': f'Bearer {TOKEN}'})\n```\n"
                f"Can you fix it? Also, who is {pii.name(style='caps')} in the commit log?"
            )
            response = (
                "Revoke that token first: it is now exposed. Then read the token from an "
                "environment variable instead of the source file. " + prose.paragraph(3, 5)
            )
        rows.append({"prompt": prompt, "response": response})
        tallies.append(pii.take())
    for i in range(n_chat):
        topic = TOPICS[names[(i * 7) % len(names)]]
        prose = Prose(rng, topic, None, "blog")
        msgs = []
        if i % 2 == 0:
            msgs.append({"role": "system", "content": "You are a helpful, concise assistant."})
        if i % 4 == 1:
            me = pii.new_person()
            first = (
                f"Hi, I'm {pii.name(me)} ({pii.email(me)}). Can you help me plan "
                f"{rng.choice(topic.headlines)}?"
            )
        else:
            first = f"Can you help me understand {rng.choice(topic.headlines)}?"
        msgs += [
            {"role": "user", "content": first},
            {"role": "assistant", "content": prose.paragraph(4, 6)},
            {"role": "user", "content": f"What about the {prose.noun()}?"},
            {"role": "assistant", "content": prose.paragraph(3, 5)},
        ]
        rows.append({"messages": msgs})
        tallies.append(pii.take())
    order = list(range(len(rows)))
    rng.shuffle(order)
    rows = [rows[k] for k in order]
    tallies = [tallies[k] for k in order]
    # one exact and one near duplicate row
    exact_src = next(k for k, r in enumerate(rows) if "prompt" in r and not tallies[k][0])
    near_src = next(
        k for k, r in enumerate(rows) if "prompt" in r and not tallies[k][0] and k != exact_src
    )
    rows.append(dict(rows[exact_src]))
    tallies.append(tallies[exact_src])
    near = dict(rows[near_src])
    near["response"], edits = perturb(near["response"], rng, 0.06)
    rows.append(near)
    tallies.append(tallies[near_src])
    docs = [
        ledger.add("dataset", SFT_FILE, str(k), SFT_FILE, "chat" if "messages" in r else "pair", t)
        for k, (r, t) in enumerate(zip(rows, tallies, strict=True))
    ]
    ledger.exact.append(
        {"kind": "sft_row", "a": docs[exact_src].ref(), "b": docs[len(rows) - 2].ref()}
    )
    ledger.near.append(
        {"kind": "sft_row_near", "a": docs[near_src].ref(), "b": docs[-1].ref(), "edits": edits}
    )
    summary = {
        "files": [SFT_FILE],
        "rows": len(rows),
        "pair_rows": sum(1 for r in rows if "prompt" in r),
        "chat_rows": sum(1 for r in rows if "messages" in r),
    }
    return rows, tallies, summary


# ---------------------------------------------------------------------------------------------
# Entry point


def write_sample(out_dir: Path, seed: int = 0, scale: int = 1) -> dict[str, Any]:
    """Write the sample corpus under `out_dir` and describe it (counts and ids, no PII values).

    `scale` multiplies the web crawl files (about 50 responses each), the wiki articles and the
    instruction rows; the books stay the same. Returns a JSON-serialisable dict:

    * ``files``: ``[{path, bytes, sha256}]`` (paths relative to `out_dir`), ``bytes`` and
      ``bytes_uncompressed`` totals;
    * ``web`` / ``books`` / ``wiki`` / ``sft``: per-source files and record counts (WARC record
      types, responses, HTML pages, skipped responses, charsets; book entries with style,
      encoding and line endings; wiki pages, articles, redirects, non-article pages; SFT rows);
    * ``documents``: every text record a reader should yield (HTTP-200 HTML responses, one per
      book file, ns-0 non-redirect wiki pages, every JSONL row), each as ``{source, file,
      locator, uri, kind, pii}``; locators are the WARC-Record-ID, the ebook number,
      ``page_id/revision_id`` and the row index; ``document_counts`` by source;
    * ``pii``: planted occurrences by type (``total``, ``by_source``, ``by_subtype``);
    * ``duplicates``: ``exact`` and ``near`` pairs ``{kind, a, b, ...}`` by document reference,
      near pairs with the number of edited words (and the word 5-gram Jaccard for web pages).

    Sources are named as in DESIGN.md (``web``, ``books``, ``wiki``, ``dataset`` for the SFT
    rows). Files already in `out_dir` with the same names are overwritten.
    """
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    root = Path(out_dir)
    for sub in ("web", "books", "wiki", "sft"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    ledger = _Ledger()

    wiki_summary, reposts = _write_wiki(root / WIKI_FILE, seed, scale, ledger)
    wiki_docs = {d.locator: d for d in ledger.docs if d.source == "wiki"}

    web_files: list[str] = []
    records: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    charsets: Counter[str] = Counter()
    unc_web = 0
    for i in range(scale):
        repost = reposts[i % len(reposts)] if reposts else None
        pages, extra, skip = _build_web_pages(seed, i, repost)
        rel = f"web/crawl-{i:05d}.warc.gz"
        counts, size = _write_warc(root / rel, rel, seed, i, pages, ledger)
        unc_web += size
        web_files.append(rel)
        records.update(counts)
        for p in skip:
            skipped["not_found" if p.status == 404 else "non_html"] += 1
        for p in pages:
            if p.doc is not None:
                kinds[p.kind] += 1
                charsets[p.charset] += 1
                ledger.boilerplate_pages += b'class="licence"' in p.body
        for name, src, dup, meta in extra:
            assert src.doc is not None and dup.doc is not None
            entry = {"kind": name, "a": src.doc.ref(), "b": dup.doc.ref(), **meta}
            (ledger.near if "near" in name else ledger.exact).append(entry)
        if repost is not None:
            page = next(p for p in pages if p.kind == "wiki_repost")
            assert page.doc is not None
            src_doc = wiki_docs[f"{repost.page_id}/{repost.rev_id}"]
            ledger.exact.append(
                {
                    "kind": "wiki_reposted_on_web",
                    "a": src_doc.ref(),
                    "b": page.doc.ref(),
                    "note": "same paragraphs: equal once wiki markup and page chrome are removed",
                }
            )
    web_summary = {
        "files": web_files,
        "records": dict(sorted(records.items())),
        "responses": records["response"],
        "html_pages": sum(kinds.values()),
        "skipped_responses": dict(sorted(skipped.items())),
        "pages_by_kind": dict(sorted(kinds.items())),
        "charsets": dict(sorted(charsets.items())),
        "bytes_uncompressed": unc_web,
    }

    books_summary, _, unc_books = _write_books(root, seed, ledger)
    books_summary["bytes_uncompressed"] = unc_books

    rows, _, sft_summary = _sft_rows(seed, scale, ledger)
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    (root / SFT_FILE).write_bytes(data)
    sft_summary["bytes_uncompressed"] = len(data)

    files = []
    all_paths = web_files + books_summary["files"] + wiki_summary["files"] + sft_summary["files"]
    for rel in all_paths:
        blob = (root / rel).read_bytes()
        files.append({"path": rel, "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest()})

    by_source: dict[str, Counter[str]] = {}
    subtypes: Counter[str] = Counter()
    for d in ledger.docs:
        by_source.setdefault(d.source, Counter()).update(d.pii)
        subtypes.update(d.pii_sub)
    total: Counter[str] = Counter()
    for c in by_source.values():
        total.update(c)

    def plain(c: Counter[str]) -> dict[str, int]:
        return {k: v for k, v in sorted(c.items()) if v}

    return {
        "version": SAMPLE_VERSION,
        "seed": seed,
        "scale": scale,
        "root": str(root),
        "files": files,
        "bytes": sum(f["bytes"] for f in files),
        "bytes_uncompressed": unc_web + unc_books + wiki_summary["bytes_uncompressed"] + len(data),
        "web": web_summary,
        "books": books_summary,
        "wiki": wiki_summary,
        "sft": sft_summary,
        "documents": [{**d.ref(), "kind": d.kind, "pii": plain(d.pii)} for d in ledger.docs],
        "document_counts": dict(sorted(Counter(d.source for d in ledger.docs).items())),
        "pii": {
            "total": plain(total),
            "by_source": {s: plain(c) for s, c in sorted(by_source.items())},
            "by_subtype": plain(subtypes),
            "note": "planted occurrences in document text (web: visible page text; wiki "
            "contributor <ip> elements are counted in wiki.ip_contributors instead)",
        },
        "duplicates": {
            "exact": ledger.exact,
            "near": ledger.near,
            "counts": {"exact": len(ledger.exact), "near": len(ledger.near)},
        },
        "boilerplate": {"pages_with_licence_paragraph": ledger.boilerplate_pages},
    }
