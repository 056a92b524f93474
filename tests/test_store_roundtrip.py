"""The store end to end: local folder and a real S3-protocol server (moto, on 127.0.0.1),
key rotation without re-encryption, classification, listing, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from corpusforge.core.audit import AuditLog
from corpusforge.core.errors import AccessDenied, InputError
from corpusforge.model.storage import CheckpointStorage
from corpusforge.model.store import bootstrap_store, classify, open_store


@pytest.fixture(scope="module")
def s3_endpoint(moto_s3):
    """The session's S3 endpoint (moto's server) with this module's bucket."""
    return moto_s3("ckpts")


@pytest.fixture
def ckpt(tmp_path) -> Path:
    d = tmp_path / "ckpt"
    (d / "tokenizer").mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 2}))
    (d / "model.safetensors").write_bytes(os.urandom(5 * 1024 * 1024 + 123))  # > one chunk
    (d / "tokenizer" / "tokenizer.json").write_text("{}")
    (d / "empty.bin").write_bytes(b"")
    return d


def _same(a: Path, b: Path) -> None:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes()


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_roundtrip(backend, workspace, ckpt, tmp_path, request):
    tokens = bootstrap_store(workspace)
    kwargs = {}
    if backend == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        kwargs = {
            "url": f"s3://ckpts/{tmp_path.name}",
            "storage_options": {
                "client_kwargs": {"endpoint_url": endpoint},
                "skip_instance_cache": True,
            },
        }
    store = open_store(workspace, tokens["svc:trainer"], **kwargs)
    storage: CheckpointStorage = store  # the protocol the trainer programs against
    for method in ("put_checkpoint", "get_checkpoint", "list_checkpoints", "exists"):
        assert callable(getattr(storage, method))
    meta = {"pii_scrubbed": True, "token_manifest_sha256": "ab" * 32, "run": "r1"}
    assert store.put_checkpoint("runs/r1/step-000001", ckpt, meta) == "runs/r1/step-000001"
    store.put_checkpoint("runs/r1/step-000002", ckpt, {"pii_scrubbed": False})
    assert store.exists("runs/r1/step-000001") and not store.exists("runs/r1/step-9")
    listed = store.list_checkpoints("runs/r1/")
    assert [c["name"] for c in listed] == ["runs/r1/step-000001", "runs/r1/step-000002"]
    assert [c["classification"] for c in listed] == ["internal", "restricted"]
    assert listed[0]["metadata"]["token_manifest_sha256"] == "ab" * 32
    out = store.get_checkpoint("runs/r1/step-000001", tmp_path / "out")
    _same(ckpt, out)
    with pytest.raises(InputError, match="immutable"):
        store.put_checkpoint("runs/r1/step-000001", ckpt, meta)
    with pytest.raises(InputError, match="no checkpoint"):
        store.get_checkpoint("runs/r1/missing", tmp_path / "nothing")
    if backend == "s3":
        import fsspec

        fs = fsspec.filesystem(
            "s3",
            client_kwargs={
                "endpoint_url": kwargs["storage_options"]["client_kwargs"]["endpoint_url"]
            },
            skip_instance_cache=True,
        )
        objects = fs.find(f"ckpts/{tmp_path.name}")
        assert any(o.endswith("@manifest.json") for o in objects)
        raw = b"".join(fs.cat_file(o) for o in objects if o.endswith(".enc"))
        assert b"gpt2" not in raw  # encrypted at rest on the remote side too


def test_failed_put_leaves_no_half_written_object(workspace, ckpt, monkeypatch):
    import corpusforge.model.store.store as store_module

    real = store_module.encrypt_stream
    calls = []

    def fail_on_second_file(src, dst, *args):
        calls.append(1)
        if len(calls) == 2:
            dst.write(b"half of a file")
            raise OSError("disk full")
        return real(src, dst, *args)

    monkeypatch.setattr(store_module, "encrypt_stream", fail_on_second_file)
    trainer = open_store(workspace, bootstrap_store(workspace)["svc:trainer"])
    with pytest.raises(OSError, match="disk full"):
        trainer.put_checkpoint("a/step-1", ckpt, {"pii_scrubbed": True})
    folder = workspace.store_dir / "checkpoints" / "a" / "step-1"
    assert not folder.exists()  # neither the finished first object nor the half-written one
    assert not trainer.exists("a/step-1")
    assert [e.decision for e in AuditLog(workspace.audit_url).events("store.put")] == [
        "allow",
        "error",
    ]


