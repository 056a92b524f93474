"""Erasure and registry attacks (issue 17, items 7, 11, 16 and 17), written as the attacks.

- A registry rolled back to a copy from before a revocation makes the revoked token work
  again, unless the registry's version is anchored in the audit log.
- `audit erase` acted (rebuilt token shards) before checking who asked, took the actor from
  `CORPUSFORGE_ACTOR`, left refusals out of the audit trail and stored whatever was passed as
  `--document` (an e-mail address) verbatim.
"""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from corpusforge.cli import app
from corpusforge.core.audit import AuditLog
from corpusforge.model.store import AuthenticationFailed, bootstrap_store, open_store
from corpusforge.pipeline.stage import run_local

EMAIL = "john.doe@example.com"
PII_ID = "row:jane.roe@example.org"  # a dataset whose own ids are e-mail addresses


# -- item 7: registry rollback ------------------------------------------------------------------
def test_a_rolled_back_registry_is_refused_and_the_refusal_audited(workspace):
    tokens = bootstrap_store(workspace)
    admin = open_store(workspace, tokens["user:admin"])
    leaked = admin.issue_token("svc:trainer")
    registry = workspace.store_dir / "registry.json"
    backup = registry.read_bytes()  # the attacker's copy, from before the revocation
    admin.revoke_token(leaked)
    with pytest.raises(AuthenticationFailed, match="revoked"):
        open_store(workspace, leaked).list_checkpoints()

    registry.write_bytes(backup)  # roll back: the seal is valid, the token not revoked
    with pytest.raises(AuthenticationFailed, match="rolled back"):
        open_store(workspace, leaked).list_checkpoints()
    with pytest.raises(AuthenticationFailed, match="rolled back"):
        open_store(workspace, tokens["user:admin"]).list_checkpoints()
    log = AuditLog.for_workspace(workspace)
    last = list(log.events(action_prefix="store.list"))[-1]
    assert last.decision == "deny" and "rolled back" in last.details["reason"]
    assert log.verify().ok


def test_a_registry_swapped_for_another_at_the_same_version_is_refused(workspace, tmp_path):
    bootstrap_store(workspace)
    registry = workspace.store_dir / "registry.json"
    sealed = json.loads(registry.read_text())
    other = tmp_path / "other"
    other_tokens = bootstrap_store(other)  # another workspace, same version number
    shutil.copy(other / "keys" / "master.key", workspace.keys_dir / "master.key")
    other_sealed = json.loads((other / "store" / "registry.json").read_text())
    assert other_sealed["body"]["version"] == sealed["body"]["version"]
    shutil.copy(other / "store" / "registry.json", registry)
    with pytest.raises(AuthenticationFailed, match="not the version"):
        open_store(workspace, other_tokens["user:admin"]).list_checkpoints()


def test_every_registry_write_is_recorded_with_its_version(workspace):
    tokens = bootstrap_store(workspace)
    open_store(workspace, tokens["user:admin"]).issue_token("svc:trainer")
    log = AuditLog.for_workspace(workspace)
    versions = [e.details["version"] for e in log.events(action_prefix="registry.write")]
    assert versions == list(range(1, len(versions) + 1)) and len(versions) >= 6
    body = json.loads((workspace.store_dir / "registry.json").read_text())["body"]
    assert body["version"] == versions[-1]


# -- items 16, 17 and 11: erasure ---------------------------------------------------------------
@pytest.fixture
def corpus(workspace):
    """An ingest folder (ids as ingest makes them, plus one dataset id that is an e-mail
    address) and its token shards, both recorded in the workspace log."""
    from corpusforge.pipeline.manifest import StageRun
    from corpusforge.pipeline.tokenize import TokenizeConfig, tokenize_job

    words = "river stone lantern copper meadow harbor signal orchard violet ember".split()
    ids = [f"web-{i:020x}" for i in range(39)] + [PII_ID]
    texts = [" ".join(words[(i * 7 + j) % 10] for j in range(60 + i)) for i in range(40)]
    ingest_dir = workspace.runs_dir / "ingest"
    run = StageRun("ingest", ingest_dir)
    ingest_dir.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "id": ids,
            "text": texts,
            "source": ["web"] * 40,
            "uri": [f"file:///corpus/{i % 3}.warc" for i in range(40)],
            "locator": [str(i) for i in range(40)],
            "meta": ["{}"] * 40,
        }
    )
    pq.write_table(table, ingest_dir / "part-00000.parquet")
    run.counts["in"] = 40
    run.add_outputs([{"path": "part-00000.parquet", "rows": 40}])
    run.finish()
    token_dir = workspace.runs_dir / "tokens"
    run_local(
        tokenize_job(
            ingest_dir, token_dir, TokenizeConfig(vocab_size=512, workers=1, val_fraction=0.0)
        )
    )
    log = AuditLog.for_workspace(workspace)
    log.append("ingest.run", f"dir:{ingest_dir}", actor="test")
    log.append("tokenize.run", f"dir:{token_dir}", actor="test")
    return {"ws": workspace, "log": log, "ids": ids, "token_dir": token_dir}


