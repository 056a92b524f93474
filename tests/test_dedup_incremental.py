"""The persistent index: a new batch is deduplicated against everything kept before."""

from __future__ import annotations

import json
import random

import pyarrow.parquet as pq
import pytest

from corpusforge.core.errors import ConfigError
from corpusforge.pipeline.dedup import DedupConfig, DedupIndex, dedup_job
from corpusforge.pipeline.documents import read_table
from corpusforge.pipeline.stage import run_local
from tests._dedup_corpus import document, edit, vocabulary


def _batch(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_second_batch_is_deduplicated_against_the_index(tmp_path):
    rng = random.Random(21)
    vocab = vocabulary()
    docs = [document(rng, 300, vocab) for _ in range(5)]
    first = [{"id": f"old{i}", "text": " ".join(d)} for i, d in enumerate(docs)]
    first.append({"id": "old-copy", "text": " ".join(docs[0])})
    index_dir = tmp_path / "index"
    run_local(
        dedup_job(_batch(tmp_path / "b1.jsonl", first), tmp_path / "o1", index_dir=index_dir),
        workers=2,
    )
    index = DedupIndex(index_dir, DedupConfig())
    assert index.size == 5  # only kept documents are indexed
    files = {p.name for p in index_dir.rglob("*") if p.is_file()}
    assert not any(f.endswith((".jsonl", ".txt")) for f in files)  # no text

    second = [
        {"id": "new-near", "text": " ".join(edit(rng, docs[2], 0.01, vocab))},
        {"id": "new-exact", "text": " ".join(docs[4]).upper()},
        {"id": "new-unique", "text": " ".join(document(rng, 300, vocab))},
    ]
    m = run_local(
        dedup_job(_batch(tmp_path / "b2.jsonl", second), tmp_path / "o2", index_dir=index_dir),
        workers=2,
    )
    assert m["counts"]["near_duplicates"] == 1 and m["counts"]["exact_duplicates"] == 1
    clusters = {r["id"]: r for r in pq.read_table(tmp_path / "o2" / "clusters.parquet").to_pylist()}
    assert clusters["new-near"]["similar_to"] == "old2"
    assert clusters["new-exact"]["similar_to"] == "old4"
    assert read_table(tmp_path / "o2").column("id").to_pylist() == ["new-unique"]
    assert DedupIndex(index_dir, DedupConfig()).size == 6

    # ids already in the index are quarantined, not silently kept twice
    m = run_local(
        dedup_job(_batch(tmp_path / "b3.jsonl", first[:1]), tmp_path / "o3", index_dir=index_dir),
        workers=2,
    )
    assert m["counts"]["rejected_in_index"] == 1 and m["counts"]["out"] == 0


def test_index_refuses_other_signature_parameters(tmp_path):
    rows = [{"id": "a", "text": "one two three four five six"}]
    run_local(
        dedup_job(_batch(tmp_path / "b.jsonl", rows), tmp_path / "o", index_dir=tmp_path / "i"),
        workers=2,
    )
    with pytest.raises(ConfigError, match="index was built with"):
        DedupIndex(tmp_path / "i", DedupConfig(num_perm=128))
