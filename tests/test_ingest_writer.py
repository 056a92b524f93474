"""The background shard writer: order, shard splits, and failures that are not the input's."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

import corpusforge.pipeline.ingest.writer as writer_mod
from corpusforge.pipeline.documents import DOC_COLUMNS, read_table
from corpusforge.pipeline.ingest.stage import ingest_job
from corpusforge.pipeline.ingest.writer import BackgroundShardWriter
from corpusforge.pipeline.stage import run_local


def _add(writer: BackgroundShardWriter, n: int) -> None:
    for i in range(n):
        writer.add(f"id-{i}", f"text {i}".encode(), "web", "u", f"loc-{i}", "{}")


def test_rows_keep_their_order_across_batches_and_shards(tmp_path, monkeypatch):
    monkeypatch.setattr(writer_mod, "BATCH_ROWS", 7)
    with BackgroundShardWriter(tmp_path, rows_per_shard=10) as w:
        _add(w, 45)
        outputs = w.close()
    assert [o["rows"] for o in outputs] == [10, 10, 10, 10, 5]
    table = read_table(tmp_path)
    assert table.column_names == list(DOC_COLUMNS)
    assert table["id"].to_pylist() == [f"id-{i}" for i in range(45)]
    assert pq.ParquetFile(tmp_path / outputs[0]["path"]).metadata.num_row_groups == 2  # 7 + 3


def test_write_failure_is_raised_and_leaves_no_half_shard(tmp_path, monkeypatch):
    monkeypatch.setattr(writer_mod, "BATCH_ROWS", 4)

    def broken(self, table):
        raise OSError("disk full")

    monkeypatch.setattr(writer_mod.ShardWriter, "write_table", broken)
    with pytest.raises(OSError, match="disk full"), BackgroundShardWriter(tmp_path, 100) as w:
        _add(w, 20)
        w.close()
    assert not list(tmp_path.glob("*.parquet*"))


def test_stage_fails_a_file_on_write_errors_instead_of_quarantining(tmp_path, monkeypatch):
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(f'{{"text": "{"word " * 30}{i}"}}\n' for i in range(50)))
    monkeypatch.setattr(writer_mod, "BATCH_ROWS", 8)
    monkeypatch.setattr(
        writer_mod.ShardWriter, "write_table", lambda self, t: (_ for _ in ()).throw(OSError("x"))
    )
    with pytest.raises(OSError):
        run_local(ingest_job([src], tmp_path / "out", cache_root=tmp_path / "cache"), workers=1)


def test_only_repeating_columns_get_a_parquet_dictionary(tmp_path):
    with BackgroundShardWriter(tmp_path, rows_per_shard=100) as w:
        _add(w, 30)
        outputs = w.close()
    row_group = pq.ParquetFile(tmp_path / outputs[0]["path"]).metadata.row_group(0)
    dictionary = {
        row_group.column(i).path_in_schema: row_group.column(i).has_dictionary_page
        for i in range(row_group.num_columns)
    }
    assert dictionary == {
        "id": False,
        "text": False,
        "source": True,
        "uri": True,
        "locator": False,
        "meta": False,
    }
