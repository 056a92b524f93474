"""WARC reader: real Common Crawl / wget WARCs, the two malformed fixtures, and damage built
in tmp_path (truncated .warc.gz, corrupt member, broken HTTP header, bad encodings)."""

from __future__ import annotations

import gzip
import zlib
from collections import Counter
from pathlib import Path

import pytest

from corpusforge.pipeline.ingest.config import IngestConfig
from corpusforge.pipeline.ingest.records import RawDocument, RecordError
from corpusforge.pipeline.ingest.warc import dechunk, decode_content, extract_html, read_warc

CC = "web/resiliparse-cc-main-2020-34-warcfile.warc.gz"
DOLMA = "web/dolma-sample-0000.warc.gz"
CLIPPED = "web/malformed/resiliparse-clipped.warc.gz"
TRUNC = "web/malformed/warcio-example-trunc.warc"


def split(items):
    docs = [x for x in items if isinstance(x, RawDocument)]
    errors = [x for x in items if isinstance(x, RecordError)]
    assert len(docs) + len(errors) == len(items)
    return docs, errors


def warc_record(http: bytes, record_id: str, uri: str = "http://example.test/") -> bytes:
    header = (
        "WARC/1.0\r\nWARC-Type: response\r\n"
        f"WARC-Record-ID: <urn:uuid:{record_id}>\r\n"
        "WARC-Date: 2024-01-01T00:00:00Z\r\n"
        f"WARC-Target-URI: <{uri}>\r\n"
        "Content-Type: application/http; msgtype=response\r\n"
        f"Content-Length: {len(http)}\r\n\r\n"
    ).encode()
    return header + http + b"\r\n\r\n"


def http_response(body: bytes, *headers: str) -> bytes:
    head = "\r\n".join(("HTTP/1.1 200 OK", *headers)).encode()
    return head + b"\r\n\r\n" + body


PAGE = (
    b"<html><head><title>Quiet page</title></head><body><article><h1>Heading</h1>"
    b"<p>The river ran past the old mill, and the miller counted the sacks twice.</p>"
    b"<p>Nobody in the village remembered when the wheel had last stopped turning.</p>"
    b"</article></body></html>"
)
GOOD = warc_record(http_response(PAGE, "Content-Type: text/html; charset=utf-8"), "good-1")


def gz_members(*records: bytes) -> bytes:
    return b"".join(gzip.compress(r) for r in records)


@pytest.fixture(scope="module")
def cc(fixtures_dir):
    stats = Counter()
    return split(list(read_warc(fixtures_dir / CC, IngestConfig(), stats))), stats


@pytest.fixture(scope="module")
def dolma(fixtures_dir):
    stats = Counter()
    return split(list(read_warc(fixtures_dir / DOLMA, IngestConfig(), stats))), stats


def test_common_crawl_sample(cc):
    (docs, errors), stats = cc
    assert errors == []
    assert len(docs) == 16
    assert stats["records"] == 50 and stats["responses"] == 16
    assert len({d.key for d in docs}) == 16
    for d in docs:
        assert d.source == "web"
        assert d.key == d.locator and d.key.startswith("<urn:uuid:")
        assert d.meta["url"].startswith("http://")
        assert d.meta["warc_file"] == Path(CC).name
        assert d.meta["content_type"] == "text/html"
        assert d.meta["date"].startswith("2020-08-08")
        assert isinstance(d.position, int)
    charsets = Counter(d.meta["charset"] for d in docs)
    # Declared windows-1251 and gb2312 (read as its superset gbk); undeclared pages detected.
    assert charsets["cp1251"] == 1 and charsets["gbk"] >= 2 and charsets["utf-8"] >= 5
    russian = next(d for d in docs if d.meta["charset"] == "cp1251")
    assert any("\u0400" <= ch <= "\u04ff" for ch in russian.text)
    # Numeric character references in titles are decoded.
    assert not any("&#" in d.meta["title"] for d in docs)
    assert sum(1 for d in docs if d.meta["title"]) >= 14


