"""The clustering rule, candidate verification, keep policy and bad input, through the stage."""

from __future__ import annotations

import json
import random

import numpy as np
import pyarrow.parquet as pq
import pytest

from corpusforge.pipeline.dedup import DedupConfig, dedup_job, shingles
from corpusforge.pipeline.dedup.cluster import NOT_REMOVED, band_groups, decide
from corpusforge.pipeline.documents import read_table
from corpusforge.pipeline.manifest import read_manifest, read_rejects
from corpusforge.pipeline.stage import run_local
from tests._dedup_corpus import document, edit, vocabulary
from tests._dedup_corpus import jaccard as reference_jaccard


def _write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def _clusters(out):
    return {r["id"]: r for r in pq.read_table(out / "clusters.parquet").to_pylist()}


def test_band_groups_are_runs_of_equal_keys_in_priority_order():
    keys = np.array([7, 3, 7, 9, 3, 7], dtype=np.uint64)
    members, offsets = band_groups(keys)
    groups = [members[offsets[i] : offsets[i + 1]].tolist() for i in range(offsets.size - 1)]
    assert sorted(groups) == [[0, 2, 5], [1, 4]]


def test_chain_removes_only_what_is_similar_to_a_kept_document():
    # A~B and B~C, but A and C are not similar: the rule keeps A and C, removes only B.
    sims = {(1, 0): 0.85, (2, 1): 0.85, (2, 0): 0.5}
    group = (np.array([0, 1, 2]), np.array([0, 3]))
    d = decide(3, 0, [group], 0.8, lambda u, v: sims[(u, v)])
    assert d.similar_to.tolist() == [NOT_REMOVED, 0, NOT_REMOVED]
    assert d.similarity[1] == pytest.approx(0.85)


def test_chain_through_the_stage(tmp_path):
    rng = random.Random(11)
    vocab = vocabulary()
    a = document(rng, 400, vocab)
    b = edit(rng, a, 0.0175, vocab)
    c = edit(rng, b, 0.0175, vocab)
    assert reference_jaccard(a, b) >= 0.8 and reference_jaccard(b, c) >= 0.8
    assert reference_jaccard(a, c) < 0.8
    rows = [{"id": k, "text": " ".join(w)} for k, w in (("A", a), ("B", b), ("C", c))]
    out = tmp_path / "out"
    # bands of one row: every pair is a candidate, so only the rule decides
    run_local(
        dedup_job(_write_jsonl(tmp_path / "in.jsonl", rows), out, DedupConfig(bands=32, rows=1)),
        workers=2,
    )
    cl = _clusters(out)
    assert [cl[k]["kept"] for k in "ABC"] == [True, False, True]
    assert cl["B"]["similar_to"] == "A" and cl["B"]["reason"] == "near_duplicate"
    assert cl["B"]["similarity"] == pytest.approx(reference_jaccard(a, b), abs=1e-3)
    assert read_table(out).column("id").to_pylist() == ["A", "C"]


def test_lsh_false_positives_are_rejected_by_exact_jaccard(tmp_path):
    rng = random.Random(12)
    vocab = vocabulary()
    base = document(rng, 400, vocab)
    rows = [{"id": f"v{i}", "text": " ".join(edit(rng, base, 0.1, vocab))} for i in range(6)]
    out = tmp_path / "out"
    run_local(
        dedup_job(
            _write_jsonl(tmp_path / "in.jsonl", rows),
            out,
            DedupConfig(bands=64, rows=1, prefilter_margin=1.0),
        ),
        workers=2,
    )
    manifest = read_manifest(out)
    assert manifest["counts"]["exact_jaccard_checks"] > 0  # they were candidates ...
    assert manifest["counts"]["out"] == 6  # ... but J ~ 0.5 < 0.8, so nothing is removed


@pytest.mark.parametrize(
    ("config", "winner"),
    [
        (DedupConfig(), "short"),
        (DedupConfig(keep="longest"), "long"),
        (DedupConfig(prefer_sources=["books"]), "book"),
    ],
)
def test_keep_policy_is_deterministic_and_configurable(tmp_path, config, winner):
    rng = random.Random(13)
    vocab = vocabulary()
    base = document(rng, 500, vocab)
    rows = [
        {"id": "short", "text": " ".join(base), "source": "web"},
        {"id": "long", "text": " ".join(base + base[:10]), "source": "web"},
        {"id": "book", "text": " ".join(base).upper(), "source": "books"},
    ]
    out = tmp_path / "out"
    run_local(dedup_job(_write_jsonl(tmp_path / "in.jsonl", rows), out, config), workers=2)
    cl = _clusters(out)
    assert [k for k, r in cl.items() if r["kept"]] == [winner]
    assert {r["cluster_id"] for r in cl.values()} == {winner}


def test_bad_input_is_counted_and_quarantined(tmp_path, monkeypatch):
    monkeypatch.setattr(shingles, "PIECE_CHARS", 1 << 16)  # the big document goes in pieces
    rng = random.Random(14)
    vocab = vocabulary()
    big = " ".join(document(rng, 300_000, vocab))
    rows = [
        {"id": "empty", "text": ""},
        {"id": "blank", "text": "  \n\t "},
        {"id": "punct", "text": "!!! ... ???"},
        {"id": "one", "text": "word"},
        {"id": "one-again", "text": "Word."},
        {"id": "mixed", "text": "Tokyo 東京タワー Москва " + " ".join(document(rng, 30, vocab))},
        {"id": "big", "text": big},
        {"id": "big-copy", "text": big + " tail"},
        {"id": "one", "text": "a different document under a repeated id"},
    ]
    out = tmp_path / "out"
    manifest = run_local(dedup_job(_write_jsonl(tmp_path / "in.jsonl", rows), out), workers=2)
    counts = manifest["counts"]
    assert counts["in"] == 9 and counts["rejected"] == 4
    assert counts["rejected_empty"] == 3 and counts["rejected_duplicate_id"] == 1
    reasons = [r["reason"] for r in read_rejects(out)]
    assert any("duplicate id 'one'" in r for r in reasons)
    assert all("document" not in r for r in reasons)  # no text in rejects
    cl = _clusters(out)
    assert cl["one-again"]["reason"] == "exact_duplicate" and cl["one-again"]["similar_to"] == "one"
    assert cl["big-copy"]["reason"] == "near_duplicate" and cl["big"]["kept"]
    kept = read_table(out).column("id").to_pylist()
    assert kept == ["one", "mixed", "big"]


def test_output_keeps_every_input_column(tmp_path):
    rows = [
        {"id": "a", "text": "alpha beta gamma delta epsilon", "lang": "en", "score": 3},
        {"id": "b", "text": "Alpha, beta; gamma delta epsilon!", "lang": "en", "score": 4},
    ]
    out = tmp_path / "out"
    run_local(dedup_job(_write_jsonl(tmp_path / "in.jsonl", rows), out), workers=2)
    table = read_table(out)
    assert table.num_rows == 1 and {"lang", "score", "meta"} <= set(table.column_names)
    assert table.column("score").to_pylist() == [3]
