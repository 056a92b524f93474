"""Lineage, erasure and the compliance report on real stage outputs: Project Gutenberg books
and a MediaWiki dump ingested, tokenized, a checkpoint stored through the secure store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corpusforge import lineage
from corpusforge.cli import app
from corpusforge.core.audit import AuditLog
from corpusforge.core.hashing import sha256_file
from corpusforge.model.store import bootstrap_store, open_store
from corpusforge.pipeline.stage import run_local


@pytest.fixture
def trained(workspace, fixtures_dir, tmp_path):
    from corpusforge.pipeline.ingest.stage import ingest_job
    from corpusforge.pipeline.tokenize import TokenizeConfig, tokenize_job

    log = AuditLog(workspace.audit_url)
    ingest_dir, token_dir = workspace.runs_dir / "ingest", workspace.runs_dir / "tokens"
    inputs = [
        fixtures_dir / "books" / "pg11563-8.txt",
        fixtures_dir / "wiki" / "wikibrain-en_test.xml",
    ]
    run_local(ingest_job(inputs, ingest_dir), workers=1)
    run_local(
        tokenize_job(
            ingest_dir, token_dir, TokenizeConfig(vocab_size=512, workers=1, val_fraction=0.0)
        )
    )
    # The entries the ingest and tokenize flows write (flows/ingest.py, flows/tokenize.py).
    log.append("ingest.run", f"dir:{ingest_dir.resolve()}", actor="test")
    log.append("tokenize.run", f"dir:{token_dir.resolve()}", actor="test")
    tokens = bootstrap_store(workspace)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    manifest_sha = sha256_file(token_dir / "manifest.json")
    trainer = open_store(workspace, tokens["svc:trainer"])
    trainer.put_checkpoint(
        "runs/lin/step-1",
        ckpt,
        {"token_manifest_sha256": manifest_sha, "pii_scrubbed": False, "run": "lin"},
    )
    trainer.get_checkpoint("runs/lin/step-1", tmp_path / "out")
    return {
        "ws": workspace,
        "log": log,
        "tokens": tokens,
        "token_dir": token_dir,
        "ingest_dir": ingest_dir,
    }


def _cli(ws, *args):
    result = CliRunner().invoke(app, [*args, "--workspace", str(ws.root)])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_checkpoint_lineage_lists_sources_and_counts(trained):
    out = json.loads(_cli(trained["ws"], "audit", "lineage", "--checkpoint", "runs/lin/step-1"))
    from corpusforge.pipeline.documents import read_table

    ingested = read_table(trained["ingest_dir"], columns=["id", "uri"])
    assert out["documents"] == len(set(ingested["id"].to_pylist())) > 1
    assert out["documents_without_source"] == 0
    uris = {s["uri"] for s in out["sources"]}
    assert any(u.endswith("pg11563-8.txt") for u in uris)
    assert any(u.endswith("wikibrain-en_test.xml") for u in uris)
    assert sum(s["documents"] for s in out["sources"]) == out["documents"]
    assert out["classification"] == "restricted"


def test_document_and_source_lineage_find_the_checkpoint(trained):
    doc = lineage.document_sources(trained["log"])
    doc_id, origin = next(iter(doc.items()))
    out = json.loads(_cli(trained["ws"], "audit", "lineage", "--document", doc_id))
    assert out["origin"]["uri"] == origin["uri"]
    assert out["checkpoints"] == ["runs/lin/step-1"] and out["token_shards"]
    by_source = json.loads(_cli(trained["ws"], "audit", "lineage", "--source-uri", origin["uri"]))
    assert doc_id in by_source["documents"] and by_source["checkpoints"] == ["runs/lin/step-1"]


def test_erase_rebuilds_shards_marks_checkpoints_and_reports(trained, monkeypatch):
    from corpusforge.pipeline.tokenize.lineage import document_lineage

    doc_id = next(iter(lineage.document_sources(trained["log"])))
    assert document_lineage(trained["token_dir"], doc_id)
    monkeypatch.delenv("CORPUSFORGE_TOKEN", raising=False)
    refused = CliRunner().invoke(
        app, ["audit", "erase", "--document", doc_id, "--workspace", str(trained["ws"].root)]
    )
    assert refused.exit_code != 0 and "no token" in refused.output
    out = json.loads(
        _cli(
            trained["ws"],
            "audit",
            "erase",
            "--document",
            doc_id,
            "--token",
            trained["tokens"]["user:admin"],
        )
    )
    assert out["affected_checkpoints"] == ["runs/lin/step-1"]
    new_dir = out["rebuilt"][0]["new_dir"]
    assert document_lineage(new_dir, doc_id) == []
    # The store shows the notice; the lineage no longer finds the document in the new shards.
    listed = open_store(trained["ws"], trained["tokens"]["user:admin"]).list_checkpoints()
    assert listed[0]["affected"][0]["request"] == out["request"]
    after = lineage.document_lineage(trained["log"], doc_id)
    assert [p["token_dir"] for p in after["token_shards"]] == [str(trained["token_dir"])]
    report = _cli(trained["ws"], "audit", "report")
    md_path = report.splitlines()[0].removeprefix("report: ")
    md = Path(md_path).read_text()
    assert "YES: request:" + out["request"] in md
    assert "Audit chain: verified" in md
    assert "svc:trainer | store.get | allow" in md


def test_report_flags_a_tampered_chain(trained):
    import sqlalchemy as sa

    with trained["log"].engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET actor = 'x' WHERE seq = 2"))
    out = _cli(trained["ws"], "audit", "report")
    html_path = out.splitlines()[1].removeprefix("report: ")
    assert "Audit chain: TAMPERED" in Path(html_path).read_text()
    assert "audit chain TAMPERED" in out
