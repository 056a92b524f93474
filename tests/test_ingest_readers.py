"""Format detection, the open_reader dispatch, and the JSONL / Parquet / hub dataset readers."""

from __future__ import annotations

import bz2
import gzip
import json
import zipfile
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpusforge.core.errors import InputError
from corpusforge.core.hashing import sha256_file
from corpusforge.pipeline.ingest.config import IngestConfig
from corpusforge.pipeline.ingest.datasets import read_dataset, read_hub_dataset
from corpusforge.pipeline.ingest.detect import detect_format
from corpusforge.pipeline.ingest.readers import READERS, open_reader
from corpusforge.pipeline.ingest.records import RawDocument, RecordError

FIXTURE_FORMATS = {
    "web/resiliparse-cc-main-2020-34-warcfile.warc.gz": "warc",
    "web/dolma-sample-0000.warc.gz": "warc",
    "web/malformed/resiliparse-clipped.warc.gz": "warc",
    "web/malformed/warcio-example-trunc.warc": "warc",
    "books/pg3261-nwsnw10-old-small-print.txt": "gutenberg",
    "books/pg11563-8.txt": "gutenberg",
    "books/pg9198-8.txt": "gutenberg",
    "wiki/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2": "mediawiki",
    "wiki/wikibrain-en_test.xml": "mediawiki",
}
BOOK = (
    b"The Project Gutenberg EBook of X\r\n\r\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\r\n"
)


@pytest.mark.parametrize("name", sorted(FIXTURE_FORMATS))
def test_detect_fixtures(fixtures_dir, name):
    assert detect_format(fixtures_dir / name) == FIXTURE_FORMATS[name]


def test_detect_by_content_not_suffix(tmp_path, fixtures_dir):
    cases = {
        "book.dat": BOOK,
        "book.txt.gz": gzip.compress(BOOK),
        "dump.bin": bz2.compress(b'<?xml version="1.0"?>\n<mediawiki xmlns="x" version="0.11">'),
        "plain.xml": b'\xef\xbb\xbf<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.8/">',
        "rows.jsonl": b'{"text": "a"}\n',
        "rows.jsonl.gz": gzip.compress(b'{"text": "a"}\n'),
        "crawl.warc": b"WARC/1.1\r\nWARC-Type: warcinfo\r\n",
    }
    expected = ["gutenberg", "gutenberg", "mediawiki", "mediawiki", "dataset", "dataset", "warc"]
    for (name, data), kind in zip(cases.items(), expected, strict=True):
        (tmp_path / name).write_bytes(data)
        assert detect_format(tmp_path / name) == kind, name
    pq.write_table(pa.table({"text": ["a"]}), tmp_path / "rows.bin")
    assert detect_format(tmp_path / "rows.bin") == "dataset"
    with zipfile.ZipFile(tmp_path / "book.zip", "w") as zf:
        zf.writestr("book.txt", BOOK)
    assert detect_format(tmp_path / "book.zip") == "gutenberg"


def test_detect_rejects(tmp_path):
    empty = tmp_path / "empty.warc.gz"
    empty.touch()
    with pytest.raises(InputError, match=r"empty\.warc\.gz: empty file"):
        detect_format(empty)
    secret = b"alice@example.org wrote a letter to bob about nothing in particular\n"
    unknown = tmp_path / "notes.txt"
    unknown.write_bytes(secret)
    with pytest.raises(InputError, match="unknown format") as info:
        detect_format(unknown)
    assert "notes.txt" in str(info.value) and "alice" not in str(info.value)
    binary = tmp_path / "blob.warc"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputError, match="unknown format"):
        detect_format(binary)
    gz_text = tmp_path / "x.gz"
    gz_text.write_bytes(gzip.compress(secret))
    with pytest.raises(InputError, match="unknown format"):
        detect_format(gz_text)
    with zipfile.ZipFile(tmp_path / "img.zip", "w") as zf:
        zf.writestr("a.png", b"\x89PNG")
    with pytest.raises(InputError, match="unknown format"):
        detect_format(tmp_path / "img.zip")
    with pytest.raises(InputError, match="no such file"):
        detect_format(tmp_path / "missing.warc")
    with pytest.raises(InputError, match="empty file"):
        open_reader(empty)


