"""Attacks and accidents on the store's keys and registry (issue 17, items 4-6, 8, 11):
rotation that would strand another store, a rotation that fails, `store init` after the
master key was lost, tokens that never expire, refusals that left no audit entry."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from corpusforge.core.errors import AccessDenied, ConfigError, InputError
from corpusforge.model.store import bootstrap_store, open_store
from corpusforge.model.store.store import SecureCheckpointStore
from tests._store_attack import (
    assert_no_secrets,
    cli,
    events,
    keyring,
    make_checkpoint,
    one_line,
)


@pytest.fixture(scope="module")
def s3_endpoint(moto_s3):
    """The session's S3 endpoint (moto's server) with this module's bucket."""
    return moto_s3("keys")


def _s3(endpoint: str, prefix: str, **extra) -> dict:
    return {
        "url": f"s3://keys/{prefix}",
        "storage_options": {
            "client_kwargs": {"endpoint_url": endpoint},
            "skip_instance_cache": True,
            **extra,
        },
    }


@pytest.fixture
def store_env(workspace, tmp_path):
    tokens = bootstrap_store(workspace)
    ckpt = make_checkpoint(tmp_path / "ckpt")
    yield {"ws": workspace, "tokens": tokens, "ckpt": ckpt, "tmp": tmp_path}
    assert_no_secrets(workspace, tokens)


def _same(a, b) -> None:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes()


# -- item 4: rotation strands other stores ---------------------------------------------------
def test_rotation_rewraps_a_second_store_written_with_store_url(store_env):
    """The issue's sequence through the CLI: put to S2, rotate (default store), get from S2."""
    ws, tokens, tmp = store_env["ws"], store_env["tokens"], store_env["tmp"]
    s2 = tmp / "second-store"
    trainer = {"CORPUSFORGE_TOKEN": tokens["svc:trainer"]}
    r = cli(ws, "store", "put", "main/ck", str(store_env["ckpt"]), env=trainer)
    assert r.returncode == 0, r.stderr
    r = cli(
        ws, "store", "put", "other/ck", str(store_env["ckpt"]), "--store-url", str(s2), env=trainer
    )
    assert r.returncode == 0, r.stderr
    old_key = keyring(ws)["active"]
    r = cli(ws, "store", "rotate-key", "--token", tokens["user:admin"])
    assert r.returncode == 0, r.stderr
    assert "across 2 store(s)" in r.stdout and "re-wrapped 6 data keys in 2 checkpoints" in r.stdout
    new_key = keyring(ws)["active"]
    assert list(keyring(ws)["keys"]) == [new_key] and new_key != old_key  # old key retired
    sealed = json.loads((s2 / "other/ck/@manifest.json").read_text())
    assert sealed["key_id"] == new_key
    assert {f["data_key"]["key_id"] for f in sealed["body"]["files"]} == {new_key}
    r = cli(ws, "store", "get", "other/ck", str(tmp / "back"), "--store-url", str(s2), env=trainer)
    assert r.returncode == 0, r.stderr
    _same(store_env["ckpt"], tmp / "back")
    rotation = events(ws, "store.rotate-key")[-1]
    assert rotation.decision == "allow" and rotation.details["stores"] == 2


def test_rotation_rewraps_an_s3_store_and_records_no_credentials(store_env, s3_endpoint):
    ws, tokens, tmp = store_env["ws"], store_env["tokens"], store_env["tmp"]
    where = _s3(s3_endpoint, tmp.name, key="testing", secret="testing")
    where["storage_options"]["client_kwargs"].update(
        aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="t"
    )
    trainer = open_store(ws, tokens["svc:trainer"], **where)
    trainer.put_checkpoint("s3/ck", store_env["ckpt"], {"pii_scrubbed": True})
    registry = json.loads((ws.store_dir / "registry.json").read_text())
    recorded = registry["body"]["stores"][f"s3://keys/{tmp.name}"]["options"]
    assert recorded == {"client_kwargs": {"endpoint_url": s3_endpoint}, "skip_instance_cache": True}
    result = open_store(ws, tokens["user:admin"]).rotate_key()  # from the default store
    assert result["stores"] == 2 and result["checkpoints"] == 1 and result["retired"]
    assert list(keyring(ws)["keys"]) == [result["new_key_id"]]
    fresh = open_store(ws, tokens["svc:trainer"], **where)
    _same(store_env["ckpt"], fresh.get_checkpoint("s3/ck", tmp / "back"))


