"""Lineage and erasure follow stage outputs published to object storage (`url:` audit objects):
ingest and tokenize write to a real S3 endpoint (moto's server), a checkpoint is stored, and
`audit lineage` / `audit erase` read the manifests and shards in the bucket."""

from __future__ import annotations

import hashlib
import json
import secrets

import pytest
from typer.testing import CliRunner

from corpusforge import lineage
from corpusforge.cli import app
from corpusforge.core.audit import AuditLog
from corpusforge.model.store import bootstrap_store, open_store
from corpusforge.pipeline.remote import audit_object
from corpusforge.pipeline.stage import run_local

BUCKET = "lineagedata"


@pytest.fixture
def s3(s3_env):
    return s3_env(BUCKET, "AKIALINEAGETESTKEY01", "lineage-secret-never-shown")


@pytest.fixture
def trained_in_s3(s3, workspace, fixtures_dir, tmp_path):
    from corpusforge.pipeline.ingest.stage import ingest_job
    from corpusforge.pipeline.tokenize import TokenizeConfig, tokenize_job

    log = AuditLog(workspace.audit_url)
    run = f"lin-{secrets.token_hex(4)}"  # one S3 server for the session: a prefix per test
    docs_url, tokens_url = f"s3://{BUCKET}/{run}/documents", f"s3://{BUCKET}/{run}/tokens"
    inputs = [
        fixtures_dir / "books" / "pg11563-8.txt",
        fixtures_dir / "wiki" / "wikibrain-en_test.xml",
    ]
    cache = tmp_path / "stage-cache"
    run_local(ingest_job(inputs, docs_url, cache_root=cache / "i"), workers=1)
    config = TokenizeConfig(vocab_size=512, workers=1, val_fraction=0.0)
    run_local(tokenize_job(docs_url, tokens_url, config, cache_root=cache / "t"))
    # The entries the ingest and tokenize flows write for a URL output (flows/ingest.py, ...).
    log.append("ingest.run", audit_object(docs_url), actor="test")
    log.append("tokenize.run", audit_object(tokens_url), actor="test")
    manifest = s3.get_object(Bucket=BUCKET, Key=f"{run}/tokens/manifest.json")["Body"].read()
    tokens = bootstrap_store(workspace)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    open_store(workspace, tokens["svc:trainer"]).put_checkpoint(
        "runs/s3/step-1",
        ckpt,
        {
            "token_manifest_sha256": hashlib.sha256(manifest).hexdigest(),
            "pii_scrubbed": False,
            "run": "s3",
        },
    )
    return {"ws": workspace, "log": log, "tokens": tokens, "tokens_url": tokens_url, "run": run}


def _cli(ws, *args):
    result = CliRunner().invoke(app, [*args, "--workspace", str(ws.root)])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_lineage_follows_outputs_in_the_bucket(trained_in_s3):
    t = trained_in_s3
    out = json.loads(_cli(t["ws"], "audit", "lineage", "--checkpoint", "runs/s3/step-1"))
    assert out["token_dir"] == t["tokens_url"]
    assert out["documents"] > 1 and out["documents_without_source"] == 0
    uris = {s["uri"] for s in out["sources"]}
    assert any(u.endswith("pg11563-8.txt") for u in uris)
    assert any(u.endswith("wikibrain-en_test.xml") for u in uris)

    doc_id = next(iter(lineage.document_sources(t["log"])))
    found = json.loads(_cli(t["ws"], "audit", "lineage", "--document", doc_id))
    assert found["checkpoints"] == ["runs/s3/step-1"]
    assert [p["token_dir"] for p in found["token_shards"]] == [t["tokens_url"]]
    assert found["origin"]["uri"] in uris


def test_erasure_rebuilds_the_shards_in_the_bucket(trained_in_s3, s3):
    t = trained_in_s3
    doc_id = next(iter(lineage.document_sources(t["log"])))
    out = json.loads(
        _cli(t["ws"], "audit", "erase", "--document", doc_id, "--token", t["tokens"]["user:admin"])
    )
    assert out["affected_checkpoints"] == ["runs/s3/step-1"]
    (rebuilt,) = out["rebuilt"]
    assert rebuilt["old_dir"] == t["tokens_url"]
    assert rebuilt["new_dir"] == f"{t['tokens_url']}.{out['request']}"
    new_manifest = s3.get_object(
        Bucket=BUCKET, Key=f"{t['run']}/tokens.{out['request']}/manifest.json"
    )["Body"].read()
    assert hashlib.sha256(new_manifest).hexdigest() == rebuilt["new_manifest_sha256"]
    assert json.loads(new_manifest)["erasure"]["document_copies_removed"] >= 1
    # the rebuilt prefix is followed too (named by the audit.erase entry) ...
    assert rebuilt["new_dir"] in lineage.token_dirs(t["log"]).values()
    # ... and the lineage finds the document only in the old shards now; the checkpoint marked
    after = lineage.document_lineage(t["log"], doc_id)
    assert [p["token_dir"] for p in after["token_shards"]] == [t["tokens_url"]]
    listed = open_store(t["ws"], t["tokens"]["user:admin"]).list_checkpoints()
    assert listed[0]["affected"][0]["request"] == out["request"]
