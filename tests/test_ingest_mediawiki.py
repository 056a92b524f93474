"""MediaWiki reader: the real enwiki (bz2, schema 0.10) and wikibrain (plain, schema 0.8)
dumps, a schema 0.11 dump built here, wikitext conversion, and dumps cut short."""

from __future__ import annotations

import bz2
import time
from collections import Counter

import pytest

from corpusforge.pipeline.ingest.config import IngestConfig
from corpusforge.pipeline.ingest.mediawiki import LICENSE, read_mediawiki, wikitext_to_text
from corpusforge.pipeline.ingest.records import RawDocument, RecordError

ENWIKI = "wiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
WIKIBRAIN = "wiki/wikibrain-en_test.xml"
MARKUP_LEFT = ("{{", "}}", "[[", "]]", "<ref", "{|", "|}", "__TOC__", "'''", "<!--")


def run(path):
    stats = Counter()
    t0 = time.process_time()  # CPU time: the wall clock on a shared CI box is noise
    items = list(read_mediawiki(path, IngestConfig(), stats))
    elapsed = time.process_time() - t0
    docs = [x for x in items if isinstance(x, RawDocument)]
    errors = [x for x in items if isinstance(x, RecordError)]
    return docs, errors, stats, elapsed


@pytest.fixture(scope="module")
def enwiki(fixtures_dir):
    return run(fixtures_dir / ENWIKI)


@pytest.fixture(scope="module")
def wikibrain(fixtures_dir):
    return run(fixtures_dir / WIKIBRAIN)


def test_enwiki_counts_and_speed(enwiki):
    docs, errors, stats, elapsed = enwiki
    assert errors == []
    # 206 pages: 205 in ns 0 (99 of them redirects) + 1 ns-4 page (itself a redirect).
    assert stats["pages"] == 206
    assert stats["redirects"] == 99 and stats["non_article"] == 1
    assert stats["articles"] == len(docs) == 106
    assert elapsed < 10, f"6 MB of wikitext took {elapsed:.1f} CPU seconds"  # ~2.3 s here


def test_enwiki_documents(enwiki):
    docs, *_ = enwiki
    first = docs[0]
    assert first.meta["title"] == "Anarchism"
    assert first.key == f"enwiki:12:{first.meta['rev_id']}"
    assert first.locator == f"page=12 rev={first.meta['rev_id']}"
    assert first.source == "wiki"
    assert first.meta["dbname"] == "enwiki" and first.meta["license"] == LICENSE
    assert first.meta["timestamp"].startswith("20")
    assert first.meta["url"] == "https://en.wikipedia.org/wiki/Anarchism"
    assert first.text.startswith("Anarchism is a political philosophy")
    assert "\nEtymology and terminology\n" in first.text  # heading kept as a plain line
    assert len({d.key for d in docs}) == len(docs)
    titles = {d.meta["title"] for d in docs}
    assert {"Autism", "Alabama", "Abraham Lincoln", "Alkali metal"} <= titles
    assert "AccessibleComputing" not in titles  # redirect


@pytest.mark.parametrize("dump", ["enwiki", "wikibrain"])
def test_no_markup_left(dump, request):
    docs, *_ = request.getfixturevalue(dump)
    for d in docs:
        for token in MARKUP_LEFT:
            assert token not in d.text, (d.meta["title"], token)
        assert "Category:" not in d.text and "thumb|" not in d.text
        assert d.text.strip()


def test_wikibrain_schema_08_without_dbname(wikibrain):
    docs, errors, stats, _ = wikibrain
    assert errors == []
    assert stats["pages"] == 44 and stats["redirects"] == 11 and stats["non_article"] == 0
    assert len(docs) == 33
    pretoria = next(d for d in docs if d.meta["title"] == "Pretoria")
    assert pretoria.key.startswith("Wikipedia:")  # no <dbname>: sitename is the prefix
    pina = next(d for d in docs if d.meta["title"] == "Piña colada")
    assert "ñ" in pina.text