def test_a_damaged_manifest_keeps_the_old_key_until_it_is_gone(store_env):
    ws, tokens, tmp = store_env["ws"], store_env["tokens"], store_env["tmp"]
    trainer = open_store(ws, tokens["svc:trainer"])
    trainer.put_checkpoint("good/ck", store_env["ckpt"], {"pii_scrubbed": True})
    trainer.put_checkpoint("bad/ck", store_env["ckpt"], {"pii_scrubbed": True})
    manifest = ws.store_dir / "checkpoints/bad/ck/@manifest.json"
    manifest.write_text(manifest.read_text().replace('"internal"', '"public"'))
    old_key = keyring(ws)["active"]
    admin = open_store(ws, tokens["user:admin"])
    result = admin.rotate_key()  # not blocked by the damaged checkpoint
    assert result["checkpoints"] == 1 and result["damaged"] == [
        "workspace:store/checkpoints:bad/ck"
    ]
    assert result["kept"] == [old_key] and not result["retired"]
    assert set(keyring(ws)["keys"]) == {old_key, result["new_key_id"]}
    _same(store_env["ckpt"], trainer.get_checkpoint("good/ck", tmp / "good"))
    admin.delete_checkpoint("bad/ck")  # item 10: an admin may delete it
    again = admin.rotate_key()
    assert again["retired"] and list(keyring(ws)["keys"]) == [again["new_key_id"]]


