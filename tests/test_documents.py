"""Document shard I/O and stage manifests (the data contract between stages)."""

import json

import pyarrow.parquet as pq
import pytest

from corpusforge.core.errors import InputError
from corpusforge.core.hashing import sha256_file
from corpusforge.pipeline.documents import ShardWriter, iter_documents, list_shards, read_table
from corpusforge.pipeline.manifest import StageRun, read_manifest, read_rejects
from corpusforge.pipeline.text import normalize_text


def test_shard_writer_rolls_and_records_hashes(tmp_path):
    rows = [{"id": str(i), "text": f"doc {i}", "source": "web"} for i in range(25)]
    with ShardWriter(tmp_path, rows_per_shard=10) as w:
        w.write_rows(rows[:7])
        w.write_rows(rows[7:])
    assert [o["rows"] for o in w.outputs] == [10, 10, 5]
    assert [o["path"] for o in w.outputs] == [f"part-0000{i}.parquet" for i in range(3)]
    for o in w.outputs:
        path = tmp_path / o["path"]
        assert o["sha256"] == sha256_file(path)
        assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"
    assert [d["id"] for d in iter_documents(tmp_path)] == [str(i) for i in range(25)]
    assert not list(tmp_path.glob("*.tmp"))


def test_jsonl_input_needs_id_and_text(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(
        json.dumps({"id": 1, "text": "hello", "meta": {"title": "t"}})
        + "\n\n"
        + json.dumps({"id": "b", "text": "world", "lang": "en"})
        + "\n"
    )
    table = read_table(good)
    assert table.column("id").to_pylist() == ["1", "b"]
    assert json.loads(table.column("meta")[0].as_py()) == {"title": "t"}
    assert table.column("source").to_pylist() == ["dataset", "dataset"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "no id"}) + "\n")
    with pytest.raises(InputError, match="at least 'id' and 'text'"):
        read_table(bad)


def test_list_shards_errors_are_clear(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        list_shards(tmp_path / "missing")
    with pytest.raises(InputError, match="no Parquet or JSONL"):
        list_shards(tmp_path)


def test_stage_run_manifest(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "1", "text": "x"}\n')
    run = StageRun("unit", tmp_path / "out", {"k": 1}, inputs=[src])
    run.counts["in"] += 3
    run.reject({"file": str(src), "position": 2, "reason": "bad"})
    run.add_outputs([{"path": "part-00000.parquet", "rows": 2, "sha256": "ab"}])
    run.finish()
    m = read_manifest(tmp_path / "out")
    assert m["stage"] == "unit" and m["config"] == {"k": 1}
    assert m["inputs"][0]["sha256"] == sha256_file(src)
    assert m["counts"] == {"in": 3, "out": 2, "rejected": 1}
    assert m["code_version"] and m["started"] <= m["finished"]
    assert read_rejects(tmp_path / "out") == [{"file": str(src), "position": 2, "reason": "bad"}]


def test_normalize_text():
    raw = "  Cafe\u0301\x00 \t bar\r\n\r\n\r\n\r\nnext\u00a0 line\x85 "
    assert normalize_text(raw) == "Caf\u00e9 bar\n\nnext line"
