"""The audit-trail attacks on a real PostgreSQL server (CORPUSFORGE_TEST_PG_URL, started by
`.ci/run` with infra/ci/start-postgres.sh): an attacker with the database's credentials but
not the workspace (key, witness, manifests)."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from corpusforge.cli import app
from corpusforge.core.audit import AuditLog

PG_URL = os.environ.get("CORPUSFORGE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(
    not PG_URL, reason="CORPUSFORGE_TEST_PG_URL is not set (start one: infra/ci/start-postgres.sh)"
)


@pytest.fixture
def pg_trail(workspace, monkeypatch):
    name = f"cf_attack_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("CORPUSFORGE_AUDIT_URL", url)
    log = AuditLog.for_workspace(workspace)
    assert log.log_id == "ws"
    for i in range(8):
        log.append("ingest.file", f"sha256:{i:064x}", actor="test")
    yield log, workspace
    log.engine.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _sql(log, *statements, **params):
    with log.engine.begin() as conn:
        for s in statements:
            conn.execute(sa.text(s), params)


def _verify(ws):
    return CliRunner().invoke(app, ["audit", "verify", "--workspace", str(ws.root)])


def test_pg_truncation_with_the_head_rewritten(pg_trail):
    log, ws = pg_trail
    with log.engine.connect() as conn:
        h = conn.execute(sa.text("SELECT entry_hash FROM audit_events WHERE seq = 6")).scalar()
    _sql(
        log,
        "DELETE FROM audit_events WHERE seq > 6",
        "UPDATE audit_head SET seq = 6, entry_hash = :h",
        h=h,
    )
    result = _verify(ws)
    assert result.exit_code == 1 and "entries 7..8 were removed from the end" in result.output


def test_pg_dropped_tables_and_emptied_tables(pg_trail):
    log, ws = pg_trail
    _sql(log, "DELETE FROM audit_events", "DELETE FROM audit_head")
    assert _verify(ws).exit_code == 1
    _sql(log, "DROP TABLE audit_events", "DROP TABLE audit_head")
    result = _verify(ws)
    assert result.exit_code == 1 and "tables are missing" in result.output


def test_pg_inserted_row_is_one_insertion(pg_trail):
    log, _ = pg_trail
    _sql(
        log,
        "UPDATE audit_events SET seq = seq + 100 WHERE seq >= 4",
        "UPDATE audit_events SET seq = seq - 99 WHERE seq >= 100",
        "INSERT INTO audit_events SELECT 4, ts, 'user:m', 'store.get', 'x', 'allow', '{}', '{}',"
        " entry_hash, repeat('f', 64) FROM audit_events WHERE seq = 3",
    )
    assert log.verify().problems == [
        "row at seq 4: not an entry written with the audit key (inserted)"
    ]


def test_pg_registry_rollback(pg_trail):
    from corpusforge.model.store import AuthenticationFailed, bootstrap_store, open_store

    _, ws = pg_trail
    tokens = bootstrap_store(ws)
    admin = open_store(ws, tokens["user:admin"])
    leaked = admin.issue_token("svc:trainer")
    backup = (ws.store_dir / "registry.json").read_bytes()
    admin.revoke_token(leaked)
    (ws.store_dir / "registry.json").write_bytes(backup)
    with pytest.raises(AuthenticationFailed, match="rolled back"):
        open_store(ws, leaked).list_checkpoints()