def test_open_reader_dispatches(fixtures_dir):
    assert set(READERS) == {"warc", "gutenberg", "mediawiki", "dataset"}
    stats = Counter()
    items = list(open_reader(fixtures_dir / "wiki/wikibrain-en_test.xml", IngestConfig(), stats))
    assert len(items) == 33 and stats["redirects"] == 11
    book = list(open_reader(fixtures_dir / "books/pg11563-8.txt"))
    assert [d.source for d in book] == ["books"]
    web = list(open_reader(fixtures_dir / "web/dolma-sample-0000.warc.gz"))
    assert len(web) == 22 and {d.source for d in web} == {"web"}


def write_jsonl(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_jsonl_rows_and_errors(tmp_path):
    path = tmp_path / "rows.jsonl"
    write_jsonl(
        path,
        [
            json.dumps({"text": "first row", "url": "https://a.example/", "title": "A"}),
            json.dumps({"body": "no text field"}),
            "{not json at all: secret@example.org",
            json.dumps({"text": 42}),
            "",
            json.dumps(["a", "list"]),
            json.dumps({"text": "last row", "extra": {"nested": 1}}),
        ],
    )
    stats = Counter()
    items = list(read_dataset(path, IngestConfig(), stats))
    docs = [x for x in items if isinstance(x, RawDocument)]
    errors = [x for x in items if isinstance(x, RecordError)]
    digest = sha256_file(path)
    assert [d.text for d in docs] == ["first row", "last row"]
    assert [d.key for d in docs] == [f"{digest}:0", f"{digest}:5"]
    assert docs[0].source == "dataset" and docs[0].locator == "row 0"
    assert docs[0].meta == {"dataset": "rows.jsonl", "row": 0, "url": "https://a.example/",
                            "title": "A"}  # fmt: skip
    assert [e.position for e in errors] == [1, 2, 3, 4]
    assert "no 'text' field" in errors[0].reason
    assert "invalid JSON" in errors[1].reason and "secret" not in errors[1].reason
    assert "int, not a string" in errors[2].reason
    assert stats["rows"] == 6 and stats["documents"] == 2 and stats["errors"] == 4


def test_jsonl_custom_fields_and_gzip(tmp_path):
    path = tmp_path / "sft.jsonl.gz"
    rows = [{"id": "q1", "content": "hello"}, {"content": "no id"}, {"id": 7, "content": "x"}]
    path.write_bytes(gzip.compress("\n".join(json.dumps(r) for r in rows).encode()))
    config = IngestConfig(text_field="content", id_field="id")
    items = list(read_dataset(path, config))
    assert [getattr(x, "key", None) for x in items] == ["q1", None, "7"]
    assert isinstance(items[1], RecordError) and "'id'" in items[1].reason


def test_parquet_streaming(tmp_path):
    path = tmp_path / "rows.parquet"
    texts = [f"document number {i}" for i in range(2500)] + [None]
    table = pa.table({"text": texts, "lang": ["en"] * 2501, "other": list(range(2501))})
    pq.write_table(table, path, row_group_size=1000)
    items = list(read_dataset(path, IngestConfig()))
    docs = [x for x in items if isinstance(x, RawDocument)]
    assert len(docs) == 2500 and docs[-1].position == 2499
    assert docs[1234].text == "document number 1234" and docs[0].meta["lang"] == "en"
    assert isinstance(items[-1], RecordError) and items[-1].position == 2500
    with pytest.raises(InputError, match="no 'body' column"):
        list(read_dataset(path, IngestConfig(text_field="body")))


def test_hub_dataset_offline_is_a_clear_input_error(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="cannot load Hugging Face dataset 'nobody/no-such-set'"):
        read_hub_dataset("hf://nobody/no-such-set", IngestConfig())
    with pytest.raises(InputError, match="expected hf://owner/name"):
        read_hub_dataset("hf://", IngestConfig())
