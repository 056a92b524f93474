"""WARC reader batching: pages are read and extracted in batches, and what comes out (items,
their order, stats) must not depend on where the batches end."""

from __future__ import annotations

import gzip
from collections import Counter
from dataclasses import asdict

import pytest

import corpusforge.pipeline.ingest.warc as warc
from corpusforge.pipeline.ingest.config import IngestConfig
from corpusforge.pipeline.ingest.records import RawDocument, RecordError

CC = "web/resiliparse-cc-main-2020-34-warcfile.warc.gz"
DOLMA = "web/dolma-sample-0000.warc.gz"
TRUNC = "web/malformed/warcio-example-trunc.warc"


def warc_record(http: bytes, n: int, wtype: str = "response") -> bytes:
    header = (
        f"WARC/1.0\r\nWARC-Type: {wtype}\r\nWARC-Record-ID: <urn:uuid:rec-{n}>\r\n"
        f"WARC-Date: 2024-01-01T00:00:00Z\r\nWARC-Target-URI: <http://example.test/{n}>\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http)}\r\n\r\n"
    ).encode()
    return header + http + b"\r\n\r\n"


def response(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    return "\r\n".join((f"HTTP/1.1 {status}", *headers)).encode() + b"\r\n\r\n" + body


def page(n: int) -> bytes:
    words = " ".join(f"word{(n * 7 + i) % 23}" for i in range(40))
    return (
        f"<html><head><title> Page  {n} </title></head><body><p>{words}</p></body></html>".encode()
    )


def mixed_records(count: int = 60) -> list[bytes]:
    """Pages, with skipped and damaged records among them at irregular places."""
    out = []
    for n in range(count):
        if n % 11 == 3:
            out.append(warc_record(b"HTTP/1.1 abc OK\r\nContent-Type text/html\r\n\r\nx", n))
        elif n % 13 == 5:
            out.append(warc_record(response(page(n), "Content-Encoding: compress"), n))
        elif n % 7 == 6:
            out.append(warc_record(response(b"%PDF", "Content-Type: application/pdf"), n))
        elif n % 9 == 2:
            out.append(warc_record(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", n, "request"))
        elif n % 5 == 4:
            gz = gzip.compress(page(n))
            chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(gz), gz)
            headers = ("content-type: text/html", "TRANSFER-ENCODING: chunked")
            out.append(warc_record(response(chunked, *headers, "content-encoding: GZIP"), n))
        else:
            out.append(warc_record(response(page(n), "Content-Type: text/html"), n))
    return out


def read_all(path, config=None):
    stats = Counter()
    items = [(type(i).__name__, asdict(i)) for i in warc.read_warc(path, config, stats)]
    return items, dict(stats)


@pytest.fixture
def inputs(tmp_path, fixtures_dir):
    records = mixed_records()
    members = [gzip.compress(r) for r in records]
    (tmp_path / "mixed.warc").write_bytes(b"".join(records))
    (tmp_path / "mixed.warc.gz").write_bytes(b"".join(members))
    corrupt = bytearray(b"".join(members))
    at = sum(len(m) for m in members[:30]) + 40
    corrupt[at : at + 60] = bytes(range(60))  # inside record 30's gzip member
    (tmp_path / "corrupt.warc.gz").write_bytes(bytes(corrupt))
    plain = b"".join(records)
    (tmp_path / "cut.warc").write_bytes(plain[:-200])  # last record truncated
    paths = [tmp_path / n for n in ("mixed.warc", "mixed.warc.gz", "corrupt.warc.gz", "cut.warc")]
    return paths + [fixtures_dir / CC, fixtures_dir / DOLMA, fixtures_dir / TRUNC]


def test_output_does_not_depend_on_batch_size(inputs, monkeypatch):
    expected = [read_all(p) for p in inputs]
    kinds = Counter(kind for items, _ in expected for kind, _ in items)
    assert kinds["RawDocument"] > 100 and kinds["RecordError"] > 10
    for pages, max_bytes in (
        (1, 1 << 30),
        (2, 1 << 30),
        (5, 1 << 30),
        (64, 3000),
        (10**6, 1 << 40),
    ):
        monkeypatch.setattr(warc, "_BATCH_PAGES", pages)
        monkeypatch.setattr(warc, "_BATCH_BYTES", max_bytes)
        assert [read_all(p) for p in inputs] == expected, (pages, max_bytes)


def test_encoded_bodies_with_any_header_case_are_decoded(inputs):
    items, stats = read_all(inputs[0])
    docs = [d for kind, d in items if kind == "RawDocument"]
    chunked = [d for d in docs if d["key"] in {f"<urn:uuid:rec-{n}>" for n in (4, 9, 19, 24)}]
    assert len(chunked) == 4
    for d in chunked:
        assert d["text"].startswith("word") and d["meta"]["title"].startswith("Page ")
    assert stats["documents"] == len(docs)


def test_extraction_failures_keep_their_place(tmp_path, monkeypatch):
    records = [warc_record(response(page(n), "Content-Type: text/html"), n) for n in range(10)]
    path = tmp_path / "pages.warc"
    path.write_bytes(b"".join(records))
    real = warc._extract

    def flaky(html, content_type, config):
        if b"Page  3 " in html or b"Page  9 " in html:
            raise RuntimeError("hostile page")
        return real(html, content_type, config)

    monkeypatch.setattr(warc, "_extract", flaky)
    monkeypatch.setattr(warc, "_BATCH_PAGES", 4)
    stats = Counter()
    items = list(warc.read_warc(path, IngestConfig(), stats))
    assert [type(i).__name__ for i in items] == ["RawDocument"] * 3 + ["RecordError"] + [
        "RawDocument"
    ] * 5 + ["RecordError"]
    assert [i.reason for i in items if isinstance(i, RecordError)] == [
        "HTML extraction failed (RuntimeError)"
    ] * 2
    positions = [i.position for i in items]
    assert positions == sorted(positions)
    assert stats["documents"] == 8 and stats["errors"] == 2


def test_unforeseen_error_comes_after_the_pages_read_before_it(tmp_path, monkeypatch):
    records = [warc_record(response(page(n), "Content-Type: text/html"), n) for n in range(10)]
    path = tmp_path / "pages.warc"
    path.write_bytes(b"".join(records))
    real = warc._read_page
    seen = []

    def failing(record, pos, warc_file, stats):
        seen.append(pos)
        if len(seen) == 7:
            raise RuntimeError("reader bug")
        return real(record, pos, warc_file, stats)

    monkeypatch.setattr(warc, "_read_page", failing)
    got = []
    with pytest.raises(RuntimeError, match="reader bug"):
        for item in warc.read_warc(path, IngestConfig()):
            got.append(item)
    assert [type(i) for i in got] == [RawDocument] * 6
    assert [i.position for i in got] == seen[:6]
