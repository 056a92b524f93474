"""A broken audit database (issue 17, item 3): a corrupt `audit.db` or an unreachable
PostgreSQL server ends in one line on stderr and a non-zero exit, never a traceback, and
never shows the database password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from corpusforge.core.audit import AuditLog, AuditLogUnavailable


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "corpusforge.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


def _one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_corrupt_audit_db_is_one_line(tmp_path: Path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "audit.db").write_bytes(b"this is not a database" * 100)
    for command in (["audit", "verify"], ["audit", "log"], ["audit", "report"]):
        line = _one_line(_cli(*command, "--workspace", str(ws), env={}))
        assert line.startswith("error: audit log") and "corrupt or not a SQLite database" in line


def test_unreachable_postgres_is_one_line_without_the_password(tmp_path: Path):
    url = "postgresql+psycopg://auditor:s3cr3t-pw@127.0.0.1:1/audit"
    env = {"CORPUSFORGE_AUDIT_URL": url}
    for command in (["audit", "verify"], ["audit", "log"], ["store", "init"]):
        line = _one_line(_cli(*command, "--workspace", str(tmp_path / "ws"), env=env))
        assert "cannot reach the database" in line, line
        assert "s3cr3t-pw" not in line and "127.0.0.1:1" in line


def test_library_callers_get_a_typed_error(tmp_path: Path):
    bad = tmp_path / "audit.db"
    bad.write_bytes(b"\0garbage" * 64)
    with pytest.raises(AuditLogUnavailable, match="corrupt"):
        AuditLog(f"sqlite:///{bad}", home=tmp_path).append("x", "y")
    with pytest.raises(AuditLogUnavailable, match="corrupt"):
        AuditLog(f"sqlite:///{bad}", home=tmp_path, create=False).verify()
