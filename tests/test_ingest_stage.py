"""The ingest stage end to end (no Prefect): real fixtures, bad input, resume, stable ids."""

from __future__ import annotations

import bz2
import datetime
import gzip
import io
import json
import shutil

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from corpusforge.pipeline.documents import read_table
from corpusforge.pipeline.ingest.config import IngestConfig
from corpusforge.pipeline.ingest.stage import ingest_job, meta_json
from corpusforge.pipeline.manifest import read_manifest, read_rejects
from corpusforge.pipeline.stage import run_local

PARA = "The quick survey of regional rivers found steady flows and clear water this season. "


def _warc(path, pages, gz=True):
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=gz)
        for i, body in enumerate(pages):
            headers = StatusAndHeaders(
                "200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
            )
            w.write_record(
                w.create_warc_record(
                    f"https://example.org/{i}",
                    "response",
                    payload=io.BytesIO(body),
                    http_headers=headers,
                )
            )


def _html(i: int) -> bytes:
    return (
        f"<html><head><title>T{i}</title></head><body><nav>Home | About</nav>"
        f"<article><h1>Story {i}</h1><p>{PARA * 6}</p><p>Item {i}.</p></article>"
        "<footer>Copyright</footer></body></html>"
    ).encode()


def test_real_fixtures_ingest(tmp_path, fixtures_dir):
    inputs = [fixtures_dir / d for d in ("web", "books", "wiki")]
    manifest = run_local(
        ingest_job(inputs, tmp_path / "out", cache_root=tmp_path / "cache"), workers=1
    )
    table = read_table(tmp_path / "out")
    by_source = manifest["by_source"]
    assert set(by_source) == {"web", "books", "wiki"}
    assert by_source["books"] == 3
    texts = {
        s: [
            t
            for t, src in zip(table["text"].to_pylist(), table["source"].to_pylist(), strict=True)
            if src == s
        ]
        for s in by_source
    }
    assert not any("Project Gutenberg" in t for t in texts["books"])
    assert not any(("{{" in t or "[[" in t or "<ref" in t) for t in texts["wiki"])
    assert len(set(table["id"].to_pylist())) == len(table)
    # The malformed WARCs are quarantined with reasons, never silently dropped.
    rejects = read_rejects(tmp_path / "out")
    assert any("malformed" in r["file"] for r in rejects)
    assert all("reason" in r and "file" in r for r in rejects)
    assert manifest["counts"]["out"] == len(table)


def test_bad_inputs_are_quarantined_and_good_documents_kept(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _warc(src / "good.warc.gz", [_html(i) for i in range(3)])
    # Truncated .warc.gz: cut the gzip stream in the middle of the third record.
    _warc(tmp_path / "full.warc.gz", [_html(i + 10) for i in range(3)])
    data = (tmp_path / "full.warc.gz").read_bytes()
    (src / "truncated.warc.gz").write_bytes(data[: int(len(data) * 0.8)])
    (src / "empty.warc.gz").write_bytes(b"")
    (src / "mystery.bin").write_bytes(bytes(range(256)) * 4)
    # Malformed XML dump: cut inside the second page.
    xml = (
        '<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.11/" version="0.11">'
        "<siteinfo><dbname>testwiki</dbname></siteinfo>"
        "<page><title>Alpha</title><ns>0</ns><id>1</id><revision><id>11</id>"
        f"<timestamp>2020-01-01T00:00:00Z</timestamp><text>'''Alpha''' {PARA * 4}</text>"
        "</revision></page><page><title>Beta</title><ns>0</ns><id>2</id><revision><id>12</id>"
        "<text>Beta is cut"
    )
    (src / "dump.xml.bz2").write_bytes(bz2.compress(xml.encode()))
    # JSONL dataset: a huge document, an invalid UTF-8 line, a row without text, good rows.
    rows = [json.dumps({"text": PARA * 3, "n": i}).encode() for i in range(2)]
    rows.append(b'{"text": "bad \xff\xfe bytes ' + PARA.encode() + b'"}')
    rows.append(json.dumps({"body": "no text field"}).encode())
    rows.append(json.dumps({"text": "x" * 17_000_000}).encode())
    (src / "data.jsonl").write_bytes(b"\n".join(rows) + b"\n")

    out = tmp_path / "out"
    manifest = run_local(ingest_job([src], out, cache_root=tmp_path / "cache"), workers=1)
    rejects = read_rejects(out)
    reasons = {r["file"].rsplit("/", 1)[-1]: [] for r in rejects}
    for r in rejects:
        reasons[r["file"].rsplit("/", 1)[-1]].append(r["reason"])
    assert "empty.warc.gz" in reasons and "mystery.bin" in reasons
    assert "truncated.warc.gz" in reasons and "dump.xml.bz2" in reasons
    assert any("too large" in x for x in reasons["data.jsonl"])
    assert len(reasons["data.jsonl"]) >= 2  # missing text field + oversized document
    table = read_table(out)
    kept = table["source"].to_pylist()
    assert kept.count("web") >= 3 + 2  # good WARC + records before the cut
    assert kept.count("wiki") == 1
    assert kept.count("dataset") >= 2
    # Reasons never echo document content.
    assert not any("quick survey" in r["reason"] for r in rejects)
    assert manifest["counts"]["rejected"] == len(rejects)


def test_rerun_reuses_finished_files_and_ids_are_stable(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    _warc(src / "a.warc.gz", [_html(i) for i in range(4)])
    _warc(src / "b.warc", [_html(i + 100) for i in range(2)], gz=False)
    first = run_local(
        ingest_job([src], tmp_path / "out1", cache_root=tmp_path / "cache"), workers=1
    )
    second = run_local(
        ingest_job([src], tmp_path / "out2", cache_root=tmp_path / "cache"), workers=1
    )
    assert first["counts"]["files_cached"] == 0 and second["counts"]["files_cached"] == 2
    fresh = run_local(
        ingest_job([src], tmp_path / "out3", cache_root=tmp_path / "other-cache"), workers=1
    )
    ids = [read_table(tmp_path / d)["id"].to_pylist() for d in ("out1", "out2", "out3")]
    assert ids[0] == ids[1] == ids[2] and len(set(ids[0])) == 6
    assert fresh["outputs"][0]["sha256"] == first["outputs"][0]["sha256"]
    # A config change invalidates the cache.
    changed = run_local(
        ingest_job(
            [src], tmp_path / "out4", IngestConfig(min_chars=10), cache_root=tmp_path / "cache"
        ),
        workers=1,
    )
    assert changed["counts"]["files_cached"] == 0


def test_min_length_drops_are_counted(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "short"}) + "\n" + json.dumps({"text": PARA * 3}) + "\n")
    m = run_local(ingest_job([path], tmp_path / "out", cache_root=tmp_path / "c"), workers=1)
    assert m["counts"]["dropped_short"] == 1 and m["counts"]["out"] == 1


