"""Security tests of the checkpoint store: each attack is refused, named and recorded, and no
token or key ever reaches an error, a log record or the audit trail."""

from __future__ import annotations

import base64
import json
import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from corpusforge.core.audit import AuditLog
from corpusforge.core.errors import AccessDenied, InputError, IntegrityError
from corpusforge.model.store import (
    AuthenticationFailed,
    WrongMasterKey,
    bootstrap_store,
    open_store,
)
from corpusforge.model.store.keys import KEY_FILE_NAME, LocalKeyProvider

NAME = "runs/secure/step-000010"


@pytest.fixture
def env(workspace, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    tokens = bootstrap_store(workspace)
    admin = open_store(workspace, tokens["user:admin"])
    admin.add_principal("user:eve", ["evaluator"], "internal")
    tokens["user:eve"] = admin.issue_token("user:eve")
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (ckpt / "model.safetensors").write_bytes(os.urandom(300_000))
    trainer = open_store(workspace, tokens["svc:trainer"])
    trainer.chunk_bytes = 64 << 10  # several chunks per file, so reordering is testable
    trainer.put_checkpoint(NAME, ckpt, {"pii_scrubbed": False, "run": "secure"})
    yield {"ws": workspace, "tokens": tokens, "ckpt": ckpt, "tmp": tmp_path}
    _assert_no_secrets(workspace, tokens, caplog)


def _secrets(ws, tokens) -> list[str]:
    out = []
    for token in tokens.values():
        out += [token, token.split("_", 2)[2]] if token.startswith("cft_") else [token]
    keyring = json.loads((ws.keys_dir / KEY_FILE_NAME).read_text())
    for key in keyring["keys"].values():
        out += [key, base64.b64decode(key).hex()]
    return out


def _audit_dump(ws) -> str:
    engine = sa.create_engine(ws.audit_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM audit_events")).all()
    return "\n".join(repr(tuple(r)) for r in rows)


def _assert_no_secrets(ws, tokens, caplog) -> None:
    haystacks = [_audit_dump(ws), caplog.text, (ws.store_dir / "registry.json").read_text()]
    assert "svc:trainer" in haystacks[0]  # the scan looks at a populated trail
    for secret in _secrets(ws, tokens):
        for text in haystacks:
            assert secret not in text


def _last(ws, action: str):
    return [e for e in AuditLog(ws.audit_url).events(action_prefix=action)][-1]


def _refused(env, store, exc_type, match, dest=None):
    dest = dest or env["tmp"] / "out"
    with pytest.raises(exc_type, match=match) as info:
        store.get_checkpoint(NAME, dest)
    for secret in _secrets(env["ws"], env["tokens"]):
        assert secret not in str(info.value)
    assert not dest.exists(), "nothing may be written when a read is refused"
    event = _last(env["ws"], "store.get")
    assert event.decision in ("deny", "error")
    return event


def test_allowed_read_roundtrips_and_is_recorded(env):
    out = open_store(env["ws"], env["tokens"]["svc:trainer"]).get_checkpoint(
        NAME, env["tmp"] / "out"
    )
    for f in ("config.json", "model.safetensors"):
        assert (out / f).read_bytes() == (env["ckpt"] / f).read_bytes()
    event = _last(env["ws"], "store.get")
    assert (event.actor, event.decision, event.object) == (
        "svc:trainer",
        "allow",
        f"checkpoint:{NAME}",
    )


def test_raw_store_files_hold_no_plaintext(env):
    plain = (env["ckpt"] / "model.safetensors").read_bytes()[:4096]
    for path in (env["ws"].store_dir / "checkpoints").rglob("*.enc"):
        assert plain not in path.read_bytes()
        assert b"gpt2" not in path.read_bytes()


def test_read_without_token(env, monkeypatch):
    monkeypatch.delenv("CORPUSFORGE_TOKEN", raising=False)
    event = _refused(env, open_store(env["ws"]), AuthenticationFailed, "no token")
    assert event.actor == "anonymous" and "no token" in event.details["reason"]


def test_read_with_wrong_secret(env):
    token = env["tokens"]["svc:trainer"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    event = _refused(env, open_store(env["ws"], forged), AuthenticationFailed, "does not match")
    assert event.details["claimed_principal"] == "svc:trainer" and event.actor == "anonymous"


def test_read_with_expired_token(env, monkeypatch):
    admin = open_store(env["ws"], env["tokens"]["user:admin"])
    short = admin.issue_token("svc:trainer", ttl=timedelta(seconds=1))
    env["tokens"]["short"] = short
    store = open_store(env["ws"], short)
    assert store.exists(NAME)  # valid while fresh
    import corpusforge.model.store.registry as registry

    later = registry._now() + timedelta(seconds=5)
    monkeypatch.setattr(registry, "_now", lambda: later)
    event = _refused(env, store, AuthenticationFailed, "expired")
    assert "expired" in event.details["reason"]


def test_read_with_revoked_token_takes_effect_at_once(env):
    trainer = open_store(env["ws"], env["tokens"]["svc:trainer"])
    assert trainer.exists(NAME)
    token_id = env["tokens"]["svc:trainer"].split("_")[1]
    open_store(env["ws"], env["tokens"]["user:admin"]).revoke_token(token_id)
    event = _refused(env, trainer, AuthenticationFailed, "revoked")
    assert "revoked" in event.details["reason"]


def test_read_with_too_low_clearance(env):
    eve = open_store(env["ws"], env["tokens"]["user:eve"])
    event = _refused(env, eve, AccessDenied, "clearance internal is below .*restricted")
    assert event.actor == "user:eve" and event.details["classification"] == "restricted"
    assert eve.list_checkpoints() == []  # restricted checkpoints are not even listed


def test_role_without_permission_is_denied(env):
    eve = open_store(env["ws"], env["tokens"]["user:eve"])
    with pytest.raises(AccessDenied, match="do not permit put"):
        eve.put_checkpoint("runs/eve/x", env["ckpt"], {"pii_scrubbed": True})
    with pytest.raises(AccessDenied, match="do not permit token.issue"):
        eve.issue_token("user:eve")
    assert _last(env["ws"], "store.token.issue").decision == "deny"


@pytest.mark.parametrize(
    "bad",
    [
        "../escape",
        "runs/../../etc/passwd",
        "/etc/passwd",
        "runs//x",
        "s3://b/x",
        "C:\\x",
        "runs/.hidden",
        "runs/x@manifest.json",
        "~/x",
    ],
)
def test_path_traversal_and_absolute_names_are_refused(env, bad):
    store = open_store(env["ws"], env["tokens"]["user:admin"])
    with pytest.raises(InputError, match="checkpoint name"):
        store.put_checkpoint(bad, env["ckpt"], {"pii_scrubbed": True})
    with pytest.raises(InputError, match="checkpoint name"):
        store.get_checkpoint(bad, env["tmp"] / "out")
    assert _last(env["ws"], "store.get").decision == "deny"
    assert not (env["tmp"] / "out").exists()
    assert not Path("/etc/passwd@manifest.json").exists()


def _objects(env) -> list[Path]:
    return sorted(
        (env["ws"].store_dir / "checkpoints").rglob("*.enc"), key=lambda p: -p.stat().st_size
    )


def test_flipped_byte_in_encrypted_file(env):
    big = _objects(env)[0]
    data = bytearray(big.read_bytes())
    data[len(data) // 2] ^= 0x01
    big.write_bytes(bytes(data))
    event = _refused(
        env,
        open_store(env["ws"], env["tokens"]["svc:trainer"]),
        IntegrityError,
        "failed authentication",
    )
    assert "model.safetensors" in event.details["reason"]


def test_reordered_and_truncated_chunks(env):
    big = _objects(env)[0]
    original = big.read_bytes()
    header, stored = 16, (64 << 10) + 16
    chunks = [
        original[header + i : header + i + stored] for i in range(0, len(original) - header, stored)
    ]
    big.write_bytes(original[:header] + chunks[1] + chunks[0] + b"".join(chunks[2:]))
    trainer = open_store(env["ws"], env["tokens"]["svc:trainer"])
    _refused(env, trainer, IntegrityError, "chunk 0 failed")
    big.write_bytes(original[:header] + b"".join(chunks[:-1]))  # drop the final chunk
    _refused(env, trainer, IntegrityError, "failed authentication")


def test_swapped_object_between_files(env):
    small, big = _objects(env)[-1], _objects(env)[0]
    big.write_bytes(small.read_bytes())
    _refused(
        env,
        open_store(env["ws"], env["tokens"]["svc:trainer"]),
        IntegrityError,
        "failed authentication",
    )


def test_swapped_manifest(env):
    admin = open_store(env["ws"], env["tokens"]["user:admin"])
    admin.put_checkpoint("runs/public/step-1", env["ckpt"], {"pii_scrubbed": True})
    root = env["ws"].store_dir / "checkpoints"
    (root / NAME / "@manifest.json").write_bytes(
        (root / "runs/public/step-1/@manifest.json").read_bytes()
    )
    _refused(
        env, open_store(env["ws"], env["tokens"]["svc:trainer"]), IntegrityError, "swapped manifest"
    )


def test_edited_manifest_to_lower_classification(env):
    path = env["ws"].store_dir / "checkpoints" / NAME / "@manifest.json"
    sealed = json.loads(path.read_text())
    sealed["body"]["classification"] = "public"
    path.write_text(json.dumps(sealed))
    eve = open_store(env["ws"], env["tokens"]["user:eve"])
    _refused(env, eve, IntegrityError, "manifest failed authentication")


def test_edited_registry_is_refused(env):
    path = env["ws"].store_dir / "registry.json"
    sealed = json.loads(path.read_text())
    sealed["body"]["principals"]["user:eve"]["clearance"] = "restricted"
    path.write_text(json.dumps(sealed))
    eve = open_store(env["ws"], env["tokens"]["user:eve"])
    event = _refused(env, eve, AuthenticationFailed, "registry .* failed authentication")
    assert event.decision == "deny"


def test_wrong_master_key(env, monkeypatch):
    wrong = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("CORPUSFORGE_MASTER_KEY", wrong)
    env["tokens"]["wrong-key"] = wrong  # must not leak either
    store = open_store(env["ws"], env["tokens"]["svc:trainer"])
    event = _refused(env, store, AuthenticationFailed, "wrong master key")
    assert "wrong master key" in event.details["reason"]
    # Even with a valid registry, a manifest sealed under another key is refused.
    good = LocalKeyProvider.from_file(env["ws"].keys_dir / KEY_FILE_NAME)
    with pytest.raises(WrongMasterKey, match="wrong master key"):
        from corpusforge.model.store.manifest import open_sealed

        raw = (env["ws"].store_dir / "checkpoints" / NAME / "@manifest.json").read_bytes()
        open_sealed(raw, NAME, LocalKeyProvider.from_env({"CORPUSFORGE_MASTER_KEY": wrong}))
    assert good.has_key(json.loads(raw)["key_id"])


def test_key_file_must_be_private(env):
    path = env["ws"].keys_dir / KEY_FILE_NAME
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    with pytest.raises(Exception, match="readable by others"):
        open_store(env["ws"], env["tokens"]["svc:trainer"])
    path.chmod(0o600)


def test_cli_refuses_and_never_echoes_token(env, tmp_path):
    from typer.testing import CliRunner

    from corpusforge.cli import app

    runner = CliRunner()
    eve = env["tokens"]["user:eve"]
    result = runner.invoke(
        app,
        [
            "store",
            "get",
            NAME,
            str(tmp_path / "cli-out"),
            "--workspace",
            str(env["ws"].root),
            "--token",
            eve,
        ],
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, AccessDenied)
    assert eve not in result.output and eve.split("_", 2)[2] not in str(result.exception)
    assert not (tmp_path / "cli-out").exists()
    assert _last(env["ws"], "store.get").actor == "user:eve"
