"""Attacks on the audit trail (issue 17, items 1 and 2), written as the attacker would run
them: with write access to the database, and with the project's own hash function.

The chain is keyed (HMAC under a key outside the database) and its head is anchored outside
the database (witness file, stage manifests, checkpoint manifests), so each attack below
must make `corpusforge audit verify` fail and name what happened."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from corpusforge.cli import app
from corpusforge.core.audit import AuditLog, entry_hash

COLUMNS = ["seq", "ts", "actor", "action", "object", "decision", "counts", "details"]


@pytest.fixture
def trail(workspace):
    """A workspace log with 12 entries (the witness and key beside it)."""
    log = AuditLog.for_workspace(workspace)
    for i in range(12):
        log.append("ingest.file", f"sha256:{i:064x}", actor="test", counts={"documents": i})
    assert log.verify().ok
    return log, workspace.root / "audit.db", workspace


def _db(path):
    conn = sqlite3.connect(path)
    conn.isolation_level = None
    return conn


def _verify_cli(ws):
    return CliRunner().invoke(app, ["audit", "verify", "--workspace", str(ws.root)])


def _recompute_unkeyed(conn):
    """What an attacker can do with the project's own (public) hash function: renumber
    the rows, recompute every link and hash, and rewrite the head row."""
    rows = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_events ORDER BY seq").fetchall()
    conn.execute("DELETE FROM audit_events")
    prev = "0" * 64
    for n, row in enumerate(rows, 1):
        body = dict(zip(COLUMNS, row, strict=True))
        body.update(seq=n, counts=json.loads(body["counts"]), details=json.loads(body["details"]))
        body["prev_hash"] = prev
        digest = entry_hash(body)
        conn.execute(
            "INSERT INTO audit_events VALUES (?,?,?,?,?,?,?,?,?,?)",
            (n, *row[1:], prev, digest),
        )
        prev = digest
    conn.execute("UPDATE audit_head SET seq = ?, entry_hash = ?", (len(rows), prev))


def test_truncated_tail_with_the_head_row_rewritten_is_caught(trail):
    log, path, ws = trail
    conn = _db(path)
    conn.execute("DELETE FROM audit_events WHERE seq > 9")
    (h,) = conn.execute("SELECT entry_hash FROM audit_events WHERE seq = 9").fetchone()
    conn.execute("UPDATE audit_head SET seq = 9, entry_hash = ?", (h,))
    conn.close()
    problems = log.verify().problems
    assert problems == [
        "entries 10..12 were removed from the end (truncated; audit.witness line 13 anchors "
        "entry 12)"
    ]
    result = _verify_cli(ws)
    assert result.exit_code == 1 and "removed from the end" in result.output


def test_recomputed_unkeyed_chain_after_deleting_middle_rows_is_caught(trail):
    log, path, ws = trail
    conn = _db(path)
    conn.execute("DELETE FROM audit_events WHERE seq IN (4, 5)")
    _recompute_unkeyed(conn)
    conn.close()
    problems = log.verify().problems
    assert any("rewritten without the audit key" in p for p in problems), problems
    assert any("removed from the end" in p for p in problems), problems
    assert _verify_cli(ws).exit_code == 1


def test_a_forged_head_without_the_key_cannot_pass_for_an_appended_entry(trail):
    log, path, _ = trail
    conn = _db(path)
    conn.execute("DELETE FROM audit_events WHERE seq = 12")
    _recompute_unkeyed(conn)  # nothing renumbered: only the last entry is gone
    conn.close()
    assert not log.verify().ok


def test_deleting_the_database_fails_verify(trail):
    _, path, ws = trail
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    result = _verify_cli(ws)
    assert result.exit_code == 1, result.output
    assert "0 entries" not in result.output or "OK" not in result.output
    assert "audit.db is missing" in result.output
    assert "the log is empty" in result.output
    assert not path.exists()  # verify did not create an empty database in its place


def test_dropping_the_tables_fails_verify(trail):
    _, path, ws = trail
    conn = _db(path)
    conn.execute("DROP TABLE audit_events")
    conn.execute("DROP TABLE audit_head")
    conn.close()
    result = _verify_cli(ws)
    assert result.exit_code == 1 and "tables are missing" in result.output


def test_emptying_the_tables_fails_verify(trail):
    _, path, ws = trail
    conn = _db(path)
    conn.execute("DELETE FROM audit_events")
    conn.execute("DELETE FROM audit_head")
    conn.close()
    result = _verify_cli(ws)
    assert result.exit_code == 1 and "the log is empty" in result.output


def test_stage_manifests_anchor_the_head_when_the_witness_is_gone_too(trail, monkeypatch):
    """Database and witness deleted (workspace access): the stage manifests still hold the
    head, so the loss is caught as long as the attacker misses one of them."""
    from corpusforge.pipeline.manifest import StageRun

    log, path, ws = trail
    run = StageRun("ingest", ws.runs_dir / "ingest")
    manifest = run.finish()
    assert manifest["audit_head"]["seq"] == 12 and manifest["audit_head"]["log"] == "ws"
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    log.witness_path.unlink()
    result = _verify_cli(ws)
    assert result.exit_code == 1
    assert "runs/ingest/manifest.json anchors entry 12" in result.output


def test_checkpoint_manifests_anchor_the_head(workspace, tmp_path):
    from corpusforge.model.store import bootstrap_store, open_store

    tokens = bootstrap_store(workspace)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    open_store(workspace, tokens["svc:trainer"]).put_checkpoint("runs/a/step-1", ckpt, {})
    log = AuditLog.for_workspace(workspace)
    seq = log.head()[0]
    sealed = json.loads(
        (workspace.store_dir / "checkpoints/runs/a/step-1/@manifest.json").read_text()
    )
    assert sealed["body"]["audit_head"]["seq"] == seq
    conn = _db(workspace.root / "audit.db")
    conn.execute("DELETE FROM audit_events")
    conn.execute("DELETE FROM audit_head")
    conn.close()
    log.witness_path.unlink()
    problems = log.verify().problems
    assert any("@manifest.json anchors entry" in p for p in problems), problems


def test_an_inserted_row_is_reported_as_one_insertion(trail):
    """Insert a row in the middle, renumbering the rows after it as SQL requires."""
    log, path, _ = trail
    conn = _db(path)
    conn.execute("UPDATE audit_events SET seq = -seq WHERE seq >= 6")
    conn.execute("UPDATE audit_events SET seq = 1 - seq WHERE seq < 0")
    row = conn.execute("SELECT * FROM audit_events WHERE seq = 5").fetchone()
    conn.execute(
        "INSERT INTO audit_events VALUES (6,?,?,?,?,?,?,?,?,?)",
        (
            row[1],
            "user:mallory",
            "store.get",
            "checkpoint:x",
            "allow",
            "{}",
            "{}",
            row[9],
            "f" * 64,
        ),
    )
    conn.close()
    problems = log.verify().problems
    assert problems == ["row at seq 6: not an entry written with the audit key (inserted)"]


def test_an_inserted_row_at_the_end_is_an_insertion(trail):
    log, path, _ = trail
    conn = _db(path)
    (h,) = conn.execute("SELECT entry_hash FROM audit_events WHERE seq = 12").fetchone()
    conn.execute(
        "INSERT INTO audit_events VALUES (13,'t','user:m','a','o','ok','{}','{}',?,?)",
        (h, "e" * 64),
    )
    conn.execute("UPDATE audit_head SET seq = 13, entry_hash = ?", ("e" * 64,))
    conn.close()
    problems = log.verify().problems
    assert "row at seq 13: not an entry written with the audit key (inserted)" in problems
    assert not any("edited" in p or "deleted" in p for p in problems), problems


def test_edited_deleted_and_reordered_entries_are_each_named_once(trail):
    log, path, _ = trail
    conn = _db(path)
    conn.execute("UPDATE audit_events SET decision = 'allow' WHERE seq = 3")  # edit
    conn.execute("DELETE FROM audit_events WHERE seq = 7")  # delete
    a = conn.execute("SELECT * FROM audit_events WHERE seq = 10").fetchone()[1:]
    b = conn.execute("SELECT * FROM audit_events WHERE seq = 11").fetchone()[1:]
    sets = ", ".join(f"{c} = ?" for c in [*COLUMNS[1:], "prev_hash", "entry_hash"])
    conn.execute(f"UPDATE audit_events SET {sets} WHERE seq = 10", b)  # swap 10 and 11
    conn.execute(f"UPDATE audit_events SET {sets} WHERE seq = 11", a)
    conn.close()
    problems = log.verify().problems
    assert sorted(problems) == sorted(
        [
            "entry 3: content does not match its hash (edited)",
            "entries 7..7 are missing (deleted)",
            "entries stored out of order (reordered): entry 11 at seq 10, entry 10 at seq 11",
        ]
    )


def test_a_legacy_unkeyed_log_is_migrated_and_its_segment_pinned(workspace):
    """A database written before keyed chaining: it verifies (as a legacy segment), new
    entries are keyed, and rewriting the legacy segment afterwards is caught."""
    log = AuditLog.for_workspace(workspace)  # creates the tables, no key yet
    conn = _db(workspace.root / "audit.db")
    prev = "0" * 64
    for n in range(1, 6):
        body = {
            "seq": n,
            "ts": f"2026-01-0{n}",
            "actor": "old",
            "action": "ingest.file",
            "object": f"o{n}",
            "decision": "ok",
            "counts": {},
            "details": {},
            "prev_hash": prev,
        }
        digest = entry_hash(body)
        conn.execute(
            "INSERT INTO audit_events VALUES (?,?,?,?,?,?,?,?,?,?)",
            (n, body["ts"], "old", "ingest.file", f"o{n}", "ok", "{}", "{}", prev, digest),
        )
        prev = digest
    conn.execute("INSERT INTO audit_head VALUES (1, 5, ?)", (prev,))
    result = log.verify()
    assert result.ok and result.legacy == 5 and result.warnings
    log.append("tokenize.run", "dir:/x", actor="test")
    result = log.verify()
    assert result.ok and (result.legacy, result.keyed) == (5, 1), result.problems
    # The attacker rewrites entry 2 and recomputes the legacy chain from it.
    conn.execute("UPDATE audit_events SET actor = 'someone' WHERE seq = 2")
    conn.execute("DELETE FROM audit_events WHERE seq = 6")
    _recompute_unkeyed(conn)
    conn.close()
    problems = log.verify().problems
    assert any("anchors do not match the log" in p for p in problems), problems


def test_the_wrong_or_a_missing_audit_key_is_one_clear_problem(trail, monkeypatch):
    import base64

    log, _, ws = trail
    monkeypatch.setenv("CORPUSFORGE_AUDIT_KEY", base64.b64encode(b"k" * 32).decode())
    problems = AuditLog.for_workspace(ws).verify().problems
    assert len(problems) == 1 and "is not the key this log" in problems[0]
    monkeypatch.delenv("CORPUSFORGE_AUDIT_KEY")
    (ws.keys_dir / "audit.key").unlink()
    problems = AuditLog.for_workspace(ws).verify().problems
    assert len(problems) == 1 and "audit key is missing" in problems[0]


def test_a_forged_witness_line_is_caught(trail):
    log, _, _ = trail
    with open(log.witness_path, "a") as f:
        f.write(json.dumps({"log": "ws", "seq": 99, "hash": "a" * 64, "key_id": "x", "mac": "y"}))
        f.write("\nnot json\n")
    problems = log.verify().problems
    assert any("not authentic" in p for p in problems) and any(
        "not a witness" in p for p in problems
    )


def test_key_and_witness_are_owner_only(trail):
    import stat

    log, path, ws = trail
    for p in (ws.keys_dir / "audit.key", log.witness_path, path):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_a_fresh_workspace_verifies_without_creating_anything(workspace):
    result = _verify_cli(workspace)
    assert result.exit_code == 0 and "audit log OK: 0 entries" in result.output
    assert not (workspace.root / "audit.db").exists()


def test_key_and_witness_both_deleted_with_the_database_intact_fails(trail):
    log, _, ws = trail
    (ws.keys_dir / "audit.key").unlink()
    log.witness_path.unlink()
    problems = AuditLog.for_workspace(ws).verify().problems
    assert problems == [
        "12 of 12 entries cannot be verified: the audit key is missing "
        "(keys/audit.key, or CORPUSFORGE_AUDIT_KEY)"
    ]


def test_a_witness_line_copied_from_another_log_is_caught(trail, tmp_path):
    log, _, ws = trail
    other = AuditLog(f"sqlite:///{tmp_path / 'other.db'}", home=ws.root)
    other.append("x", "y", actor="test")
    with open(log.witness_path, "a") as f:
        f.write(other.witness_path.read_text().splitlines()[-1] + "\n")
    assert any("anchors another log" in p for p in log.verify().problems)