def _erase(ws, *args, env=None):
    return CliRunner().invoke(
        app, ["audit", "erase", *args, "--workspace", str(ws.root)], env=env or {}
    )


def _erasures(log):
    return [e for e in log.events(action_prefix="audit.erase")]


def _token_dirs(ws):
    return sorted(p.name for p in ws.runs_dir.iterdir() if p.name.startswith("tokens"))


def test_erase_without_a_store_is_refused_and_the_claimed_actor_is_not_recorded(corpus):
    ws, log = corpus["ws"], corpus["log"]
    result = _erase(ws, "--document", corpus["ids"][0], env={"CORPUSFORGE_ACTOR": "user:anyone"})
    assert result.exit_code != 0 and "authenticated requester" in result.output
    assert _token_dirs(ws) == ["tokens"]  # nothing rebuilt
    [entry] = _erasures(log)
    assert entry.decision == "deny" and entry.actor == "anonymous"
    assert "user:anyone" not in json.dumps(entry.__dict__)


@pytest.mark.parametrize("who", ["no token", "bad token", "evaluator", "no master key"])
def test_erase_is_authorised_before_anything_is_rebuilt_and_refusals_are_audited(corpus, who):
    ws, log = corpus["ws"], corpus["log"]
    tokens = bootstrap_store(ws)
    admin = open_store(ws, tokens["user:admin"])
    admin.add_principal("user:eve", ["evaluator"], "restricted")
    token = {
        "no token": None,
        "bad token": "cft_0123456789ab_not-the-secret",
        "evaluator": admin.issue_token("user:eve"),
        "no master key": tokens["user:admin"],
    }[who]
    if who == "no master key":
        (ws.keys_dir / "master.key").unlink()
    args = ["--document", corpus["ids"][0]] + (["--token", token] if token else [])
    result = _erase(ws, *args, env={"CORPUSFORGE_ACTOR": "user:admin", "CORPUSFORGE_TOKEN": ""})
    assert result.exit_code != 0 and "erasure refused" in result.output, result.output
    assert _token_dirs(ws) == ["tokens"]  # nothing rebuilt before the refusal
    [entry] = _erasures(log)
    assert entry.decision == "deny" and entry.details["reason"]
    assert entry.actor == ("user:eve" if who == "evaluator" else "anonymous")
    assert log.verify().ok


def test_an_identifier_that_is_not_in_the_corpus_is_refused_and_never_stored(corpus):
    ws, log = corpus["ws"], corpus["log"]
    tokens = bootstrap_store(ws)
    result = _erase(ws, "--document", EMAIL, "--token", tokens["user:admin"])
    assert result.exit_code != 0 and "not document ids of the corpus" in result.output
    assert EMAIL not in result.output
    assert _token_dirs(ws) == ["tokens"]
    [entry] = _erasures(log)
    assert entry.decision == "deny" and entry.actor == "user:admin"
    assert entry.details["refused_ids"][0].startswith("hmac:")
    dump = json.dumps([e.__dict__ for e in log.events()])
    assert EMAIL not in dump and "john.doe" not in dump


def test_erasure_records_corpus_ids_as_they_are_and_personal_looking_ids_as_keyed_hashes(corpus):
    ws, log = corpus["ws"], corpus["log"]
    tokens = bootstrap_store(ws)
    plain = corpus["ids"][0]
    result = _erase(ws, "--document", plain, "--document", PII_ID, "--token", tokens["user:admin"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["rebuilt"] and _token_dirs(ws) == ["tokens", f"tokens.{out['request']}"]
    entries = _erasures(log)
    assert [e.decision for e in entries] == ["ok"] and entries[0].actor == "user:admin"
    recorded = entries[0].details["documents"]
    assert recorded[0] == plain and recorded[1].startswith("hmac:")
    assert recorded[1] == log.keyed_id(PII_ID)  # same id, same hash: requests are comparable
    dump = json.dumps([e.__dict__ for e in log.events()])
    assert PII_ID not in dump and "jane.roe" not in dump
    assert AuditLog.for_workspace(ws).verify().ok
