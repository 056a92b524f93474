"""The audit chain catches edited, deleted, reordered and truncated entries (SQLite)."""

import sqlite3

import pytest

from corpusforge.core.audit import AuditLog


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "audit.db"
    audit = AuditLog(f"sqlite:///{path}")
    for i in range(5):
        audit.append("ingest.file", f"sha256:{i:064x}", counts={"documents": i}, actor="test")
    return audit, path


def _sql(path, statement, *args):
    conn = sqlite3.connect(path)
    conn.execute(statement, args)
    conn.commit()
    conn.close()


def test_intact_chain_verifies(log):
    audit, _ = log
    result = audit.verify()
    assert result.ok and result.entries == 5 and result.problems == []
    assert result.head_hash == audit.head()[1]


def test_edited_entry_is_named(log):
    audit, path = log
    _sql(path, "UPDATE audit_events SET counts = ? WHERE seq = 3", '{"documents":99}')
    result = audit.verify()
    assert not result.ok
    assert any("entry 3" in p and "edited" in p for p in result.problems)


def test_edited_actor_is_caught(log):
    audit, path = log
    _sql(path, "UPDATE audit_events SET actor = 'someone-else' WHERE seq = 2")
    assert any("entry 2" in p for p in audit.verify().problems)


def test_deleted_entry_is_named(log):
    audit, path = log
    _sql(path, "DELETE FROM audit_events WHERE seq = 2")
    problems = audit.verify().problems
    assert any("2..2" in p and "deleted" in p for p in problems)


def test_reordered_entries_are_caught(log):
    audit, path = log
    conn = sqlite3.connect(path)
    rows = {r[0]: r[1:] for r in conn.execute("SELECT * FROM audit_events WHERE seq IN (2, 4)")}
    cols = [c[1] for c in conn.execute("PRAGMA table_info(audit_events)")][1:]
    sets = ", ".join(f"{c} = ?" for c in cols)
    conn.execute(f"UPDATE audit_events SET {sets} WHERE seq = 2", rows[4])
    conn.execute(f"UPDATE audit_events SET {sets} WHERE seq = 4", rows[2])
    conn.commit()
    conn.close()
    result = audit.verify()
    assert not result.ok
    assert any("entry 2" in p for p in result.problems)


def test_truncated_tail_is_caught(log):
    audit, path = log
    _sql(path, "DELETE FROM audit_events WHERE seq = 5")
    assert any("head records entry 5" in p for p in audit.verify().problems)


def test_rejects_free_text_and_objects(log):
    audit, _ = log
    with pytest.raises(ValueError):
        audit.append("x", "y", details={"blob": "a" * 5000})
    with pytest.raises(ValueError):
        audit.append("x", "y", details={"obj": object()})


def test_appends_from_two_handles_stay_chained(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    a, b = AuditLog(url), AuditLog(url)
    for i in range(10):
        (a if i % 2 else b).append("step", str(i))
    result = a.verify()
    assert result.ok and result.entries == 10


def test_a_batch_is_chained_like_single_appends_and_is_all_or_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    log = AuditLog(url)
    log.append("run.start", "dir:/out")
    batch = log.append_many(
        [
            {"action": "pii.shard", "object": f"sha256:{i:064x}", "counts": {"n": i}}
            for i in range(4)
        ]
    )
    assert [e.seq for e in batch] == [2, 3, 4, 5]
    assert [e.prev_hash for e in batch[1:]] == [e.entry_hash for e in batch[:-1]]
    log.append("run.end", "dir:/out")
    result = log.verify()
    assert result.ok and result.entries == 6
    with pytest.raises(ValueError):  # one bad entry: none of the batch is written
        log.append_many(
            [
                {"action": "ok", "object": "a"},
                {"action": "x", "object": "b", "details": {"o": object()}},
            ]
        )
    assert log.verify().entries == 6 and log.append_many([]) == []


def test_the_workspace_log_is_opened_once_per_process(tmp_path):
    from corpusforge.core.audit import open_audit_log

    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert open_audit_log(url) is open_audit_log(url)