def test_rotation_rewraps_without_reencrypting(workspace, ckpt, tmp_path):
    tokens = bootstrap_store(workspace)
    trainer = open_store(workspace, tokens["svc:trainer"])
    trainer.put_checkpoint("a/step-1", ckpt, {"pii_scrubbed": True})
    objects = sorted((workspace.store_dir / "checkpoints").rglob("*.enc"))
    before = {p: p.read_bytes() for p in objects}
    old_key = (workspace.keys_dir / "master.key").read_text()
    result = open_store(workspace, tokens["user:admin"]).rotate_key()
    assert result["data_keys"] == 4 and result["old_key_id"] != result["new_key_id"]
    assert {p: p.read_bytes() for p in objects} == before  # ciphertext untouched
    keyring = json.loads((workspace.keys_dir / "master.key").read_text())
    assert list(keyring["keys"]) == [result["new_key_id"]]  # old key retired
    manifest = json.loads((workspace.store_dir / "checkpoints/a/step-1/@manifest.json").read_text())
    assert {f["data_key"]["key_id"] for f in manifest["body"]["files"]} == {result["new_key_id"]}
    _same(ckpt, trainer.get_checkpoint("a/step-1", tmp_path / "out"))  # same process, new key
    # The retired key opens nothing any more.
    (workspace.keys_dir / "master.key").write_text(old_key)
    with pytest.raises(Exception, match="wrong master key"):
        open_store(workspace, tokens["svc:trainer"]).get_checkpoint("a/step-1", tmp_path / "o2")


def test_classification_is_derived_from_training_data():
    assert classify({})[0] == "restricted"
    assert classify({"pii_scrubbed": False})[0] == "restricted"
    assert classify({"pii_scrubbed": True})[0] == "internal"
    assert classify({"pii_scrubbed": True, "classification": "public"})[0] == "public"
    assert classify({"pii_scrubbed": False, "classification": "public"})[0] == "restricted"
    assert classify({"pii_scrubbed": True, "classification": "restricted"})[0] == "restricted"
    with pytest.raises(InputError):
        classify({"classification": "secret"})


def test_grant_changes_access_at_once(workspace, ckpt, tmp_path):
    tokens = bootstrap_store(workspace)
    admin = open_store(workspace, tokens["user:admin"])
    admin.put_checkpoint("b/step-1", ckpt, {})  # restricted
    admin.add_principal("user:ana", ["evaluator"], "internal")
    ana = open_store(workspace, admin.issue_token("user:ana"))
    with pytest.raises(AccessDenied):
        ana.get_checkpoint("b/step-1", tmp_path / "x")
    admin.grant("user:ana", clearance="restricted")
    _same(ckpt, ana.get_checkpoint("b/step-1", tmp_path / "y"))
    admin.grant("user:ana", roles=["auditor"])
    with pytest.raises(AccessDenied, match="do not permit get"):
        ana.get_checkpoint("b/step-1", tmp_path / "z")
    assert [c["name"] for c in ana.list_checkpoints()] == ["b/step-1"]
    decisions = [(e.actor, e.decision) for e in AuditLog(workspace.audit_url).events("store.get")]
    assert decisions == [("user:ana", "deny"), ("user:ana", "allow"), ("user:ana", "deny")]


def test_cli_workflow(workspace, ckpt, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from corpusforge.cli import app

    runner = CliRunner()
    ws = ["--workspace", str(workspace.root)]
    init = runner.invoke(app, ["store", "init", *ws])
    assert init.exit_code == 0, init.output
    tokens = dict(line.split("\t") for line in init.output.splitlines() if "\t" in line)
    admin = tokens["user:admin"]
    monkeypatch.setenv("CORPUSFORGE_TOKEN", tokens["svc:trainer"])
    r = runner.invoke(
        app, ["store", "put", "c/step-1", str(ckpt), "--meta", "pii_scrubbed=true", *ws]
    )
    assert r.exit_code == 0 and "classification internal" in r.output, r.output
    r = runner.invoke(
        app,
        [
            "store",
            "principal",
            "add",
            "user:bob",
            "--role",
            "evaluator",
            "--clearance",
            "internal",
            "--token",
            admin,
            *ws,
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app, ["store", "token", "issue", "user:bob", "--ttl-days", "1", "--token", admin, *ws]
    )
    bob = r.output.strip()
    assert bob.startswith("cft_")
    r = runner.invoke(app, ["store", "get", "c/step-1", str(tmp_path / "bob"), "--token", bob, *ws])
    assert r.exit_code == 0, r.output
    _same(ckpt, tmp_path / "bob")
    r = runner.invoke(app, ["store", "list", "--token", bob, *ws])
    assert "c/step-1\tinternal" in r.output
    r = runner.invoke(app, ["store", "token", "revoke", bob.split("_")[1], "--token", admin, *ws])
    assert r.exit_code == 0
    r = runner.invoke(
        app, ["store", "get", "c/step-1", str(tmp_path / "bob2"), "--token", bob, *ws]
    )
    assert r.exit_code != 0 and "revoked" in str(r.exception)
    r = runner.invoke(app, ["store", "rotate-key", "--token", admin, *ws])
    assert r.exit_code == 0 and "re-wrapped 4 data keys" in r.output