# -- item 5: a failed rotation adds no key and is audited -----------------------------------
def test_rotation_with_an_unreachable_store_changes_nothing_and_is_audited(store_env):
    from moto.server import ThreadedMotoServer

    ws, tokens = store_env["ws"], store_env["tokens"]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="keys")
    fast_fail = {"config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}}}
    where = _s3(endpoint, "gone", **fast_fail)
    open_store(ws, tokens["svc:trainer"], **where).put_checkpoint(
        "remote/ck", store_env["ckpt"], {"pii_scrubbed": True}
    )
    server.stop()  # the second store is now unreachable
    before = (ws.keys_dir / "master.key").read_bytes()
    registry_before = (ws.store_dir / "registry.json").read_bytes()
    r = cli(ws, "store", "rotate-key", "--token", tokens["user:admin"], timeout=300)
    line = one_line(r)
    assert "cannot be read" in line and "nothing was changed" in line and "s3://keys/gone" in line
    assert (ws.keys_dir / "master.key").read_bytes() == before  # no key added
    assert (ws.store_dir / "registry.json").read_bytes() == registry_before
    failed = events(ws, "store.rotate-key")[-1]
    assert failed.decision == "error" and failed.actor == "user:admin"
    assert "nothing was changed" in failed.details["reason"]


def test_rotation_failing_midway_keeps_both_keys_and_a_rerun_finishes(store_env, monkeypatch):
    ws, tokens, tmp = store_env["ws"], store_env["tokens"], store_env["tmp"]
    trainer = open_store(ws, tokens["svc:trainer"])
    for i in range(3):
        trainer.put_checkpoint(f"mid/ck-{i}", store_env["ckpt"], {"pii_scrubbed": True})
    admin = open_store(ws, tokens["user:admin"])
    before = keyring(ws)
    real = SecureCheckpointStore._replace_manifest
    calls = []

    def disk_full_on(n):
        def replace(self, name, data):
            calls.append(name)
            if len(calls) == n:
                raise OSError(28, "No space left on device")
            return real(self, name, data)

        return replace

    monkeypatch.setattr(SecureCheckpointStore, "_replace_manifest", disk_full_on(1))
    with pytest.raises(ConfigError, match="No space left.*nothing was changed"):
        admin.rotate_key()
    assert keyring(ws) == before  # nothing was sealed under the new key: it was taken back
    calls.clear()
    monkeypatch.setattr(SecureCheckpointStore, "_replace_manifest", disk_full_on(2))
    with pytest.raises(ConfigError, match="both kept; rerun rotate-key"):
        admin.rotate_key()
    assert len(keyring(ws)["keys"]) == 2  # one manifest is sealed under the new key
    assert [e.decision for e in events(ws, "store.rotate-key")] == ["error", "error"]
    for i in range(3):  # nothing is stranded in between
        trainer.get_checkpoint(f"mid/ck-{i}", tmp / f"between-{i}")
    monkeypatch.setattr(SecureCheckpointStore, "_replace_manifest", real)
    done = admin.rotate_key()
    assert list(keyring(ws)["keys"]) == [done["new_key_id"]]
    for i in range(3):
        _same(store_env["ckpt"], trainer.get_checkpoint(f"mid/ck-{i}", tmp / f"after-{i}"))


# -- item 6 and 11: a lost master key ---------------------------------------------------------
def test_init_after_the_master_key_was_lost_refuses_before_changing_anything(store_env):
    ws, tokens = store_env["ws"], store_env["tokens"]
    open_store(ws, tokens["svc:trainer"]).put_checkpoint(
        "lost/ck", store_env["ckpt"], {"pii_scrubbed": True}
    )
    (ws.keys_dir / "master.key").unlink()  # lost
    registry = (ws.store_dir / "registry.json").read_bytes()
    r = cli(ws, "store", "init")
    line = one_line(r)
    assert "already initialised" in line and "master key" in line and "backup" in line
    assert not (ws.keys_dir / "master.key").exists(), "init wrote a new master key"
    assert (ws.store_dir / "registry.json").read_bytes() == registry
    init = events(ws, "store.init")[-1]
    assert init.decision == "deny" and "nothing was changed" in init.details["reason"]
    # Every later command says what is wrong (not "wrong master key") and is audited.
    r = cli(ws, "store", "list", env={"CORPUSFORGE_TOKEN": tokens["svc:trainer"]})
    line = one_line(r)
    assert "master key" in line and "missing" in line and "wrong master key" not in line
    opened = events(ws, "store.open")[-1]
    assert opened.decision == "error" and "missing" in opened.details["reason"]
    assert opened.details["claimed_token_id"] == tokens["svc:trainer"].split("_")[1]


def test_init_of_an_initialised_store_is_refused_and_audited(store_env):
    ws = store_env["ws"]
    key = (ws.keys_dir / "master.key").read_bytes()
    with pytest.raises(ConfigError, match="already initialised"):
        bootstrap_store(ws)
    assert (ws.keys_dir / "master.key").read_bytes() == key
    assert events(ws, "store.init")[-1].decision == "deny"


# -- item 8: tokens that never expire -------------------------------------------------------------
@pytest.mark.parametrize("ttl", ["0", "-1", "-0.5", "nan", "inf", "1e12"])
def test_token_ttl_that_is_not_a_positive_lifetime_is_refused(store_env, ttl):
    ws, tokens = store_env["ws"], store_env["tokens"]
    before = json.loads((ws.store_dir / "registry.json").read_text())["body"]["tokens"]
    r = cli(
        ws,
        "store",
        "token",
        "issue",
        "svc:trainer",
        "--ttl-days",
        ttl,
        "--token",
        tokens["user:admin"],
    )
    line = one_line(r)
    assert "--ttl-days must be more than 0" in line and "cft_" not in r.stdout
    after = json.loads((ws.store_dir / "registry.json").read_text())["body"]["tokens"]
    assert after == before  # no token issued
    refused = events(ws, "store.token.issue")[-1]
    assert refused.decision == "deny" and refused.actor == "user:admin"


def test_library_refuses_a_zero_or_negative_ttl(store_env):
    admin = open_store(store_env["ws"], store_env["tokens"]["user:admin"])
    for ttl in (timedelta(0), timedelta(days=-1), timedelta(days=3651)):
        with pytest.raises(InputError, match="more than 0"):
            admin.issue_token("svc:trainer", ttl)
    trainer = open_store(store_env["ws"], store_env["tokens"]["svc:trainer"])
    with pytest.raises(AccessDenied):  # who may issue is checked before the lifetime
        trainer.issue_token("svc:trainer", timedelta(0))
    token = admin.issue_token("svc:trainer", timedelta(days=1))
    store_env["tokens"]["issued"] = token
    assert open_store(store_env["ws"], token).exists("nothing/here") is False