def test_dolma_sample_with_chunked_bodies(dolma, fixtures_dir):
    (docs, errors), stats = dolma
    assert errors == []
    assert len(docs) == 22
    assert stats["non_response"] == 26
    for d in docs:
        assert d.meta["url"].startswith("https://") and ">" not in d.meta["url"]
        assert d.text.strip()
    by_url = {d.meta["url"]: d for d in docs}
    weld = by_url["https://www.cs.washington.edu/people/faculty/weld"]
    assert "Weld" in weld.meta["title"]
    zhang = by_url["https://amyxzhang.wordpress.com/"]
    # De-chunked: no chunk-size lines ("925", "6a43") leaked into the text.
    for d in (weld, zhang):
        first = d.text.lstrip().split("\n", 1)[0]
        assert not all(c in "0123456789abcdefABCDEF" for c in first.strip())
        assert len(d.text) > 1000


def test_clipped_gzip_quarantines_partial_record(fixtures_dir):
    stats = Counter()
    docs, errors = split(list(read_warc(fixtures_dir / CLIPPED, IngestConfig(), stats)))
    assert docs == []
    assert len(errors) == 1 and errors[0].position == 0
    assert "truncated" in errors[0].reason


def test_wrong_content_length_resyncs_and_keeps_response(fixtures_dir):
    stats = Counter()
    docs, errors = split(list(read_warc(fixtures_dir / TRUNC, IngestConfig(), stats)))
    assert len(docs) == 1
    assert docs[0].meta["url"] == "http://example.com/"
    assert docs[0].text.startswith("Example Domain")  # gzip Content-Encoding undone
    assert len(errors) == 1 and "resumed at byte" in errors[0].reason
    assert stats["records"] == 4  # warcinfo x2, response, request (found after the resync)


def test_truncated_warc_gz(fixtures_dir, tmp_path):
    data = (fixtures_dir / DOLMA).read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[:100_000])
    docs, errors = split(list(read_warc(cut, IngestConfig())))
    assert len(docs) == 13
    assert len(errors) == 1 and "truncated" in errors[0].reason
    assert errors[0].position > docs[-1].position
    # Cut inside a gzip member header: fastwarc stops silently, the tail check notices.
    cut.write_bytes(data[:34_357])
    docs, errors = split(list(read_warc(cut, IngestConfig())))
    assert len(docs) == 4 and len(errors) == 1 and errors[0].position == 34_307


def test_corrupt_member_in_the_middle_is_skipped(fixtures_dir, tmp_path):
    data = bytearray((fixtures_dir / DOLMA).read_bytes())
    data[40_000:40_200] = bytes(range(200))  # inside the member of the response at 39047
    bad = tmp_path / "bad.warc.gz"
    bad.write_bytes(bytes(data))
    docs, errors = split(list(read_warc(bad, IngestConfig())))
    assert len(docs) == 21
    assert len(errors) == 1 and "resumed at byte" in errors[0].reason


def test_broken_http_header_is_quarantined(tmp_path):
    broken = warc_record(b"HTTP/1.1 abc OK\r\nContent-Type text/html\r\n\r\n<p>x</p>", "bad-1")
    path = tmp_path / "broken.warc.gz"
    path.write_bytes(gz_members(broken, GOOD))
    docs, errors = split(list(read_warc(path, IngestConfig())))
    assert [e.reason for e in errors] == ["unparseable HTTP status line or headers"]
    assert len(docs) == 1 and docs[0].key == "<urn:uuid:good-1>"
    assert docs[0].meta["url"] == "http://example.test/"
    assert docs[0].meta["title"] == "Quiet page"
    assert "miller counted the sacks" in docs[0].text


def test_filters_status_and_content_type(tmp_path):
    not_found = warc_record(
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\r\n<p>no</p>", "a"
    )
    pdf = warc_record(http_response(b"%PDF-1.4", "Content-Type: application/pdf"), "b")
    path = tmp_path / "mixed.warc"
    path.write_bytes(not_found + pdf + GOOD)
    stats = Counter()
    docs, errors = split(list(read_warc(path, IngestConfig(), stats)))
    assert len(docs) == 1 and errors == []
    assert stats["http_status"] == 1 and stats["non_html"] == 1


