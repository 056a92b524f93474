"""Issue 18, section 5: what the help shows, options every command takes, doctor only looks."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corpusforge.cli import app

REPO = Path(__file__).resolve().parents[1]


def _help(*args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def _commands(groups: bool = True) -> list[list[str]]:
    """Every command path of the CLI (with the groups, or only what runs something)."""
    import typer.main

    paths: list[list[str]] = []

    def walk(cmd, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if path and (groups or not subs):
            paths.append(path)
        for name, sub in (subs or {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_pii_help_shows_the_direct_form():
    text = _help("pii")
    assert "corpusforge pii IN -o OUT" in text
    assert re.search(r"Usage: corpusforge pii \[OPTIONS\] IN -o OUT \| COMMAND", text)
    assert "pii IN -o OUT" in _help()  # the top-level command list says it too


@pytest.mark.parametrize("path", _commands(), ids=lambda p: " ".join(p))
def test_boolean_flags_are_shown_as_flags_not_as_taking_a_value(path):
    text = _help(*path)
    assert "<bool>" not in text
    assert re.search(r"--help\s+Show this message", text)


def test_check_and_strict_are_plain_flags():
    assert re.search(r"--check\s+validate the config", _help("serve"))
    assert re.search(r"--strict\s+exit non-zero", _help("ingest"))


@pytest.mark.parametrize("path", _commands(groups=False), ids=lambda p: " ".join(p))
def test_every_command_takes_workspace(path):
    assert "--workspace" in _help(*path), path


def test_sample_accepts_workspace(tmp_path):
    result = CliRunner().invoke(
        app, ["sample", str(tmp_path / "s"), "--workspace", str(tmp_path / "ws")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s" / "web").is_dir()


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Names, sizes and modification times; SQLite's WAL index (-shm) is shared memory that
    every reader of the database maps, so only its size counts."""
    return {
        str(p.relative_to(root)): (
            p.stat().st_size,
            0 if p.name.endswith("-shm") else p.stat().st_mtime_ns,
        )
        for p in sorted(root.rglob("*"))
    }


def _doctor(ws: Path, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CORPUSFORGE_", "PREFECT_"))}
    env["HOME"] = str(home)
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "corpusforge"), "doctor", "--workspace", str(ws)],
        capture_output=True, text=True, timeout=120, env=env, cwd=home,
    )  # fmt: skip


def test_doctor_creates_nothing(tmp_path):
    from corpusforge.core.audit import AuditLog
    from corpusforge.core.workspace import Workspace

    missing = tmp_path / "no-such-workspace"
    done = _doctor(missing, tmp_path)
    assert not missing.exists(), done.stdout
    assert re.search(r"WARN workspace\s+.*does not exist yet", done.stdout)
    assert re.search(r"WARN audit-log\s+no audit log yet", done.stdout)
    assert list(tmp_path.iterdir()) == []  # not even a log file

    # A workspace in use (an audit log with entries): nothing added, nothing touched.
    ws = Workspace.resolve(tmp_path / "ws")
    ws.root.mkdir()
    AuditLog.for_workspace(ws).append("test.entry", "object:1")
    before = _tree(ws.root)
    done = _doctor(ws.root, tmp_path)
    assert re.search(r"OK\s+audit-log\s+1 entries, hash chain intact", done.stdout), done.stdout
    assert _tree(ws.root) == before
