"""Store events in the hash-chained audit log: an edited, deleted or reordered entry is caught,
on SQLite and on a real PostgreSQL server (CORPUSFORGE_TEST_PG_URL, see
infra/ci/start-postgres.sh)."""

from __future__ import annotations

import json
import os
import uuid

import pytest
import sqlalchemy as sa

from corpusforge.core.audit import AuditLog
from corpusforge.model.store import bootstrap_store, open_store

PG_URL = os.environ.get("CORPUSFORGE_TEST_PG_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.db'}"
        return
    if not PG_URL:
        pytest.skip("CORPUSFORGE_TEST_PG_URL is not set (start one: infra/ci/start-postgres.sh)")
    name = f"cf_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_URL).set(database=name)
    yield url.render_as_string(hide_password=False)
    sa.create_engine(url).dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def trail(audit_url, workspace, monkeypatch, tmp_path):
    """A workspace whose audit log is `audit_url`, with a few allowed and denied store events."""
    monkeypatch.setenv("CORPUSFORGE_AUDIT_URL", audit_url)
    tokens = bootstrap_store(workspace)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    trainer = open_store(workspace, tokens["svc:trainer"])
    trainer.put_checkpoint("runs/t/step-1", ckpt, {"pii_scrubbed": True})
    trainer.get_checkpoint("runs/t/step-1", tmp_path / "out")
    with pytest.raises(Exception, match="no token"):
        open_store(workspace, "").get_checkpoint("runs/t/step-1", tmp_path / "out2")
    log = AuditLog(audit_url)
    assert log.verify().ok
    return log


def _events(log: AuditLog):
    return {e.seq: e for e in log.events()}


def test_store_events_carry_principal_action_object_decision_reason(trail):
    events = [e for e in trail.events(action_prefix="store.")]
    assert [(e.action, e.decision) for e in events] == [
        ("store.init", "allow"),
        ("store.put", "allow"),
        ("store.get", "allow"),
        ("store.get", "deny"),
    ]
    assert events[2].actor == "svc:trainer" and events[2].object == "checkpoint:runs/t/step-1"
    assert all(e.details["reason"] for e in events)


def test_edited_entry(trail):
    deny = [e for e in _events(trail).values() if e.decision == "deny"][0]
    with trail.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE audit_events SET decision = 'allow' WHERE seq = :s"), {"s": deny.seq}
        )
    result = trail.verify()
    assert not result.ok
    assert any(f"entry {deny.seq}" in p and "edited" in p for p in result.problems)


def test_edited_details_json(trail):
    with trail.engine.begin() as conn:
        row = conn.execute(sa.text("SELECT details FROM audit_events WHERE seq = 3")).one()
        details = json.loads(row.details)
        details["reason"] = "nothing to see"
        conn.execute(
            sa.text("UPDATE audit_events SET details = :d WHERE seq = 3"),
            {"d": json.dumps(details, sort_keys=True, separators=(",", ":"))},
        )
    assert any("entry 3" in p for p in trail.verify().problems)


def test_deleted_entry(trail):
    with trail.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_events WHERE seq = 2"))
    problems = trail.verify().problems
    assert any("deleted" in p for p in problems)


def test_reordered_entries(trail):
    events = _events(trail)
    cols = [
        "ts",
        "actor",
        "action",
        "object",
        "decision",
        "counts",
        "details",
        "prev_hash",
        "entry_hash",
    ]
    with trail.engine.begin() as conn:
        for seq, other in ((2, 3), (3, 2)):
            e = events[other]
            values = {c: getattr(e, c) for c in cols}
            values["counts"] = json.dumps(e.counts, sort_keys=True, separators=(",", ":"))
            values["details"] = json.dumps(e.details, sort_keys=True, separators=(",", ":"))
            sets = ", ".join(f"{c} = :{c}" for c in cols)
            conn.execute(
                sa.text(f"UPDATE audit_events SET {sets} WHERE seq = :seq"), {**values, "seq": seq}
            )
    result = trail.verify()
    assert not result.ok and any("entry 2" in p for p in result.problems)


def test_truncated_tail(trail):
    last = max(_events(trail))
    with trail.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_events WHERE seq = :s"), {"s": last})
    assert any(f"head records entry {last}" in p for p in trail.verify().problems)


def test_cli_verify_reports_tampering(trail, workspace):
    from typer.testing import CliRunner

    from corpusforge.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--workspace", str(workspace.root)])
    assert ok.exit_code == 0 and "audit log OK" in ok.output
    with trail.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_events SET actor = 'svc:other' WHERE seq = 2"))
    bad = runner.invoke(app, ["audit", "verify", "--workspace", str(workspace.root)])
    assert bad.exit_code == 1 and "entry 2" in bad.output