def test_invalid_utf8_is_replaced_not_fatal(tmp_path):
    body = PAGE.replace(b"old mill", b"old \xff\xfe mill")
    path = tmp_path / "badutf8.warc"
    path.write_bytes(
        warc_record(http_response(body, "Content-Type: text/html; charset=utf-8"), "u")
    )
    docs, errors = split(list(read_warc(path, IngestConfig())))
    assert errors == [] and len(docs) == 1
    assert "\ufffd" in docs[0].text and docs[0].meta["charset"] == "utf-8"


def test_chunked_and_gzip_encoded_body(tmp_path):
    gz = gzip.compress(PAGE)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (gz[:50], gz[50:])) + b"0\r\n\r\n"
    record = warc_record(
        http_response(
            chunked,
            "Content-Type: text/html",
            "Transfer-Encoding: chunked",
            "Content-Encoding: gzip",
        ),
        "enc",
    )
    path = tmp_path / "enc.warc"
    path.write_bytes(record)
    docs, errors = split(list(read_warc(path, IngestConfig())))
    assert errors == [] and "miller counted the sacks" in docs[0].text


def test_meta_charset_and_latin1():
    html = "<html><head><meta charset='iso-8859-1'><title>Caf\u00e9</title></head><body>"
    html += "<p>" + "Un caf\u00e9 cr\u00e8me au comptoir, s'il vous pla\u00eet. " * 5 + "</p>"
    text, title, charset = extract_html(html.encode("latin-1") + b"</body></html>", "text/html")
    assert charset == "cp1252" and title == "Caf\u00e9" and "cr\u00e8me" in text


def test_trafilatura_extractor():
    config = IngestConfig(web_extractor="trafilatura")
    text, title, charset = extract_html(PAGE, "text/html; charset=utf-8", config)
    assert "miller counted the sacks" in text and title == "Quiet page" and charset == "utf-8"


def test_body_decoders():
    assert dechunk(b"4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n") == b"Wikipedia"
    assert dechunk(b"<html>not chunked</html>") == b"<html>not chunked</html>"
    assert dechunk(b"4\r\nWiki\r\n5\r\nped") == b"Wikiped"  # cut short: keep what is there
    assert decode_content(zlib.compress(b"abc"), "deflate") == b"abc"
    assert decode_content(b"<html>", "gzip") == b"<html>"  # header kept, body plain
    assert decode_content(gzip.compress(b"x" * 1000)[:-6], "gzip") == b"x" * 1000
    with pytest.raises(ValueError):
        decode_content(b"abc", "compress")


def test_errors_never_carry_content(fixtures_dir, tmp_path):
    path = tmp_path / "mix.warc.gz"
    secret = b"alice.secret@example.org"
    broken = warc_record(b"garbage " + secret + b"\r\n\r\n" + secret, "s")
    path.write_bytes(gz_members(broken, GOOD) + b"\x1f\x8b\x08\x00" + secret)
    _, errors = split(list(read_warc(path, IngestConfig())))
    assert errors
    for e in errors:
        assert "secret" not in e.reason and "example.org" not in e.reason


def test_header_lookups_by_warcheader_member_match_lookups_by_name():
    """The reader looks headers up by WarcHeader member (fast path); the values must be
    the ones a lookup by name gives: case-insensitive, first occurrence."""
    from fastwarc.warc import HeaderMap, WarcHeader

    h = HeaderMap()
    h.append("content-TYPE", "text/html; charset=latin-1")
    h.append("Content-Type", "text/plain")
    h.append("warc-record-id", "<urn:uuid:1>")
    assert h.get(WarcHeader.CONTENT_TYPE) == h.get("Content-Type") == "text/html; charset=latin-1"
    assert h.get(WarcHeader.WARC_RECORD_ID) == h.get("WARC-Record-ID") == "<urn:uuid:1>"
    assert h.get(WarcHeader.WARC_DATE) is None