def test_wikitext_conversion():
    wikitext = (
        "{{Infobox thing|name={{nested|x}}|size=3}}\n"
        "'''Bold''' and ''italic'' [[Link target|shown text]] and [[Plain]]s.<ref name=a>"
        "{{cite web|url=http://x}}</ref> See [http://example.org the site].<ref name=a/>\n"
        "<!-- hidden comment -->__TOC__\n"
        "== Section ==\n"
        "{| class=wikitable\n|-\n| cell {{tpl}} || cell\n|}\n"
        "[[File:Pic.jpg|thumb|A caption with [[a link]] and [http://x.org ext]]]\n"
        "Text after.[[Category:Things]][[de:Ding]] [[:Category:Shown|a category link]]"
        " [[wikt:word|word]].\n"
    )
    assert wikitext_to_text(wikitext) == (
        "Bold and italic shown text and Plains. See the site.\n\n"
        "Section\n\n"
        "Text after. a category link word."
    )


SCHEMA_011 = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11">
  <siteinfo><sitename>Testwiki</sitename><dbname>testwiki</dbname>
    <base>https://test.example.org/wiki/Main_Page</base>
    <namespaces><namespace key="6" case="first-letter">Bild</namespace></namespaces>
  </siteinfo>
  {pages}
</mediawiki>
"""
PAGE = """<page><title>{title}</title><ns>{ns}</ns><id>{id}</id>{redirect}
    <revision><id>{rev}</id><timestamp>2024-01-0{id}T00:00:00Z</timestamp>
      <contributor><username>U</username><id>999</id></contributor>
      <model>wikitext</model><format>text/x-wiki</format>
      <text bytes="1" xml:space="preserve">{text}</text></revision></page>"""


def make_dump(n_articles=3):
    pages = [
        PAGE.format(
            title=f"Article {i}", ns=0, id=i, rev=100 + i, redirect="",
            text=f"Article number {i} is about [[Bild:X.png|thumb|pic]]things.",
        )
        for i in range(1, n_articles + 1)
    ]  # fmt: skip
    pages.append(
        PAGE.format(title="R", ns=0, id=8, rev=108, redirect='<redirect title="Article 1"/>',
                    text="#REDIRECT [[Article 1]]")
    )  # fmt: skip
    pages.append(PAGE.format(title="Talk:X", ns=1, id=9, rev=109, redirect="", text="talk"))
    return SCHEMA_011.format(pages="\n".join(pages))


def test_schema_011_dump(tmp_path):
    path = tmp_path / "dump.xml"
    path.write_text(make_dump(), encoding="utf-8")
    docs, errors, stats, _ = run(path)
    assert errors == [] and len(docs) == 3
    assert stats["redirects"] == 1 and stats["non_article"] == 1
    assert docs[0].key == "testwiki:1:101"  # revision id, not the contributor id
    assert docs[0].text == "Article number 1 is about things."  # localized File namespace
    assert docs[0].meta["url"] == "https://test.example.org/wiki/Article_1"


def test_truncated_xml_keeps_pages_before_the_break(tmp_path):
    text = make_dump(5)
    cut = text[: text.index("<title>Article 4")]
    path = tmp_path / "cut.xml"
    path.write_text(cut, encoding="utf-8")
    docs, errors, _, _ = run(path)
    assert [d.meta["title"] for d in docs] == ["Article 1", "Article 2", "Article 3"]
    assert len(errors) == 1 and errors[0].position == "page 4"
    assert "malformed XML" in errors[0].reason and "Article" not in errors[0].reason


def test_malformed_xml(tmp_path):
    text = make_dump(3).replace("</revision></page>", "</page>", 2)  # mismatched tags
    path = tmp_path / "bad.xml"
    path.write_text(text, encoding="utf-8")
    docs, errors, _, _ = run(path)
    assert len(errors) == 1 and "mismatched tag" in errors[0].reason


def test_truncated_bz2(fixtures_dir, tmp_path):
    raw = (fixtures_dir / WIKIBRAIN).read_bytes()
    packed = bz2.compress(raw, compresslevel=1)  # 100 kB blocks
    path = tmp_path / "wb.bz2"
    path.write_bytes(packed[: len(packed) // 2])
    docs, errors, _, _ = run(path)
    assert 5 < len(docs) < 33
    assert len(errors) == 1 and "rest of file skipped" in errors[0].reason
