"""The demo corpus's wiki dump: `wiki/enwiki-sample-pages-articles.xml.bz2`, a MediaWiki export.

Schema 0.11, with infoboxes, citations, refs, tables, files, categories, a redirect, a Talk page
and a project-namespace page. Two plain articles are also re-posted on a web content farm
(`WikiRepost`), an exact duplicate across sources once markup and page chrome are removed.
"""

from __future__ import annotations

import bz2
import hashlib
import random
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from corpusforge.demo.common import BASE_TIME, seeded_rng, slug
from corpusforge.demo.planted import Ledger, Pii, username
from corpusforge.demo.prose import PLACE_ROOTS, PLACE_STEMS, TOPICS, Prose
from corpusforge.demo.resources import load_json

WIKI_FILE = "wiki/enwiki-sample-pages-articles.xml.bz2"
MW_NS = "http://www.mediawiki.org/xml/export-0.11/"


@dataclass
class WikiRepost:
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
            f"{{{{cite web |url=https://www.example.org/{slug(title)} |title={title} "
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
            f"| website             = {{{{URL|https://www.{slug(title)}.example.gov.uk}}}}",
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

    ref_name = f"{slug(title)[:12]}{rng.randint(1, 99)}"
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
                f"[[File:{slug(prose.noun()).title()}_{rng.randint(1890, 2020)}.jpg|thumb|"
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
        f"* [https://www.example.org/{slug(title)} Official website]",
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


# (key, name) of every namespace in the <siteinfo> header, as enwiki declares them
_NAMESPACES: list[tuple[int, str]] = [(k, n) for k, n in load_json("wiki_namespaces.json")]


def write_wiki(path: Path, seed: int, scale: int, ledger: Ledger) -> tuple[dict, list]:
    rng = seeded_rng(seed, "wiki")
    pii = Pii(rng)
    kinds = ["settlement"] * 5 + ["biography"] * 5 + ["organization"] * 4 + ["concept"] * 4
    kinds += ["plain"] * 2
    kinds = kinds * scale
    rng.shuffle(kinds)
    topic_names = sorted(TOPICS)
    page_id = rng.randint(1_000, 5_000)
    rev_id = rng.randint(900_000_000, 1_100_000_000)
    pages: list[dict[str, Any]] = []
    reposts: list[WikiRepost] = []
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
            reposts.append(WikiRepost(title, plain, page_id, rev_id))

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
    users = [username(rng) for _ in range(3)]
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
                f"        <username>{xml_escape(username(rng))}</username>\n"
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
