"""The dedup flow and CLI through Prefect on Parquet shards: mapped tasks, resume, audit."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _documents_helpers import seal
from typer.testing import CliRunner

from corpusforge.cli import app
from corpusforge.core.audit import open_audit_log
from corpusforge.pipeline.documents import read_table
from tests._dedup_corpus import document, edit, vocabulary


def _shards(root):
    rng = random.Random(31)
    vocab = vocabulary()
    bases = [document(rng, 250, vocab) for _ in range(6)]
    root.mkdir()
    for s in range(2):
        rows = [
            {
                "id": f"s{s}-{i}",
                "text": " ".join(bases[i] if s == 0 else edit(rng, bases[i], 0.01, vocab)),
                "source": "web" if s == 0 else "wiki",
                "uri": "",
                "locator": str(i),
                "meta": json.dumps({"title": f"Page {i}"}),
            }
            for i in range(6 if s == 0 else 3)
        ]
        pq.write_table(pa.Table.from_pylist(rows), root / f"part-{s:05d}.parquet")
    return seal(root)


@pytest.fixture
def cli(prefect_harness, workspace, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(workspace.prefect_home))
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [*args, "--workspace", str(workspace.root)])

    return invoke


def test_dedup_flow_on_parquet_shards_resumes_and_audits(cli, workspace, tmp_path):
    src = _shards(tmp_path / "docs")
    out = tmp_path / "dedup"
    result = cli("dedup", str(src), "-o", str(out), "--task-runner", "threads")
    assert result.exit_code == 0, result.output
    assert "kept 6 of 9 documents" in result.output
    assert read_table(out).column("id").to_pylist() == [f"s0-{i}" for i in range(6)]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["near_duplicates"] == 3 and not manifest["resumed_cluster"]
    largest = manifest["dedup"]["largest_clusters"]
    assert largest[0]["size"] == 2 and largest[0]["title"].startswith("Page ")
    rates = {r["source"]: r["duplicate_rate"] for r in manifest["dedup"]["by_source"]}
    assert rates == {"web": 0.0, "wiki": 1.0}

    removed = [e for e in open_audit_log().events("dedup.remove")]
    assert sorted(i for e in removed for i in e.details["ids"]) == ["s1-0", "s1-1", "s1-2"]
    assert not any("text" in json.dumps(e.details) for e in removed)

    again = cli("dedup", str(src), "-o", str(out), "--task-runner", "threads", "--overwrite")
    assert again.exit_code == 0, again.output
    assert json.loads((out / "manifest.json").read_text())["resumed_cluster"]


def test_dedup_cli_rejects_bad_options(cli, tmp_path):
    result = cli("dedup", str(tmp_path), "-o", str(tmp_path / "o"), "--threshold", "1.5")
    assert result.exit_code != 0 and "threshold" in result.output