def test_gutenberg_variants(tmp_path, fixtures_dir):
    book = fixtures_dir / "books" / "pg9198-8.txt"
    gz = tmp_path / "book.txt.gz"
    gz.write_bytes(gzip.compress(book.read_bytes(), mtime=0))
    shutil.copy(book, tmp_path / "book.txt")
    run_local(
        ingest_job([gz, tmp_path / "book.txt"], tmp_path / "out", cache_root=tmp_path / "c"),
        workers=1,
    )
    table = read_table(tmp_path / "out")
    assert len(table) == 2
    # Same ebook in two files: two ids (dedup removes the copy), each stable across reruns.
    assert table["id"][0].as_py() != table["id"][1].as_py()
    run_local(
        ingest_job([gz, tmp_path / "book.txt"], tmp_path / "out2", cache_root=tmp_path / "c2"),
        workers=1,
    )
    assert read_table(tmp_path / "out2")["id"].to_pylist() == table["id"].to_pylist()
    meta = json.loads(table["meta"][0].as_py())
    assert "Angler" in meta.get("title", "")


@pytest.mark.parametrize("name", ["nothing-here"])
def test_missing_input_is_a_clear_error(tmp_path, name):
    from corpusforge.core.errors import InputError

    with pytest.raises(InputError, match="no such file"):
        run_local(ingest_job([tmp_path / name], tmp_path / "out"), workers=1)


def test_manifest_records_inputs_with_hashes(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": PARA * 3}) + "\n")
    run_local(ingest_job([path], tmp_path / "out", cache_root=tmp_path / "c"), workers=1)
    m = read_manifest(tmp_path / "out")
    assert m["inputs"][0]["sha256"] and m["inputs"][0]["format"] == "dataset"
    assert m["outputs"][0]["rows"] == 1 and len(m["outputs"][0]["sha256"]) == 64


@pytest.mark.parametrize(
    "meta",
    [
        {"url": "https://a.example/", "title": 'é\u00a0"q"\\\n\u2028', "charset": None},
        {"row": 3, "score": 2.5, "ok": True, "tags": ["x", {"b": 1, "a": []}]},
        {"date": datetime.datetime(2020, 1, 1, 3), "day": datetime.date(2020, 1, 2)},
        {"lone": "\ud800x", "big": 2**70},  # orjson refuses both: the json fallback writes them
    ],
)
def test_meta_json_is_compact_sorted_json(meta):
    expected = json.dumps(
        meta, ensure_ascii=False, sort_keys=True, default=str, separators=(",", ":")
    )
    assert meta_json(meta) == expected
