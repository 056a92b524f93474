"""The demo corpus's web crawl: `web/crawl-NNNNN.warc.gz`, WARC/1.0 with one gzip member per record.

A ``warcinfo`` record, then a ``request`` + ``response`` pair per fetched URL: HTML pages with
navigation, cookie banners, sidebars, footers, scripts and styles around the article (the page
frame is `data/page.html`); a few pages declare ``windows-1252`` / ``iso-8859-1`` only in
``<meta>``; plus a robots.txt, a PNG and a 404. Mirrors, tracking URLs, updated stories and
syndicated copies are planted as exact and near duplicates.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import random
import re
import struct
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from corpusforge.demo.common import BASE_TIME, fold, gzip_member, record_uuid, seeded_rng, slug
from corpusforge.demo.planted import Doc, Ledger, Pii, jaccard, perturb, username
from corpusforge.demo.prose import PLACE_ROOTS, PLACE_STEMS, TOPICS, Prose
from corpusforge.demo.resources import load_json, read_text
from corpusforge.demo.wiki import WikiRepost

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
    doc: Doc | None = None


_WEB = load_json("web.json")
_NAV: dict[str, list[str]] = _WEB["nav"]
_LICENCES: dict[str, str] = _WEB["licences"]
_PAGE = read_text("page.html")


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
    licence = _LICENCES.get(kind, _LICENCES["default"]).format(name=name)
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
    """Wrap the main content in a realistic page (`data/page.html`, a `str.format` template):
    head, scripts, cookie banner, nav, sidebar, footer."""
    if site.charset == "iso-8859-1":
        meta = '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
    else:
        meta = f'<meta charset="{site.charset}">'
    nav = "\n".join(
        f'<li><a href="/{slug(item) if item != "Home" else ""}">{_e(item)}</a></li>'
        for item in site.nav
    )
    picks = rng.sample(site.headlines, 5)
    sidebar = "\n".join(f'<li><a href="/{slug(h)}/">{_e(h)}</a></li>' for h in picks)
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
    css_hash = rng.randrange(16**8)
    return _PAGE.format(
        meta=meta,
        title=_e(page_title),
        site_name=_e(site.name),
        css_hash=css_hash,
        accent=site.accent,
        ga_id=site.ga_id,
        ld=ld,
        kind=site.kind,
        nav=nav,
        main=main,
        sidebar=sidebar,
        contact=contact,
        year=year,
        domain=site.domain,
    )


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
    url = f"https://{site.domain}/{when:%Y/%m/%d}/{slug(title)}"
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
    url = f"https://{site.domain}/{when:%Y/%m}/{slug(title)}/"
    return _Page(url, title, _render(site, title, main, rng, when), "blog", pii.take())


def _forum_page(site: _Site, rng: random.Random, pii: Pii, when: datetime) -> _Page:
    topic = TOPICS[rng.choice(site.topics)]
    prose = Prose(rng, topic, pii, "blog")
    title = f"{prose.title()} - help needed"
    posts = []
    for i in range(rng.randint(3, 5)):
        user = username(rng)
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
    url = f"https://{site.domain}/threads/{slug(title)}.{rng.randint(1000, 99999)}/"
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
    url = f"https://{site.domain}/products/{slug(product)}"
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


def _wiki_repost_page(site: _Site, rng: random.Random, wiki: WikiRepost, when) -> _Page:
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
    url = f"https://{site.domain}/wiki/{slug(wiki.title)}.html"
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
    page.body = fold(page.html, page.charset).encode(page.charset)
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


def _build_web_pages(seed: int, index: int, wiki: WikiRepost | None):
    """All pages of one crawl file, in crawl order, plus the planted duplicate pairs."""
    rng = seeded_rng(seed, "web", index)
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


def _write_warc(path: Path, rel: str, seed: int, index: int, pages: list[_Page], ledger: Ledger):
    rng = seeded_rng(seed, "warc", index)
    t = BASE_TIME + timedelta(days=index, hours=2)
    info_id = record_uuid(seed, index, "warcinfo")
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
        req_id = record_uuid(seed, index, n, "request")
        resp_id = record_uuid(seed, index, n, "response")
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
    path.write_bytes(b"".join(gzip_member(rec) for rec in out))  # record-at-a-time gzip
    return counts, sum(len(rec) for rec in out)


def write_web(root: Path, seed: int, scale: int, reposts: list[WikiRepost], ledger: Ledger):
    """Write `scale` crawl files under `root/web/`; returns the web summary (uncompressed bytes
    under ``bytes_uncompressed``). Each file re-posts one wiki article on a content farm."""
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
    return {
        "files": web_files,
        "records": dict(sorted(records.items())),
        "responses": records["response"],
        "html_pages": sum(kinds.values()),
        "skipped_responses": dict(sorted(skipped.items())),
        "pages_by_kind": dict(sorted(kinds.items())),
        "charsets": dict(sorted(charsets.items())),
        "bytes_uncompressed": unc_web,
    }
