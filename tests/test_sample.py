"""The generated sample corpus: deterministic, in the real formats, with what it says it planted."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import itertools
import json
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections import Counter

import pytest
from warcio.archiveiterator import ArchiveIterator

from corpusforge.demo import write_sample
from corpusforge.demo.planted import jaccard, luhn_valid
from corpusforge.demo.web import main_words

MW = "{http://www.mediawiki.org/xml/export-0.11/}"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    return root, write_sample(root, seed=0)


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _responses(path):
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh, check_digests="raise"):
            if rec.rec_type == "response":
                yield rec, rec.content_stream().read()


def _decode(rec, body):
    ctype = rec.http_headers.get_header("Content-Type")
    if "charset=utf-8" in ctype:
        return body.decode("utf-8")
    m = re.search(rb'charset="?([\w-]+)', body[:1024])
    return body.decode(m.group(1).decode())


# -- determinism ------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(sample, tmp_path):
    root, summary = sample
    again = write_sample(tmp_path / "again", seed=0)
    first, second = _files(root), _files(tmp_path / "again")
    assert sorted(first) == sorted(second) == sorted(f["path"] for f in summary["files"])
    for rel in first:
        assert first[rel] == second[rel], rel
    assert {**summary, "root": ""} == {**again, "root": ""}


def test_other_seed_gives_other_files(sample, tmp_path):
    root, summary = sample
    other = write_sample(tmp_path / "other", seed=1)
    mine = {f["path"].split("/")[0]: f["sha256"] for f in summary["files"]}
    theirs = {f["path"].split("/")[0]: f["sha256"] for f in other["files"]}
    for source in ("web", "wiki", "sft", "books"):
        assert mine[source] != theirs[source]


def test_summary_matches_files_and_holds_no_pii_values(sample):
    root, summary = sample
    for f in summary["files"]:
        blob = (root / f["path"]).read_bytes()
        assert len(blob) == f["bytes"]
        assert hashlib.sha256(blob).hexdigest() == f["sha256"]
    text = json.dumps(summary)
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text)  # no e-mail addresses
    assert "AKIA" not in text and "ghp_" not in text
    assert not re.search(r"555[-. ]01[0-9][0-9]", text)


def test_size_budget(sample):
    _, summary = sample
    assert summary["bytes"] < 1_000_000
    assert 500_000 < summary["bytes_uncompressed"] < 2_500_000


def test_rejects_bad_scale(tmp_path):
    with pytest.raises(ValueError):
        write_sample(tmp_path, scale=0)


# -- web --------------------------------------------------------------------------------------


def test_warc_is_valid_and_counts_match(sample):
    root, summary = sample
    web = summary["web"]
    assert web["files"] == ["web/crawl-00000.warc.gz"]
    path = root / web["files"][0]
    raw = path.read_bytes()
    # record-at-a-time gzip: one member per record, each with mtime 0
    members, data = 0, raw
    while data:
        assert data[:2] == b"\x1f\x8b" and data[4:8] == b"\0\0\0\0"
        d = zlib.decompressobj(31)
        d.decompress(data)
        data = d.unused_data
        members += 1
    types, ids, requests, concurrent = Counter(), set(), set(), set()
    with open(path, "rb") as fh:
        for rec in ArchiveIterator(fh, check_digests="raise"):
            types[rec.rec_type] += 1
            rid = rec.rec_headers.get_header("WARC-Record-ID")
            assert rid not in ids
            ids.add(rid)
            assert rec.rec_headers.get_header("WARC-Date").startswith("20")
            if rec.rec_type == "request":
                requests.add(rid)
            if rec.rec_type == "response":
                concurrent.add(rec.rec_headers.get_header("WARC-Concurrent-To"))
    assert members == sum(types.values())
    assert types == Counter(web["records"])
    assert types["warcinfo"] == 1 and 40 <= types["response"] <= 60
    assert concurrent == requests


def test_warc_pages_look_like_real_pages(sample):
    root, summary = sample
    statuses, ctypes, charsets, html_pages = Counter(), Counter(), Counter(), 0
    for rec, body in _responses(root / summary["web"]["files"][0]):
        status = rec.http_headers.get_statuscode()
        ctype = rec.http_headers.get_header("Content-Type")
        statuses[status] += 1
        ctypes[ctype.split(";")[0]] += 1
        assert int(rec.http_headers.get_header("Content-Length")) == len(body)
        if status == "200" and ctype.startswith("text/html"):
            html_pages += 1
            page = _decode(rec, body)
            for part in ("<nav", "<footer", "<script", "<style", "cookie", "<main"):
                assert part in page
            if "charset" not in ctype:
                charsets[re.search(r'charset="?([\w-]+)', page).group(1)] += 1
                assert body.decode("utf-8", "replace") != page  # really not UTF-8
    assert statuses["404"] == 1
    assert ctypes["image/png"] == 1 and ctypes["text/plain"] == 1
    assert html_pages == summary["web"]["html_pages"] == summary["document_counts"]["web"]
    assert charsets == {"windows-1252": 5, "iso-8859-1": 1}


def test_web_duplicates_are_what_they_claim(sample):
    root, summary = sample
    pages = {}
    for rec, body in _responses(root / summary["web"]["files"][0]):
        if rec.http_headers.get_statuscode() == "200" and b"<html" in body[:200]:
            pages[rec.rec_headers.get_header("WARC-Record-ID")] = main_words(_decode(rec, body))
    dups = summary["duplicates"]
    pairs = set()
    for entry in dups["exact"] + dups["near"]:
        a, b = entry["a"]["locator"], entry["b"]["locator"]
        pairs |= {(a, b), (b, a)}
        if entry["a"]["source"] == entry["b"]["source"] == "web":
            sim = jaccard(pages[a], pages[b])
            if entry in dups["exact"]:
                assert sim == 1.0, entry["kind"]
            else:
                assert 0.6 < sim < 1.0, entry["kind"]
                assert sim == pytest.approx(entry["jaccard_5gram"], abs=1e-3)
    kinds = {e["kind"] for e in dups["exact"] + dups["near"]}
    assert {"web_mirror", "web_tracking_url", "wiki_reposted_on_web", "book_txt_zip"} <= kinds
    assert {"web_near_updated", "web_near_syndicated", "web_near_variant"} <= kinds
    # unrelated pages share (almost) no word 5-grams
    grams = {k: {tuple(w[i : i + 5]) for i in range(len(w) - 4)} for k, w in pages.items()}
    sims = [
        len(grams[a] & grams[b]) / len(grams[a] | grams[b])
        for a, b in itertools.combinations(sorted(pages), 2)
        if (a, b) not in pairs
    ]
    assert max(sims) < 0.1
    assert sum(sims) / len(sims) < 0.02


# -- wiki -------------------------------------------------------------------------------------


def test_wiki_dump_parses_with_redirect_and_non_article(sample):
    root, summary = sample
    wiki = summary["wiki"]
    pages, redirects, non_article = 0, 0, 0
    with bz2.open(root / wiki["files"][0]) as fh:
        for event, el in ET.iterparse(fh, events=("start", "end")):
            if event == "start" and el.tag == f"{MW}mediawiki":
                assert el.get("version") == "0.11"
            if event != "end":
                continue
            if el.tag == f"{MW}siteinfo":
                assert el.findtext(f"{MW}dbname") == "enwiki"
                assert len(el.findall(f"{MW}namespaces/{MW}namespace")) > 10
            if el.tag != f"{MW}page":
                continue
            pages += 1
            rev = el.find(f"{MW}revision")
            text_el = rev.find(f"{MW}text")
            text = text_el.text or ""
            assert int(text_el.get("bytes")) == len(text.encode("utf-8"))
            for tag in ("id", "timestamp", "contributor", "model", "format", "sha1"):
                assert rev.find(f"{MW}{tag}") is not None, tag
            n = int.from_bytes(hashlib.sha1(text.encode()).digest(), "big")
            assert int(rev.findtext(f"{MW}sha1"), 36) == n
            if el.find(f"{MW}redirect") is not None:
                redirects += 1
                assert text.startswith("#REDIRECT [[")
            if el.findtext(f"{MW}ns") != "0":
                non_article += 1
            el.clear()
    assert pages == wiki["pages"] and 20 <= pages <= 30
    assert redirects == wiki["redirects"] == 1
    assert non_article == wiki["non_article"] >= 1
    assert wiki["articles"] == summary["document_counts"]["wiki"]


def test_wiki_text_has_real_markup(sample):
    root, summary = sample
    xml = bz2.decompress((root / summary["wiki"]["files"][0]).read_bytes()).decode()
    markers = ["{{Infobox", "{{cite", "&lt;ref name=", "/&gt;", "{|", "|}", "[[File:"]
    markers += ["[[Category:", "&lt;!--", "'''", "== ", "[https://", "<ip>", "<username>"]
    for marker in markers:
        assert marker in xml, marker


# -- books ------------------------------------------------------------------------------------


def test_books_carry_gutenberg_markers(sample):
    root, summary = sample
    entries = summary["books"]["entries"]
    assert summary["books"]["books"] == 3
    texts = {}
    for entry in entries:
        raw = (root / entry["file"]).read_bytes()
        if entry["container"] == "txt.gz":
            assert raw[4:8] == b"\0\0\0\0"  # gzip mtime 0
            raw = gzip.decompress(raw)
        elif entry["container"] == "zip":
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                (info,) = zf.infolist()
                assert info.date_time == (2023, 5, 1, 0, 0, 0)
                raw = zf.read(info)
        if entry["line_endings"] == "crlf":
            assert raw.count(b"\r\n") == raw.count(b"\n")
        else:
            assert b"\r\n" not in raw
        text = raw.decode(entry["encoding"]).lstrip("\ufeff")
        if entry["encoding"] == "iso-8859-1":
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
        texts[entry["file"]] = text
        assert f"[EBook #{entry['ebook']}]" in text
        for field in ("Title:", "Author:", "Release Date:", "Language: English", "Character set"):
            assert field in text
        assert 20_000 < len(text) < 80_000
        style = entry["style"]
        if style == "modern":
            assert "*** START OF THE PROJECT GUTENBERG EBOOK " in text
            assert "*** END OF THE PROJECT GUTENBERG EBOOK " in text
            assert "THE FULL PROJECT GUTENBERG LICENSE" in text
        elif style == "older":
            assert "*** START OF THIS PROJECT GUTENBERG EBOOK " in text
            assert "End of Project Gutenberg's " in text
            assert "*** START: FULL LICENSE ***" in text
        else:
            assert "***START OF THE PROJECT GUTENBERG EBOOK " in text
            assert "***END OF THE PROJECT GUTENBERG EBOOK " in text
    modern = [e["file"] for e in entries if e["style"] == "modern"]
    assert len(modern) == 2 and texts[modern[0]] == texts[modern[1]]


# -- sft --------------------------------------------------------------------------------------


def test_sft_rows_are_valid(sample):
    root, summary = sample
    lines = (root / summary["sft"]["files"][0]).read_text("utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == summary["sft"]["rows"] == summary["document_counts"]["dataset"]
    assert 40 <= len(rows) <= 70
    chat = 0
    for row in rows:
        if "messages" in row:
            chat += 1
            roles = [m["role"] for m in row["messages"]]
            assert "user" in roles and roles[-1] == "assistant"
            assert all(isinstance(m["content"], str) and m["content"] for m in row["messages"])
        else:
            assert set(row) == {"prompt", "response"}
            assert row["prompt"] and row["response"]
    assert chat == summary["sft"]["chat_rows"] >= 3
    assert len({json.dumps(r) for r in rows}) == len(rows) - 1  # one planted exact duplicate
    # card numbers planted in the prompts are Luhn-valid
    cards = re.findall(r"\b(?:\d[ -]?){13,16}\b", "\n".join(lines))
    assert cards and all(luhn_valid(c) for c in cards)


# -- planted content --------------------------------------------------------------------------


def test_pii_is_planted_in_every_source(sample):
    _, summary = sample
    pii = summary["pii"]
    kinds = {"PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS", "CREDIT_CARD"}
    kinds |= {"STREET_ADDRESS", "API_KEY"}
    assert set(pii["total"]) == kinds
    assert set(pii["by_source"]) == {"web", "books", "wiki", "dataset"}
    for counts in pii["by_source"].values():
        assert counts.get("PERSON", 0) > 0
    total = Counter()
    for doc in summary["documents"]:
        total.update(doc["pii"])
    assert dict(total) == pii["total"]
    for sub in ("API_KEY/aws_access_key", "API_KEY/github", "API_KEY/openai", "IP_ADDRESS/v6",
                "PHONE_NUMBER/intl", "PERSON/caps"):  # fmt: skip
        assert pii["by_subtype"].get(sub, 0) > 0, sub


def test_planted_values_are_in_the_files(sample):
    root, summary = sample
    blob = (
        b"".join(gzip.decompress(p.read_bytes()) for p in (root / "web").glob("*.warc.gz"))
        + (root / "sft" / "instructions.jsonl").read_bytes()
    )
    assert re.search(rb"AKIA[A-Z2-7]{16}", blob)
    assert re.search(rb"ghp_[A-Za-z0-9]{36}", blob)
    assert re.search(rb"sk-[A-Za-z0-9]{48}", blob)
    assert re.search(rb"2001:db8:[0-9a-f:]+", blob)
    assert re.search(rb"By [A-Z][a-z]+ ", blob) and re.search(rb"-- [A-Z][a-z]+ ", blob)
    assert b"From: " in blob and b"Press enquiries: " in blob


def test_scale_multiplies_web_wiki_and_sft(sample, tmp_path):
    _, one = sample
    two = write_sample(tmp_path, seed=0, scale=2)
    assert two["web"]["files"] == ["web/crawl-00000.warc.gz", "web/crawl-00001.warc.gz"]
    assert two["web"]["records"]["response"] == 2 * one["web"]["records"]["response"]
    assert two["wiki"]["articles"] == 2 * one["wiki"]["articles"]
    assert two["sft"]["rows"] == 2 * one["sft"]["rows"] - 2
    assert two["books"]["books"] == one["books"]["books"]
