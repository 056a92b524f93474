"""Helpers for the store attack tests: a checkpoint folder, the CLI in a real process, the
audit entries of an action, and the check that no key or token reached an audit entry."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from corpusforge.core.audit import AuditLog

REPO = Path(__file__).resolve().parents[1]


def make_checkpoint(path: Path, marker: str = "a", size: int = 200_000) -> Path:
    (path / "tokenizer").mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": "gpt2", "marker": marker}))
    (path / "model.safetensors").write_bytes(os.urandom(size))
    (path / "tokenizer" / "tokenizer.json").write_text("{}")
    return path


def events(ws, action: str) -> list:
    return list(AuditLog(ws.audit_url).events(action_prefix=action))


def cli(ws, *args: str, env: dict | None = None, timeout: int = 120):
    """`corpusforge ARGS --workspace WS` in its own process (the real one-line error path)."""
    return subprocess.run(
        [sys.executable, "-m", "corpusforge.cli", *args, "--workspace", str(ws.root)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def one_line(result) -> str:
    """The refusal: a non-zero exit and exactly one line on stderr, no traceback."""
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


def keyring(ws) -> dict:
    return json.loads((ws.keys_dir / "master.key").read_text())


def assert_no_secrets(ws, tokens: dict[str, str], extra: list[str] = ()) -> None:
    """No token, token secret or key (base64 or hex) in the audit trail."""
    engine = sa.create_engine(ws.audit_url)
    with engine.connect() as conn:
        dump = "\n".join(
            repr(tuple(r)) for r in conn.execute(sa.text("SELECT * FROM audit_events"))
        )
    engine.dispose()
    secrets = list(extra)
    for token in tokens.values():
        secrets += [token, token.split("_", 2)[2]]
    path = ws.keys_dir / "master.key"
    if path.exists():
        for key in keyring(ws)["keys"].values():
            secrets += [key, base64.b64decode(key).hex()]
    for secret in secrets:
        assert secret not in dump
