"""Large single inputs become several units (JSONL byte ranges, Parquet row groups): counts add
up, ids and contents are those of the whole file in order, units are deterministic and a rerun
reuses them (and redoes only a missing one); small files are read as before."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpusforge.core.hashing import sha256_file
from corpusforge.pipeline import stage_io
from corpusforge.pipeline.stage import run_local
from corpusforge.pipeline.stage_io import convert_jsonl, prepare_document_inputs


def _jsonl(path: Path, n: int = 400) -> Path:
    lines = []
    for i in range(n):
        if i == 57:
            lines.append("{not json")
        elif i == 230:
            lines.append("")
        elif i == 311:
            lines.append(json.dumps({"text": "no id"}))
        else:
            words = " ".join(f"w{(i * 7 + k) % 97}" for k in range(5 + i % 40))
            lines.append(json.dumps({"id": f"doc-{i}", "text": words, "n": i}))
    path.write_text("\n".join(lines) + "\n")
    return path


def _rows(shards: list[str]) -> pa.Table:
    return pa.concat_tables(pq.read_table(s) for s in shards)


@pytest.fixture
def small_units(monkeypatch):
    monkeypatch.setattr(stage_io, "UNIT_MIN_BYTES", 4096)


def test_large_jsonl_becomes_units_that_add_up_to_the_whole_file(tmp_path, small_units):
    src = _jsonl(tmp_path / "big.jsonl")
    whole, whole_rejects = convert_jsonl(src, tmp_path / "whole")  # the file as one unit
    inputs = prepare_document_inputs(src, tmp_path / "cache")
    assert len(inputs.shards) >= 4
    assert [Path(s).name for s in inputs.shards] == [
        f"part-{k:05d}.parquet" for k in range(len(inputs.shards))
    ]
    assert _rows(inputs.shards).equals(pq.read_table(whole))  # same rows, order, types
    assert [(r.position, r.reason) for r in inputs.rejects] == [
        (r.position, r.reason) for r in whole_rejects
    ]
    assert [r.position for r in inputs.rejects] == [58, 312]
    assert _rows(inputs.shards).num_rows + inputs.rejected == 399  # the blank line is no row

    # deterministic: another cache gives the same units, byte for byte
    again = prepare_document_inputs(src, tmp_path / "cache2")
    assert [sha256_file(s) for s in again.shards] == [sha256_file(s) for s in inputs.shards]


def test_rerun_reuses_units_and_redoes_only_a_missing_one(tmp_path, small_units, monkeypatch):
    src = _jsonl(tmp_path / "big.jsonl")
    first = prepare_document_inputs(src, tmp_path / "cache")
    converted = []
    real = stage_io._write_jsonl_once

    def counting(path, work, extras_as_text, span=None):
        converted.append(span)
        return real(path, work, extras_as_text, span)

    monkeypatch.setattr(stage_io, "_write_jsonl_once", counting)
    assert prepare_document_inputs(src, tmp_path / "cache").shards == first.shards
    assert converted == []
    lost = Path(first.shards[2]).parent
    __import__("shutil").rmtree(lost)
    again = prepare_document_inputs(src, tmp_path / "cache")
    assert again.shards == first.shards and len(converted) == 1
    assert [r.position for r in again.rejects] == [58, 312]


def test_units_disagreeing_on_a_column_type_all_keep_it_as_text(tmp_path, small_units):
    src = tmp_path / "mixed.jsonl"
    rows = [{"id": str(i), "text": "x " * 60, "extra": i} for i in range(100)]
    rows += [{"id": str(i), "text": "y " * 60, "extra": f"s{i}"} for i in range(100, 200)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    inputs = prepare_document_inputs(src, tmp_path / "cache")
    assert len(inputs.shards) > 2
    assert {pq.read_schema(s).field("extra").type for s in inputs.shards} == {pa.string()}
    assert _rows(inputs.shards).column("extra").to_pylist()[:2] == ["0", "1"]


def test_large_parquet_file_becomes_units_of_row_groups(tmp_path, small_units, monkeypatch):
    table = pa.table(
        {
            "id": [f"r{i}" for i in range(3000)],
            "text": [f"row {i} " * (3 + i % 9) for i in range(3000)],
        }
    )
    src = tmp_path / "big.parquet"
    pq.write_table(table, src, row_group_size=250, compression="zstd")
    inputs = prepare_document_inputs(src, tmp_path / "cache")
    assert 2 < len(inputs.shards) <= 12
    assert _rows(inputs.shards).equals(table)
    calls = []
    monkeypatch.setattr(stage_io.pq, "write_table", lambda *a, **k: calls.append(a))
    assert prepare_document_inputs(src, tmp_path / "cache").shards == inputs.shards
    assert calls == []  # reused


def test_unit_count_depends_on_the_size_only():
    mb = 1 << 20
    assert [stage_io.unit_count(n) for n in (0, mb, mb + 1, 6 * mb, 65 * mb, 65 * mb + 7)] == [
        1,
        1,
        2,
        6,
        16,
        16,
    ]
    assert stage_io.unit_count(4096 * mb) == 64  # units of at most 64 MB


def test_small_files_are_one_unit_as_before(tmp_path):
    src = _jsonl(tmp_path / "small.jsonl", 50)
    assert src.stat().st_size < stage_io.UNIT_MIN_BYTES
    inputs = prepare_document_inputs(src, tmp_path / "cache")
    digest = sha256_file(src)
    assert inputs.shards == [
        str(tmp_path / "cache" / "inputs" / f"{digest}-v1" / "part-00000.parquet")
    ]
    pq.write_table(pq.read_table(inputs.shards[0]), tmp_path / "one.parquet", row_group_size=5)
    assert prepare_document_inputs(tmp_path / "one.parquet", tmp_path / "c2").shards == [
        str(tmp_path / "one.parquet")
    ]


def test_dedup_on_a_split_file_keeps_what_the_whole_file_keeps(tmp_path, monkeypatch):
    from corpusforge.pipeline.dedup.stage import dedup_job

    src = _jsonl(tmp_path / "big.jsonl")
    whole = run_local(dedup_job(src, tmp_path / "whole"), workers=1)
    monkeypatch.setattr(stage_io, "UNIT_MIN_BYTES", 4096)
    split = run_local(dedup_job(src, tmp_path / "split"), workers=2)
    assert len(split["outputs"]) > len(whole["outputs"]) == 1
    c = split["counts"]
    assert c == whole["counts"]
    assert c["in"] == c["out"] + c["rejected"] + c.get("exact_duplicates", 0) + c.get(
        "near_duplicates", 0
    )

    def kept(d: str) -> list[str]:
        return (
            _rows([str(s) for s in sorted((tmp_path / d).glob("part-*.parquet"))])
            .column("id")
            .to_pylist()
        )

    assert kept("split") == kept("whole")


def test_a_flow_converts_the_units_on_its_warm_workers(tmp_path, small_units):
    from corpusforge.flows import workers

    src = _jsonl(tmp_path / "big.jsonl")
    serial = prepare_document_inputs(src, tmp_path / "serial")
    workers.shutdown_pool()
    workers.warm_pool(2)
    try:
        pooled = prepare_document_inputs(src, tmp_path / "pooled", map_fn=workers.on_warm_workers)
    finally:
        workers.shutdown_pool()
    assert [sha256_file(s) for s in pooled.shards] == [sha256_file(s) for s in serial.shards]
    assert [r.position for r in pooled.rejects] == [58, 312]
